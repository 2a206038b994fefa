//! The pane manager: the one component that uses the tmux adapter. It takes the engine's pane
//! effects one at a time (open a task's pane, mark and later close an ended one, focus,
//! re-plan, check a hang-up or a pane to adopt) and reports what happened as inputs.

use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::mpsc;

use super::panes::{Open, Panes};
use crate::config::tmux::CloseAfter;
use crate::engine::{Answer, Hangup, Input, PaneJob};
use crate::proto::{ErrorBody, ErrorKind};
use crate::tmux::adapter::{Tmux, is_overflow_name, shell_quote};
use crate::tmux::server::PaneServer;

/// What the pane manager is asked to do: the engine's jobs, and its own two.
#[derive(Debug)]
pub enum Job {
    Engine(PaneJob),
    /// Close a task's pane that is not in the placement (its wrapper still in it).
    CloseStray {
        id: String,
        socket: PathBuf,
        pane: String,
    },
    /// The daemon is stopping: close every agent pane and give the windows back.
    Shutdown {
        done: tokio::sync::oneshot::Sender<()>,
    },
}

/// How the pane manager tells the loop what happened (by message, never by calling into it),
/// and reads what a pane wrapper left on disk.
#[derive(Clone)]
pub struct Reporter {
    pub send: std::sync::Arc<dyn Fn(Input) + Send + Sync>,
    pub store: crate::store::Store,
}

impl Reporter {
    fn input(&self, input: Input) {
        (self.send)(input)
    }
}

/// Runs the pane manager until its job channel closes.
pub fn start(to_loop: Reporter, exe: PathBuf, socket: PathBuf) -> mpsc::UnboundedSender<Job> {
    let (tx, mut rx) = mpsc::unbounded_channel::<Job>();
    let again = tx.clone();
    tokio::spawn(async move {
        let panes = Panes::default();
        while let Some(job) = rx.recv().await {
            let changed = run(&panes, job, &to_loop, &exe, &socket, &again).await;
            if changed {
                to_loop.input(Input::PanesChanged);
            }
        }
    });
    tx
}

/// Writes a pane wrapper's token to a file of its own (0600) in the daemon's runtime dir (0700),
/// beside the socket.
fn write_token(socket: &std::path::Path, id: &str, token: &str) -> std::io::Result<PathBuf> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let dir = socket.parent().unwrap_or(std::path::Path::new("."));
    let path = dir.join(format!("pane-{id}.token"));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)?;
    f.write_all(token.as_bytes())?;
    Ok(path)
}

fn log_err<T>(what: &str, r: anyhow::Result<T>) {
    if let Err(e) = r {
        tracing::warn!(error = %format!("{e:#}"), "{what}");
    }
}

