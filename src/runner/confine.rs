//! How a task's process is confined: the seam a sandbox plugs into. A `Confinement` rewrites a
//! launch into what actually runs (a sandbox wraps the agent's command in its own, with the
//! task's directory writable and the rest read-only). It is pure, so the engine applies it to
//! every launch before the launch leaves the engine: headless and pane tasks alike, a retry,
//! a continue and a start after a restart. `Unconfined` (today's only kind) changes nothing.

use std::fmt::Debug;

use super::Launch;

/// Why a launch cannot be confined.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot confine the task ({kind}): {why}")]
pub struct ConfineError {
    /// The kind of confinement (`bwrap`, …).
    pub kind: &'static str,
    pub why: String,
}

/// A way of confining tasks' processes.
pub trait Confinement: Send + Sync + Debug {
    /// The launch as it must run. An error (the task ends in error, unstarted) when it cannot
    /// be confined: a task meant to be confined never runs unconfined instead.
    fn confine(&self, launch: Launch) -> Result<Launch, ConfineError>;
}

/// No confinement: the agent runs as the user, as its command says.
#[derive(Debug, Default, Clone, Copy)]
pub struct Unconfined;

impl Confinement for Unconfined {
    fn confine(&self, launch: Launch) -> Result<Launch, ConfineError> {
        Ok(launch)
    }
}
