//! What paneherd knows of the desktop's notification server: the last probe and when it was
//! made, asked again when old or failed; and why there is none, in words a user can act on.

use std::time::Duration;

use tokio::time::Instant;

use super::deliver::{DesktopError, Server, probe};

/// How long a probe's answer is trusted before the server is asked again.
const PROBE_TTL: Duration = Duration::from_secs(60);

#[derive(Debug, Default)]
pub struct ServerState {
    last: std::sync::Mutex<Option<(Instant, Result<Server, DesktopError>)>>,
}

impl ServerState {
    /// The server, probing again when the last answer is old or was a failure; an error says
    /// why there is none.
    pub async fn current(&self) -> Result<Server, DesktopError> {
        let fresh = self.last.lock().ok().and_then(|l| {
            l.as_ref()
                .filter(|(at, r)| r.is_ok() && at.elapsed() < PROBE_TTL)
                .map(|(_, r)| r.clone())
        });
        if let Some(r) = fresh {
            return r;
        }
        let r = probe().await.map_err(why_none);
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

/// Why there is no notification server, in words a user can act on.
fn why_none(e: DesktopError) -> DesktopError {
    if std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_none()
        && std::env::var_os("XDG_RUNTIME_DIR").is_none()
    {
        DesktopError::NoSessionBus(Box::new(e))
    } else {
        e
    }
}
