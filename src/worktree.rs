//! Git worktrees, one per task (`run --worktree`): made when the task starts, under a directory
//! paneherd owns beside the repository, on a branch named after the task; what it changed
//! (`diff`), its state (`worktrees`), and taking it back (`merge`) or away (`discard`) — which
//! never lose work: see [`ops`]. git is run by [`git`] only.

pub mod error;
pub mod git;
pub mod ops;
pub mod state;

pub use error::{NotInRepository, PrepareError, RequestError, UnsafeParent};

use std::path::{Path, PathBuf};
use std::time::Duration;

pub use crate::core::task::WorktreeRequest;
pub use crate::core::worktrees::{DEFAULT_DIR, Prepare, Prepared, Settings};

/// The repository's main worktree (the first of `git worktree list`).
pub fn main_worktree(dir: &Path) -> Result<PathBuf, git::GitError> {
    Ok(list(dir)?.into_iter().next().unwrap_or_default())
}

/// Every worktree of the repository (paths), the main one first.
pub fn list(repo: &Path) -> Result<Vec<PathBuf>, git::GitError> {
    let list = porcelain(repo)?;
    Ok(list.lines().filter_map(|l| l.strip_prefix("worktree ")).map(PathBuf::from).collect())
}

/// `git worktree list --porcelain` (under the worktree lock, like every git that reads all
/// worktrees' entries).
fn porcelain(repo: &Path) -> Result<String, git::GitError> {
    git::run_locked(repo, &["worktree", "list", "--porcelain"])
}

/// The top of the work tree `dir` is in, or why it is not in one.
pub fn toplevel(dir: &Path) -> Result<PathBuf, NotInRepository> {
    match git::line(dir, &["rev-parse", "--show-toplevel"]) {
        Ok(top) if !top.is_empty() => Ok(PathBuf::from(top)),
        _ => Err(NotInRepository { dir: dir.to_path_buf() }),
    }
}

/// A worktree request checked against the repository `dir` is in, as a client makes it when
/// the task is submitted: the base resolved to a commit now (what the user has checked out
/// when they hand the work off), a new branch's name free, an attached branch there and not
/// checked out elsewhere.
pub fn request_for(
    dir: &Path,
    attach: Option<&str>,
    base: Option<&str>,
    branch: Option<&str>,
) -> Result<WorktreeRequest, RequestError> {
    let top = toplevel(dir)?;
    let exists = |b: &str| git::branch_exists(&top, b);
    if let Some(b) = attach {
        if branch.is_some() || base.is_some() {
            return Err(RequestError::AttachWithOptions);
        }
        if !exists(b) {
            return Err(RequestError::NoSuchBranch { branch: b.into(), repo: top });
        }
        let list = porcelain(&top)?;
        let mut at = None;
        for l in list.lines() {
            if let Some(p) = l.strip_prefix("worktree ") {
                at = Some(p.to_string());
            }
            if l == format!("branch refs/heads/{b}") {
                return Err(RequestError::CheckedOut {
                    branch: b.into(),
                    at: at.unwrap_or_default(),
                });
            }
        }
        return Ok(WorktreeRequest { branch: Some(b.into()), attach: true, ..Default::default() });
    }
    if let Some(b) = branch {
        if !git::ok(&top, &["check-ref-format", "--branch", b]) {
            return Err(RequestError::BadBranchName { branch: b.into() });
        }
        if exists(b) {
            return Err(RequestError::BranchExists { branch: b.into() });
        }
    }
    let rev = base.unwrap_or("HEAD");
    let commit =
        git::line(&top, &["rev-parse", "--verify", "--quiet", &format!("{rev}^{{commit}}")])
            .ok()
            .filter(|c| !c.is_empty())
            .ok_or_else(|| match base {
                Some(b) => RequestError::NotACommit { base: b.into(), repo: top.clone() },
                None => RequestError::NoCommitYet { repo: top.clone() },
            })?;
    Ok(WorktreeRequest {
        base: Some(commit),
        branch: branch.map(String::from),
        ..Default::default()
    })
}

/// The directory a worktree is made in must be the user's, writable by nobody else: another
/// user could otherwise move or replace the task's worktree under it.
fn safe_parent(dir: &Path) -> Result<(), UnsafeParent> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let dir_ = || dir.to_path_buf();
    let meta = std::fs::symlink_metadata(dir)
        .map_err(|cause| UnsafeParent::Unreadable { dir: dir_(), cause: cause.to_string() })?;
    let me = nix::unistd::getuid().as_raw();
    if !meta.is_dir() {
        return Err(UnsafeParent::NotADirectory { dir: dir_() });
    }
    if meta.uid() != me {
        return Err(UnsafeParent::NotYours { dir: dir_(), uid: meta.uid() });
    }
    if meta.permissions().mode() & 0o022 != 0 {
        return Err(UnsafeParent::OthersWrite {
            dir: dir_(),
            mode: meta.permissions().mode() & 0o777,
        });
    }
    Ok(())
}

