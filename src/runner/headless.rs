//! The headless runner: the task is a child process in its own process group, stdin from
//! /dev/null, stdout and stderr through one pipe into the task's log (opened before the process
//! starts: a task whose log cannot be made does not start). It reports its start, its output (at
//! most every `REPORT_EVERY`) and its exit, once the output is all in the log — or what of it
//! could not be written there (a full disk).

use std::io::Write;
use std::os::fd::OwnedFd;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::sync::{Notify, oneshot};
use tokio::time::{Instant, sleep_until};

use super::{Exit, Launch, Report};

/// How long to keep reading output after the process exits, for a grandchild that still holds
/// the pipe open. Output after that still reaches the log, but the task is already recorded.
const DRAIN_AFTER_EXIT: Duration = Duration::from_millis(250);
/// At most one output report per this interval (the engine needs no finer clock).
const REPORT_EVERY: Duration = Duration::from_millis(100);

/// Starts headless processes. They are made side by side, but said to have started in the
/// order they were asked for, so that the tasks of a queue start in its order (their
/// `started_at` too): each start takes a ticket, and reports once every earlier one has. One
/// `Starter` per daemon (its runner component); clones share the order.
#[derive(Clone, Default)]
pub struct Starter {
    order: std::sync::Arc<Order>,
}

#[derive(Default)]
struct Order {
    /// Tickets given out.
    tickets: AtomicU64,
    /// How many have been said to have started (or to have failed to).
    reported: AtomicU64,
    next: Notify,
}

impl Starter {
    /// Starts the process and follows it, telling `report` what happens. Must be called inside
    /// a tokio runtime; returns at once.
    pub fn start(&self, launch: Launch, report: impl Fn(Report) + Send + Sync + Clone + 'static) {
        let n = self.order.tickets.fetch_add(1, Ordering::SeqCst);
        let ticket = StartTicket { n, order: self.order.clone() };
        tokio::spawn(follow(launch, report, ticket));
    }
}

/// A place in that order; given up (the next may report) when dropped, whatever happened.
struct StartTicket {
    n: u64,
    order: std::sync::Arc<Order>,
}

impl StartTicket {
    /// Until every earlier one has reported.
    async fn wait_for_earlier(&self) {
        loop {
            let next = self.order.next.notified();
            tokio::pin!(next);
            next.as_mut().enable();
            if self.order.reported.load(Ordering::SeqCst) >= self.n {
                return;
            }
            next.await;
        }
    }
}

impl Drop for StartTicket {
    fn drop(&mut self) {
        // Only once its turn has come (or it would let a later one by): wait first.
        self.order.reported.fetch_max(self.n + 1, Ordering::SeqCst);
        self.order.next.notify_waiters();
    }
}

async fn follow(
    launch: Launch,
    report: impl Fn(Report) + Send + Sync + Clone + 'static,
    ticket: StartTicket,
) {
    // `posix_spawn` holds the calling thread until the child has replaced itself with the
    // program: a thread of the blocking pool, not the one the daemon's loop runs on.
    let l = launch.clone();
    let spawned = match tokio::task::spawn_blocking(move || spawn(&l)).await {
        Ok(s) => s,
        Err(e) => Err(StartError::Thread(e.to_string())),
    };
    ticket.wait_for_earlier().await;
    let (mut child, reader, log) = match spawned {
        Ok(s) => s,
        Err(e) => {
            report(Report::StartFailed { reason: e.to_string() });
            return;
        }
    };
    let Some(pid) = child.id() else {
        report(Report::StartFailed { reason: "the process exited before it had a pid".into() });
        return;
    };
    report(Report::Started { pid });
    drop(ticket);
    let (drained_tx, drained_rx) = oneshot::channel::<Option<String>>();
    let output = report.clone();
    let id = launch.task_id.clone();
    tokio::spawn(async move {
        let failed = copy(reader, &id, log, &output).await;
        let _ = drained_tx.send(failed);
    });
    tokio::spawn(async move {
        let status = child.wait().await;
        let log_error = tokio::time::timeout(DRAIN_AFTER_EXIT, drained_rx)
            .await
            .ok()
            .and_then(Result::ok)
            .flatten();
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
        report(Report::Exited { exit, log_error });
    });
}

type Spawned = (tokio::process::Child, tokio::net::unix::pipe::Receiver, std::fs::File);

/// Why a headless task's process could not be started (said in the task's reason).
#[derive(Debug, thiserror::Error)]
enum StartError {
    #[error("empty command")]
    EmptyCommand,
    #[error("cannot open the task's log {}: {source}", path.display())]
    Log { path: std::path::PathBuf, source: std::io::Error },
    #[error("cannot make {} for it: {source}", path.display())]
    Touch { path: std::path::PathBuf, source: std::io::Error },
    #[error("cannot {what} output pipe: {source}")]
    Pipe { what: &'static str, source: std::io::Error },
    #[error("cannot start {program:?} in {}: {source}{}", cwd.display(), hint(source))]
    Start { program: String, cwd: std::path::PathBuf, source: std::io::Error },
    #[error("cannot start the process: {0}")]
    Thread(String),
}

/// What a failed start's error suggests.
fn hint(e: &std::io::Error) -> &'static str {
    if e.kind() == std::io::ErrorKind::NotFound { " (is it installed and on PATH?)" } else { "" }
}

