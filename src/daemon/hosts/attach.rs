//! Both ends of watching a host's task: on the host, the daemon's own tmux session that its
//! links' tasks run beside (`session_here`); here, a tmux window attached to the task's pane
//! there over the host's connection (`attach`) — the host's tmux session itself, not a copy.

use std::path::Path;

use crate::core::hosts::Host;
use crate::core::task::{Task, TmuxOrigin};
use crate::proto::ask;
use crate::runner::programs::{self, SshRole};
use crate::tmux::Tmux;
use crate::tmux::adapter::shell_quote;

/// The session a host's daemon runs its links' tasks beside.
const SESSION: &str = "paneherd";
/// Its size until someone attaches.
const SIZE: (u16, u16) = (200, 50);

/// This daemon's own tmux session for the tasks another machine hands it (its socket in the
/// private runtime dir), made on first ask with a dashboard as its main pane: its main pane,
/// or `None` when tmux cannot be run here (the tasks then run headless).
pub async fn session_here(runtime: &Path) -> Option<TmuxOrigin> {
    let socket = runtime.join("host-tmux.sock");
    let tmux = Tmux::new(&socket);
    if let Some(pane) = tmux.first_pane(SESSION).await {
        return Some(TmuxOrigin { socket, pane });
    }
    let exe = crate::paths::internal_exe();
    let command = format!("exec {} ui", shell_quote(&exe.to_string_lossy()));
    match tmux.new_detached_session(SESSION, SIZE, &command).await {
        Ok(pane) if pane.starts_with('%') => Some(TmuxOrigin { socket, pane }),
        Ok(other) => {
            tracing::warn!("tmux made the host session but named no pane: {other:?}");
            None
        }
        Err(e) => {
            tracing::info!(
                "no tmux session for another machine's tasks (they run headless): {e:#}"
            );
            None
        }
    }
}

/// The command line (for tmux's shell here) that attaches to `pane` of the tmux server on
/// `socket` there, over the host's connection.
fn attach_command(host: &Host, control: &Path, socket: &Path, pane: &str) -> String {
    // `-u`: UTF-8 to this terminal whatever the locale there (else its lines come in ASCII).
    let there = [
        "exec",
        "tmux",
        "-u",
        "-S",
        &socket.to_string_lossy(),
        "attach-session",
        "-t",
        pane,
        ";",
        "select-window",
        "-t",
        pane,
        ";",
        "select-pane",
        "-t",
        pane,
    ]
    .iter()
    .map(|w| programs::quote_there(w))
    .collect::<Vec<_>>()
    .join(" ");
    let cmd = programs::ssh(host, control, SshRole::Terminal, &there);
    let ssh = std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| shell_quote(&a.to_string_lossy()))
        .collect::<Vec<_>>()
        .join(" ");
    // A connection that fails leaves its words on screen until a key is pressed.
    format!(
        "{ssh} || {{ echo; echo '(the connection to {} ended: press Enter)'; read _; }}",
        host.name
    )
}

/// Opens a window after `into` attached to `task`'s pane on `host`; the task as it is there,
/// or why not.
pub async fn attach(
    host: &Host,
    control: &Path,
    mux: Option<std::sync::Arc<crate::client::mux::Mux>>,
    task: &Task,
    into: &TmuxOrigin,
) -> Result<(), String> {
    let Some(mux) = mux else {
        return Err(format!("host {} is not reachable now (`paneherd hosts` says why)", host.name));
    };
    let there = mux
        .ask(ask::Get { id: task.id.clone() })
        .await
        .map_err(|e| format!("host {}: {e}", host.name))?
        .ok_or_else(|| format!("host {} has no task {}", host.name, task.id))?;
    let (Some(origin), Some(pane)) = (&there.tmux, &there.pane_id) else {
        return Err(format!(
            "task {} runs headless on {} (no tmux there): `paneherd output {} --follow` shows it",
            task.id, host.name, task.id
        ));
    };
    let command = attach_command(host, control, &origin.socket, pane);
    let name = format!("{}@{}", task.id, host.name);
    Tmux::new(&into.socket)
        .open_window_after(&into.pane, &name, &command)
        .await
        .map_err(|e| format!("cannot open a window here: {e:#}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_attach_command_quotes_each_word_for_both_shells() {
        let host = Host {
            name: "box".into(),
            ssh: "ssh://me@build-box".into(),
            ssh_args: vec!["-F".into(), "/tmp/my config".into()],
            data_dir: None,
        };
        let cmd = attach_command(
            &host,
            Path::new("/run/p/ssh-box.sock"),
            Path::new("/tmp/x y/host-tmux.sock"),
            "%3",
        );
        // Here: every word in single quotes, the config path with its space whole.
        assert!(cmd.starts_with("'ssh' '-t' "), "{cmd}");
        let (cmd, failed) = cmd.split_once(" || ").unwrap();
        assert!(failed.contains("connection to box ended"), "{failed}");
        assert!(cmd.contains("'-F' '/tmp/my config' '--' 'ssh://me@build-box' "), "{cmd}");
        // There: one argument, itself quoted for the host's shell.
        assert!(
            cmd.ends_with(concat!(
                r"'exec tmux -u -S '\''/tmp/x y/host-tmux.sock'\'' attach-session -t '\''%3'\'' ",
                r"'\'';'\'' select-window -t '\''%3'\'' '\'';'\'' select-pane -t '\''%3'\'''"
            )),
            "{cmd}"
        );
    }
}
