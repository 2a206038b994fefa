//! The dashboard's line to the daemon: the connections it keeps (one that registers its pane
//! and one for the event stream, opened again after the daemon restarts), and the effects of
//! `update` run as requests.

use std::io::Write;
use std::time::Duration;

use anyhow::{Context, Result};
use tokio::sync::mpsc;

use super::app::{Action, Detail, UiEffect, WorktreeInfo, WorktreeRef};
use crate::client::Client;
use crate::core::task::{Task, TmuxOrigin};
use crate::paths::Paths;
use crate::proto::{ListFilter, OutputData, Request, StatusData, ask};

/// The connections kept open to the daemon.
pub struct Link {
    /// Registers the dashboard's pane while it lives (agents get panes beside it).
    pub _control: Client,
    /// The event stream.
    pub events: Client,
}

impl Link {
    /// Connects (starting a daemon when `autostart`), registers the pane, subscribes, and
    /// returns the task list as it is.
    pub async fn open(
        paths: &Paths,
        origin: Option<&TmuxOrigin>,
        autostart: bool,
    ) -> Result<(Link, Vec<Task>)> {
        let mut control =
            Client::connect(paths, autostart).await.context("cannot reach the daemon")?;
        if let Some(o) = origin {
            control
                .request_raw(Request::RegisterMain {
                    socket: o.socket.clone(),
                    pane: o.pane.clone(),
                })
                .await
                .context("cannot register the dashboard's pane")?;
        }
        let mut events = Client::connect(paths, false).await?;
        events.subscribe().await?;
        let tasks: Vec<Task> = control.ask(ask::List { filter: ListFilter::default() }).await?;
        Ok((Link { _control: control, events }, tasks))
    }

    /// Connects again after the daemon went away unasked (it crashed, or was killed): tries
    /// until one answers, starting one when none does.
    pub async fn reopen(paths: &Paths, origin: Option<&TmuxOrigin>) -> (Link, Vec<Task>) {
        let mut delay = Duration::from_millis(100);
        loop {
            match Link::open(paths, origin, true).await {
                Ok(l) => return l,
                Err(e) => tracing::debug!(error = %format!("{e:#}"), "daemon not back yet"),
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(2));
        }
    }
}

/// Runs effects; see `run_effects`.
pub struct Effects {
    paths: Paths,
    tx: mpsc::UnboundedSender<Action>,
    fetches: mpsc::UnboundedSender<UiEffect>,
    /// Worktrees being read, and whether to read one again when done.
    reading: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, bool>>>,
}

impl Effects {
    pub fn new(paths: &Paths, tx: &mpsc::UnboundedSender<Action>) -> Effects {
        let (fetches, rx) = mpsc::unbounded_channel();
        tokio::spawn(fetcher(paths.clone(), rx, tx.clone()));
        Effects { paths: paths.clone(), tx: tx.clone(), fetches, reading: Default::default() }
    }

    /// Runs the effects of `update`: fetches (the selected task's output, the viewer's, the
    /// status) one after another on one kept connection; anything else as a request on a
    /// connection of its own, so that a slow one (a cancel waits for the process to stop) holds up
    /// nothing. Results come back as actions. No effect starts a daemon: a stopped daemon is
    /// started again only when the user asks (`UiEffect::StartDaemon`, run by the loop).
    pub fn run_effects(&self, fx: Vec<UiEffect>) {
        let (paths, tx) = (&self.paths, &self.tx);
        for effect in fx {
            if let UiEffect::Copy(text) = &effect {
                use base64::Engine as _;
                let b64 = base64::engine::general_purpose::STANDARD.encode(text);
                let mut out = std::io::stdout();
                let _ = write!(out, "\x1b]52;c;{b64}\x07");
                let _ = out.flush();
                // Inside tmux, also through tmux's buffer (it forwards to the terminal's clipboard
                // by its own `set-clipboard` rules).
                if let Some(socket) = std::env::var("TMUX")
                    .ok()
                    .and_then(|t| crate::tmux::adapter::socket_from_env(&t))
                {
                    let text = text.clone();
                    tokio::spawn(async move {
                        let _ = crate::tmux::Tmux::new(socket).set_buffer(&text).await;
                    });
                }
                let _ = tx.send(Action::Message(format!("copied {text}")));
                continue;
            }
            // git's work: on blocking threads, one read of a worktree at a time (asked again
            // while one runs: once more after it).
            if let UiEffect::FetchWorktree(w) = effect {
                self.read_worktree(w);
                continue;
            }
            if let UiEffect::FetchDiff(w) = &effect {
                let (w, tx) = (w.clone(), tx.clone());
                tokio::task::spawn_blocking(move || {
                    let text = crate::worktree::state::diff(&w.path, &w.base, false, false)
                        .unwrap_or_else(|e| format!("{e}"));
                    let _ = tx.send(Action::Diff(w.id, text));
                });
                continue;
            }
            if matches!(
                effect,
                UiEffect::FetchDetail(_) | UiEffect::FetchOutput(_) | UiEffect::FetchGroups
            ) {
                let _ = self.fetches.send(effect);
                continue;
            }
            let paths = paths.clone();
            let tx = tx.clone();
            tokio::spawn(async move {
                let result = match Client::connect(&paths, false).await {
                    Ok(mut c) => run_effect(&mut c, effect, &tx).await,
                    Err(e) => Err(e.into()),
                };
                if let Err(e) = result {
                    let _ = tx.send(Action::Message(format!("{e:#}")));
                }
            });
        }
    }
}

