//! Reading a task's output: the one place that does (the engine asks for a result; clients get
//! it through the protocol). A log that cannot be read is an error that says so; a log that
//! does not exist is a task that printed nothing.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use crate::core::text;

/// A log that exists but cannot be read.
#[derive(Debug, thiserror::Error)]
#[error("cannot read {}: {cause}", log.display())]
pub struct ReadError {
    pub log: std::path::PathBuf,
    pub cause: std::io::Error,
}

/// Most of a log's end read for a result: the result keeps at most `RESULT_MAX_BYTES` of text,
/// and escapes and rewritten lines may take several bytes of output per byte of text.
const RESULT_READ: u64 = 4 * super::RESULT_MAX_BYTES as u64;
/// Most of a log's end read for a running task's whole output (the viewer).
const WHOLE_READ: u64 = 4 * 1024 * 1024;

/// The last `max` bytes of the log (none, for a task that printed nothing) and how many bytes
/// came before them. Memory stays bounded however much the task printed.
fn read_end(log: &Path, max: u64) -> Result<(Vec<u8>, u64), ReadError> {
    let fail = |cause: std::io::Error| ReadError { log: log.to_path_buf(), cause };
    let mut f = match std::fs::File::open(log) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((vec![], 0)),
        Err(e) => return Err(fail(e)),
    };
    let len = f.metadata().map_err(fail)?.len();
    let skipped = len.saturating_sub(max);
    let mut buf = Vec::with_capacity((len - skipped) as usize);
    f.seek(SeekFrom::Start(skipped)).map_err(fail)?;
    f.take(max).read_to_end(&mut buf).map_err(fail)?;
    Ok((buf, skipped))
}

/// Renders the end of a log that `skipped` bytes came before: the first line, perhaps cut in
/// two (or in an escape sequence), is left out when something came before it.
fn render_end(bytes: &[u8], skipped: u64) -> (String, u64) {
    if skipped == 0 {
        return (text::clean_output(bytes), 0);
    }
    match memchr::memchr(b'\n', bytes) {
        Some(nl) => (text::clean_output(&bytes[nl + 1..]), skipped + nl as u64 + 1),
        None => (text::clean_output(bytes), skipped),
    }
}

/// The task's output, cleaned, as the result to keep (the tail of a very long one, read from
/// the log's end without reading the rest).
pub fn result(log: &Path) -> Result<String, ReadError> {
    let (bytes, skipped) = read_end(log, RESULT_READ)?;
    let (text, skipped) = render_end(&bytes, skipped);
    Ok(super::result_from_output(&text, skipped))
}

/// The answer the agent wrote for the run that started at `since` (a file left by an earlier
/// run, or an empty one, is no answer), cleaned like a result.
pub fn answer(log: &Path, since: std::time::SystemTime) -> Option<String> {
    let path = crate::core::task::answer_path(log);
    let meta = std::fs::metadata(&path).ok()?;
    // File times have coarser clocks than ours: a second's slack.
    let fresh = meta.modified().ok()? + std::time::Duration::from_secs(1) >= since;
    if !fresh || meta.len() == 0 {
        return None;
    }
    let (bytes, skipped) = read_end(&path, RESULT_READ).ok()?;
    let (text, skipped) = render_end(&bytes, skipped);
    let text = super::result_from_output(&text, skipped);
    (!text.trim().is_empty()).then_some(text)
}

/// The task's output so far, cleaned (for the output viewer): its last few MiB when longer.
pub fn whole(log: &Path) -> Result<String, ReadError> {
    let (bytes, skipped) = read_end(log, WHOLE_READ)?;
    let (text, skipped) = render_end(&bytes, skipped);
    if skipped == 0 {
        return Ok(text);
    }
    Ok(format!("[… {skipped} earlier bytes of output are in the log]\n{text}"))
}

/// The last `n` lines of the output so far, cleaned.
pub fn tail(log: &Path, n: usize) -> Result<String, ReadError> {
    let (bytes, skipped) = read_end(log, 16 * 1024)?;
    let (text, _) = render_end(&bytes, skipped);
    let lines: Vec<&str> = text.trim_end().lines().collect();
    Ok(lines[lines.len().saturating_sub(n)..].join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_is_empty_unreadable_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(result(&dir.path().join("none.log")).unwrap(), "");
        // A directory where the log should be cannot be read as one.
        let e = result(dir.path()).unwrap_err();
        assert_eq!(e.log, dir.path());
        assert!(e.to_string().starts_with("cannot read"), "{e}");
        let log = dir.path().join("x.log");
        std::fs::write(&log, "a\n\x1b[31mb\x1b[0m\nc\n").unwrap();
        assert_eq!(result(&log).unwrap(), "a\nb\nc");
        assert_eq!(tail(&log, 2).unwrap(), "b\nc");
    }

    #[test]
    fn a_long_log_is_read_from_its_end_only() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("big.log");
        let line = "0123456789\tabcdefghijklmnopqrstuvwxyz\n";
        let lines = 100_000; // 3.7 MB
        let mut f = std::fs::File::create(&log).unwrap();
        for i in 0..lines {
            use std::io::Write;
            write!(f, "{i:06} {line}").unwrap();
        }
        drop(f);
        let r = result(&log).unwrap();
        assert!(r.len() <= crate::store::RESULT_MAX_BYTES + 100, "{}", r.len());
        let (head, kept) = r.split_once('\n').unwrap();
        assert!(
            head.starts_with("[… ") && head.ends_with(" earlier bytes are in the log]"),
            "{head}"
        );
        // What is kept starts at a line's start and is exact, tabs included.
        assert!(kept.starts_with(|c: char| c.is_ascii_digit()), "{}", &kept[..40]);
        assert!(kept.ends_with(&format!("{:06} {}", lines - 1, line.trim_end())));
        assert!(kept.lines().all(|l| l.len() == 7 + line.len() - 1 && l.contains('\t')));
        // The number of bytes said to be in the log is what was left out.
        let said: u64 = head["[… ".len()..].split(' ').next().unwrap().parse().unwrap();
        let total = std::fs::metadata(&log).unwrap().len();
        assert_eq!(said + kept.len() as u64 + 1, total);
        let w = whole(&log).unwrap();
        assert!(w.starts_with("[… ") && w.len() < 4 * 1024 * 1024 + 100);
        assert!(w.ends_with(line));
    }
}
