//! Taking a task's work back (`merge`) or away (`discard`), never losing any: `merge` refuses
//! a dirty checkout, leaves the repository exactly as it was when it conflicts, and removes the
//! task's worktree only after it succeeded; `discard` refuses while there is uncommitted work or
//! a commit the checked-out branch does not have (unless forced), keeps the branch unless asked,
//! and never touches the main worktree or a worktree paneherd did not make.

use std::path::Path;

use super::git;
use super::state::{self, checked_out, dirty};

/// How `merge` brings the branch in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum How {
    /// A merge commit (`--no-ff`).
    Merge,
    /// One commit with all its changes.
    Squash,
    /// The branch rebased onto the checked-out one, then fast-forwarded.
    Rebase,
}

/// A task's worktree, as its record names it.
#[derive(Debug, Clone)]
pub struct Tree<'a> {
    pub task_id: &'a str,
    pub title: &'a str,
    pub repo: &'a Path,
    pub path: &'a Path,
    pub branch: &'a str,
    /// The branch was the user's (`--worktree=BRANCH`): never deleted.
    pub attached: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("{0}")]
    No(String),
    /// The merge conflicted: aborted, the repository as it was.
    #[error(
        "{} {branch} {} {target} conflicts in {}: aborted, {repo} is as it was{}",
        if *rebase { "rebasing" } else { "merging" },
        if *rebase { "onto" } else { "into" },
        files.join(", "),
        if *committed { " (the task's uncommitted work was committed on its branch first)" } else { "" }
    )]
    Conflict {
        branch: String,
        target: String,
        repo: String,
        files: Vec<String>,
        rebase: bool,
        committed: bool,
    },
}

fn no(s: impl Into<String>) -> Refused {
    Refused::No(s.into())
}

fn g(e: git::GitError) -> Refused {
    Refused::No(e.to_string())
}

/// What a successful merge did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Merged {
    pub into: String,
    /// The checked-out branch's new head.
    pub head: String,
    /// The worktree's uncommitted work was committed on the task's branch first.
    pub committed_pending: bool,
}

/// Not the main worktree, and one of the repository's worktrees.
fn check_ours(t: &Tree) -> Result<(), Refused> {
    let all = super::list(t.repo).map_err(g)?;
    let same = |a: &Path, b: &Path| {
        a == b || a.canonicalize().ok().zip(b.canonicalize().ok()).is_some_and(|(x, y)| x == y)
    };
    if all.first().is_some_and(|m| same(m, t.path)) || same(t.repo, t.path) {
        return Err(no(format!(
            "{} is the repository's main worktree: never removed",
            t.path.display()
        )));
    }
    if t.path.exists() && !all.iter().any(|w| same(w, t.path)) {
        return Err(no(format!(
            "{} is not a worktree of {}: not touched",
            t.path.display(),
            t.repo.display()
        )));
    }
    Ok(())
}