impl Effects {
    fn read_worktree(&self, w: WorktreeRef) {
        {
            let Ok(mut busy) = self.reading.lock() else { return };
            if let Some(again) = busy.get_mut(&w.id) {
                *again = true;
                return;
            }
            busy.insert(w.id.clone(), false);
        }
        let (tx, reading) = (self.tx.clone(), self.reading.clone());
        tokio::task::spawn_blocking(move || {
            loop {
                let _ = tx.send(Action::Worktree(w.id.clone(), worktree_info(&w)));
                let Ok(mut busy) = reading.lock() else { return };
                if busy.get(&w.id) == Some(&true) {
                    busy.insert(w.id.clone(), false);
                    continue;
                }
                busy.remove(&w.id);
                return;
            }
        });
    }
}

fn worktree_info(w: &WorktreeRef) -> WorktreeInfo {
    use crate::worktree::state;
    let exists = w.path.is_dir();
    let mut info = WorktreeInfo { exists, ..Default::default() };
    if exists && let Ok(s) = state::stat(&w.path, &w.base) {
        info.stat = s;
    }
    if let Ok(s) = state::state(&w.repo, &w.path, &w.branch) {
        (info.target, info.dirty, info.ahead, info.merged) = (s.target, s.dirty, s.ahead, s.merged);
    }
    info
}

/// Merges or discards a worktree task's worktree (git on a blocking thread), then records what
/// became of it on the task.
async fn change_worktree(c: &mut Client, w: WorktreeRef, merge: bool) -> Result<String> {
    use crate::worktree::ops;
    let w2 = w.clone();
    let outcome = tokio::task::spawn_blocking(move || {
        let tree = ops::Tree {
            task_id: &w2.id,
            title: &w2.title,
            repo: &w2.repo,
            path: &w2.path,
            branch: &w2.branch,
            attached: w2.attached,
        };
        if merge {
            ops::merge(&tree, ops::How::Merge).map(|m| m.note(ops::How::Merge, &w2.branch))
        } else {
            ops::discard(&tree, ops::Discard::default()).map(|d| format!("discarded: {d}"))
        }
    })
    .await?;
    // A merge's or discard's result, and a conflict (what conflicted), go on the task's record.
    let note = match outcome {
        Ok(note) => note,
        Err(e @ ops::Refused::Conflict { .. }) => e.to_string(),
        Err(e) => return Ok(format!("{}: {e}", w.id)),
    };
    let _: Task = c.ask(ask::WorktreeNote { id: w.id.clone(), note: note.clone() }).await?;
    Ok(format!("{}: {note}", w.id))
}

