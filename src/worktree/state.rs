//! A task's worktree as it stands: what it changed against its base (`diff`, `+N −M in F files`)
//! and where its branch is (uncommitted work, ahead/behind the branch checked out in the
//! repository, merged — by ancestry, by patch (rebased) or by tree (squashed)).

use std::path::{Path, PathBuf};

use super::git::{self, GitError};

/// Lines added and removed, and files touched.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stat {
    pub files: usize,
    pub added: u64,
    pub removed: u64,
}

impl Stat {
    /// `+12 −3 in 4 files`.
    pub fn words(&self) -> String {
        let files =
            if self.files == 1 { "1 file".to_string() } else { format!("{} files", self.files) };
        format!("+{} −{} in {files}", self.added, self.removed)
    }
}

/// Runs `f` with a private index holding the worktree's whole state (new files too), so that
/// a diff against the base shows uncommitted work; the worktree's own index is not touched.
fn with_everything<T>(
    wt: &Path,
    f: impl FnOnce(&Path) -> Result<T, GitError>,
) -> Result<T, GitError> {
    let index = PathBuf::from(git::line(
        wt,
        &["rev-parse", "--path-format=absolute", "--git-path", "index"],
    )?);
    // One of its own per call: two tasks share a worktree (a retry), and the dashboard reads
    // both at once — a shared file, removed by one under the other, read as "+0 −0".
    static CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let private = PathBuf::from(format!("{}.paneherd-{}-{n}", index.display(), std::process::id()));
    if index.exists() {
        let _ = std::fs::copy(&index, &private);
    }
    let env = [("GIT_INDEX_FILE", private.as_path())];
    let r = git::run_env(wt, &["add", "--all", "--", "."], &env).and_then(|_| f(&private));
    let _ = std::fs::remove_file(&private);
    r
}

/// The diff of the worktree (commits and uncommitted work) against `base`: a patch, or with
/// `stat` git's `--stat`; coloured when `color`.
pub fn diff(wt: &Path, base: &str, stat: bool, color: bool) -> Result<String, GitError> {
    with_everything(wt, |index| {
        let mut args = vec!["diff", "--no-ext-diff", "--no-textconv", "--cached", "--find-renames"];
        args.push(if color { "--color=always" } else { "--no-color" });
        if stat {
            args.push("--stat");
        }
        args.push(base);
        git::run_env(wt, &args, &[("GIT_INDEX_FILE", index)])
    })
}

/// What a task changed: its worktree's [`diff`] while the worktree is there, else (merged or
/// discarded) what its branch holds against `base`.
pub fn task_diff(
    wt: &Path,
    repo: &Path,
    base: &str,
    branch: &str,
    stat: bool,
    color: bool,
) -> Result<String, GitError> {
    if wt.is_dir() {
        return diff(wt, base, stat, color);
    }
    let mut args = vec!["diff", "--no-ext-diff", "--no-textconv"];
    args.push(if color { "--color=always" } else { "--no-color" });
    if stat {
        args.push("--stat");
    }
    let range = format!("{base}...{branch}");
    args.push(&range);
    git::run(repo, &args)
}

/// `+N −M in F files` of the worktree against `base`.
pub fn stat(wt: &Path, base: &str) -> Result<Stat, GitError> {
    let out = with_everything(wt, |index| {
        git::run_env(
            wt,
            &[
                "diff",
                "--no-ext-diff",
                "--no-textconv",
                "--cached",
                "--find-renames",
                "--numstat",
                base,
            ],
            &[("GIT_INDEX_FILE", index)],
        )
    })?;
    Ok(parse_numstat(&out))
}

pub fn parse_numstat(out: &str) -> Stat {
    let mut s = Stat::default();
    for line in out.lines().filter(|l| !l.trim().is_empty()) {
        let mut parts = line.split('\t');
        let (a, r) = (parts.next().unwrap_or("-"), parts.next().unwrap_or("-"));
        s.files += 1;
        // Binary files count as touched, with no lines.
        s.added += a.parse::<u64>().unwrap_or(0);
        s.removed += r.parse::<u64>().unwrap_or(0);
    }
    s
}

/// Where a task's worktree and branch stand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct State {
    /// The worktree directory is there (it may have been removed by hand).
    pub exists: bool,
    /// Uncommitted changes or new files in the worktree.
    pub dirty: bool,
    /// The branch checked out in the repository (where `merge` goes).
    pub target: String,
    /// Commits of the task's branch not in `target`, and of `target` not in it.
    pub ahead: usize,
    pub behind: usize,
    /// Everything the branch changed is in `target` (merged, rebased or squashed in).
    pub merged: bool,
}

