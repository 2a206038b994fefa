//! The notifier: follows the event stream, picks the ends worth telling, merges bursts and
//! delivers them (desktop, else tmux); runs `on_finish` hooks; sends `notify test`'s sample.
//! It learns everything from events and asks for a pane's focus (a notification's "Show") with
//! the same request a client would. A failure here is logged and never holds up a task.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::hub::HubHandle;
use crate::core::task::{Task, TaskStatus, TmuxOrigin};
use crate::core::timefmt;
use crate::engine::{Answer, Input, ReplyTo};
use crate::notify::coalesce::Coalescer;
use crate::notify::deliver::{Route, deliver};
use crate::notify::server::ServerState;
use crate::notify::{NotifyConfig, notice};
use crate::proto::{Event, NotifyTestData, Request};
use crate::tmux::Tmux;

/// The icon shipped in `assets/`, written where the notification server can read it.
pub const ICON: &[u8] = include_bytes!("../../assets/icon.png");

/// Writes the icon to `<data>/icon.png` (if missing) and returns its path.
pub fn install_icon(data: &std::path::Path) -> Option<PathBuf> {
    let p = data.join("icon.png");
    if !p.exists() {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f =
            std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&p).ok()?;
        f.write_all(ICON).ok()?;
    }
    Some(p)
}

fn wants(cfg: &NotifyConfig, t: &Task) -> bool {
    let name = match (t.status, &t.needs_input) {
        (TaskStatus::Running, Some(_)) => "needs_input",
        (s, _) if s.is_terminal() => s.as_str(),
        _ => return false,
    };
    cfg.on.iter().any(|o| o == name)
}

/// The tasks whose end was told already: a later change of an ended task (its summary, a
/// worktree merged or discarded, a session learned) is not an end, and is not told again.
#[derive(Default)]
struct Told {
    ids: std::collections::HashSet<String>,
    order: std::collections::VecDeque<String>,
}

impl Told {
    /// The most ends remembered (the oldest are forgotten first).
    const KEEP: usize = 100_000;

    /// Whether this is the first time the end of task `id` is seen (and remembers it).
    fn first(&mut self, id: &str) -> bool {
        if self.ids.contains(id) {
            return false;
        }
        self.ids.insert(id.to_string());
        self.order.push_back(id.to_string());
        if self.order.len() > Self::KEEP
            && let Some(old) = self.order.pop_front()
        {
            self.ids.remove(&old);
        }
        true
    }
}

/// Whether the task's pane is in the active window of a session someone is attached to.
async fn in_view(t: &Task) -> bool {
    let (Some(o), Some(pane)) = (&t.tmux, &t.pane_id) else { return false };
    Tmux::new(&o.socket).in_view(pane).await.unwrap_or(false)
}

/// Starts the notifier; returns where `notify test` requests go.
pub fn start(
    hub: HubHandle,
    data: PathBuf,
) -> mpsc::UnboundedSender<(ReplyTo, Option<TmuxOrigin>)> {
    let (tx, mut tests) = mpsc::unbounded_channel::<(ReplyTo, Option<TmuxOrigin>)>();
    let server = Arc::new(ServerState::default());
    tokio::spawn(async move {
        let _ = server.current().await;
        hub.input(Input::NotifierStatus(server.describe()));
        let mut rx = hub.subscribe();
        let config = hub.config();
        let mut co = Coalescer::default();
        let mut told = Told::default();
        loop {
            let due = co.due();
            // The config in force (an `Arc`: nothing is copied per event).
            let config_now = config.borrow().clone();
            let cfg = &config_now.notify;
            let window = Duration::from_millis(cfg.coalesce_ms);
            tokio::select! {
                ev = rx.recv() => match ev {
                    // An ended task seen again (its summary, its worktree merged): no new end.
                    Ok(Event::TaskChanged { task }) if task.status.is_terminal() && !told.first(&task.id) => {}
                    Ok(Event::TaskChanged { task }) => {
                        if task.status.is_terminal() && let Some(hook) = &cfg.on_finish {
                            tokio::spawn(on_finish(hook.clone(), (*task).clone(), cfg.on_finish_timeout_secs));
                        }
                        if cfg.enabled && wants(cfg, &task) {
                            if cfg.skip_when_visible && in_view(&task).await {
                                tracing::debug!(task = %task.id, "no notification: its pane is in view");
                            } else {
                                co.push(*task, Instant::now().into_std(), window);
                            }
                        }
                    }
                    Ok(_) => {}
                    Err(RecvError::Lagged(n)) => tracing::warn!(missed = n, "notifications missed events"),
                    Err(RecvError::Closed) => break,
                },
                Some((reply, tmux)) = tests.recv() => {
                    let (hub, server, data, cfg) = (hub.clone(), server.clone(), data.clone(), cfg.clone());
                    tokio::spawn(async move {
                        let answer = test(&cfg, &data, &server, tmux).await;
                        hub.input(Input::NotifierStatus(server.describe()));
                        let answer = Ok(Answer::NotifyTest(Box::new(answer)));
                        hub.input(Input::Answered { reply, answer });
                    });
                }
                _ = tokio::time::sleep_until(due.map(Instant::from_std).unwrap_or_else(Instant::now)), if due.is_some() => {
                    let batch = co.take(Instant::now().into_std(), window);
                    if !batch.is_empty() {
                        let icon = cfg.icon.clone().or_else(|| install_icon(&data));
                        tokio::spawn(send(hub.clone(), server.clone(), cfg.clone(), icon, batch));
                    }
                }
            }
        }
    });
    tx
}