fn spawn(launch: &Launch) -> Result<Spawned, StartError> {
    let program = launch.argv.first().ok_or(StartError::EmptyCommand)?;
    let log = crate::paths::append_private(&launch.log_path)
        .map_err(|source| StartError::Log { path: launch.log_path.clone(), source })?;
    for path in &launch.touch {
        crate::paths::append_private(path)
            .map_err(|source| StartError::Touch { path: path.clone(), source })?;
    }
    let pipe = |what| move |source| StartError::Pipe { what, source };
    let (reader, writer) = std::io::pipe().map_err(pipe("create"))?;
    let mut cmd = tokio::process::Command::new(&launch.program);
    cmd.arg0(program)
        .args(&launch.argv[1..])
        .current_dir(&launch.cwd)
        .stdin(if launch.stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(writer.try_clone().map_err(pipe("duplicate"))?)
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
    let mut child = spawned.map_err(|source| StartError::Start {
        program: program.clone(),
        cwd: launch.cwd.clone(),
        source,
    })?;
    let rx = tokio::net::unix::pipe::Receiver::from_owned_fd(OwnedFd::from(reader))
        .map_err(pipe("watch"))?;
    if let (Some(text), Some(input)) = (launch.stdin.clone(), child.stdin.take()) {
        super::feed_stdin(input, text, launch.task_id.clone());
    }
    Ok((child, rx, log))
}

/// Copies the output pipe to the log until it closes, reporting output as it goes. Returns
/// what of the output could not be written to the log, if anything (it is still read, so
/// that the process is not held up, and counted).
async fn copy(
    mut rx: tokio::net::unix::pipe::Receiver,
    id: &str,
    log: std::fs::File,
    report: &(impl Fn(Report) + Send + Sync),
) -> Option<String> {
    let mut buf = vec![0u8; 32 * 1024];
    let mut log = Some(log);
    let mut kept: u64 = 0;
    let mut failed: Option<String> = None;
    let mut unreported: u64 = 0;
    let mut report_at = Instant::now();
    loop {
        tokio::select! {
            read = rx.read(&mut buf) => match read {
                Ok(0) => break,
                Ok(n) => {
                    if let Some(f) = log.as_mut() {
                        match f.write_all(&buf[..n]) {
                            Ok(()) => kept += n as u64,
                            Err(e) => {
                                tracing::warn!(task = %id, error = %e, "cannot append to log");
                                failed = Some(super::log_failure(kept, &e));
                                log = None;
                            }
                        }
                    }
                    unreported += n as u64;
                    if Instant::now() >= report_at {
                        report(Report::Output { bytes: std::mem::take(&mut unreported) });
                        report_at = Instant::now() + REPORT_EVERY;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    tracing::warn!(task = %id, error = %e, "output pipe failed");
                    break;
                }
            },
            _ = sleep_until(report_at), if unreported > 0 => {
                report(Report::Output { bytes: std::mem::take(&mut unreported) });
                report_at = Instant::now() + REPORT_EVERY;
            }
        }
    }
    if unreported > 0 {
        report(Report::Output { bytes: unreported });
    }
    if let Some(mut f) = log
        && let Err(e) = f.flush()
    {
        failed.get_or_insert_with(|| super::log_failure(kept, &e));
    }
    failed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn launch(dir: &std::path::Path, log: std::path::PathBuf, script: &str) -> Launch {
        Launch {
            task_id: "test-task".into(),
            program: "/bin/sh".into(),
            argv: vec!["sh".into(), "-c".into(), script.into()],
            base_env: None,
            env: vec![],
            cwd: dir.to_path_buf(),
            log_path: log,
            stdin: None,
            touch: vec![],
        }
    }

    async fn reports(l: Launch) -> Vec<Report> {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        Starter::default().start(l, move |r| {
            let _ = tx.send(r);
        });
        let mut got = vec![];
        while let Some(r) = rx.recv().await {
            let last = matches!(r, Report::Exited { .. } | Report::StartFailed { .. });
            got.push(r);
            if last {
                break;
            }
        }
        got
    }

    #[tokio::test]
    async fn a_task_whose_log_cannot_be_made_does_not_start() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("ran");
        let log = dir.path().join("no-such-dir/task.log");
        let got = reports(launch(dir.path(), log, &format!("touch {}", marker.display()))).await;
        match got.as_slice() {
            [Report::StartFailed { reason }] => {
                assert!(reason.contains("cannot open the task's log"), "{reason}")
            }
            other => panic!("{other:?}"),
        }
        assert!(!marker.exists(), "the process ran");
    }

    #[tokio::test]
    async fn output_that_cannot_be_written_is_said_with_the_exit() {
        let dir = tempfile::tempdir().unwrap();
        // /dev/full: every write fails with "No space left on device".
        let got = reports(launch(dir.path(), "/dev/full".into(), "echo hello")).await;
        match got.last() {
            Some(Report::Exited { exit, log_error: Some(e) }) => {
                assert_eq!(exit.code, Some(0));
                assert!(e.starts_with("disk full: output after 0 bytes was not kept"), "{e}");
            }
            other => panic!("{other:?}"),
        }
    }
}