/// No branch is checked out in a repository (its HEAD is detached).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("HEAD is detached in {}: check out a branch first", repo.display())]
pub struct Detached {
    pub repo: std::path::PathBuf,
}

/// The branch checked out in `repo` (its short name), or why there is none.
pub fn checked_out(repo: &Path) -> Result<String, Detached> {
    git::line(repo, &["symbolic-ref", "--quiet", "--short", "HEAD"])
        .map_err(|_| Detached { repo: repo.to_path_buf() })
}

pub fn dirty(dir: &Path, untracked: bool) -> Result<Vec<String>, GitError> {
    let u = if untracked { "--untracked-files=all" } else { "--untracked-files=no" };
    let out = git::run(dir, &["status", "--porcelain", u])?;
    Ok(out.lines().filter(|l| l.len() > 3).map(|l| l[3..].to_string()).collect())
}

/// Whether everything `branch` changed is in `target`: by ancestry, by patch id (each commit
/// rebased or cherry-picked in), or by tree (merging it would change nothing: squashed in).
pub fn merged(repo: &Path, target: &str, branch: &str) -> Result<bool, GitError> {
    if git::ok(repo, &["merge-base", "--is-ancestor", branch, target]) {
        return Ok(true);
    }
    let cherry = git::run(repo, &["cherry", target, branch])?;
    if !cherry.trim().is_empty() && cherry.lines().all(|l| l.starts_with('-')) {
        return Ok(true);
    }
    let Ok(tree) = git::line(repo, &["merge-tree", "--write-tree", target, branch]) else {
        return Ok(false); // conflicts: not in
    };
    Ok(tree == git::line(repo, &["rev-parse", &format!("{target}^{{tree}}")])?)
}

/// A worktree task's state: whether its worktree is there and dirty, how its branch stands
/// against the branch checked out in `repo` (`HEAD`, when none is).
pub fn state(repo: &Path, wt: &Path, branch: &str) -> Result<State, GitError> {
    let exists = wt.is_dir();
    let target = checked_out(repo).unwrap_or_else(|_| "HEAD".into());
    let dirty = exists && !dirty(wt, true)?.is_empty();
    let counts =
        git::line(repo, &["rev-list", "--left-right", "--count", &format!("{target}...{branch}")])?;
    let mut it = counts.split_whitespace().map(|n| n.parse::<usize>().unwrap_or(0));
    let (behind, ahead) = (it.next().unwrap_or(0), it.next().unwrap_or(0));
    let merged = merged(repo, &target, branch)?;
    Ok(State { exists, dirty, target, ahead, behind, merged })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numstat_counts_lines_and_files_binary_too() {
        let s = parse_numstat("3\t1\tsrc/a.rs\n10\t0\tREADME.md\n-\t-\tlogo.png\n");
        assert_eq!(s, Stat { files: 3, added: 13, removed: 1 });
        assert_eq!(s.words(), "+13 −1 in 3 files");
        assert_eq!(Stat { files: 1, added: 0, removed: 2 }.words(), "+0 −2 in 1 file");
    }
}

#[cfg(test)]
mod race_tests {
    use super::*;

    /// Two reads of one worktree at once (an original and its retry): both see its changes.
    #[test]
    fn reads_of_a_shared_worktree_at_once_see_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let wt = dir.path();
        let git = |args: &[&str]| {
            let ok = std::process::Command::new("git")
                .arg("-C")
                .arg(wt)
                .args(args)
                .env("GIT_CONFIG_GLOBAL", "/dev/null")
                .env("GIT_CONFIG_NOSYSTEM", "1")
                .status()
                .unwrap()
                .success();
            assert!(ok, "git {args:?}");
        };
        git(&["init", "-q"]);
        git(&[
            "-c",
            "user.email=t@e",
            "-c",
            "user.name=T",
            "commit",
            "-q",
            "--allow-empty",
            "-m",
            "base",
        ]);
        let base = git::line(wt, &["rev-parse", "HEAD"]).unwrap();
        std::fs::write(wt.join("a.txt"), "a\n").unwrap();
        std::fs::write(wt.join("b.txt"), "b\nc\n").unwrap();
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (wt, base) = (wt.to_path_buf(), base.clone());
                std::thread::spawn(move || {
                    (0..10).map(|_| stat(&wt, &base).unwrap()).collect::<Vec<_>>()
                })
            })
            .collect();
        for t in threads {
            for s in t.join().unwrap() {
                assert_eq!((s.added, s.removed, s.files), (3, 0, 2));
            }
        }
    }
}
