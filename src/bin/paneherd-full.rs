//! The whole `paneherd` program (the daemon, the dashboard, the MCP server, every command):
//! what `paneherd` becomes for anything but its commonest commands. Everything lives in the
//! library; this only sets the exit code.

fn main() {
    std::process::exit(paneherd::cli::main());
}
