//! The `paneherd` program: the commonest client commands here, in a program that starts fast;
//! every other command by `paneherd-full` (see `cli::front`).

fn main() {
    std::process::exit(paneherd::cli::front::main());
}
