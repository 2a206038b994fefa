//! The program that runs inside a task's tmux pane (`paneherd pane-run`, a hidden subcommand).
//! It asks the daemon what to run and runs it on a pseudo-terminal of its own, between the agent
//! and the pane (like `script`): the agent gets a real terminal (interactive agents work), the
//! pane shows everything, and every byte the agent writes is appended to the task's log by this
//! one process. When the agent has exited *and* its terminal has no more output, the log is
//! complete: only then is the exit written down beside the log (a daemon away at that moment
//! learns it from there) and reported, so a task's result is exactly what it printed. The
//! closing banner goes to the pane only, never to the log.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::{Instant, sleep_until};

use super::tick::WallTick;
use crate::proto::{PaneLaunch, Request};

/// Why a report did not get through.
#[derive(Debug, thiserror::Error)]
pub enum LineError {
    /// The daemon answered no: it does not take this wrapper's reports for the task (it ended
    /// it already, or never gave this wrapper the task).
    #[error("the daemon refused: {0}")]
    Refused(String),
    /// The connection failed (the daemon went away).
    #[error("{0}")]
    Gone(String),
}

/// The wrapper's line to the daemon. It is implemented by the client (`client::PaneLink`), so
/// the runner does not depend on the client that starts daemons through it.
#[allow(async_fn_in_trait, reason = "used on one single-threaded runtime, never boxed")]
pub trait DaemonLine: Sized {
    /// Connects to the daemon at `socket` (an error when none answers).
    async fn connect(socket: &Path) -> Result<Self>;
    /// Takes on task `task_id` with the token the daemon gave this wrapper; the daemon answers
    /// with what to run (nothing, to a wrapper reporting in again after a restart).
    async fn attach(&mut self, task_id: &str, token: &str)
    -> Result<Option<PaneLaunch>, LineError>;
    /// Sends one report (`pane_started`, `pane_output`, `pane_exited`).
    async fn report(&mut self, report: Request) -> Result<(), LineError>;
    /// Returns when the daemon has gone away (it is restarting).
    async fn lost(&mut self);
}

/// How often a wrapper tries the daemon again when it is away (restarting).
const RETRY: Duration = Duration::from_millis(250);
/// Output after this long a silence is reported to the daemon at once; output that goes on is
/// reported every two seconds, on the even second of the wall clock, so that the reports of
/// every busy pane reach the daemon together (one wake-up for all, not one per pane).
const QUIET: Duration = Duration::from_secs(2);
/// After the agent exits, output still in its terminal is read until the terminal is closed by
/// every process, or until it has been quiet this long (a background process the agent left
/// behind may hold the terminal open for ever).
const DRAIN_QUIET: Duration = Duration::from_millis(150);
/// And never longer than this in all.
const DRAIN_MAX: Duration = Duration::from_secs(2);

async fn connect<L: DaemonLine>(socket: &Path) -> L {
    loop {
        match L::connect(socket).await {
            Ok(c) => return c,
            Err(e) => {
                tracing::debug!(error = %e, "daemon not reachable yet");
                tokio::time::sleep(RETRY).await;
            }
        }
    }
}

/// The token the daemon left for a pane's wrapper in `path`, read and the file removed (it is
/// needed once: the wrapper keeps it in memory).
pub fn take_token(path: &Path) -> Option<String> {
    let token = std::fs::read_to_string(path).ok()?;
    let _ = std::fs::remove_file(path);
    Some(token.trim().to_string()).filter(|t| !t.is_empty())
}

/// `paneherd pane-run`: runs task `task_id`'s agent in this pane. Returns the exit code.
pub fn run_wrapper<L: DaemonLine>(socket: &Path, task_id: &str, token: &str) -> i32 {
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("paneherd: {e}");
            return 1;
        }
    };
    if let Err(e) = rt.block_on(wrapper::<L>(socket, task_id, token)) {
        eprintln!("paneherd: {e:#}");
    }
    // The daemon closes the pane when it is time; until then, keep it (and its output) on
    // screen. A hang-up (the pane closed) ends this process.
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

