//! `paneherd-pane --socket SOCKET --task ID --token-file FILE`: the small program that runs a task's agent inside
//! its tmux pane (`paneherd::runner::pane`). The daemon starts one per pane, so it is a binary of
//! its own that links only the wrapper and the socket client: each pane then costs a fraction of
//! the memory the whole `paneherd` would (`paneherd pane-run` does the same, as a fallback).

use std::path::PathBuf;

/// The token the daemon left for this wrapper, read once and removed.
fn read_token(path: PathBuf) -> Option<String> {
    paneherd::runner::pane::take_token(&path)
}

fn main() {
    let mut socket: Option<PathBuf> = None;
    let mut task: Option<String> = None;
    let mut token: Option<String> = None;
    let mut args = std::env::args_os().skip(1);
    while let Some(a) = args.next() {
        match a.to_str() {
            Some("--socket") => socket = args.next().map(PathBuf::from),
            Some("--task") => task = args.next().and_then(|t| t.into_string().ok()),
            Some("--token-file") => token = args.next().map(PathBuf::from).and_then(read_token),
            _ => {
                eprintln!("paneherd-pane: unexpected argument {a:?}");
                std::process::exit(2);
            }
        }
    }
    let (Some(socket), Some(task), Some(token)) = (socket, task, token) else {
        eprintln!(
            "usage: paneherd-pane --socket SOCKET --task ID --token-file FILE (started by the \
             paneherd daemon)"
        );
        std::process::exit(2);
    };
    std::process::exit(paneherd::runner::pane::run_wrapper::<paneherd::client::PaneLink>(
        &socket, &task, &token,
    ));
}
