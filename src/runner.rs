//! Every process paneherd starts is started here: tasks' processes (headless, or inside a pane by
//! the wrapper), the summarizer, agents' `session_command`s, the daemon itself (for a client
//! that finds none), and through [`programs`] every helper program (git, tmux, a worktree's
//! set-up command, paneherd's own programs), which their own modules build. A task's runner
//! reports the same things however it runs: the pid at start, output activity, and the exit the
//! moment the process has ended and its output is all in the task's log (awaited, never
//! polled).

pub mod headless;
pub mod pane;
pub mod place;
pub mod programs;
pub mod tick;

use std::path::PathBuf;

use nix::sys::signal::{Signal, killpg};

pub use crate::core::argv;
pub use crate::core::launch::{Exit, Launch, LocateError};
use nix::unistd::Pid;

/// What a task's runner reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Report {
    Started {
        pid: u32,
    },
    StartFailed {
        reason: String,
    },
    Output {
        bytes: u64,
    },
    /// The process exited and its output is all in the log, or (`log_error`) what of it
    /// could not be written there.
    Exited {
        exit: Exit,
        log_error: Option<String>,
    },
}

/// Finds `program` as `execvp` would for a process with `PATH` = `path` in `cwd`: a name with a
/// `/` is a file (relative to `cwd`), any other is looked up on the `PATH`.
/// Writes `text` to a child's standard input from a task of its own (a long prompt must not
/// hold up the runner while the agent has not read it yet), then closes it: end of input.
pub fn feed_stdin(mut input: tokio::process::ChildStdin, text: String, task_id: String) {
    tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        let wrote = input.write_all(text.as_bytes()).await;
        // An agent that exits without reading all of it closes the pipe: not an error of ours.
        if let Err(e) = wrote
            && e.kind() != std::io::ErrorKind::BrokenPipe
        {
            tracing::warn!(task = %task_id, "cannot write the prompt to the agent's input: {e}");
        }
        drop(input);
    });
}

pub fn locate(
    program: &str,
    path: Option<&str>,
    cwd: &std::path::Path,
) -> Result<PathBuf, LocateError> {
    if program.is_empty() {
        return Err(LocateError::NoProgram);
    }
    if program.contains('/') {
        let p = cwd.join(program);
        return which::which_in(&p, None::<&str>, cwd)
            .map_err(|_| LocateError::NoSuchFile { program: program.into() });
    }
    which::which_in(program, path, cwd)
        .map_err(|_| LocateError::NotOnPath { program: program.into() })
}

/// A helper command run to its end (`capture`) that did not give its output.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CaptureError {
    #[error("empty command")]
    Empty,
    #[error("{program:?} ended with {status}")]
    Failed { program: String, status: String },
    #[error("cannot run {program:?}: {cause}")]
    Spawn { program: String, cause: String },
    #[error("{program:?} did not end within {secs} s")]
    Timeout { program: String, secs: u64 },
}

/// Runs `argv` in `cwd` (stdin closed, `env` over the daemon's) and returns its standard output
/// and error, if it exits 0 within `timeout`. For short helper commands, not tasks.
pub async fn capture(
    argv: &[String],
    cwd: &std::path::Path,
    env: &std::collections::BTreeMap<String, String>,
    timeout: std::time::Duration,
) -> Result<String, CaptureError> {
    let (program, args) = argv.split_first().ok_or(CaptureError::Empty)?;
    let mut built = programs::command(program);
    built.args(args).current_dir(cwd).env("PWD", cwd).envs(env);
    let mut cmd = programs::async_command(built);
    cmd.process_group(0);
    match tokio::time::timeout(timeout, cmd.output()).await {
        Ok(Ok(o)) if o.status.success() => Ok(format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )),
        Ok(Ok(o)) => {
            Err(CaptureError::Failed { program: program.clone(), status: o.status.to_string() })
        }
        Ok(Err(e)) => Err(CaptureError::Spawn { program: program.clone(), cause: e.to_string() }),
        Err(_) => Err(CaptureError::Timeout { program: program.clone(), secs: timeout.as_secs() }),
    }
}