/// The pane's terminal in raw mode while the agent runs (keys go to the agent as typed);
/// restored when dropped.
struct RawMode(bool);

impl RawMode {
    fn enable() -> RawMode {
        RawMode(crossterm::terminal::enable_raw_mode().is_ok())
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if self.0 {
            let _ = crossterm::terminal::disable_raw_mode();
        }
    }
}

fn pane_size() -> pty_process::Size {
    let (cols, rows) = crossterm::terminal::size().unwrap_or((80, 24));
    pty_process::Size::new(rows.max(1), cols.max(1))
}

/// Appends the agent's output to the task's log (opened before the agent starts); says what
/// could not be written, once writing failed (a full disk).
struct Log<'a> {
    path: &'a Path,
    file: Option<std::fs::File>,
    kept: u64,
    failed: Option<String>,
    /// Output not yet written: gathered until the next report to the daemon (at most
    /// `LOG_EVERY`, or `LOG_BATCH` bytes), so that an agent printing line by line costs one
    /// write every two seconds, not one a line. Written before the exit is recorded.
    pending: Vec<u8>,
}

/// How long output may wait before it is written to the log, and how much.
const LOG_EVERY: Duration = Duration::from_secs(2);
const LOG_BATCH: usize = 64 * 1024;

impl Log<'_> {
    fn append(&mut self, bytes: &[u8]) {
        if self.file.is_none() {
            return;
        }
        self.pending.extend_from_slice(bytes);
        if self.pending.len() >= LOG_BATCH {
            self.flush();
        }
    }

    /// Writes what waits.
    fn flush(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let bytes = std::mem::take(&mut self.pending);
        let Some(f) = self.file.as_mut() else { return };
        match f.write_all(&bytes) {
            Ok(()) => self.kept += bytes.len() as u64,
            Err(e) => {
                let why = super::log_failure(self.kept, &e);
                eprintln!(
                    "\r\npaneherd: cannot write the task's log {}: {why}\r",
                    self.path.display()
                );
                self.failed = Some(why);
                self.file = None;
            }
        }
    }
}

