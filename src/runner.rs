//! How a task's process runs. Every runner reports the same things: the pid at start, output
//! activity, and the exit status the moment the process ends (awaited, never polled); the
//! full output goes to the task's log.

pub mod argv;
pub mod headless;
pub mod pane;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::sync::{Notify, oneshot};

/// Everything needed to start one task's process.
#[derive(Debug, Clone)]
pub struct Launch {
    pub task_id: String,
    pub argv: Vec<String>,
    /// The base environment (the submitting client's); the daemon's own when `None`.
    pub base_env: Option<Vec<(String, String)>>,
    /// Added over the base: the agent's `env` and `PANEHERD_TASK_ID`.
    pub env: Vec<(String, String)>,
    pub cwd: PathBuf,
    pub log_path: PathBuf,
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

/// Output activity of a running task, shared between its output reader and its supervisor.
#[derive(Debug, Default)]
pub struct Activity {
    last_ms: AtomicI64,
    bytes: AtomicU64,
    pub changed: Notify,
}

impl Activity {
    pub fn record(&self, n: usize) {
        self.last_ms.store(chrono::Utc::now().timestamp_millis(), Ordering::Relaxed);
        self.bytes.fetch_add(n as u64, Ordering::Relaxed);
        self.changed.notify_one();
    }
    /// Unix milliseconds of the last output, 0 if none yet.
    pub fn last_ms(&self) -> i64 {
        self.last_ms.load(Ordering::Relaxed)
    }
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }
}

/// A started process.
#[derive(Debug)]
pub struct RunHandle {
    pub pid: u32,
    /// Fires once the process has exited and its output has been written to the log.
    pub exit: oneshot::Receiver<Exit>,
    pub activity: Arc<Activity>,
}

/// Finds `program` as `execvp` would for a process with `PATH` = `path` in `cwd`: a name with a
/// `/` is a file (relative to `cwd`), any other is looked up on the `PATH`.
pub fn locate(program: &str, path: Option<&str>, cwd: &std::path::Path) -> Result<PathBuf, String> {
    if program.is_empty() {
        return Err("the agent's command names no program".into());
    }
    if program.contains('/') {
        let p = cwd.join(program);
        return which::which_in(&p, None::<&str>, cwd)
            .map_err(|_| format!("cannot start {program:?}: no such executable file"));
    }
    which::which_in(program, path, cwd)
        .map_err(|_| format!("cannot start {program:?}: not found on PATH (is it installed?)"))
}

/// Runs `argv` in `cwd` (stdin closed, `env` over the daemon's) and returns its standard output
/// and error, if it exits 0 within `timeout`. For short helper commands, not tasks.
pub async fn capture(
    argv: &[String],
    cwd: &std::path::Path,
    env: &std::collections::BTreeMap<String, String>,
    timeout: std::time::Duration,
) -> Result<String, String> {
    let (program, args) = argv.split_first().ok_or("empty command")?;
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args)
        .current_dir(cwd)
        .env("PWD", cwd)
        .envs(env)
        .stdin(std::process::Stdio::null())
        .process_group(0)
        .kill_on_drop(true);
    match tokio::time::timeout(timeout, cmd.output()).await {
        Ok(Ok(o)) if o.status.success() => Ok(format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )),
        Ok(Ok(o)) => Err(format!("{program:?} ended with {}", o.status)),
        Ok(Err(e)) => Err(format!("cannot run {program:?}: {e}")),
        Err(_) => Err(format!("{program:?} did not end within {} s", timeout.as_secs())),
    }
}

/// Sends `signal` to the task's whole process group; a group already gone is not an error.
pub fn signal_group(pid: u32, signal: Signal) {
    let Ok(raw) = i32::try_from(pid) else { return };
    if raw <= 1 {
        return;
    }
    if let Err(e) = killpg(Pid::from_raw(raw), signal)
        && e != nix::errno::Errno::ESRCH
    {
        tracing::warn!(pid, ?signal, error = %e, "cannot signal process group");
    }
}
