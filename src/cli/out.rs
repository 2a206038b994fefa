//! Printing for commands: a closed standard output (`paneherd list | head -1`) ends the command
//! quietly, as a Unix tool ended by SIGPIPE would, instead of a panic.

use std::fmt::Arguments;
use std::io::Write;

/// Exit code of a command whose output was closed: 128 + SIGPIPE, as a shell reports it.
pub const CLOSED: i32 = 141;

/// Standard output is closed (or failed): the command stops without a word.
#[derive(Debug)]
pub struct Closed;

/// Writes to standard output.
pub fn print(args: Arguments<'_>) -> Result<(), Closed> {
    let mut out = std::io::stdout().lock();
    out.write_fmt(args).and_then(|()| out.flush()).map_err(|_| Closed)
}

/// Writes bytes to standard output.
pub fn bytes(b: &[u8]) -> Result<(), Closed> {
    let mut out = std::io::stdout().lock();
    out.write_all(b).and_then(|()| out.flush()).map_err(|_| Closed)
}

/// Writes a line to standard error; a closed standard error is ignored.
pub fn error(args: Arguments<'_>) {
    let mut err = std::io::stderr().lock();
    let _ = err.write_fmt(args);
    let _ = err.write_all(b"\n");
}