async fn wrapper<L: DaemonLine>(socket: &Path, task_id: &str, token: &str) -> Result<()> {
    let mut client: L = connect(socket).await;
    let launch = client
        .attach(task_id, token)
        .await
        .context("the daemon did not hand over the task")?
        .context("the daemon had nothing to run")?;
    let program = launch.argv.first().context("empty command")?.clone();
    // The log first: a task whose output could not be kept does not start.
    let log_file = crate::paths::append_private(&launch.log_path)
        .with_context(|| format!("cannot open the task's log {}", launch.log_path.display()))
        .and_then(|log| {
            for path in &launch.touch {
                crate::paths::append_private(path)
                    .with_context(|| format!("cannot make {}", path.display()))?;
            }
            Ok(log)
        });
    let started = log_file.and_then(|log| {
        let (pty, pts) = pty_process::open()?;
        pty.resize(pane_size())?;
        let mut cmd =
            pty_process::Command::new(&program).args(&launch.argv[1..]).current_dir(&launch.cwd);
        if launch.clear_env {
            cmd = cmd.env_clear();
        }
        cmd = cmd.envs(launch.env.iter().map(|(k, v)| (k, v)));
        if launch.stdin.is_some() {
            cmd = cmd.stdin(std::process::Stdio::piped());
        }
        let mut child = cmd.spawn(pts)?;
        if let (Some(text), Some(input)) = (launch.stdin.clone(), child.stdin.take()) {
            super::feed_stdin(input, text, task_id.to_string());
        }
        Ok((pty, child, log))
    });
    let (pty, mut child, log_file) = match started {
        Ok(s) => s,
        Err(e) => {
            let hint = match e.downcast_ref::<std::io::Error>() {
                Some(io) if io.kind() == std::io::ErrorKind::NotFound => {
                    " (is it installed and on PATH?)"
                }
                _ => "",
            };
            let msg = format!("cannot start {program:?} in {}: {e}{hint}", launch.cwd.display());
            println!("paneherd: {msg}");
            let req = Request::PaneStarted {
                task_id: task_id.into(),
                pid: None,
                error: Some(msg),
                pane: own_pane(),
            };
            if let Err(e) = client.report(req).await {
                eprintln!("paneherd: cannot tell the daemon: {e:#}");
            }
            return Ok(());
        }
    };
    let pid = child.id().context("the agent exited before it had a pid")?;
    client
        .report(Request::PaneStarted {
            task_id: task_id.into(),
            pid: Some(pid),
            error: None,
            pane: own_pane(),
        })
        .await
        .context("cannot report the start to the daemon")?;

    let raw = RawMode::enable();
    let (mut from_agent, mut to_agent) = pty.into_split();
    let mut stdin = tokio::io::stdin();
    // Written directly, not through tokio's stdout (which hands every write to another
    // thread): a write to the pane's terminal is at once, and if tmux is slow to read, the
    // agent waits too, as it would in a terminal of its own.
    let mut stdout = std::io::stdout().lock();
    let mut log = Log {
        path: &launch.log_path,
        file: Some(log_file),
        kept: 0,
        failed: None,
        pending: Vec::new(),
    };
    let mut log_at = Instant::now();
    let mut screen = Screen::default();
    // The shared ticks, kept by the kernel (see `super::tick`). Without a timer (out of file
    // descriptors), output is shown and reported as it comes.
    let mut screen_tick = WallTick::new(SCREEN_TICK).ok();
    let mut report_tick = WallTick::new(REPORT_TICK).ok();
    screen.at_once = screen_tick.is_none();
    let mut winch = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::window_change())
        .context("cannot watch the pane's size")?;
    let mut out = vec![0u8; 64 * 1024];
    let mut input = vec![0u8; 4096];
    let mut input_open = true;
    let mut exit: Option<std::process::ExitStatus> = None;
    // Whether the daemon was told the agent waits for input, and when to look next.
    let mut waiting = false;
    let mut check_at = Instant::now() + WAITING_AFTER;
    let mut exited_at = None;
    let mut drain_until = Instant::now();
    let mut drain_end = Instant::now();
    let mut unreported: u64 = 0;
    // The next report goes at once (output after a silence), not on the tick.
    let mut report_now = false;
    let mut last_output = Instant::now() - QUIET;
    // The line to the daemon, or (while it is away) the reconnection under way.
    let mut link: Option<L> = Some(client);
    type Reattach<'a, L> = std::pin::Pin<Box<dyn std::future::Future<Output = (L, bool)> + 'a>>;
    let mut again: Option<Reattach<'_, L>> = None;
    loop {
        tokio::select! {
            read = from_agent.read(&mut out) => match read {
                // End of the terminal's output: every process holding it has gone.
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    screen.show(&mut stdout, &out[..n]);
                    if screen.wants_tick
                        && let Some(t) = screen_tick.as_mut()
                    {
                        t.arm();
                    }
                    // Printing again: not waiting for input (any more).
                    check_at = Instant::now() + WAITING_AFTER;
                    if waiting {
                        waiting = false;
                        tell(&mut link, task_id, token, "working", None).await;
                    }
                    if log.pending.is_empty() {
                        log_at = Instant::now() + LOG_EVERY;
                    }
                    log.append(&out[..n]);
                    if unreported == 0 {
                        match report_tick.as_mut() {
                            Some(t) if last_output.elapsed() < QUIET => t.arm(),
                            _ => report_now = true,
                        }
                    }
                    unreported += n as u64;
                    last_output = Instant::now();
                    if exit.is_some() {
                        drain_until = (Instant::now() + DRAIN_QUIET).min(drain_end);
                    }
                }
            },
            read = stdin.read(&mut input), if input_open && exit.is_none() => match read {
                Ok(0) | Err(_) => input_open = false,
                Ok(n) => {
                    screen.typed(&mut stdout);
                    let _ = to_agent.write_all(&input[..n]).await;
                    check_at = Instant::now() + WAITING_AFTER;
                    if waiting {
                        waiting = false;
                        tell(&mut link, task_id, token, "working", None).await;
                    }
                }
            },
            // Quiet for a while: is it waiting for someone to type (a `read`, a prompt)?
            _ = sleep_until(check_at), if exit.is_none() && !waiting && link.is_some() => {
                if reads_its_terminal(pid) {
                    waiting = true;
                    let why = "waiting for input on its terminal".to_string();
                    tell(&mut link, task_id, token, "waiting", Some(why)).await;
                } else {
                    check_at = Instant::now() + WAITING_AGAIN;
                }
            },
            _ = async {
                match screen_tick.as_mut() {
                    Some(t) => t.fired().await,
                    None => std::future::pending().await,
                }
            }, if screen.wants_tick => screen.flush(&mut stdout),
            _ = winch.recv() => { let _ = to_agent.resize(pane_size()); }
            status = child.wait(), if exit.is_none() => {
                exit = Some(status.context("cannot wait for the agent")?);
                exited_at = Some(crate::core::timefmt::now());
                drain_end = Instant::now() + DRAIN_MAX;
                drain_until = Instant::now() + DRAIN_QUIET;
            }
            _ = sleep_until(drain_until), if exit.is_some() => break,
            // Written with the next report (one wake-up for both), or on its own while no
            // report is due (no daemon to tell, or nothing to report).
            _ = sleep_until(log_at), if !log.pending.is_empty() && (link.is_none() || unreported == 0) => log.flush(),
            _ = async {
                match report_tick.as_mut() {
                    _ if report_now => {}
                    Some(t) => t.fired().await,
                    None => {}
                }
            }, if unreported > 0 && link.is_some() => {
                report_now = false;
                // What is reported is in the log first (`output --follow` reads it then).
                log.flush();
                let req = Request::PaneOutput { task_id: task_id.into(), bytes: unreported };
                if let Some(c) = link.as_mut()
                    && c.report(req).await.is_err()
                {
                    link = None;
                    again = Some(Box::pin(reattach::<L>(socket, task_id, token)));
                }
                unreported = 0;
            }
            // The daemon went away (a restart): the agent goes on, its output is kept, and
            // this wrapper reports in to the next daemon (which re-adopts the task) once one
            // answers — in the background, never holding up the agent's terminal.
            _ = async {
                match link.as_mut() {
                    Some(c) => c.lost().await,
                    None => std::future::pending().await,
                }
            } => {
                link = None;
                again = Some(Box::pin(reattach::<L>(socket, task_id, token)));
            }
            (next, _refused) = async {
                match again.as_mut() {
                    Some(f) => f.await,
                    None => std::future::pending().await,
                }
            } => {
                again = None;
                link = Some(next);
            }
        }
    }
    let status = match exit {
        Some(s) => s,
        None => child.wait().await.context("cannot wait for the agent")?,
    };
    let ended_at = exited_at.unwrap_or_else(crate::core::timefmt::now);
    screen.flush(&mut stdout);
    log.flush();
    drop(raw);
    use std::os::unix::process::ExitStatusExt;
    let (code, signal) = (status.code(), status.signal());
    let log_error = log.failed.take();
    // The log is complete: written down beside it (for a daemon away at this moment, which
    // learns it from there), then told (through a restart if need be).
    let record = crate::core::task::ExitRecord {
        code,
        signal,
        log_error: log_error.clone(),
        at: Some(ended_at),
    };
    let exit_path = launch.log_path.with_extension("exit");
    if let Err(e) = crate::store::write_exit(&exit_path, &record) {
        eprintln!("\r\npaneherd: cannot write {}: {e}\r", exit_path.display());
    }
    let (mut client, refused) = match (link, again) {
        (Some(c), _) => (c, false),
        (None, Some(f)) => f.await,
        (None, None) => reattach::<L>(socket, task_id, token).await,
    };
    // A daemon that refused this wrapper took the end from what was written down.
    let mut done = refused;
    while !done {
        let req = Request::PaneExited {
            task_id: task_id.to_string(),
            code,
            signal,
            log_error: log_error.clone(),
        };
        match client.report(req).await {
            Ok(()) => break,
            // This daemon took the end from what was written down, or does not know the
            // task: nothing more to tell.
            Err(LineError::Refused(e)) => {
                tracing::debug!(error = %e, "the end was not taken");
                break;
            }
            Err(LineError::Gone(_)) => {
                let (c, refused) = reattach(socket, task_id, token).await;
                client = c;
                done = refused;
            }
        }
    }
    let how = match (code, signal) {
        (Some(0), _) => "completed".to_string(),
        (Some(c), _) => format!("exit code {c}"),
        (None, Some(s)) => format!("signal {s}"),
        _ => "ended".into(),
    };
    let _ = writeln!(stdout, "\n\x1b[2m── paneherd: task {task_id} {how} ──\x1b[0m");
    let _ = stdout.flush();
    Ok(())
}