/// `notify test`: a sample through the daemon's own bus, and which way it went.
async fn test(
    cfg: &NotifyConfig,
    data: &std::path::Path,
    server: &ServerState,
    tmux: Option<TmuxOrigin>,
) -> NotifyTestData {
    let n = notice::Notice {
        summary: "✓ paneherd test — completed in 1s".into(),
        body: "paneherd notify test\nIf you see this, notifications work.".into(),
        critical: false,
        category: "transfer.complete",
        task_id: None,
    };
    let icon = cfg.icon.clone().or_else(|| install_icon(data));
    let found = server.current().await;
    let tmux = tmux.map(|o| (Tmux::new(&o.socket), o.pane));
    let t0 = std::time::Instant::now();
    let d = deliver(&n, cfg, icon.as_deref(), &found, tmux).await;
    NotifyTestData {
        route: match d.route {
            Route::Desktop => "desktop",
            Route::Tmux => "tmux",
            Route::Nowhere => "none",
        }
        .into(),
        why: d.why,
        server: found.as_ref().ok().map(|s| s.to_string()),
        took_ms: t0.elapsed().as_millis() as u64,
    }
}

async fn send(
    hub: HubHandle,
    server: Arc<ServerState>,
    cfg: NotifyConfig,
    icon: Option<PathBuf>,
    batch: Vec<Task>,
) {
    let n = notice::many(&batch, timefmt::now());
    let tmux = batch.iter().find_map(|t| {
        let o = t.tmux.as_ref()?;
        Some((Tmux::new(&o.socket), t.pane_id.clone().unwrap_or_else(|| o.pane.clone())))
    });
    let found = server.current().await;
    let d = deliver(&n, &cfg, icon.as_deref(), &found, tmux).await;
    match d.route {
        Route::Desktop => tracing::info!(summary = %n.summary, "notified"),
        Route::Tmux => {
            tracing::info!(summary = %n.summary, why = %d.why, "notified in tmux (fallback)")
        }
        Route::Nowhere => tracing::warn!(summary = %n.summary, why = %d.why, "could not notify"),
    }
    if let (Some(h), Some(id)) = (d.handle, n.task_id) {
        // "Show" (or a click): bring the task's pane into view, as a client would ask.
        let clicked = tokio::task::spawn_blocking(move || {
            let mut hit = false;
            h.wait_for_action(|a| hit = a == "default");
            hit
        })
        .await
        .unwrap_or(false);
        if clicked {
            let _ = hub.ask(Request::Focus { id }, 0).await;
        }
    }
}

/// The `on_finish` command for an ended task: its placeholders filled, run without a shell.
async fn on_finish(template: Vec<String>, t: Task, timeout_secs: u64) {
    let mut values = std::collections::BTreeMap::new();
    values.insert("id", t.id.clone());
    values.insert("status", t.status.to_string());
    values.insert("title", t.title.clone());
    values.insert("reason", t.reason.clone().unwrap_or_default());
    values.insert("exit_code", t.exit_code.map(|c| c.to_string()).unwrap_or_default());
    values.insert("summary", t.summary.clone().unwrap_or_default());
    match crate::core::argv::expand(&template, &values) {
        Ok(argv) if !argv.is_empty() => {
            crate::runner::hook(argv, Duration::from_secs(timeout_secs)).await
        }
        Ok(_) => {}
        // `config check` refuses such a template; said here in case one slips through.
        Err(e) => tracing::warn!(task = %t.id, "on_finish not run: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_end_is_told_once() {
        let mut told = Told::default();
        assert!(told.first("a"));
        assert!(!told.first("a"), "a worktree note or a summary later is no new end");
        assert!(told.first("b"));
    }
}
