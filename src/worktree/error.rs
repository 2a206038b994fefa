//! What can go wrong with a task's worktree, each said the way the user acts on it: asking
//! for one when the task is submitted ([`RequestError`]) and making it when the task starts
//! ([`PrepareError`]).

use std::path::PathBuf;

use super::git::GitError;

/// A directory outside any git repository.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} is not in a git repository", dir.display())]
pub struct NotInRepository {
    pub dir: PathBuf,
}

/// A `--worktree` (with `--branch`, `--base`) that cannot be had, found when the task is
/// submitted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("--worktree: {0}")]
    NotInRepository(#[from] NotInRepository),
    #[error("--worktree=BRANCH attaches that branch: no --branch or --base with it")]
    AttachWithOptions,
    #[error("--worktree={branch}: there is no branch {branch:?} in {}", repo.display())]
    NoSuchBranch { branch: String, repo: PathBuf },
    #[error("--worktree={branch}: {branch} is checked out in {at} already")]
    CheckedOut { branch: String, at: String },
    #[error("--branch {branch:?} is not a valid branch name")]
    BadBranchName { branch: String },
    #[error("--branch {branch}: it exists already (--worktree={branch} attaches it)")]
    BranchExists { branch: String },
    #[error("--base {base}: not a commit of {}", repo.display())]
    NotACommit { base: String, repo: PathBuf },
    #[error("{} has no commit yet to branch from", repo.display())]
    NoCommitYet { repo: PathBuf },
    #[error("{0}")]
    Git(#[from] GitError),
}

/// The directory a worktree would be made in is not safe: another user could move or replace
/// the worktree under it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnsafeParent {
    #[error("cannot inspect {}: {cause}", dir.display())]
    Unreadable { dir: PathBuf, cause: String },
    #[error("{} is not a directory: no worktree made in it", dir.display())]
    NotADirectory { dir: PathBuf },
    #[error("{} belongs to uid {uid}, not to you: no worktree made in it (set [worktree] dir)", dir.display())]
    NotYours { dir: PathBuf, uid: u32 },
    #[error(
        "others may write to {} (mode {mode:03o}): no worktree made in it; `chmod go-w {}` or set [worktree] dir",
        dir.display(),
        dir.display()
    )]
    OthersWrite { dir: PathBuf, mode: u32 },
}

/// A task's worktree that cannot be made when the task starts (the task ends in error).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrepareError {
    #[error("{0}")]
    NotInRepository(#[from] NotInRepository),
    #[error("its worktree {} is gone (merged, discarded or removed by hand): not made again", path.display())]
    Gone { path: PathBuf },
    #[error("{} exists already: not overwritten", path.display())]
    Exists { path: PathBuf },
    #[error("cannot create {}: {cause}", dir.display())]
    Create { dir: PathBuf, cause: String },
    #[error("{0}")]
    UnsafeParent(#[from] UnsafeParent),
    #[error("no branch to attach")]
    NoBranchToAttach,
    #[error("there is no branch {branch:?} to attach")]
    NoSuchBranch { branch: String },
    #[error("{base:?} is not a commit of {}", repo.display())]
    NotACommit { base: String, repo: PathBuf },
    #[error("{0}")]
    Git(#[from] GitError),
}
