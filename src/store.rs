//! Task files on disk: `<data>/tasks/<id>.md` (TOML front matter, prompt, result) and the raw
//! output in `<id>.log`. Writes are atomic (temp file, fsync, rename, fsync of the directory).

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

pub use crate::core::records::{Loaded, Problem, SecretOp};
use crate::core::task::{ExitRecord, Task};

pub mod output;
pub mod secrets;
pub mod writer;
pub use writer::{Durability, Writer};

/// Writes how a pane task's agent ended to `path` (its `.exit` file), whole or not at all: the
/// wrapper does, before it tells the daemon.
pub fn write_exit(path: &Path, exit: &ExitRecord) -> std::io::Result<()> {
    let tmp = path.with_extension("exit.tmp");
    let mut f = private_file(&tmp)?;
    f.write_all(&serde_json::to_vec(exit).map_err(std::io::Error::other)?)?;
    f.sync_all()?;
    fs::rename(&tmp, path)
}

/// Largest result kept in the task file; the full output is always in the log.
pub const RESULT_MAX_BYTES: usize = 256 * 1024;

/// The task directory.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
    /// Temp files of ended tasks, free to become the temp file of another task: reusing a file
    /// by renaming it costs far less than creating one.
    spares: std::sync::Arc<std::sync::Mutex<Vec<PathBuf>>>,
    /// Tasks' secrets, in their journal.
    secrets: std::sync::Arc<std::sync::Mutex<secrets::Secrets>>,
}

impl Store {
    pub fn open(dir: &Path) -> Result<Store> {
        crate::paths::private_dir(dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let secrets = std::sync::Arc::new(std::sync::Mutex::new(secrets::Secrets::new(dir)));
        Ok(Store { dir: dir.to_path_buf(), spares: Default::default(), secrets })
    }

    /// The journal of tasks' secrets.
    pub fn secrets_path(&self) -> PathBuf {
        self.dir.join(secrets::JOURNAL)
    }

    /// Where a pane task's wrapper writes how its agent ended.
    pub fn exit_path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.exit"))
    }

    /// Sets or clears a task's secret (in the private journal).
    pub fn save_secret(&self, id: &str, op: &SecretOp) -> Result<()> {
        let mut secrets =
            self.secrets.lock().map_err(|_| anyhow::anyhow!("the secrets' lock is poisoned"))?;
        match op {
            SecretOp::Keep => Ok(()),
            SecretOp::Set(secret) => secrets.set(id, secret),
            SecretOp::Clear => secrets.clear(id),
        }
    }

    /// How a pane task's agent ended, if its wrapper wrote it down.
    pub fn read_exit(&self, id: &str) -> Option<ExitRecord> {
        let text = fs::read(self.exit_path(id)).ok()?;
        serde_json::from_slice(&text).ok()
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn md_path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.md"))
    }

