//! The headless runner: the task is a child process in its own process group, stdin from
//! /dev/null, stdout and stderr through one pipe into the task's log.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::fd::OwnedFd;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use tokio::io::AsyncReadExt;
use tokio::sync::oneshot;

use super::{Activity, Exit, Launch, RunHandle};

/// How long to keep reading output after the process exits, for a grandchild that still holds
/// the pipe open. Output after that still reaches the log, but the task is already recorded.
const DRAIN_AFTER_EXIT: Duration = Duration::from_millis(250);

/// Starts the process. Must be called inside a tokio runtime.
pub fn spawn(launch: &Launch) -> Result<RunHandle> {
    let program = launch.argv.first().ok_or_else(|| anyhow!("empty command"))?;
    let (reader, writer) = std::io::pipe().context("cannot create output pipe")?;
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(&launch.argv[1..])
        .current_dir(&launch.cwd)
        .stdin(Stdio::null())
        .stdout(writer.try_clone().context("cannot duplicate output pipe")?)
        .stderr(writer)
        .process_group(0)
        .kill_on_drop(false);
    if let Some(base) = &launch.base_env {
        cmd.env_clear().envs(base.iter().map(|(k, v)| (k, v)));
    }
    cmd.envs(launch.env.iter().map(|(k, v)| (k, v)));
    let spawned = cmd.spawn();
    // The parent's copies of the pipe's write end must close, or the reader never sees EOF.
    drop(cmd);
    let mut child = spawned.map_err(|e| {
        let hint = if e.kind() == std::io::ErrorKind::NotFound {
            " (is it installed and on PATH?)"
        } else {
            ""
        };
        anyhow!("cannot start {program:?} in {}: {e}{hint}", launch.cwd.display())
    })?;
    let pid = child.id().ok_or_else(|| anyhow!("process exited before it had a pid"))?;
    let activity = Arc::new(Activity::default());
    let mut rx = tokio::net::unix::pipe::Receiver::from_owned_fd(OwnedFd::from(reader))
        .context("cannot watch output pipe")?;
    let act = activity.clone();
    let (drained_tx, drained_rx) = oneshot::channel::<()>();
    let id = launch.task_id.clone();
    let log_path = launch.log_path.clone();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 64 * 1024];
        // The log is created with the first output: a silent task leaves no empty file.
        let mut log: Option<std::fs::File> = None;
        loop {
            match rx.read(&mut buf).await {
                Ok(0) => break,
                Ok(n) => {
                    if log.is_none() {
                        match OpenOptions::new().create(true).append(true).open(&log_path) {
                            Ok(f) => log = Some(f),
                            Err(e) => tracing::warn!(task = %id, error = %e, "cannot open log"),
                        }
                    }
                    if let Some(f) = log.as_mut()
                        && let Err(e) = f.write_all(&buf[..n])
                    {
                        tracing::warn!(task = %id, error = %e, "cannot append to log");
                    }
                    act.record(n);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    tracing::warn!(task = %id, error = %e, "output pipe failed");
                    break;
                }
            }
        }
        if let Some(mut f) = log {
            let _ = f.flush();
        }
        let _ = drained_tx.send(());
    });
    let (exit_tx, exit_rx) = oneshot::channel();
    tokio::spawn(async move {
        let status = child.wait().await;
        let _ = tokio::time::timeout(DRAIN_AFTER_EXIT, drained_rx).await;
        let exit = match status {
            Ok(s) => {
                use std::os::unix::process::ExitStatusExt;
                Exit { code: s.code(), signal: s.signal() }
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot wait for child");
                Exit { code: None, signal: None }
            }
        };
        let _ = exit_tx.send(exit);
    });
    Ok(RunHandle { pid, exit: exit_rx, activity })
}