/// Runs fetches in order on one connection, made again when it breaks (no daemon is started).
async fn fetcher(
    paths: Paths,
    mut rx: mpsc::UnboundedReceiver<UiEffect>,
    tx: mpsc::UnboundedSender<Action>,
) {
    let mut conn: Option<Client> = None;
    while let Some(effect) = rx.recv().await {
        if conn.is_none() {
            conn = Client::connect(&paths, false).await.ok();
        }
        let Some(c) = conn.as_mut() else { continue };
        if let Err(e) = run_effect(c, effect, &tx).await {
            tracing::debug!(error = %format!("{e:#}"), "fetch failed");
            conn = None;
        }
    }
}

/// A task's result once it has ended, else its output so far (the latest lines, or all).
async fn output_text(c: &mut Client, id: &str, full: bool) -> Result<String> {
    let o: OutputData = c
        .ask(ask::Output {
            id: id.to_string(),
            wait: false,
            timeout_ms: None,
            full,
            deliver: false,
        })
        .await?;
    Ok(o.result.or(o.tail).unwrap_or_default())
}

/// This dashboard's tmux pane (the one it registered), as tmux tells its processes.
fn own_pane() -> Option<TmuxOrigin> {
    let socket = crate::tmux::adapter::socket_from_env(&std::env::var("TMUX").ok()?)?;
    let pane = std::env::var("TMUX_PANE").ok().filter(|p| p.starts_with('%'))?;
    Some(TmuxOrigin { socket, pane })
}

async fn run_effect(
    c: &mut Client,
    effect: UiEffect,
    tx: &mpsc::UnboundedSender<Action>,
) -> Result<()> {
    match effect {
        UiEffect::FetchDetail(id) => {
            let text = output_text(c, &id, false).await?;
            let _ = tx.send(Action::Detail(Detail { id, text }));
        }
        UiEffect::FetchOutput(id) => {
            // All of it: the result of an ended task, everything so far of a running one.
            let text = output_text(c, &id, true).await?;
            let _ = tx.send(Action::FullOutput(id, text));
        }
        UiEffect::FetchGroups => {
            let s: StatusData = c.ask(ask::Status { main: own_pane() }).await?;
            let _ = tx.send(Action::Status(Box::new(s)));
        }
        UiEffect::Cancel(ids) => {
            let done: Vec<Task> = c.ask(ask::Cancel { ids, all: false }).await?;
            let names: Vec<String> =
                done.iter().map(|t| format!("{} {}", t.id, t.status)).collect();
            let _ = tx.send(Action::Message(names.join(", ")));
        }
        UiEffect::CancelAll => {
            let done: Vec<Task> = c.ask(ask::Cancel { ids: vec![], all: true }).await?;
            let _ = tx.send(Action::Message(format!("cancelled {} tasks", done.len())));
        }
        UiEffect::Retry(id) => {
            let t: Task = c.ask(ask::Retry { id, env: Some(crate::paths::client_env()) }).await?;
            let _ = tx.send(Action::Message(format!("retrying as {}", t.id)));
        }
        UiEffect::Submit(mut spec) => {
            spec.client_cwd = std::env::current_dir().ok();
            spec.env = Some(crate::paths::client_env());
            let t: Task = c.ask(ask::Submit { spec }).await?;
            let _ = tx.send(Action::Message(format!("submitted {}", t.id)));
        }
        UiEffect::Focus(id) => {
            let t: Task = c.ask(ask::Focus { id }).await?;
            let _ = tx.send(Action::Message(format!(
                "{} is in pane {}",
                t.id,
                t.pane_id.unwrap_or_default()
            )));
        }
        UiEffect::SetLayout(name) => {
            c.request_raw(Request::SetLayout { name: name.clone(), main: own_pane() }).await?;
            let _ = tx.send(Action::Message(format!("layout {name}")));
        }
        UiEffect::Reload => {
            let tasks: Vec<Task> = c.ask(ask::List { filter: ListFilter::default() }).await?;
            let _ = tx.send(Action::Loaded(tasks));
        }
        UiEffect::Merge(w) => {
            let said = change_worktree(c, w, true).await?;
            let _ = tx.send(Action::Message(said));
        }
        UiEffect::Discard(w) => {
            let said = change_worktree(c, w, false).await?;
            let _ = tx.send(Action::Message(said));
        }
        UiEffect::Copy(_)
        | UiEffect::StartDaemon
        | UiEffect::FetchWorktree(_)
        | UiEffect::FetchDiff(_) => {}
    }
    Ok(())
}