    pub fn log_path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.log"))
    }

    /// Writes the task's file atomically: the new text goes to a hidden temp file, is synced,
    /// and takes the place of the old file in one step; then the directory is synced.
    ///
    /// Where the system can, the temp file and the task file are *exchanged* (the old version
    /// becomes the next temp file) rather than replaced: no inode is freed and allocated per
    /// update, which on some file systems (ext4 without a journal) grows slow under churn.
    /// The hidden `.<id>.md.tmp` then holds the previous version of the record.
    ///
    /// With `sync`, the file and the directory are synced before this returns, so the record
    /// survives a power loss. Without it the update is still atomic for every reader and
    /// survives a crash of paneherd; a power loss may roll it back to the previous version,
    /// which loading falls back to.
    pub fn save(&self, task: &Task, result: Option<&str>, sync: bool) -> Result<()> {
        let path = self.md_path(&task.id);
        // An ended task updated without its result (a summary, a session learned later) keeps
        // the result its file has.
        let kept = match (result, task.status.is_terminal()) {
            (None, true) => self.read_result(&task.id).ok().flatten(),
            _ => None,
        };
        let text = render(task, result.or(kept.as_deref()))?;
        let tmp = self.dir.join(format!(".{}.md.tmp", task.id));
        let write = || -> std::io::Result<()> {
            // Also for a new task: its first version is written to a spare, then renamed. A
            // spare that has gone, or a temp file already there, leaves the file to be made or
            // reused below.
            if let Some(spare) = self.take_spare()
                && let Err(e) = rename_noreplace(&spare, &tmp)
                && e.kind() == std::io::ErrorKind::AlreadyExists
            {
                self.add_spare(spare);
            }
            // Overwrite, then cut to length: truncating to zero first would make ext4 flush the
            // file when it is closed (its auto_da_alloc guard), a disk write per update.
            let mut f = {
                use std::os::unix::fs::OpenOptionsExt;
                OpenOptions::new()
                    .write(true)
                    .create(true)
                    .truncate(false)
                    .mode(0o600)
                    .open(&tmp)?
            };
            let old_len = f.metadata()?.len();
            f.write_all(text.as_bytes())?;
            if old_len > text.len() as u64 {
                f.set_len(text.len() as u64)?;
            }
            if sync {
                f.sync_all()?;
            }
            let exchanged = replace(&tmp, &path)?;
            if sync {
                File::open(&self.dir)?.sync_all()?;
            }
            // The previous version, now in the temp file, serves a new task once this one has
            // ended (only if there was one: a first write leaves no temp file behind).
            if exchanged && task.status.is_terminal() {
                self.add_spare(tmp.clone());
            }
            Ok(())
        };
        write().with_context(|| format!("cannot write task file {}", path.display()))?;
        // Ended, and recorded: what its pane's wrapper wrote of its exit has served.
        if task.status.is_terminal() && task.pane_id.is_some() {
            let _ = fs::remove_file(self.exit_path(&task.id));
        }
        Ok(())
    }

    fn take_spare(&self) -> Option<PathBuf> {
        self.spares.lock().ok()?.pop()
    }

    fn add_spare(&self, path: PathBuf) {
        if let Ok(mut s) = self.spares.lock()
            && s.len() < 1024
        {
            s.push(path);
        }
    }

    /// Reads the Result section of a task's file.
    pub fn read_result(&self, id: &str) -> Result<Option<String>> {
        let path = self.md_path(id);
        let text = fs::read_to_string(&path)
            .with_context(|| format!("cannot read task file {}", path.display()))?;
        let (task, body) = parse(&text).with_context(|| format!("in {}", path.display()))?;
        Ok(result_of(&task, body))
    }

    /// Reads every task file; unreadable ones are reported and skipped.
    pub fn load_all(&self) -> Result<Loaded> {
        let mut loaded = Loaded::default();
        let entries = fs::read_dir(&self.dir)
            .with_context(|| format!("cannot list {}", self.dir.display()))?;
        for entry in entries {
            let entry = entry.with_context(|| format!("cannot list {}", self.dir.display()))?;
            let path = entry.path();
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let Some(stem) = name.strip_suffix(".md") else {
                continue;
            };
            if stem.starts_with('.') {
                continue;
            }
            let read = |p: &Path| {
                fs::read_to_string(p)
                    .map_err(anyhow::Error::from)
                    .and_then(|t| parse(&t).map(|(task, _)| task))
            };
            let mut parsed = read(&path);
            if let Err(e) = &parsed {
                // An update cut short by a power loss: the previous version may be intact.
                let prev = self.dir.join(format!(".{stem}.md.tmp"));
                if let Ok(task) = read(&prev)
                    .map_err(|_| ())
                    .and_then(|t| if t.id == stem { Ok(t) } else { Err(()) })
                {
                    loaded.problems.push(Problem {
                        path: path.clone(),
                        message: format!("{e:#}; using its previous version"),
                    });
                    parsed = Ok(task);
                }
            }
            match parsed {
                Ok(task) if task.id == stem => {
                    let tmp = self.dir.join(format!(".{stem}.md.tmp"));
                    if task.status.is_terminal() && tmp.exists() {
                        self.add_spare(tmp);
                    }
                    loaded.tasks.push(task)
                }
                Ok(task) => {
                    loaded.reserved_ids.push(stem.to_string());
                    loaded.problems.push(Problem {
                        path,
                        message: format!("file name does not match its id {:?}", task.id),
                    });
                }
                Err(e) => {
                    loaded.reserved_ids.push(stem.to_string());
                    loaded.problems.push(Problem { path, message: format!("{e:#}") });
                }
            }
        }
        loaded.tasks.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
        // A secret is kept only while its task needs it: the environment of one still waiting,
        // the token of a running one's wrapper.
        let status: std::collections::HashMap<&str, crate::core::task::TaskStatus> =
            loaded.tasks.iter().map(|t| (t.id.as_str(), t.status)).collect();
        let mut secrets =
            self.secrets.lock().map_err(|_| anyhow::anyhow!("the secrets' lock is poisoned"))?;
        let (mut kept, problems) =
            secrets.load(|id| status.get(id).is_some_and(|s| !s.is_terminal()))?;
        for p in problems {
            loaded.problems.push(Problem { path: secrets.path().to_path_buf(), message: p });
        }
        for (id, secret) in kept.iter_mut() {
            if status.get(id.as_str()) == Some(&crate::core::task::TaskStatus::Running) {
                secret.env = None;
            }
        }
        drop(secrets);
        loaded.secrets = kept;
        Ok(loaded)
    }
}

