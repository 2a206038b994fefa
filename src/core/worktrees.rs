//! A task's worktree as the engine and the config speak of it: what making one needs (the
//! `[worktree]` settings and the task's request) and what was made.

use std::path::PathBuf;
use std::time::Duration;

use crate::core::task::WorktreeRequest;

/// What the daemon's job needs to make (or find again) a task's worktree.
#[derive(Debug, Clone, PartialEq)]
pub struct Prepare {
    pub task_id: String,
    /// The task's directory as submitted (inside the repository, perhaps in a subdirectory).
    pub cwd: PathBuf,
    pub request: WorktreeRequest,
    pub settings: Settings,
}

/// The `[worktree]` config.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Where worktrees go: `{repo_parent}`, `{repo_name}`, `{task_id}` expanded.
    pub dir: String,
    pub branch_prefix: String,
    /// Run in a new worktree before the agent (argv; non-fatal).
    pub setup: Vec<String>,
    pub setup_timeout: Duration,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            dir: DEFAULT_DIR.into(),
            branch_prefix: String::new(),
            setup: vec![],
            setup_timeout: Duration::from_secs(300),
        }
    }
}

pub const DEFAULT_DIR: &str = "{repo_parent}/{repo_name}.paneherd/{task_id}";

/// A made (or found again) worktree.
#[derive(Debug, Clone, PartialEq)]
pub struct Prepared {
    /// The repository's main worktree.
    pub repo: PathBuf,
    pub path: PathBuf,
    pub branch: String,
    /// The base commit.
    pub base: String,
    /// Where the task runs: the submitter's subdirectory of the repository, in the worktree.
    pub cwd: PathBuf,
    /// What went wrong that does not stop the task (the set-up command failed, a file of
    /// `.worktreeinclude` could not be copied).
    pub note: Option<String>,
    /// Made now (false: an earlier task's, run in again).
    pub made: bool,
}
