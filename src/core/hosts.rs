//! Hosts tasks run on over SSH, as the engine and the daemon's host links see them: which one,
//! how it is reached, and what its link reports.

use crate::core::task::{Task, TaskSpec};

/// A host of `[hosts]`, as its link needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    pub name: String,
    /// `ssh://…` or a `Host` alias: the destination given to `ssh`.
    pub ssh: String,
    pub ssh_args: Vec<String>,
    /// `PANEHERD_DATA_DIR` of the daemon there, when the config names one.
    pub data_dir: Option<String>,
}

impl Host {
    /// The control socket of its ssh master connection, in the private runtime dir `runtime`
    /// (shared by every ssh session to it: the link's, `hosts setup`'s, an attached window's).
    pub fn control(&self, runtime: &std::path::Path) -> std::path::PathBuf {
        runtime.join(format!("ssh-{}.sock", self.name))
    }
}

/// What the engine asks of a host's link.
#[derive(Debug, Clone, PartialEq)]
pub enum HostJob {
    /// Have the host's daemon run this task (with this id); `cwd` `None`: its home directory.
    Submit { host: Host, id: String, spec: Box<TaskSpec> },
    /// Follow a task the host runs already (after this daemon restarted).
    Watch { host: Host, id: String },
    /// Cancel a task the host runs.
    Cancel { host: Host, id: String },
    /// Open the link (`paneherd hosts` asked how the host is).
    Connect { host: Host },
    /// Open a window beside `into` attached to `task`'s pane there; answer request `reply`.
    Attach { host: Host, task: Box<Task>, into: crate::core::task::TmuxOrigin, reply: u64 },
}

impl HostJob {
    pub fn host(&self) -> &Host {
        match self {
            HostJob::Submit { host, .. } | HostJob::Watch { host, .. } => host,
            HostJob::Cancel { host, .. } | HostJob::Connect { host } => host,
            HostJob::Attach { host, .. } => host,
        }
    }
}

/// What a host's link reports of a task it runs there.
#[derive(Debug, Clone, PartialEq)]
pub enum HostReport {
    /// The host has the task (`task`: its record there, running or still queued there).
    Changed { id: String, task: Box<Task> },
    /// It wrote `bytes` of output.
    Output { id: String, bytes: u64 },
    /// It ended there; `result`: its result, read there.
    Ended { id: String, task: Box<Task>, result: Option<String> },
    /// It cannot be handed to the host yet: why (the host is unreachable, …).
    Waiting { id: String, why: String },
    /// The host refused it: it ends as an error with this reason.
    Refused { id: String, why: String },
}

impl HostReport {
    pub fn id(&self) -> &str {
        match self {
            HostReport::Changed { id, .. }
            | HostReport::Output { id, .. }
            | HostReport::Ended { id, .. }
            | HostReport::Waiting { id, .. }
            | HostReport::Refused { id, .. } => id,
        }
    }
}

/// How a host's link is, as `paneherd hosts` and the dashboard show it.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LinkState {
    /// Connected to the daemon there now.
    pub reachable: bool,
    /// paneherd's version there, once it answered.
    pub version: Option<String>,
    /// Why not reachable (ssh's own words, or the handshake's).
    pub error: Option<String>,
    /// The last request's round trip over the link.
    pub latency_ms: Option<u64>,
}