/// Creates (or truncates) `path` 0600.
fn private_file(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)
}

/// Puts `tmp` in the place of `path` atomically; exchanges the two when `path` exists and the
/// system supports it, so that the old file's inode lives on as the next temp file. Says
/// whether it did (else `tmp` is gone).
fn replace(tmp: &Path, path: &Path) -> std::io::Result<bool> {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        use nix::fcntl::{AT_FDCWD, RenameFlags, renameat2};
        match renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RenameFlags::RENAME_EXCHANGE) {
            Ok(()) => return Ok(true),
            // No `path` yet (`tmp` was just written), or no exchange here: a plain rename.
            Err(
                nix::errno::Errno::ENOENT | nix::errno::Errno::EINVAL | nix::errno::Errno::ENOSYS,
            ) => {}
            Err(e) => return Err(e.into()),
        }
    }
    fs::rename(tmp, path).map(|()| false)
}

/// Moves `from` to `to` unless `to` exists (`AlreadyExists` then).
fn rename_noreplace(from: &Path, to: &Path) -> std::io::Result<()> {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        use nix::fcntl::{AT_FDCWD, RenameFlags, renameat2};
        match renameat2(AT_FDCWD, from, AT_FDCWD, to, RenameFlags::RENAME_NOREPLACE) {
            Ok(()) => return Ok(()),
            Err(nix::errno::Errno::EINVAL | nix::errno::Errno::ENOSYS) => {}
            Err(e) => return Err(e.into()),
        }
    }
    if to.exists() {
        return Err(std::io::ErrorKind::AlreadyExists.into());
    }
    fs::rename(from, to)
}

fn render(task: &Task, result: Option<&str>) -> Result<String> {
    let front = toml::to_string(task).context("cannot serialize task")?;
    let mut s = String::with_capacity(front.len() + task.prompt.len() + 256);
    s.push_str("+++\n");
    s.push_str(&front);
    s.push_str("+++\n");
    s.push_str(&body_prefix(task));
    match result {
        Some(r) => s.push_str(r),
        None => s.push_str("_(not finished)_"),
    }
    s.push('\n');
    Ok(s)
}

fn body_prefix(task: &Task) -> String {
    format!("\n# {}\n\n## Prompt\n\n{}\n\n## Result\n\n", task.title, task.prompt)
}

/// Splits a task file into its task and the markdown body. The closing `+++` is the first
/// such line after which the front matter parses (a prompt may itself contain `+++`).
fn parse(text: &str) -> Result<(Task, &str)> {
    let rest = text.strip_prefix("+++\n").context("no '+++' front matter at the top")?;
    let mut search = 0;
    let mut last_err = None;
    while let Some(i) = rest[search..].find("\n+++\n") {
        let end = search + i + 1;
        match toml::from_str::<Task>(&rest[..end]) {
            Ok(task) => return Ok((task, &rest[end + 4..])),
            Err(e) => last_err = Some(e),
        }
        search = end;
    }
    match last_err {
        Some(e) => Err(anyhow::anyhow!("bad front matter: {}", e.message().trim())),
        None => Err(anyhow::anyhow!("front matter is not closed by a '+++' line")),
    }
}