/// Where a task's worktree goes.
pub fn path_for(settings: &Settings, repo: &Path, task_id: &str) -> PathBuf {
    let parent = repo.parent().unwrap_or(Path::new("/")).display().to_string();
    let name = repo.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    PathBuf::from(
        settings
            .dir
            .replace("{repo_parent}", &parent)
            .replace("{repo_name}", &name)
            .replace("{task_id}", task_id),
    )
}

/// Makes the task's worktree (or finds an earlier task's again), copies `.worktreeinclude`'s
/// files and runs the set-up command. Run on a blocking thread.
pub fn prepare(p: &Prepare) -> Result<Prepared, PrepareError> {
    let r = &p.request;
    let here = toplevel(&p.cwd)?;
    let repo = main_worktree(&here)?;
    let sub = p.cwd.strip_prefix(&here).map(Path::to_path_buf).unwrap_or_default();
    if let Some(path) = &r.reuse {
        // Never made again behind the user's back: a worktree removed by hand stays removed.
        let found = toplevel(path).ok().is_some_and(|t| &t == path) && list(&repo)?.contains(path);
        if !found {
            return Err(PrepareError::Gone { path: path.clone() });
        }
        let branch = git::line(path, &["rev-parse", "--abbrev-ref", "HEAD"])?;
        return Ok(Prepared {
            repo,
            path: path.clone(),
            branch,
            base: r.base.clone().unwrap_or_default(),
            cwd: in_tree(path, &sub),
            note: None,
            made: false,
        });
    }
    let path = path_for(&p.settings, &repo, &p.task_id);
    if path.exists() {
        return Err(PrepareError::Exists { path });
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|cause| PrepareError::Create {
            dir: parent.to_path_buf(),
            cause: cause.to_string(),
        })?;
        safe_parent(parent)?;
    }
    let path_s = path.display().to_string();
    let (branch, base) = if r.attach {
        let branch = r.branch.clone().ok_or(PrepareError::NoBranchToAttach)?;
        let tip = git::line(&repo, &["rev-parse", "--verify", &format!("refs/heads/{branch}")])
            .map_err(|_| PrepareError::NoSuchBranch { branch: branch.clone() })?;
        git::run_locked(&repo, &["worktree", "add", "--quiet", &path_s, &branch])?;
        // Its base: where it left the checked-out branch.
        let base = git::line(&repo, &["merge-base", "HEAD", &tip]).unwrap_or(tip);
        (branch, base)
    } else {
        let base_rev = r.base.clone().unwrap_or_else(|| "HEAD".into());
        let base = git::line(&repo, &["rev-parse", "--verify", &format!("{base_rev}^{{commit}}")])
            .map_err(|_| PrepareError::NotACommit { base: base_rev.clone(), repo: repo.clone() })?;
        let branch = r
            .branch
            .clone()
            .unwrap_or_else(|| format!("{}{}", p.settings.branch_prefix, p.task_id));
        git::run_locked(&repo, &["worktree", "add", "--quiet", "-b", &branch, &path_s, &base])?;
        (branch, base)
    };
    let mut notes: Vec<String> = copy_included(&here, &path).into_iter().collect();
    let cwd = in_tree(&path, &sub);
    if !p.settings.setup.is_empty() {
        notes.extend(run_setup(&p.settings.setup, &path, p.settings.setup_timeout));
    }
    Ok(Prepared {
        repo,
        path,
        branch,
        base,
        cwd,
        note: (!notes.is_empty()).then(|| notes.join("; ")),
        made: true,
    })
}

fn in_tree(path: &Path, sub: &Path) -> PathBuf {
    if sub.as_os_str().is_empty() {
        return path.to_path_buf();
    }
    let cwd = path.join(sub);
    if cwd.is_dir() { cwd } else { path.to_path_buf() }
}