/// What goes to the pane, shown at once while someone types, else on the next tick of a clock
/// that every pane wrapper shares (`SCREEN_TICK` of the wall clock): tmux then reads the
/// output of many busy panes in one wake-up instead of one wake-up each, which is most of what
/// a pane printing now and then costs it. An agent's own screen never waits longer than a tick.
#[derive(Default)]
struct Screen {
    pending: Vec<u8>,
    /// `pending` waits for the next tick.
    wants_tick: bool,
    /// The last key typed into the pane.
    typed_at: Option<Instant>,
    /// No tick to wait for: everything is shown as it comes.
    at_once: bool,
}

/// The shared clock's tick, and how long after a key the pane echoes at once.
const SCREEN_TICK: Duration = Duration::from_millis(100);
const TYPING: Duration = Duration::from_secs(2);
/// Output that does not wait for the tick (a screenful and more).
const SCREEN_BATCH: usize = 16 * 1024;

impl Screen {
    fn show(&mut self, out: &mut impl Write, bytes: &[u8]) {
        let typing = self.typed_at.is_some_and(|t| t.elapsed() < TYPING);
        self.pending.extend_from_slice(bytes);
        if typing || self.at_once || self.pending.len() >= SCREEN_BATCH {
            self.flush(out);
        } else {
            self.wants_tick = true;
        }
    }

