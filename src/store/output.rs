//! Reading a task's output: the one place that does (the engine asks for a result; clients get
//! it through the protocol). A log that cannot be read is an error that says so; a log that
//! does not exist is a task that printed nothing.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use crate::core::text;

/// The log's bytes (none, for a task that printed nothing).
fn read(log: &Path) -> Result<Vec<u8>, String> {
    match std::fs::read(log) {
        Ok(b) => Ok(b),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(vec![]),
        Err(e) => Err(format!("cannot read {}: {e}", log.display())),
    }
}

/// The task's whole output, cleaned, as the result to keep (the tail of a very long one).
pub fn result(log: &Path) -> Result<String, String> {
    Ok(super::result_from_output(&text::clean_output(&read(log)?)))
}

/// The task's whole output so far, cleaned (for the output viewer).
pub fn whole(log: &Path) -> Result<String, String> {
    Ok(text::clean_output(&read(log)?))
}

/// The last `n` lines of the output so far, cleaned.
pub fn tail(log: &Path, n: usize) -> Result<String, String> {
    let mut f = match std::fs::File::open(log) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(String::new()),
        Err(e) => return Err(format!("cannot read {}: {e}", log.display())),
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let start = len.saturating_sub(16 * 1024);
    let mut buf = Vec::new();
    f.seek(SeekFrom::Start(start))
        .and_then(|_| f.read_to_end(&mut buf))
        .map_err(|e| format!("cannot read {}: {e}", log.display()))?;
    let text = text::clean_output(&buf);
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
        assert!(e.contains("cannot read"), "{e}");
        let log = dir.path().join("x.log");
        std::fs::write(&log, "a\n\x1b[31mb\x1b[0m\nc\n").unwrap();
        assert_eq!(result(&log).unwrap(), "a\nb\nc");
        assert_eq!(tail(&log, 2).unwrap(), "b\nc");
    }
}
