//! The `paneherd` program that is started: the commands scripts and agents run most — `run`,
//! `list`, `output`, `wait`, `cancel`, `inbox` — answered by this small program (it links only
//! the client's code, so it starts in a fraction of the time of the whole program); anything
//! else, help and every error of those, by `paneherd-full` beside it, which this process then
//! becomes (exec: the same process, arguments and exit code).

use std::ffi::OsString;

use clap::{Parser, Subcommand};

use super::args::{CancelArgs, InboxArgs, ListArgs, OutputArgs, RunArgs, WaitArgs};
use super::out::finish;
use super::{exit, tasks};
use crate::paths::{Paths, full_exe};

const FAST: [&str; 6] = ["run", "list", "output", "wait", "cancel", "inbox"];

/// The same arguments as the whole program's commands of these names (the same structs).
#[derive(Debug, Parser)]
#[command(name = "paneherd", disable_help_subcommand = true, disable_version_flag = true)]
struct FastCommands {
    #[command(subcommand)]
    command: FastCommand,
}

#[derive(Debug, Subcommand)]
enum FastCommand {
    Run(Box<RunArgs>),
    List(ListArgs),
    Output(OutputArgs),
    Wait(WaitArgs),
    Cancel(CancelArgs),
    Inbox(InboxArgs),
}

pub fn main() -> i32 {
    let args: Vec<OsString> = std::env::args_os().collect();
    let fast = args.get(1).and_then(|a| a.to_str()).is_some_and(|a| FAST.contains(&a));
    if fast && let Ok(h) = FastCommands::try_parse_from(&args) {
        let paths = Paths::from_env();
        return finish(match h.command {
            FastCommand::Run(a) => tasks::run(&paths, *a),
            FastCommand::List(a) => tasks::list(&paths, a),
            FastCommand::Output(a) => tasks::output(&paths, a),
            FastCommand::Wait(a) => tasks::wait(&paths, a),
            FastCommand::Cancel(a) => tasks::cancel(&paths, a),
            FastCommand::Inbox(a) => tasks::inbox(&paths, a),
        });
    }
    become_full(&args)
}

/// Becomes `paneherd-full` with the same arguments (only returns if it cannot).
fn become_full(args: &[OsString]) -> i32 {
    let full = full_exe();
    let err = crate::runner::programs::become_program(&full, "paneherd", args.iter().skip(1));
    errln!(
        "paneherd: cannot run {} ({}): it is installed beside paneherd (`cargo install --path .`)",
        full.display(),
        err.cause
    );
    exit::DAEMON
}