    /// A key was typed: what waits is shown now, and what comes next at once.
    fn typed(&mut self, out: &mut impl Write) {
        self.typed_at = Some(Instant::now());
        self.flush(out);
    }

    fn flush(&mut self, out: &mut impl Write) {
        self.wants_tick = false;
        if self.pending.is_empty() {
            return;
        }
        let _ = out.write_all(&self.pending);
        let _ = out.flush();
        self.pending.clear();
    }
}

/// After this long without output, whether the agent waits for input is looked at (and again
/// every `WAITING_AGAIN` while it stays quiet).
const WAITING_AFTER: Duration = Duration::from_secs(5);
const WAITING_AGAIN: Duration = Duration::from_secs(15);

/// Whether the agent's terminal's foreground process (the agent, or what it runs in the
/// foreground) is blocked reading a terminal: waiting for someone to type.
fn reads_its_terminal(agent: u32) -> bool {
    // The terminal's foreground process group (`tpgid`, the 8th field after the name).
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{agent}/stat")) else { return false };
    let Some(tpgid) = stat
        .rsplit(')')
        .next()
        .and_then(|rest| rest.split_whitespace().nth(5).and_then(|f| f.parse::<i32>().ok()))
    else {
        return false;
    };
    if tpgid <= 0 {
        return false;
    }
    // Its leader in the `read` system call, on a terminal — or, when the leader only waits
    // for its children (a sandbox's `bwrap`), another process of that group.
    if in_read_on_terminal(tpgid) {
        return true;
    }
    let Ok(all) = std::fs::read_dir("/proc") else { return false };
    all.flatten().filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok()).any(|pid| {
        pid != tpgid
            && std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
                let pgrp =
                    s.rsplit(')').next().and_then(|r| r.split_whitespace().nth(2)?.parse().ok());
                pgrp == Some(tpgid)
            })
            && in_read_on_terminal(pid)
    })
}

