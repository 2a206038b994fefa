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

/// Why something the daemon did for the engine failed (a log not read, a worktree not made, a
/// record not written), as the task's reason and the log say it: the error and its causes.
/// The engine only records it; the typed error stays with the module that met it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure(String);

impl Failure {
    /// `e` and each of its causes not already in its message, joined by `: `.
    pub fn of(e: &(dyn std::error::Error + 'static)) -> Failure {
        let mut text = e.to_string();
        let mut cause = e.source();
        while let Some(c) = cause {
            let said = c.to_string();
            if !text.contains(&said) {
                text = format!("{text}: {said}");
            }
            cause = c.source();
        }
        Failure(text)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<&str> for Failure {
    fn from(text: &str) -> Failure {
        Failure(text.to_string())
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
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

#[cfg(test)]
mod tests {
    use super::Failure;

    #[derive(Debug, thiserror::Error)]
    #[error("cannot read {0}")]
    struct Outer(&'static str, #[source] std::io::Error);

    #[derive(Debug, thiserror::Error)]
    #[error("cannot read it: {0}")]
    struct Said(#[source] std::io::Error);

    #[test]
    fn a_failure_says_each_cause_once() {
        let io = || std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        assert_eq!(Failure::of(&Outer("x.log", io())).as_str(), "cannot read x.log: no such file");
        // A cause the message says already is not said twice.
        assert_eq!(Failure::of(&Said(io())).to_string(), "cannot read it: no such file");
    }
}
