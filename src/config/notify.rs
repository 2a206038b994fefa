//! `[notify]`: which task ends notify, how, and the command run when one ends.

use serde::Deserialize;

/// `[notify]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NotifyConfig {
    pub enabled: bool,
    /// Which ends (and `needs_input`) notify.
    pub on: Vec<String>,
    pub timeout_ms: u32,
    /// A freedesktop sound name (Linux) or system sound (macOS); none by default.
    pub sound: Option<String>,
    /// Icon path; the shipped icon by default.
    pub icon: Option<std::path::PathBuf>,
    pub coalesce_ms: u64,
    /// No notification for a task whose pane is in view in an attached tmux client.
    pub skip_when_visible: bool,
    /// A command run (without a shell) when a task ends: placeholders {id} {status} {title}
    /// {reason} {exit_code} {summary}.
    pub on_finish: Option<Vec<String>>,
    pub on_finish_timeout_secs: u64,
}

/// What `on` may list.
pub const EVENTS: [&str; 5] = ["completed", "error", "interrupted", "cancelled", "needs_input"];

impl Default for NotifyConfig {
    fn default() -> Self {
        NotifyConfig {
            enabled: true,
            on: ["completed", "error", "interrupted", "needs_input"].map(String::from).to_vec(),
            timeout_ms: 8000,
            sound: None,
            icon: None,
            coalesce_ms: 1500,
            skip_when_visible: true,
            on_finish: None,
            on_finish_timeout_secs: 10,
        }
    }
}

impl NotifyConfig {
    /// Problems with the values, as (key, message).
    pub fn check(&self) -> Result<(), (String, String)> {
        for e in &self.on {
            if !EVENTS.contains(&e.as_str()) {
                return Err((
                    "notify.on".into(),
                    format!("unknown event {e:?} (allowed: {})", EVENTS.join(", ")),
                ));
            }
        }
        if self.coalesce_ms > 60_000 {
            return Err((
                "notify.coalesce_ms".into(),
                format!("{} is out of range (allowed: 0 to 60000)", self.coalesce_ms),
            ));
        }
        if self.timeout_ms > 600_000 {
            return Err((
                "notify.timeout_ms".into(),
                format!("{} is out of range (allowed: 0 to 600000)", self.timeout_ms),
            ));
        }
        if self.on_finish.as_ref().is_some_and(|c| c.is_empty() || c[0].trim().is_empty()) {
            return Err((
                "notify.on_finish".into(),
                "must name a program: [\"program\", \"{id}\", …]".into(),
            ));
        }
        Ok(())
    }
}