/// Does one job; returns whether the panes changed.
async fn run(
    panes: &Panes,
    job: Job,
    to_loop: &Reporter,
    exe: &std::path::Path,
    socket: &std::path::Path,
    again: &mpsc::UnboundedSender<Job>,
) -> bool {
    match job {
        Job::Engine(PaneJob::Open { id, origin, cwd, title, token, tmux }) => {
            let sock = shell_quote(&socket.to_string_lossy());
            // The wrapper's token, what it attaches with (only it reports for the task): in a
            // private file it reads and removes, never on a command line (`ps` shows those
            // to every user).
            let token_file = match write_token(socket, &id, &token) {
                Ok(p) => p,
                Err(e) => {
                    to_loop.input(Input::StartFailed {
                        id,
                        reason: format!("cannot hand the pane its token: {e}"),
                    });
                    return false;
                }
            };
            let tf = shell_quote(&token_file.to_string_lossy());
            // The small wrapper binary beside this one, else this one's `pane-run`.
            let run = if let Some(small) = crate::paths::pane_exe(exe) {
                format!(
                    "exec {} --socket {sock} --task {id} --token-file {tf}",
                    shell_quote(&small.to_string_lossy())
                )
            } else {
                format!(
                    "exec {} pane-run --socket {sock} --task {id} --token-file {tf}",
                    shell_quote(&exe.to_string_lossy())
                )
            };
            let exe = shell_quote(&exe.to_string_lossy());
            let hook = format!(
                "{exe} tmux-resized --socket {sock} --tmux {}",
                shell_quote(&origin.socket.to_string_lossy())
            );
            let mark = socket.to_string_lossy().into_owned();
            let open = Open {
                socket: &origin.socket,
                main_pane: &origin.pane,
                task_id: &id,
                cwd: &cwd,
                command: &run,
                resize_hook: &hook,
                hook_mark: &mark,
            };
            match panes.open(&tmux.geometry, &open).await {
                Ok(placed) => {
                    let t = Tmux::new(&origin.socket);
                    let _ = t.set_title(&placed.pane, &title).await;
                    let started = chrono::Utc::now().timestamp().to_string();
                    let fields = [
                        ("id", id.as_str()),
                        ("status", "▶ running"),
                        ("started", started.as_str()),
                    ];
                    let _ = t.mark(&placed.pane, &fields).await;
                    tracing::info!(task = %id, pane = %placed.pane, visible = placed.visible, "pane opened");
                    to_loop.input(Input::PaneOpened { id, pane: placed.pane });
                }
                Err(e) => {
                    let _ = std::fs::remove_file(&token_file);
                    tracing::warn!(task = %id, error = %format!("{e:#}"), "no pane; running headless");
                    to_loop.input(Input::StartFailed {
                        id,
                        reason: format!("cannot open a tmux pane: {e:#}"),
                    });
                }
            }
            true
        }
        Job::Engine(PaneJob::Ended { id, status, took, tmux, pane }) => {
            let known = panes.where_is(&id).await;
            if let Some((socket, pane)) = &known {
                let t = Tmux::new(socket);
                let _ = t.mark(pane, &[("status", status.as_str()), ("took", took.as_str())]).await;
            }
            if let CloseAfter::Secs(secs) = tmux.close_after {
                let again = again.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_secs(secs)).await;
                    // A pane the placement lost track of is closed all the same: a pane whose task
                    // ended never stays behind.
                    let job = match (known, pane) {
                        (None, Some((socket, pane))) => Job::CloseStray { id, socket, pane },
                        _ => Job::Engine(PaneJob::Close { ids: vec![id], tmux, reply: None }),
                    };
                    let _ = again.send(job);
                });
            }
            false
        }
        Job::CloseStray { id, socket, pane } => {
            let t = Tmux::new(&socket);
            if let Ok(Some(info)) = t.pane_info(&pane).await
                && crate::runner::is_wrapper_of(info.pid, &id)
            {
                tracing::info!(task = %id, %pane, "closing a pane the placement had lost");
                log_err("cannot close the pane", t.kill_pane(&pane).await);
            }
            false
        }
        Job::Engine(PaneJob::Close { ids, tmux, reply }) => {
            for id in ids {
                log_err("cannot close the pane", panes.close(&tmux.geometry, &id).await);
            }
            if let Some(reply) = reply {
                to_loop.input(Input::Answered { reply, answer: Ok(Answer::Unit) });
            }
            true
        }
        Job::Engine(PaneJob::Focus { task, reply, tmux }) => {
            let answer = match panes.focus(&tmux.geometry, &task.id).await {
                Ok(true) => Ok(Answer::Task(task)),
                Ok(false) => Err(ErrorBody::new(
                    ErrorKind::Invalid,
                    format!("task {} has no tmux pane (it runs headless or has ended)", task.id),
                )),
                Err(e) => Err(ErrorBody::new(ErrorKind::Internal, format!("{e:#}"))),
            };
            to_loop.input(Input::Answered { reply, answer });
            true
        }
        Job::Engine(PaneJob::Input { origin, pane, text, reply }) => {
            let answer = match Tmux::new(&origin.socket).type_text(&pane, &text).await {
                Ok(()) => Ok(Answer::Unit),
                Err(e) => Err(ErrorBody::new(
                    ErrorKind::Internal,
                    format!("cannot type into pane {pane}: {e:#}"),
                )),
            };
            to_loop.input(Input::Answered { reply, answer });
            false
        }
        Job::Engine(PaneJob::Relayout { window: Some((socket, window)), tmux }) => {
            log_err(
                "cannot re-plan after a resize",
                panes.resized(&tmux.geometry, &socket, &window).await,
            );
            true
        }
        Job::Engine(PaneJob::WindowLayout { origin, geometry }) => {
            panes.set_layout((origin.socket, origin.pane), geometry).await;
            false
        }
        Job::Engine(PaneJob::Relayout { window: None, tmux }) => {
            panes.relayout_all(&tmux.geometry).await;
            true
        }
        Job::Engine(PaneJob::Hangup { id, origin, pane }) => {
            let hangup = match Tmux::new(&origin.socket).pane_info(&pane).await {
                Err(_) => Hangup::ServerGone,
                Ok(None) => Hangup::PaneClosed,
                Ok(Some(_)) => Hangup::PaneThere,
            };
            to_loop.input(Input::Hangup { id, hangup });
            false
        }
        Job::Engine(PaneJob::CheckAdoption { id, origin, pane, pid: _ }) => {
            // The pane is still there with this task's wrapper in it (a pane of that number
            // may be anyone's after a tmux restart): adopted, whether the agent still runs or
            // ended meanwhile (its wrapper then waits to report; its exit is on disk too).
            let t = Tmux::new(&origin.socket);
            let visible = match t.pane_info(&pane).await {
                Ok(Some(info)) if crate::runner::is_wrapper_of(info.pid, &id) => {
                    Some(!is_overflow_name(&info.window_name))
                }
                _ => None,
            };
            let exit = to_loop.store.read_exit(&id);
            to_loop.input(Input::Adopted { id, visible, exit });
            false
        }
        Job::Engine(PaneJob::Adopt { id, origin, pane, visible }) => {
            panes.adopt(&origin.socket, &origin.pane, &id, &pane, visible).await;
            true
        }
        Job::Engine(PaneJob::Forget { id, tmux }) => {
            log_err("cannot re-plan", panes.forget(&tmux.geometry, &id).await);
            true
        }
        Job::Engine(PaneJob::Status { reply, mut status, main }) => {
            status.panes = of_main(panes.usage().await, main.as_ref());
            to_loop.input(Input::Answered { reply, answer: Ok(Answer::Status(status)) });
            false
        }
        Job::Shutdown { done } => {
            panes.shutdown().await;
            let _ = done.send(());
            true
        }
    }
}