/// Copies the files `.worktreeinclude` names (gitignore patterns; typically ignored files such
/// as `.env`) from the submitter's work tree into the new one: regular files inside the work
/// tree only — a symbolic link (to `~/.ssh/id_ed25519`, say) is not followed out of it.
/// Returns what could not be copied, a note for the task (it goes on without those files).
fn copy_included(from: &Path, to: &Path) -> Option<String> {
    let list = from.join(".worktreeinclude");
    if !list.is_file() {
        return None;
    }
    let arg = format!("--exclude-from={}", list.display());
    // Untracked files that its patterns (and only those) match.
    let files = match git::run(from, &["ls-files", "--others", "--ignored", &arg]) {
        Ok(f) => f,
        Err(e) => return Some(format!(".worktreeinclude: {e}")),
    };
    let mut failed = vec![];
    let top = match std::fs::canonicalize(from) {
        Ok(t) => t,
        Err(e) => return Some(format!(".worktreeinclude: {e}")),
    };
    for rel in files.lines().filter(|l| !l.is_empty()) {
        let (src, dst) = (from.join(rel), to.join(rel));
        let inside = std::fs::symlink_metadata(&src).is_ok_and(|m| m.file_type().is_file())
            && std::fs::canonicalize(&src).is_ok_and(|real| real.starts_with(&top));
        if !inside {
            failed.push(format!("{rel}: not a regular file inside the repository"));
            continue;
        }
        let copied = dst
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::copy(&src, &dst).map(|_| ()));
        if let Err(e) = copied {
            failed.push(format!("{rel}: {e}"));
        }
    }
    (!failed.is_empty()).then(|| format!(".worktreeinclude: not copied: {}", failed.join(", ")))
}

/// Runs the set-up command in the new worktree, at most `limit`; what went wrong, if anything
/// (a note for the task, which goes on).
fn run_setup(argv: &[String], dir: &Path, limit: Duration) -> Option<String> {
    use std::process::Stdio;
    let shown = argv.join(" ");
    let child = crate::runner::programs::command(&argv[0])
        .args(&argv[1..])
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => return Some(format!("worktree_setup {shown:?} did not start: {e}")),
    };
    // Read as it comes (a full pipe would stall the command): its last line says why.
    let stderr = child.stderr.take();
    let reader = std::thread::spawn(move || {
        let mut err = String::new();
        if let Some(mut e) = stderr {
            use std::io::Read;
            let _ = e.read_to_string(&mut err);
        }
        err
    });
    let deadline = std::time::Instant::now() + limit;
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return None,
            Ok(Some(status)) => {
                let err = reader.join().unwrap_or_default();
                let last = err.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("");
                return Some(format!(
                    "worktree_setup {shown:?} failed ({status}): {}",
                    last.trim()
                ));
            }
            Ok(None) if std::time::Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Some(format!(
                    "worktree_setup {shown:?} did not finish within {} s: stopped",
                    limit.as_secs()
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Some(format!("worktree_setup {shown:?}: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A repository with one commit on `main` and a branch `feature`, by the real git.
    fn repo() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let git = |args: &[&str]| {
            let ok = std::process::Command::new("git")
                .arg("-C")
                .arg(dir.path())
                .args(args)
                .env("GIT_CONFIG_GLOBAL", "/dev/null")
                .env("GIT_CONFIG_NOSYSTEM", "1")
                .output()
                .unwrap()
                .status
                .success();
            assert!(ok, "git {args:?}");
        };
        git(&["init", "-q", "-b", "main"]);
        git(&[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "commit",
            "-q",
            "--allow-empty",
            "-m",
            "one",
        ]);
        git(&["branch", "feature"]);
        dir
    }

    #[test]
    fn a_worktree_that_cannot_be_had_is_refused_with_the_reason() {
        let r = repo();
        let top = toplevel(r.path()).unwrap();
        let outside = tempfile::tempdir().unwrap();
        type Case<'a> = (&'a Path, Option<&'a str>, Option<&'a str>, Option<&'a str>);
        let cases: [(Case, RequestError); 7] = [
            (
                (outside.path(), None, None, None),
                RequestError::NotInRepository(NotInRepository { dir: outside.path().into() }),
            ),
            ((r.path(), Some("feature"), Some("main"), None), RequestError::AttachWithOptions),
            (
                (r.path(), Some("nope"), None, None),
                RequestError::NoSuchBranch { branch: "nope".into(), repo: top.clone() },
            ),
            (
                (r.path(), Some("main"), None, None),
                RequestError::CheckedOut { branch: "main".into(), at: top.display().to_string() },
            ),
            (
                (r.path(), None, None, Some("bad..name")),
                RequestError::BadBranchName { branch: "bad..name".into() },
            ),
            (
                (r.path(), None, None, Some("feature")),
                RequestError::BranchExists { branch: "feature".into() },
            ),
            (
                (r.path(), None, Some("no-such-rev"), None),
                RequestError::NotACommit { base: "no-such-rev".into(), repo: top.clone() },
            ),
        ];
        for ((dir, attach, base, branch), want) in cases {
            assert_eq!(request_for(dir, attach, base, branch), Err(want.clone()), "{want}");
        }
        // What can be had is had: a new branch from the checked-out commit, an attached branch.
        assert!(request_for(r.path(), None, None, Some("new")).is_ok_and(|q| q.base.is_some()));
        assert!(request_for(r.path(), Some("feature"), None, None).is_ok_and(|q| q.attach));
    }
}
