//! Tasks' secrets (the submitter's environment until a task starts, a pane wrapper's token while
//! it runs) in one private journal, `<tasks>/secrets.jsonl` (0600): a line is appended when a
//! task's secret is set — no file is made or removed per task — and the journal is rewritten
//! with only the live secrets once it holds mostly dead ones, and emptied (kept, 0 bytes) when
//! none is live. It is not flushed to the device with the records: a power loss may take the
//! newest lines, and a waiting task whose environment is gone then ends in an error that says
//! so (`Task::env_kept`) rather than run in the daemon's.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::core::task::TaskSecret;

/// The journal's name in the tasks dir.
pub const JOURNAL: &str = "secrets.jsonl";

#[derive(Serialize, Deserialize)]
struct Line {
    id: String,
    secret: TaskSecret,
}

/// The journal and the secrets that are live (set and not cleared).
#[derive(Debug)]
pub struct Secrets {
    path: PathBuf,
    file: Option<File>,
    live: HashMap<String, TaskSecret>,
    /// Bytes in the journal now, and what the live secrets take in it.
    size: u64,
    live_size: u64,
}

fn open_append(path: &Path) -> std::io::Result<File> {
    OpenOptions::new().create(true).append(true).mode(0o600).open(path)
}

fn encode(id: &str, secret: &TaskSecret) -> Result<Vec<u8>> {
    let line = Line { id: id.to_string(), secret: secret.clone() };
    let mut bytes = serde_json::to_vec(&line).context("cannot serialize a secret")?;
    bytes.push(b'\n');
    Ok(bytes)
}

impl Secrets {
    pub fn new(dir: &Path) -> Secrets {
        Secrets { path: dir.join(JOURNAL), file: None, live: HashMap::new(), size: 0, live_size: 0 }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the journal: each task's last secret (a line that cannot be read is skipped and
    /// said), of which only those `keep` accepts stay; the journal is rewritten with those.
    pub fn load(
        &mut self,
        keep: impl Fn(&str) -> bool,
    ) -> Result<(HashMap<String, TaskSecret>, Vec<String>)> {
        let mut all: HashMap<String, TaskSecret> = HashMap::new();
        let mut problems = vec![];
        match File::open(&self.path) {
            Ok(f) => {
                for (n, line) in BufReader::new(f).lines().enumerate() {
                    let line =
                        line.with_context(|| format!("cannot read {}", self.path.display()))?;
                    if line.trim().is_empty() {
                        continue;
                    }
                    match serde_json::from_str::<Line>(&line) {
                        Ok(l) => {
                            all.insert(l.id, l.secret);
                        }
                        Err(e) => problems.push(format!("line {}: {e}", n + 1)),
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(e).with_context(|| format!("cannot read {}", self.path.display()));
            }
        }
        all.retain(|id, _| keep(id));
        self.live = all.clone();
        self.rewrite()?;
        Ok((all, problems))
    }

    /// Sets a task's secret (appended to the journal).
    pub fn set(&mut self, id: &str, secret: &TaskSecret) -> Result<()> {
        let bytes = encode(id, secret)?;
        if self.file.is_none() {
            self.file = Some(
                open_append(&self.path)
                    .with_context(|| format!("cannot open {}", self.path.display()))?,
            );
        }
        if let Some(f) = self.file.as_mut() {
            f.write_all(&bytes).with_context(|| format!("cannot write {}", self.path.display()))?;
        }
        self.size += bytes.len() as u64;
        if let Some(old) = self.live.insert(id.to_string(), secret.clone()) {
            self.live_size = self.live_size.saturating_sub(encode(id, &old)?.len() as u64);
        }
        self.live_size += bytes.len() as u64;
        Ok(())
    }

    /// A task's secret has served: forgotten, and the journal emptied or compacted when it holds
    /// mostly what nobody needs any more.
    pub fn clear(&mut self, id: &str) -> Result<()> {
        let Some(old) = self.live.remove(id) else { return Ok(()) };
        self.live_size = self.live_size.saturating_sub(encode(id, &old)?.len() as u64);
        if self.live.is_empty() || self.size > 4 * self.live_size + 64 * 1024 {
            self.rewrite()?;
        }
        Ok(())
    }

    /// Replaces the journal with the live secrets alone (whole or not at all).
    fn rewrite(&mut self) -> Result<()> {
        if self.live.is_empty() {
            // Emptied, not removed: the next task's secret is appended to the same file (no
            // file made and removed per task).
            if let Some(f) = self.file.as_mut() {
                f.set_len(0).with_context(|| format!("cannot empty {}", self.path.display()))?;
            } else if self.path.exists() {
                fs::write(&self.path, b"")
                    .with_context(|| format!("cannot empty {}", self.path.display()))?;
            }
            self.size = 0;
            self.live_size = 0;
            return Ok(());
        }
        self.file = None;
        let tmp = self.path.with_extension("jsonl.tmp");
        let mut text = vec![];
        for (id, secret) in &self.live {
            text.extend(encode(id, secret)?);
        }
        let write = || -> std::io::Result<()> {
            let mut f = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)?;
            f.write_all(&text)?;
            f.sync_all()?;
            fs::rename(&tmp, &self.path)
        };
        write().with_context(|| format!("cannot write {}", self.path.display()))?;
        self.size = text.len() as u64;
        self.live_size = self.size;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(v: &str) -> TaskSecret {
        TaskSecret { env: Some(vec![("WHO".into(), v.into())]), pane_token: None }
    }

    #[test]
    fn the_last_secret_of_each_live_task_survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Secrets::new(dir.path());
        s.set("a", &env("1")).unwrap();
        s.set("b", &env("2")).unwrap();
        s.set("a", &env("3")).unwrap();
        s.set("c", &env("4")).unwrap();
        s.clear("c").unwrap();
        let mode = fs::metadata(s.path()).unwrap().permissions();
        assert_eq!(std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777, 0o600);
        let mut again = Secrets::new(dir.path());
        // "b" has ended meanwhile: not kept.
        let (got, problems) = again.load(|id| id != "b").unwrap();
        assert!(problems.is_empty());
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!(got["a"], env("3"));
        assert_eq!(got["c"], env("4"), "a clear not yet compacted is not a loss");
        // The rewritten journal holds only those.
        let text = fs::read_to_string(again.path()).unwrap();
        assert_eq!(text.lines().count(), 2);
        assert!(!text.contains("\"2\""));
    }

    #[test]
    fn the_journal_goes_once_no_secret_is_live_and_stays_small() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Secrets::new(dir.path());
        s.set("long-lived", &env("x")).unwrap();
        for i in 0..2000 {
            let id = format!("t{i}");
            s.set(&id, &env(&"y".repeat(100))).unwrap();
            s.clear(&id).unwrap();
        }
        let size = fs::metadata(s.path()).unwrap().len();
        assert!(size < 100 * 1024, "compacted as it goes: {size} bytes");
        s.clear("long-lived").unwrap();
        assert_eq!(fs::metadata(s.path()).unwrap().len(), 0, "nothing live: nothing kept");
    }
}
