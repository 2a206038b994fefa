//! The command line: its arguments (`args`), exit codes (`exit`), and `main`, which parses
//! them and hands the command to `commands::dispatch`.

#[macro_use]
mod out;
mod admin;
pub mod args;
mod commands;
mod complete;
mod demo;
pub mod exit;
pub mod front;
mod hook;
mod hosts;
mod render;
mod sandbox;
mod setup;
mod tasks;
mod worktrees;

use clap::Parser;

use args::Cli;

/// Runs the command line; returns the process exit code.
pub fn main() -> i32 {
    // The program users run is `paneherd`: so tmux names windows (automatic-rename) and `ps`
    // shows it, also when this binary was started as `paneherd-full` (`cargo run`).
    #[cfg(target_os = "linux")]
    let _ = nix::sys::prctl::set_name(c"paneherd");
    // Asked by a shell what to complete (`COMPLETE=bash paneherd …`): answered, then exit.
    clap_complete::CompleteEnv::with_factory(|| {
        use clap::CommandFactory;
        Cli::command().name("paneherd")
    })
    .bin("paneherd")
    .completer(crate::paths::front_exe().display().to_string())
    .complete();
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { exit::USAGE } else { exit::OK };
        }
    };
    commands::dispatch(cli)
}

#[cfg(test)]
mod tests {
    use super::args::Cli;
    use clap::CommandFactory;

    /// Every command, argument and flag says what it is for (in `--help`).
    #[test]
    fn every_argument_has_help() {
        fn check(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for a in cmd.get_arguments() {
                if a.get_id() != "help" && a.get_help().is_none() {
                    missing.push(format!("{path} {}", a.get_id()));
                }
            }
            for sub in cmd.get_subcommands() {
                if sub.get_about().is_none() {
                    missing.push(format!("{path} {} (command)", sub.get_name()));
                }
                check(sub, &format!("{path} {}", sub.get_name()), missing);
            }
        }
        let mut missing = vec![];
        check(&Cli::command(), "paneherd", &mut missing);
        assert!(missing.is_empty(), "no help text: {missing:#?}");
    }
}
