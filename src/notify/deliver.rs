//! Delivering a notice: a desktop notification through notify-rust (D-Bus on Linux, the native
//! centre on macOS); without a notification server, a tmux message and the terminal bell; the
//! outcome is always recorded, never an error that could hold up a task.

use std::path::Path;
use std::time::Duration;

use super::NotifyConfig;
use super::notice::Notice;
use crate::tmux::Tmux;

/// How long a desktop notification may take to be accepted before the fallback is used.
const SEND_TIMEOUT: Duration = Duration::from_secs(2);

/// Which way a notice went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Desktop,
    Tmux,
    Nowhere,
}

#[derive(Debug)]
pub struct Delivered {
    pub route: Route,
    /// Why this route (the desktop error, for the fallbacks).
    pub why: String,
    /// A click on the notification's action asks to show this task (desktop only).
    pub handle: Option<notify_rust::NotificationHandle>,
}

/// What the notification server says of itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    pub name: String,
    pub version: String,
    /// It reads the body as markup (`body-markup`): `& < >` must be escaped.
    pub markup: bool,
}

impl std::fmt::Display for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.name, self.version)?;
        if self.markup { write!(f, " (body markup)") } else { Ok(()) }
    }
}

/// Why a notice did not go to the desktop (said in `daemon status` and the log).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DesktopError {
    /// The session bus could not be reached.
    #[error("{0}")]
    Bus(String),
    /// The bus has no notification server, or it refused a call.
    #[error("{method}: {error}")]
    Call { method: &'static str, error: String },
    /// A reply that is not what the specification says.
    #[error("{method}: unexpected reply: {error}")]
    Reply { method: &'static str, error: String },
    /// The server took too long.
    #[error("no answer within {} s", .0.as_secs())]
    Timeout(Duration),
    /// The server refused the notification.
    #[error("{0}")]
    Refused(String),
    /// The daemon was started without a session bus in its environment.
    #[error(
        "the daemon has no session bus (DBUS_SESSION_BUS_ADDRESS was not set where it started): \
         {0}"
    )]
    NoSessionBus(Box<DesktopError>),
}

/// Asks the session bus's notification server who it is and what it can do.
#[cfg(all(unix, not(target_os = "macos")))]
pub async fn probe() -> Result<Server, DesktopError> {
    const PATH: &str = "/org/freedesktop/Notifications";
    const NAME: &str = "org.freedesktop.Notifications";
    let ask = async {
        let conn =
            zbus::Connection::session().await.map_err(|e| DesktopError::Bus(e.to_string()))?;
        let call = |method: &'static str| {
            let conn = conn.clone();
            async move {
                let reply = conn
                    .call_method(Some(NAME), PATH, Some(NAME), method, &())
                    .await
                    .map_err(|e| DesktopError::Call { method, error: e.to_string() })?;
                Ok::<_, DesktopError>((method, reply))
            }
        };
        let unexpected =
            |method| move |e: zbus::Error| DesktopError::Reply { method, error: e.to_string() };
        let (m, reply) = call("GetServerInformation").await?;
        let (name, _vendor, version, _spec): (String, String, String, String) =
            reply.body().deserialize().map_err(unexpected(m))?;
        let (m, reply) = call("GetCapabilities").await?;
        let caps: Vec<String> = reply.body().deserialize().map_err(unexpected(m))?;
        Ok(Server { name, version, markup: caps.iter().any(|c| c == "body-markup") })
    };
    match tokio::time::timeout(SEND_TIMEOUT, ask).await {
        Ok(r) => r,
        Err(_) => Err(DesktopError::Timeout(SEND_TIMEOUT)),
    }
}

/// macOS: the notification centre.
#[cfg(not(all(unix, not(target_os = "macos"))))]
pub async fn probe() -> Result<Server, DesktopError> {
    Ok(Server { name: "notification centre".into(), version: String::new(), markup: false })
}

/// `& < >` as markup entities, for a server that reads the body as markup.
pub fn escape_markup(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// Sends `n` as a desktop notification. `markup`: the server reads the body as markup. A
/// critical notice (an error, an interruption, a question) stays until it is dismissed.
pub async fn desktop(
    n: &Notice,
    cfg: &NotifyConfig,
    icon: Option<&Path>,
    markup: bool,
) -> Result<notify_rust::NotificationHandle, DesktopError> {
    let body = if markup { escape_markup(&n.body) } else { n.body.clone() };
    let timeout = if n.critical {
        notify_rust::Timeout::Never
    } else {
        notify_rust::Timeout::Milliseconds(cfg.timeout_ms)
    };
    let mut note = notify_rust::Notification::new();
    note.appname("paneherd")
        .summary(&n.summary)
        .body(&body)
        .timeout(timeout)
        .hint(notify_rust::Hint::Category(n.category.to_string()));
    #[cfg(all(unix, not(target_os = "macos")))]
    note.urgency(if n.critical {
        notify_rust::Urgency::Critical
    } else {
        notify_rust::Urgency::Normal
    });
    if let Some(icon) = icon {
        note.icon(&icon.to_string_lossy());
    }
    if let Some(sound) = &cfg.sound {
        note.sound_name(sound);
    }
    if n.task_id.is_some() {
        note.action("default", "Show");
    }
    match tokio::time::timeout(SEND_TIMEOUT, note.show_async()).await {
        Ok(Ok(h)) => Ok(h),
        Ok(Err(e)) => Err(DesktopError::Refused(e.to_string())),
        Err(_) => Err(DesktopError::Timeout(SEND_TIMEOUT)),
    }
}

/// Shows `text` in the tmux client of `pane`'s session and rings its terminal's bell.
pub async fn tmux_message(tmux: &Tmux, pane: &str, text: &str) -> anyhow::Result<()> {
    tmux.message(pane, text).await?;
    if let Ok(Some(tty)) = tmux.client_tty(pane).await {
        use std::io::Write;
        if let Ok(mut f) = std::fs::OpenOptions::new().write(true).open(&tty) {
            let _ = f.write_all(b"\x07");
        }
    }
    Ok(())
}

/// Delivers `n`: desktop, else tmux (when `tmux` names a pane to show it in), else nowhere.
/// `server`: what `probe` found (its error says why there is no desktop).
pub async fn deliver(
    n: &Notice,
    cfg: &NotifyConfig,
    icon: Option<&Path>,
    server: &Result<Server, DesktopError>,
    tmux: Option<(Tmux, String)>,
) -> Delivered {
    let sent = match server {
        Ok(s) => desktop(n, cfg, icon, s.markup).await,
        Err(e) => Err(e.clone()),
    };
    let err = match sent {
        Ok(h) => {
            return Delivered {
                route: Route::Desktop,
                why: "notification server".into(),
                handle: Some(h),
            };
        }
        Err(e) => e,
    };
    if let Some((t, pane)) = tmux {
        match tmux_message(&t, &pane, &format!("paneherd: {}", n.summary)).await {
            Ok(()) => {
                return Delivered {
                    route: Route::Tmux,
                    why: format!("no desktop notification ({err})"),
                    handle: None,
                };
            }
            Err(e) => {
                return Delivered {
                    route: Route::Nowhere,
                    why: format!("no desktop notification ({err}); tmux: {e:#}"),
                    handle: None,
                };
            }
        }
    }
    Delivered {
        route: Route::Nowhere,
        why: format!("no desktop notification ({err}) and no tmux"),
        handle: None,
    }
}
