//! What commands print and how they fail: a closed standard output (`paneherd list | head -1`)
//! ends the command quietly, as a Unix tool ended by SIGPIPE would, instead of a panic; any other
//! failure to write (a full disk) says so; a failure carries its message and exit code.

use std::fmt::Arguments;
use std::io::Write;

use super::exit;
use crate::client::ClientError;
use crate::core::task::{Task, TaskStatus};

/// Exit code of a command whose output was closed: 128 + SIGPIPE, as a shell reports it.
pub const CLOSED: i32 = 141;

/// Standard output could not be written: closed (the command stops without a word) or failed.
#[derive(Debug)]
pub struct Closed(pub std::io::Error);

/// Writes to standard output.
pub fn print(args: Arguments<'_>) -> Result<(), Closed> {
    let mut out = std::io::stdout().lock();
    out.write_fmt(args).and_then(|()| out.flush()).map_err(Closed)
}

/// Writes bytes to standard output.
pub fn bytes(b: &[u8]) -> Result<(), Closed> {
    let mut out = std::io::stdout().lock();
    out.write_all(b).and_then(|()| out.flush()).map_err(Closed)
}

/// Writes a line to standard error; a closed standard error is ignored.
pub fn error(args: Arguments<'_>) {
    let mut err = std::io::stderr().lock();
    let _ = err.write_fmt(args);
    let _ = err.write_all(b"\n");
}

/// A command's failure: what to print and the exit code.
pub struct Fail {
    pub code: i32,
    pub message: String,
}

impl From<Closed> for Fail {
    fn from(Closed(e): Closed) -> Self {
        let message = match e.kind() {
            std::io::ErrorKind::BrokenPipe => String::new(),
            _ => format!("cannot write to standard output: {e}"),
        };
        Fail { code: CLOSED, message }
    }
}

/// `println!` that ends the command quietly when standard output is closed.
macro_rules! outln {
    () => { $crate::cli::out::print(format_args!("\n"))? };
    ($($t:tt)*) => { $crate::cli::out::print(format_args!("{}\n", format_args!($($t)*)))? };
}

/// `print!` likewise.
macro_rules! out {
    ($($t:tt)*) => { $crate::cli::out::print(format_args!($($t)*))? };
}

/// `eprintln!` that never panics.
macro_rules! errln {
    ($($t:tt)*) => { $crate::cli::out::error(format_args!($($t)*)) };
}

/// What a command returns: its exit code, or a failure to print.
pub type CmdResult = Result<i32, Fail>;

/// A usage error (exit 2).
pub fn usage(msg: impl Into<String>) -> Fail {
    Fail { code: super::exit::USAGE, message: msg.into() }
}

impl From<ClientError> for Fail {
    fn from(e: ClientError) -> Self {
        let code = match &e {
            ClientError::Daemon(b) => match b.kind {
                crate::proto::ErrorKind::UnknownId
                | crate::proto::ErrorKind::AmbiguousId
                | crate::proto::ErrorKind::Invalid
                | crate::proto::ErrorKind::BadRequest => super::exit::USAGE,
                _ => super::exit::DAEMON,
            },
            _ => super::exit::DAEMON,
        };
        Fail { code, message: e.to_string() }
    }
}

pub(super) fn finish(result: CmdResult) -> i32 {
    match result {
        Ok(code) => code,
        Err(f) => {
            if !f.message.is_empty() {
                errln!("paneherd: {}", f.message);
            }
            f.code
        }
    }
}

pub(super) fn block_on<F: std::future::Future<Output = CmdResult>>(f: F) -> CmdResult {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| {
        Fail { code: exit::DAEMON, message: format!("cannot start async runtime: {e}") }
    })?;
    rt.block_on(f)
}

/// The submitter's tmux pane, when it runs inside tmux.
pub(super) fn tmux_origin() -> Option<crate::core::task::TmuxOrigin> {
    crate::tmux::adapter::origin_from_env()
}

pub(super) fn print_json<T: serde::Serialize>(v: &T) -> Result<(), Fail> {
    let s =
        serde_json::to_string_pretty(v).map_err(|e| Fail { code: 1, message: e.to_string() })?;
    outln!("{s}");
    Ok(())
}

pub(super) fn timeout_ms(secs: Option<f64>) -> Result<Option<u64>, Fail> {
    match secs {
        None => Ok(None),
        Some(s) if s.is_finite() && s >= 0.0 => Ok(Some((s * 1000.0) as u64)),
        Some(s) => Err(usage(format!("--timeout {s}: give a number of seconds, 0 or more"))),
    }
}

/// Exit code for tasks that were waited for.
pub(super) fn code_for(tasks: &[Task], timed_out: bool) -> i32 {
    if timed_out {
        exit::TIMEOUT
    } else if tasks.iter().all(|t| t.status == TaskStatus::Completed) {
        exit::OK
    } else {
        exit::TASK_FAILED
    }
}