/// The agent panes a status tells: of `main`'s window alone when a dashboard asks about its
/// own (its header speaks of it), else of every window.
fn of_main(
    usage: Vec<crate::proto::PaneUsage>,
    main: Option<&crate::core::task::TmuxOrigin>,
) -> Vec<crate::proto::PaneUsage> {
    match main {
        Some(m) => {
            usage.into_iter().filter(|p| p.socket == m.socket && p.main_pane == m.pane).collect()
        }
        None => usage,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::task::TmuxOrigin;
    use crate::proto::PaneUsage;

    #[test]
    fn a_dashboard_is_told_of_its_own_window_only() {
        let usage = |socket: &str, main: &str, fallback: Option<&str>| PaneUsage {
            socket: socket.into(),
            main_pane: main.into(),
            visible: 2,
            hidden: 1,
            fallback: fallback.map(String::from),
        };
        let all = vec![
            usage("/a", "%0", Some("main pane narrowed to 96 columns")),
            usage("/b", "%0", None),
        ];
        let b = TmuxOrigin { socket: "/b".into(), pane: "%0".into() };
        assert_eq!(of_main(all.clone(), Some(&b)), vec![all[1].clone()]);
        assert_eq!(of_main(all.clone(), None), all, "`daemon status`: every window");
    }
}
