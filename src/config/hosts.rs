//! `[hosts.NAME]`: other machines tasks run on, reached with the system's OpenSSH (so the
//! user's keys, agent, `ProxyJump` and `known_hosts` apply), one paneherd daemon on each.

use serde::Deserialize;
use toml::Spanned;

/// One host.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostConfig {
    /// `ssh://[user@]host[:port]`, or a `Host` of `~/.ssh/config`.
    pub ssh: Spanned<String>,
    /// More arguments for `ssh` (before the destination), e.g. `["-i", "~/.ssh/build"]`.
    #[serde(default)]
    pub ssh_args: Vec<String>,
    /// At most this many of its tasks run at once (besides the limits of their models).
    #[serde(default)]
    pub max_tasks: Option<Spanned<u32>>,
    /// The data dir of the paneherd daemon there (`PANEHERD_DATA_DIR`; default: its own).
    #[serde(default)]
    pub data_dir: Option<String>,
    /// Where its tasks run when `--cwd` does not say (default: the home directory there).
    #[serde(default)]
    pub cwd: Option<String>,
}

impl HostConfig {
    /// What the daemon's host link needs of it.
    pub fn to_host(&self, name: &str) -> crate::core::hosts::Host {
        crate::core::hosts::Host {
            name: name.to_string(),
            ssh: self.ssh.get_ref().clone(),
            ssh_args: self.ssh_args.clone(),
            data_dir: self.data_dir.clone(),
        }
    }
}

/// That `name` is not one of `hosts`, with the ones there are and how to add it.
pub fn unknown(name: &str, hosts: &std::collections::BTreeMap<String, HostConfig>) -> String {
    let known = hosts.keys().cloned().collect::<Vec<_>>().join(", ");
    format!(
        "unknown host {name:?} (hosts: {}; `paneherd hosts add {name} ssh://…` adds it)",
        if known.is_empty() { "none yet" } else { &known }
    )
}

/// Why a host's name or `ssh` is refused (`None`: fine).
pub fn check(name: &str, ssh: &str) -> Option<String> {
    let name_ok = !name.is_empty()
        && name.len() <= 64
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !name_ok {
        return Some(format!(
            "host name {name:?}: letters, digits, '-', '_' and '.' only (at most 64)"
        ));
    }
    if ssh.trim().is_empty() {
        return Some(
            "ssh is empty: give ssh://[user@]host[:port] or a Host of ~/.ssh/config".into(),
        );
    }
    // `ssh` would read it as an option.
    if ssh.starts_with('-') || ssh.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Some(format!(
            "ssh {ssh:?} is not a destination: ssh://[user@]host[:port] or a Host of \
             ~/.ssh/config (no spaces, not starting with '-')"
        ));
    }
    None
}
