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

/// Sends `n` as a desktop notification.
pub async fn desktop(
    n: &Notice,
    cfg: &NotifyConfig,
    icon: Option<&Path>,
) -> Result<notify_rust::NotificationHandle, String> {
    let mut note = notify_rust::Notification::new();
    note.appname("paneherd")
        .summary(&n.summary)
        .body(&n.body)
        .timeout(notify_rust::Timeout::Milliseconds(cfg.timeout_ms))
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
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {} s", SEND_TIMEOUT.as_secs())),
    }
}

/// Shows `text` in the tmux client of `pane`'s session and rings its terminal's bell.
pub async fn tmux_message(tmux: &Tmux, pane: &str, text: &str) -> Result<(), String> {
    tmux.message(pane, text).await.map_err(|e| format!("{e:#}"))?;
    if let Ok(Some(tty)) = tmux.client_tty(pane).await {
        use std::io::Write;
        if let Ok(mut f) = std::fs::OpenOptions::new().write(true).open(&tty) {
            let _ = f.write_all(b"\x07");
        }
    }
    Ok(())
}

/// Delivers `n`: desktop, else tmux (when `tmux` names a pane to show it in), else nowhere.
pub async fn deliver(
    n: &Notice,
    cfg: &NotifyConfig,
    icon: Option<&Path>,
    tmux: Option<(Tmux, String)>,
) -> Delivered {
    let err = match desktop(n, cfg, icon).await {
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
                    why: format!("no desktop notification ({err}); tmux: {e}"),
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
