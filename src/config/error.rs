//! Config errors that say where: file, line, column, key, and what is allowed.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// One problem in a config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: PathBuf,
    /// 1-based line and column, when the problem has a place.
    pub line: Option<usize>,
    pub col: Option<usize>,
    /// Dotted key path, e.g. `timeouts.stale_secs`, when known.
    pub key: Option<String>,
    pub message: String,
    /// The offending line of the file, for display.
    pub excerpt: Option<String>,
}

impl ConfigError {
    /// An error with no place in the file (e.g. it could not be read).
    pub fn whole_file(file: &Path, message: impl Into<String>) -> Self {
        ConfigError {
            file: file.to_path_buf(),
            line: None,
            col: None,
            key: None,
            message: message.into(),
            excerpt: None,
        }
    }

    /// An error at a byte span of the file's text.
    pub fn at(
        file: &Path,
        src: &str,
        span: Option<Range<usize>>,
        message: impl Into<String>,
    ) -> Self {
        let mut e = ConfigError::whole_file(file, message);
        if let Some(span) = span {
            let start = span.start.min(src.len());
            let before = &src[..start];
            let line = before.matches('\n').count() + 1;
            let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
            e.line = Some(line);
            e.col = Some(src[line_start..start].chars().count() + 1);
            e.excerpt = src.lines().nth(line - 1).map(|l| l.to_string());
            e.key = key_at(src, start);
        }
        e
    }

    /// Names the key explicitly (when the span points at a value inside a table).
    pub fn with_key(mut self, key: impl Into<String>) -> Self {
        self.key = Some(key.into());
        self
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let (Some(l), Some(c)) = (self.line, self.col) {
            write!(f, ":{l}:{c}")?;
        }
        write!(f, ": ")?;
        if let Some(k) = &self.key {
            write!(f, "{k}: ")?;
        }
        write!(f, "{}", self.message)?;
        if let (Some(x), Some(l)) = (&self.excerpt, self.line) {
            write!(f, "\n  {l:>4} | {x}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// The dotted key path of the line holding byte `offset`: the last `[table]` header before
/// it, joined with the line's own key. Best effort, for messages only.
pub fn key_at(src: &str, offset: usize) -> Option<String> {
    let before = &src[..offset.min(src.len())];
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    let line_end = src[line_start..].find('\n').map(|i| line_start + i).unwrap_or(src.len());
    let line = src[line_start..line_end].trim();
    let mut table = String::new();
    for l in src[..line_start].lines().rev() {
        let l = l.trim();
        if l.starts_with('[') {
            table = l.trim_start_matches('[').split(']').next().unwrap_or("").trim().to_string();
            break;
        }
    }
    if line.starts_with('[') {
        return Some(
            line.trim_start_matches('[').split(']').next().unwrap_or("").trim().to_string(),
        );
    }
    let key = line.split('=').next().map(str::trim).filter(|k| !k.is_empty() && line.contains('='));
    match (table.is_empty(), key) {
        (true, Some(k)) => Some(k.to_string()),
        (false, Some(k)) => Some(format!("{table}.{k}")),
        (false, None) => Some(table),
        (true, None) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_path_from_offset() {
        let src = "a = 1\n[timeouts]\nstale_secs = 10\n[agents.x]\ncommand = []\n";
        assert_eq!(key_at(src, 2).as_deref(), Some("a"));
        let off = src.find("10").unwrap();
        assert_eq!(key_at(src, off).as_deref(), Some("timeouts.stale_secs"));
        let off = src.find("[]").unwrap();
        assert_eq!(key_at(src, off).as_deref(), Some("agents.x.command"));
    }

    #[test]
    fn display_names_file_line_key() {
        let src = "[timeouts]\nstale_secs = 10\n";
        let off = src.find("10").unwrap();
        let e = ConfigError::at(Path::new("/c.toml"), src, Some(off..off + 2), "too small");
        assert_eq!(
            e.to_string(),
            "/c.toml:2:14: timeouts.stale_secs: too small\n     2 | stale_secs = 10"
        );
    }
}