/// Merges the task's branch into the branch checked out in the repository, then removes the
/// task's worktree (the branch stays).
pub fn merge(t: &Tree, how: How) -> Result<Merged, Refused> {
    check_ours(t)?;
    let repo = t.repo;
    let changed = dirty(repo, false).map_err(g)?;
    if !changed.is_empty() {
        return Err(no(format!(
            "{} has uncommitted changes ({}): commit or stash them first",
            repo.display(),
            changed.join(", ")
        )));
    }
    let target = checked_out(repo).map_err(|e| no(e.to_string()))?;
    if target == t.branch {
        return Err(no(format!(
            "{} is checked out in {}: nothing to merge into",
            t.branch,
            repo.display()
        )));
    }
    // The agent's uncommitted work is part of what it did: committed on its branch first.
    let mut committed_pending = false;
    if t.path.is_dir() && !dirty(t.path, true).map_err(g)?.is_empty() {
        git::run(t.path, &["add", "--all"]).map_err(g)?;
        let msg = format!(
            "{}\n\nUncommitted work of paneherd task {}, committed by `paneherd merge`.",
            t.title, t.task_id
        );
        git::run(t.path, &["commit", "--quiet", "--no-verify", "-m", &msg]).map_err(g)?;
        committed_pending = true;
    }
    if state::merged(repo, &target, t.branch).map_err(g)? {
        return Err(no(format!(
            "everything {} changed is in {target} already: nothing to merge",
            t.branch
        )));
    }
    let before = git::line(repo, &["rev-parse", "HEAD"]).map_err(g)?;
    let conflict = |dir: &Path| -> Vec<String> {
        git::run(dir, &["diff", "--name-only", "--diff-filter=U"])
            .map(|s| s.lines().map(String::from).collect())
            .unwrap_or_default()
    };
    // git would not even start (untracked files in the way, …): its own words, one line.
    let git_refused = |e: git::GitError| {
        let said: Vec<&str> = e.message.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
        no(format!(
            "git would not {} {} {} {target}: {}; {} is as it was{}",
            match how {
                How::Rebase => "rebase",
                How::Squash => "squash-merge",
                How::Merge => "merge",
            },
            t.branch,
            if how == How::Rebase { "onto" } else { "into" },
            said.join(" "),
            repo.display(),
            if committed_pending {
                " (the task's uncommitted work was committed on its branch first)"
            } else {
                ""
            }
        ))
    };
    let refused = |files: Vec<String>| Refused::Conflict {
        branch: t.branch.to_string(),
        target: target.clone(),
        repo: repo.display().to_string(),
        files,
        rebase: how == How::Rebase,
        committed: committed_pending,
    };
    match how {
        How::Merge => {
            let msg = format!("Merge paneherd task {}: {}", t.task_id, t.title);
            if let Err(e) = git::run(repo, &["merge", "--no-ff", "--no-edit", "-m", &msg, t.branch])
            {
                let files = conflict(repo);
                if files.is_empty() {
                    let _ = git::run(repo, &["merge", "--abort"]);
                    return Err(git_refused(e));
                }
                git::run(repo, &["merge", "--abort"]).map_err(g)?;
                return Err(refused(files));
            }
        }
        How::Squash => {
            if let Err(e) = git::run(repo, &["merge", "--squash", t.branch]) {
                let files = conflict(repo);
                git::run(repo, &["reset", "--merge"]).map_err(g)?;
                if files.is_empty() {
                    return Err(git_refused(e));
                }
                return Err(refused(files));
            }
            let msg = format!(
                "{}\n\nSquashed from paneherd task {} (branch {}).",
                t.title, t.task_id, t.branch
            );
            if let Err(e) = git::run(repo, &["commit", "--quiet", "-m", &msg]) {
                git::run(repo, &["reset", "--merge"]).map_err(g)?;
                return Err(g(e));
            }
        }
        How::Rebase => {
            if !t.path.is_dir() {
                return Err(no(format!(
                    "{} is gone: --rebase needs the task's worktree",
                    t.path.display()
                )));
            }
            if let Err(e) = git::run(t.path, &["rebase", &target]) {
                let files = conflict(t.path);
                if files.is_empty() {
                    let _ = git::run(t.path, &["rebase", "--abort"]);
                    return Err(git_refused(e));
                }
                git::run(t.path, &["rebase", "--abort"]).map_err(g)?;
                return Err(refused(files));
            }
            git::run(repo, &["merge", "--ff-only", t.branch]).map_err(git_refused)?;
        }
    }
    let head = git::line(repo, &["rev-parse", "HEAD"]).map_err(g)?;
    debug_assert_ne!(head, before);
    if t.path.is_dir() {
        git::run_locked(repo, &["worktree", "remove", &t.path.display().to_string()]).map_err(g)?;
    }
    Ok(Merged { into: target, head, committed_pending })
}

impl How {
    pub fn word(self) -> &'static str {
        match self {
            How::Merge => "merged",
            How::Squash => "squash-merged",
            How::Rebase => "rebased and fast-forwarded",
        }
    }
}

impl Merged {
    /// What the task's record says of it.
    pub fn note(&self, how: How, branch: &str) -> String {
        let short = &self.head[..self.head.len().min(10)];
        format!(
            "{} into {} at {short}; worktree removed, branch {branch} kept",
            how.word(),
            self.into
        )
    }
}

/// What `discard` may throw away.
#[derive(Debug, Clone, Copy, Default)]
pub struct Discard {
    /// Even uncommitted work and unmerged commits (the branch still stays).
    pub force: bool,
    /// Delete the branch too (never one the user attached).
    pub delete_branch: bool,
}

/// Removes the task's worktree (and with `delete_branch` its branch) when nothing would be
/// lost; what was done.
pub fn discard(t: &Tree, opt: Discard) -> Result<String, Refused> {
    check_ours(t)?;
    let target = checked_out(t.repo).unwrap_or_else(|_| "HEAD".into());
    let mut done = vec![];
    if t.path.is_dir() {
        let pending = dirty(t.path, true).map_err(g)?;
        if !pending.is_empty() && !opt.force {
            return Err(no(format!(
                "{} has uncommitted work ({}): merge it, or discard --force to throw it away",
                t.path.display(),
                pending.join(", ")
            )));
        }
    }
    let branch_exists = git::branch_exists(t.repo, t.branch);
    if branch_exists && !opt.force && !state::merged(t.repo, &target, t.branch).map_err(g)? {
        let n = git::line(t.repo, &["rev-list", "--count", &format!("{target}..{}", t.branch)])
            .map_err(g)?;
        return Err(no(format!(
            "{} has {n} commit(s) that {target} does not have: merge it, or discard --force (the branch stays)",
            t.branch
        )));
    }
    if !t.path.is_dir() {
        done.push("its worktree was removed already".to_string());
    } else {
        let p = t.path.display().to_string();
        let mut args = vec!["worktree", "remove"];
        if opt.force {
            args.push("--force");
        }
        args.push(&p);
        git::run_locked(t.repo, &args).map_err(g)?;
        done.push(format!("removed {p}"));
    }
    if opt.delete_branch && branch_exists {
        if t.attached {
            done.push(format!("kept {}: it was yours before the task", t.branch));
        } else {
            git::run(t.repo, &["branch", "-D", t.branch]).map_err(g)?;
            done.push(format!("deleted branch {}", t.branch));
        }
    } else if branch_exists {
        done.push(format!("kept branch {}", t.branch));
    }
    Ok(done.join("; "))
}
