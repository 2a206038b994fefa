//! The `paneherd` program that is started: the commands scripts and agents run most — `run`,
//! `list`, `output`, `wait`, `cancel`, `inbox` — answered by this small program (it links only
//! the client's code, so it starts in a fraction of the time of the whole program); anything
//! else, help and every error of those, by `paneherd-full` beside it, which this process then
//! becomes (exec: the same process, arguments and exit code).

use std::ffi::OsString;
use std::os::unix::process::CommandExt;

use clap::{Parser, Subcommand};

use super::commands::finish;
use super::{CancelArgs, InboxArgs, ListArgs, OutputArgs, RunArgs, WaitArgs, exit, tasks};
use crate::paths::Paths;

/// The whole program's name, beside this one.
pub const FULL: &str = "paneherd-full";

const HOT: [&str; 6] = ["run", "list", "output", "wait", "cancel", "inbox"];

/// The same arguments as the whole program's commands of these names (the same structs).
#[derive(Debug, Parser)]
#[command(name = "paneherd", disable_help_subcommand = true, disable_version_flag = true)]
struct Hot {
    #[command(subcommand)]
    command: HotCommand,
}

#[derive(Debug, Subcommand)]
enum HotCommand {
    Run(Box<RunArgs>),
    List(ListArgs),
    Output(OutputArgs),
    Wait(WaitArgs),
    Cancel(CancelArgs),
    Inbox(InboxArgs),
}

pub fn main() -> i32 {
    let args: Vec<OsString> = std::env::args_os().collect();
    let hot = args.get(1).and_then(|a| a.to_str()).is_some_and(|a| HOT.contains(&a));
    if hot && let Ok(h) = Hot::try_parse_from(&args) {
        let paths = Paths::from_env();
        return finish(match h.command {
            HotCommand::Run(a) => tasks::run(&paths, *a),
            HotCommand::List(a) => tasks::list(&paths, a),
            HotCommand::Output(a) => tasks::output(&paths, a),
            HotCommand::Wait(a) => tasks::wait(&paths, a),
            HotCommand::Cancel(a) => tasks::cancel(&paths, a),
            HotCommand::Inbox(a) => tasks::inbox(&paths, a),
        });
    }
    become_full(&args)
}

/// Becomes `paneherd-full` with the same arguments (only returns if it cannot).
fn become_full(args: &[OsString]) -> i32 {
    let full = full_exe();
    let err = std::process::Command::new(&full).arg0("paneherd").args(args.iter().skip(1)).exec();
    errln!(
        "paneherd: cannot run {} ({err}): it is installed beside paneherd (`cargo install --path .`)",
        full.display()
    );
    exit::DAEMON
}

/// `paneherd-full` beside this program.
pub fn full_exe() -> std::path::PathBuf {
    let me = std::env::current_exe().unwrap_or_else(|_| "paneherd".into());
    me.with_file_name(FULL)
}

/// The program users run (`paneherd`), beside the running one: what printed commands and
/// installed entries name.
pub fn front_exe() -> std::path::PathBuf {
    let me = std::env::current_exe().unwrap_or_else(|_| "paneherd".into());
    let front = me.with_file_name("paneherd");
    if front.exists() { front } else { me }
}
