//! What a task's process is: its launch (program, argv, environment, directory, log), how it
//! ended, and the seam a sandbox plugs into — a [`Confinement`] rewrites a launch into what
//! actually runs (a sandbox wraps the agent's command in its own, with the task's directory
//! writable and the rest read-only). Confinement is pure, so the engine applies it to every
//! launch before the launch leaves the engine: headless and pane tasks alike, a retry, a
//! continue and a start after a restart. [`Unconfined`] (today's only kind) changes nothing.

use std::fmt::Debug;
use std::path::PathBuf;

use nix::sys::signal::Signal;

/// Everything needed to start one task's process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launch {
    pub task_id: String,
    /// `argv[0]` found on the task's `PATH` (so that no search happens at spawn: the process
    /// is made with `posix_spawn`, not a copy of the daemon).
    pub program: PathBuf,
    pub argv: Vec<String>,
    /// The base environment (the submitting client's); the daemon's own when `None`.
    pub base_env: Option<Vec<(String, String)>>,
    /// Added over the base: the agent's `env` and `PANEHERD_TASK_ID`.
    pub env: Vec<(String, String)>,
    pub cwd: PathBuf,
    pub log_path: PathBuf,
    /// Written to the process's standard input, which then ends (`None`: no input at all).
    pub stdin: Option<String>,
    /// Files made (empty, private) before it starts, when not there yet: a sandbox lets it
    /// write them (its `{answer_file}`), and can bind only what exists.
    pub touch: Vec<PathBuf>,
}

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exit {
    pub code: Option<i32>,
    pub signal: Option<i32>,
}

impl Exit {
    /// The shell convention: the code, or 128 + the signal.
    pub fn as_code(self) -> Option<i32> {
        self.code.or(self.signal.map(|s| 128 + s))
    }

    pub fn describe(self) -> String {
        match (self.code, self.signal) {
            (Some(c), _) => format!("exit code {c}"),
            (None, Some(s)) => {
                let name = Signal::try_from(s).map(|s| s.as_str()).unwrap_or("unknown");
                format!("killed by signal {s} ({name})")
            }
            (None, None) => "ended with an unknown status".into(),
        }
    }
}

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

/// A task's program that cannot be found as its process would look for it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LocateError {
    #[error("the agent's command names no program")]
    NoProgram,
    #[error("cannot start {program:?}: no such executable file")]
    NoSuchFile { program: String },
    #[error("cannot start {program:?}: not found on PATH (is it installed?)")]
    NotOnPath { program: String },
}
