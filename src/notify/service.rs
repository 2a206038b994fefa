//! The daemon's notification service: follows the event stream, picks the ends worth telling,
//! merges bursts, and delivers; runs the `on_finish` hook. A failure here is logged and never
//! holds up or changes a task's record.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast::error::RecvError;
use tokio::time::Instant;

use super::coalesce::Coalescer;
use super::deliver::{Route, Server, deliver, probe};
use super::{NotifyConfig, notice};
use crate::core::task::{Task, TaskStatus};
use crate::core::timefmt;
use crate::daemon::Engine;
use crate::proto::Event;
use crate::tmux::Tmux;

/// The icon shipped in `assets/`, written where the notification server can read it.
pub const ICON: &[u8] = include_bytes!("../../assets/icon.png");

/// Writes the icon to `<data>/icon.png` (if missing) and returns its path.
pub fn install_icon(data: &std::path::Path) -> Option<PathBuf> {
    let p = data.join("icon.png");
    if !p.exists() {
        std::fs::write(&p, ICON).ok()?;
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

/// Whether the task's pane is in the active window of a session someone is attached to.
async fn in_view(t: &Task) -> bool {
    let (Some(o), Some(pane)) = (&t.tmux, &t.pane_id) else { return false };
    Tmux::new(&o.socket).in_view(pane).await.unwrap_or(false)
}

/// What the daemon knows of its notification server: the last probe and when it was made.
#[derive(Debug, Default)]
pub struct ServerState {
    last: std::sync::Mutex<Option<(Instant, Result<Server, String>)>>,
}

/// How long a probe's answer is trusted before the server is asked again.
const PROBE_TTL: Duration = Duration::from_secs(60);

impl ServerState {
    /// The server, probing again when the last answer is old or was a failure.
    pub async fn current(&self) -> Result<Server, String> {
        let fresh = self.last.lock().ok().and_then(|l| {
            l.as_ref()
                .filter(|(at, r)| r.is_ok() && at.elapsed() < PROBE_TTL)
                .map(|(_, r)| r.clone())
        });
        if let Some(r) = fresh {
            return r;
        }
        let r = probe().await;
        if let Ok(mut l) = self.last.lock() {
            *l = Some((Instant::now(), r.clone()));
        }
        r
    }

    /// How notifications go, in words, for `daemon status`.
    pub fn describe(&self) -> String {
        match self.last.lock().ok().and_then(|l| l.as_ref().map(|(_, r)| r.clone())) {
            Some(Ok(s)) => format!("desktop ({s})"),
            Some(Err(e)) => format!("no desktop notifications: {e} (falls back to tmux messages)"),
            None => "not probed yet".into(),
        }
    }
}

/// The notification server as the daemon sees it, described: why there is none, in words a
/// user can act on.
fn why_none(e: &str) -> String {
    if std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_none()
        && std::env::var_os("XDG_RUNTIME_DIR").is_none()
    {
        format!(
            "the daemon has no session bus (DBUS_SESSION_BUS_ADDRESS was not set where it started): {e}"
        )
    } else {
        e.to_string()
    }
}

/// `notify test`: sends a sample through the daemon's own bus and says which way it went.
pub async fn test(
    engine: &Engine,
    tmux: Option<crate::core::task::TmuxOrigin>,
) -> crate::proto::NotifyTestData {
    let cfg = engine.config().notify.clone();
    let n = notice::Notice {
        summary: "✓ paneherd test — completed in 1s".into(),
        body: "paneherd notify test\nIf you see this, notifications work.".into(),
        critical: false,
        category: "transfer.complete",
        task_id: None,
    };
    let icon = cfg.icon.clone().or_else(|| install_icon(&engine.paths.data));
    let server = engine.notify_server.current().await.map_err(|e| why_none(&e));
    let tmux = tmux.map(|o| (Tmux::new(&o.socket), o.pane));
    let t0 = std::time::Instant::now();
    let d = deliver(&n, &cfg, icon.as_deref(), &server, tmux).await;
    crate::proto::NotifyTestData {
        route: match d.route {
            Route::Desktop => "desktop",
            Route::Tmux => "tmux",
            Route::Nowhere => "none",
        }
        .into(),
        why: d.why,
        server: server.as_ref().ok().map(|s| s.to_string()),
        took_ms: t0.elapsed().as_millis() as u64,
    }
}

/// Follows the event stream until the daemon stops. The `[notify]` settings are read for each
/// event, so a config edit applies to the next end.
pub async fn run(engine: Arc<Engine>) {
    match engine.notify_server.current().await {
        Ok(s) => tracing::info!(server = %s, "desktop notifications"),
        Err(e) => tracing::warn!(why = %why_none(&e), "no desktop notifications"),
    }
    let mut rx = engine.subscribe();
    let mut co = Coalescer::default();
    loop {
        let due = co.due();
        let cfg = engine.config().notify.clone();
        let window = Duration::from_millis(cfg.coalesce_ms);
        tokio::select! {
            ev = rx.recv() => match ev {
                Ok(Event::TaskChanged { task }) => {
                    if task.status.is_terminal()
                        && let Some(hook) = &cfg.on_finish {
                            tokio::spawn(run_hook(hook.clone(), (*task).clone(), cfg.on_finish_timeout_secs));
                        }
                    if cfg.enabled && wants(&cfg, &task) {
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
            _ = tokio::time::sleep_until(due.map(Instant::from_std).unwrap_or_else(Instant::now)), if due.is_some() => {
                let batch = co.take(Instant::now().into_std(), window);
                if !batch.is_empty() {
                    let icon = cfg.icon.clone().or_else(|| install_icon(&engine.paths.data));
                    tokio::spawn(send(engine.clone(), cfg.clone(), icon, batch));
                }
            }
        }
    }
}

async fn send(engine: Arc<Engine>, cfg: NotifyConfig, icon: Option<PathBuf>, batch: Vec<Task>) {
    let n = notice::many(&batch, timefmt::now());
    let tmux = batch.iter().find_map(|t| {
        let o = t.tmux.as_ref()?;
        Some((Tmux::new(&o.socket), t.pane_id.clone().unwrap_or_else(|| o.pane.clone())))
    });
    let server = engine.notify_server.current().await.map_err(|e| why_none(&e));
    let d = deliver(&n, &cfg, icon.as_deref(), &server, tmux).await;
    match d.route {
        Route::Desktop => tracing::info!(summary = %n.summary, "notified"),
        Route::Tmux => {
            tracing::info!(summary = %n.summary, why = %d.why, "notified in tmux (fallback)")
        }
        Route::Nowhere => tracing::warn!(summary = %n.summary, why = %d.why, "could not notify"),
    }
    if let (Some(h), Some(id)) = (d.handle, n.task_id) {
        // "Show" (or a click): bring the task's pane into view.
        let clicked = tokio::task::spawn_blocking(move || {
            let mut hit = false;
            h.wait_for_action(|a| hit = a == "default");
            hit
        })
        .await
        .unwrap_or(false);
        if clicked {
            let _ = engine.focus(&id).await;
        }
    }
}

/// Runs the `on_finish` command for an ended task, without a shell, time-limited.
async fn run_hook(template: Vec<String>, t: Task, timeout_secs: u64) {
    let mut values = std::collections::BTreeMap::new();
    values.insert("id", t.id.clone());
    values.insert("status", t.status.to_string());
    values.insert("title", t.title.clone());
    values.insert("reason", t.reason.clone().unwrap_or_default());
    values.insert("exit_code", t.exit_code.map(|c| c.to_string()).unwrap_or_default());
    values.insert("summary", t.summary.clone().unwrap_or_default());
    let argv = match crate::runner::argv::expand(&template, &values) {
        Ok(a) if !a.is_empty() => a,
        _ => return,
    };
    let mut cmd = tokio::process::Command::new(&argv[0]);
    cmd.args(&argv[1..]).stdin(std::process::Stdio::null()).kill_on_drop(true);
    match tokio::time::timeout(Duration::from_secs(timeout_secs), cmd.output()).await {
        Ok(Ok(o)) if o.status.success() => tracing::debug!(task = %t.id, "on_finish ran"),
        Ok(Ok(o)) => {
            tracing::warn!(task = %t.id, status = %o.status, stderr = %String::from_utf8_lossy(&o.stderr).trim(), "on_finish failed")
        }
        Ok(Err(e)) => tracing::warn!(task = %t.id, error = %e, "cannot run on_finish"),
        Err(_) => tracing::warn!(task = %t.id, "on_finish timed out"),
    }
}