/// Runs the summarizer's argv and returns its one line (`None` when it fails; logged).
pub async fn summarize(
    argv: &[String],
    cwd: &std::path::Path,
    env: &[(String, String)],
) -> Option<String> {
    let env = env.iter().cloned().collect();
    match capture(argv, cwd, &env, std::time::Duration::from_secs(120)).await {
        Ok(out) => crate::core::text::summary(&crate::core::text::clean_output(out.as_bytes())),
        Err(e) => {
            tracing::warn!(error = %e, "summarizer failed");
            None
        }
    }
}

/// Starts `paneherd daemon run --detach` from `exe` for the data, runtime and config paths of
/// `paths`, its standard error to `stderr` (where a daemon that cannot start says why).
pub fn start_daemon(
    exe: &std::path::Path,
    paths: &crate::paths::Paths,
    stderr: std::fs::File,
) -> std::io::Result<std::process::Child> {
    programs::command(exe)
        .args(["daemon", "run", "--detach"])
        .env("PANEHERD_CONFIG", &paths.config)
        .env("PANEHERD_DATA_DIR", &paths.data)
        .env("PANEHERD_RUNTIME_DIR", &paths.runtime)
        .stdout(std::process::Stdio::null())
        .stderr(stderr)
        .spawn()
}

/// Whether process `pid` still runs task `id`'s agent (its environment names the task).
pub fn runs_task(pid: u32, id: &str) -> bool {
    let Ok(environ) = std::fs::read(format!("/proc/{pid}/environ")) else { return false };
    let marker = format!("PANEHERD_TASK_ID={id}");
    environ.split(|b| *b == 0).any(|kv| kv == marker.as_bytes())
}

/// Whether process `pid` is task `id`'s pane wrapper (`paneherd-pane … --task ID`).
pub fn is_wrapper_of(pid: u32, id: &str) -> bool {
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else { return false };
    let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
    args.windows(2).any(|w| w[0] == b"--task" && w[1] == id.as_bytes())
}

/// What a log that could not be written says of the output: how much was kept, and why not
/// the rest.
pub fn log_failure(kept: u64, e: &std::io::Error) -> String {
    if e.raw_os_error() == Some(nix::libc::ENOSPC) || e.raw_os_error() == Some(nix::libc::EDQUOT) {
        format!("disk full: output after {kept} bytes was not kept ({e})")
    } else {
        format!("the log could not be written: output after {kept} bytes was not kept ({e})")
    }
}

/// A task's process may outlive a daemon killed with SIGKILL. Stops it if it is still there and
/// still ours (its environment names the task), so that it does not run on unwatched.
pub fn stop_orphan(pid: u32, id: &str) {
    if runs_task(pid, id) {
        tracing::warn!(task = %id, pid, "stopping the process of a task lost in a restart");
        signal_group(pid, Signal::SIGTERM);
    }
}

/// Stops every process of task `id` that a previous daemon left running without recording it:
/// the process groups of those whose environment names the task, and its pane wrapper (so that
/// its pane closes). Only this user's processes are readable, so only theirs are touched.
pub fn stop_every_process_of(id: &str) {
    let Ok(dir) = std::fs::read_dir("/proc") else { return };
    let me = std::process::id();
    for entry in dir.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        if pid == me {
            continue;
        }
        if runs_task(pid, id) {
            tracing::warn!(task = %id, pid, "stopping a process of a task lost in a restart");
            let group = nix::unistd::getpgid(Some(Pid::from_raw(pid as i32)))
                .map(|g| g.as_raw() as u32)
                .unwrap_or(pid);
            signal_group(group, Signal::SIGTERM);
        } else if is_wrapper_of(pid, id) {
            let _ = nix::sys::signal::kill(Pid::from_raw(pid as i32), Signal::SIGTERM);
        }
    }
}

/// Runs an `on_finish` hook (argv, no shell), time-limited; failures are logged.
pub async fn hook(argv: Vec<String>, timeout: std::time::Duration) {
    let empty = std::collections::BTreeMap::new();
    let cwd = std::env::temp_dir();
    if let Err(e) = capture(&argv, &cwd, &empty, timeout).await {
        tracing::warn!(error = %e, "on_finish failed");
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
