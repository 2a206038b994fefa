//! What is recorded of tasks, as the engine asks for it and gets it back: how durable a write
//! must be, what becomes of a task's secret, and what was read at start-up.

use std::path::PathBuf;

use crate::core::task::{Task, TaskSecret};

/// How durable an update must be before its waiter is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Durability {
    /// Written (atomically): survives a crash of paneherd.
    Written,
    /// Written now, flushed to the device within `SOON`: survives a power loss after that.
    Soon,
    /// Written and flushed before the waiter is answered.
    Now,
}

/// A task file that could not be read (reported, skipped, never overwritten).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub path: PathBuf,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.message)
    }
}

/// What becomes of a task's secret with an update of its record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum SecretOp {
    /// Left as it is.
    #[default]
    Keep,
    /// Written (before the record).
    Set(TaskSecret),
    /// Removed (after the record).
    Clear,
}

/// Everything read at start-up.
#[derive(Debug, Default)]
pub struct Loaded {
    /// Tasks, oldest first.
    pub tasks: Vec<Task>,
    pub problems: Vec<Problem>,
    /// Ids of files that could not be read: not to be reused.
    pub reserved_ids: Vec<String>,
    /// The secrets of the tasks that had one (not ended ones: theirs are removed).
    pub secrets: std::collections::HashMap<String, TaskSecret>,
}