/// Whether process `pid` is in the `read` system call on a terminal.
fn in_read_on_terminal(pid: i32) -> bool {
    let Ok(call) = std::fs::read_to_string(format!("/proc/{pid}/syscall")) else { return false };
    let mut f = call.split_whitespace();
    let is_read = f.next().and_then(|n| n.parse::<i64>().ok()) == Some(nix::libc::SYS_read);
    let fd = f.next().and_then(|a| i64::from_str_radix(a.trim_start_matches("0x"), 16).ok());
    let (true, Some(fd)) = (is_read, fd) else { return false };
    let fd = format!("/proc/{pid}/fd/{fd}");
    if std::fs::read_link(&fd)
        .is_ok_and(|t| t.starts_with("/dev/pts/") || t.starts_with("/dev/tty"))
    {
        return true;
    }
    // In a sandbox its `/dev` is its own and the link names no path of ours: a terminal is a
    // character device of a terminal's major (4: ttys, 5: /dev/tty, 136–143: ptys).
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    std::fs::metadata(&fd).is_ok_and(|m| {
        let major = nix::sys::stat::major(m.rdev());
        m.file_type().is_char_device() && matches!(major, 4 | 5 | 136..=143)
    })
}

/// Tells the daemon, when it is there, that the agent waits for input or works again.
async fn tell<L: DaemonLine>(
    link: &mut Option<L>,
    task_id: &str,
    token: &str,
    kind: &str,
    text: Option<String>,
) {
    if let Some(c) = link.as_mut() {
        let req = Request::Signal {
            task_id: task_id.into(),
            kind: kind.into(),
            text,
            token: Some(token.into()),
        };
        if let Err(e) = c.report(req).await {
            tracing::debug!(error = %e, "cannot tell the daemon");
        }
    }
}

/// The shared clock of the reports: output that goes on is reported on the even second of the
/// wall clock, so that every busy pane's report reaches the daemon together (once every two
/// seconds); output after a silence at once.
const REPORT_TICK: Duration = Duration::from_secs(2);

/// This pane's id, as tmux gives it to the processes it starts.
fn own_pane() -> Option<String> {
    std::env::var("TMUX_PANE").ok().filter(|p| p.starts_with('%'))
}

/// Connects to the (next) daemon and reports in as this task's wrapper; says whether that
/// daemon refused (it does not run the task any more: it ended it from what was written down,
/// or lost it).
async fn reattach<L: DaemonLine>(socket: &Path, task_id: &str, token: &str) -> (L, bool) {
    tokio::time::sleep(RETRY).await;
    loop {
        let mut client: L = connect(socket).await;
        // The answer (what to run) is known already.
        match client.attach(task_id, token).await {
            Ok(_) => return (client, false),
            Err(LineError::Refused(e)) => {
                tracing::debug!(error = %e, "re-attach refused");
                return (client, true);
            }
            Err(LineError::Gone(_)) => tokio::time::sleep(RETRY).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_waits_for_the_shared_tick_unless_someone_types_or_it_is_a_screenful() {
        let mut screen = Screen::default();
        let mut pane: Vec<u8> = vec![];
        screen.show(&mut pane, b"line 1\r\n");
        screen.show(&mut pane, b"line 2\r\n");
        assert!(pane.is_empty(), "shown before the tick");
        assert!(screen.wants_tick);
        screen.flush(&mut pane);
        assert_eq!(pane, b"line 1\r\nline 2\r\n");
        assert!(!screen.wants_tick);

        // A screenful does not wait.
        pane.clear();
        screen.show(&mut pane, &vec![b'x'; SCREEN_BATCH]);
        assert_eq!(pane.len(), SCREEN_BATCH);

        // A key shows what waits, and the echo that follows comes at once.
        pane.clear();
        screen.show(&mut pane, b"prompt> ");
        assert!(pane.is_empty());
        screen.typed(&mut pane);
        assert_eq!(pane, b"prompt> ");
        screen.show(&mut pane, b"y");
        assert_eq!(pane, b"prompt> y");
        assert!(!screen.wants_tick);

        // Without a tick to wait for, everything as it comes.
        let mut untimed = Screen { at_once: true, ..Screen::default() };
        pane.clear();
        untimed.show(&mut pane, b"line\r\n");
        assert_eq!(pane, b"line\r\n");
    }
}