fn result_of(task: &Task, body: &str) -> Option<String> {
    if !task.status.is_terminal() {
        return None;
    }
    let prefix = body_prefix(task);
    let r = match body.strip_prefix(prefix.as_str()) {
        Some(r) => r,
        None => body.find("\n## Result\n").map(|i| body[i + 11..].trim_start_matches('\n'))?,
    };
    Some(r.strip_suffix('\n').unwrap_or(r).to_string())
}

/// The result text to keep for a task: its cleaned output (of which `skipped` earlier bytes
/// were left out), the tail when it is very long, said to start later.
pub fn result_from_output(cleaned: &str, skipped: u64) -> String {
    let t = cleaned.trim_end();
    if t.len() <= RESULT_MAX_BYTES && skipped == 0 {
        return t.to_string();
    }
    let mut cut = t.len().saturating_sub(RESULT_MAX_BYTES);
    while !t.is_char_boundary(cut) {
        cut += 1;
    }
    // From the start of a line, unless the line is long (then mid-line, as before).
    if cut > 0
        && t.as_bytes()[cut - 1] != b'\n'
        && let Some(nl) = t[cut..].find('\n').filter(|n| *n < 4096)
    {
        cut += nl + 1;
    }
    format!("[… {} earlier bytes are in the log]\n{}", skipped + cut as u64, &t[cut..])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::task::{Outcome, TaskStatus};
    use crate::core::timefmt;

    fn task(id: &str, prompt: &str) -> Task {
        let mut t =
            Task::pending(id, "shell", prompt, "/tmp".into(), "/tmp/x.log".into(), timefmt::now());
        t.title = "a title".into();
        t.category = Some("quick".into());
        t.model = Some("anthropic/x".into());
        t.skills = vec!["git".into()];
        t
    }

    #[test]
    fn round_trip_with_hostile_prompt_and_result() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let prompt = "line1\n+++\n## Result\n\"quoted\" '''x''' \"\"\"y\"\"\" $(rm -rf ~)\n\\";
        let mut t = task("bold-otter", prompt);
        t.start(7, timefmt::now()).unwrap();
        store.save(&t, None, true).unwrap();
        assert_eq!(store.read_result("bold-otter").unwrap(), None);
        t.finish(Outcome::Completed, timefmt::now()).unwrap();
        let result = "## Result\n+++\nall good\n";
        store.save(&t, Some(result), true).unwrap();
        let loaded = store.load_all().unwrap();
        assert!(loaded.problems.is_empty(), "{:?}", loaded.problems);
        assert_eq!(loaded.tasks, vec![t.clone()]);
        assert_eq!(store.read_result("bold-otter").unwrap().as_deref(), Some(result));
        let text = fs::read_to_string(store.md_path("bold-otter")).unwrap();
        assert!(text.starts_with("+++\n") && text.contains("## Prompt\n\nline1\n+++"));
    }

    #[test]
    fn corrupt_files_are_reported_skipped_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store.save(&task("good-one", "p"), None, true).unwrap();
        fs::write(dir.path().join("bad-one.md"), "+++\nid = 3\n+++\n").unwrap();
        fs::write(dir.path().join("no-front.md"), "hello").unwrap();
        store.save(&task("other-id", "p"), None, false).unwrap();
        fs::rename(store.md_path("other-id"), dir.path().join("renamed.md")).unwrap();
        let loaded = store.load_all().unwrap();
        assert_eq!(loaded.tasks.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(), ["good-one"]);
        let mut reserved = loaded.reserved_ids.clone();
        reserved.sort();
        assert_eq!(reserved, ["bad-one", "no-front", "renamed"]);
        assert_eq!(fs::read_to_string(dir.path().join("no-front.md")).unwrap(), "hello");
        assert!(loaded.problems.iter().any(|p| p.message.contains("front matter")));
    }

    #[test]
    fn a_torn_update_falls_back_to_the_previous_version() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut t = task("torn-task", "p");
        store.save(&t, None, true).unwrap();
        t.start(9, timefmt::now()).unwrap();
        store.save(&t, None, false).unwrap();
        // The previous version (pending) is kept beside it.
        let prev = fs::read_to_string(dir.path().join(".torn-task.md.tmp")).unwrap();
        assert!(prev.contains("status = \"pending\""));
        fs::write(store.md_path("torn-task"), "").unwrap();
        let loaded = store.load_all().unwrap();
        assert_eq!(loaded.tasks.len(), 1);
        assert_eq!(loaded.tasks[0].status, TaskStatus::Pending);
        assert!(loaded.problems[0].message.contains("previous version"));
        assert!(loaded.reserved_ids.is_empty());
    }

    #[test]
    fn an_ended_tasks_previous_version_becomes_the_next_tasks_file() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let files = || {
            let mut v: Vec<String> = fs::read_dir(dir.path())
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            v.sort();
            v
        };
        // Ended in its first write (submit, start and end merged): no temp file is left, so
        // none is offered to the next task.
        let mut quick = task("quick-task", "p");
        quick.start(1, timefmt::now()).unwrap();
        quick.finish(Outcome::Completed, timefmt::now()).unwrap();
        store.save(&quick, Some("done"), false).unwrap();
        assert_eq!(files(), ["quick-task.md"]);
        assert!(store.spares.lock().unwrap().is_empty());
        // Written twice: its previous version is kept, and once it has ended, that file is the
        // next new task's.
        let mut slow = task("slow-task", "p");
        store.save(&slow, None, false).unwrap();
        slow.start(2, timefmt::now()).unwrap();
        slow.finish(Outcome::Completed, timefmt::now()).unwrap();
        store.save(&slow, Some("done"), false).unwrap();
        assert_eq!(files(), [".slow-task.md.tmp", "quick-task.md", "slow-task.md"]);
        let inode = |name: &str| {
            use std::os::unix::fs::MetadataExt;
            fs::metadata(dir.path().join(name)).unwrap().ino()
        };
        let spare = inode(".slow-task.md.tmp");
        store.save(&task("next-task", "p"), None, false).unwrap();
        assert_eq!(files(), ["next-task.md", "quick-task.md", "slow-task.md"]);
        assert_eq!(inode("next-task.md"), spare);
        let loaded = store.load_all().unwrap();
        assert_eq!(loaded.tasks.len(), 3);
        assert!(loaded.problems.is_empty(), "{:?}", loaded.problems);
    }

    #[test]
    fn a_spare_is_not_put_over_a_temp_file_already_there() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut t = task("busy-task", "p");
        store.save(&t, None, false).unwrap();
        t.start(3, timefmt::now()).unwrap();
        store.save(&t, None, false).unwrap();
        let spare = dir.path().join(".spare.md.tmp");
        fs::write(&spare, "old").unwrap();
        store.add_spare(spare.clone());
        // The task has its own temp file (its previous version): the spare stays a spare.
        t.finish(Outcome::Completed, timefmt::now()).unwrap();
        store.save(&t, Some("done"), false).unwrap();
        assert!(spare.exists());
        assert!(store.spares.lock().unwrap().contains(&spare));
        assert_eq!(store.load_all().unwrap().tasks[0].status, TaskStatus::Completed);
    }

    #[test]
    fn long_results_keep_the_tail() {
        let big = "x".repeat(RESULT_MAX_BYTES + 10) + "END";
        let r = result_from_output(&big, 0);
        assert!(r.starts_with("[… 13 earlier bytes are in the log]"));
        assert!(r.ends_with("END"));
        // Lines: the kept tail starts at a line's start.
        let lines: String = (0..40_000).map(|i| format!("line {i}\n")).collect();
        let r = result_from_output(&lines, 0);
        let kept = r.lines().nth(1).unwrap();
        assert!(kept.starts_with("line ") && lines.contains(&format!("\n{kept}\n")), "{kept}");
        assert!(r.ends_with("line 39999"));
        assert!(r.len() <= RESULT_MAX_BYTES + 64);
    }
}
