//! Running git: always its CLI, always argv (never a shell), always `-C <dir>`, its messages in
//! English (`LC_ALL=C`) and quoted in errors — and never a command of the repository's own:
//! its hooks (`.git/hooks/post-checkout`…) and its `core.fsmonitor` are off for paneherd's git
//! calls, so that making a task's worktree runs nothing the repository says (the agent's own
//! git use in its worktree is the agent's business).

use std::path::Path;
use std::process::{Command, Stdio};

/// A git command that failed: what was run and what git said.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("git {args} (in {dir}): {message}")]
pub struct GitError {
    pub args: String,
    pub dir: String,
    pub message: String,
}

/// Settings given to every git call: no hooks (a hooks path that is not a directory has none),
/// no file-system monitor command, no signing program (and every `diff` of paneherd's runs with
/// `--no-ext-diff --no-textconv`) —
/// commands a repository's own config could name (and an agent in one of its worktrees could
/// write there).
const NO_REPO_COMMANDS: [&str; 10] = [
    "-c",
    "core.hooksPath=/dev/null",
    "-c",
    "core.fsmonitor=false",
    "-c",
    "commit.gpgSign=false",
    "-c",
    "tag.gpgSign=false",
    "-c",
    "core.sshCommand=false",
];

fn command(dir: &Path, args: &[&str]) -> Command {
    let mut c = crate::runner::programs::command("git");
    c.args(NO_REPO_COMMANDS).arg("-C").arg(dir).args(args);
    c.env("LC_ALL", "C").env("GIT_TERMINAL_PROMPT", "0");
    // Never an editor or a pager: paneherd answers for the user.
    c.env("GIT_EDITOR", "true").env("GIT_PAGER", "cat");
    c
}

/// Runs git in `dir`; its stdout, or an error quoting its stderr.
pub fn run(dir: &Path, args: &[&str]) -> Result<String, GitError> {
    run_env(dir, args, &[])
}

/// [`run`] with extra environment (e.g. a private `GIT_INDEX_FILE`).
pub fn run_env(dir: &Path, args: &[&str], env: &[(&str, &Path)]) -> Result<String, GitError> {
    let mut c = command(dir, args);
    for (k, v) in env {
        c.env(k, v);
    }
    let fail = |message: String| GitError {
        args: args.join(" "),
        dir: dir.display().to_string(),
        message,
    };
    let out = crate::runner::programs::output(&mut c).map_err(|e| fail(e.to_string()))?;
    if out.status.success() {
        return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
    }
    let err = String::from_utf8_lossy(&out.stderr).trim().to_string();
    let msg =
        if err.is_empty() { String::from_utf8_lossy(&out.stdout).trim().to_string() } else { err };
    Err(fail(if msg.is_empty() { format!("exit status {}", out.status) } else { msg }))
}

/// Whether a git command succeeds (a question asked by exit status).
pub fn ok(dir: &Path, args: &[&str]) -> bool {
    command(dir, args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Whether `repo` has a local branch `name`.
pub fn branch_exists(repo: &Path, name: &str) -> bool {
    ok(repo, &["rev-parse", "--verify", "--quiet", &format!("refs/heads/{name}")])
}

/// The first line of git's output, trimmed.
pub fn line(dir: &Path, args: &[&str]) -> Result<String, GitError> {
    Ok(run(dir, args)?.lines().next().unwrap_or("").trim().to_string())
}

/// Runs git in `repo` holding the repository's worktree lock (a file lock in its common git
/// dir, so that the daemon making worktrees and a client removing one take turns): git's
/// `worktree add` and `worktree list` read every worktree's entry, and fail on one another
/// process is writing ("failed to read …/commondir").
pub fn run_locked(repo: &Path, args: &[&str]) -> Result<String, GitError> {
    let fail = |message: String| GitError {
        args: "worktree lock".into(),
        dir: repo.display().to_string(),
        message,
    };
    let common = line(repo, &["rev-parse", "--path-format=absolute", "--git-common-dir"])?;
    let path = Path::new(&common).join("paneherd-worktrees.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| fail(format!("cannot open {}: {e}", path.display())))?;
    let _held = nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive)
        .map_err(|(_, e)| fail(format!("cannot lock {}: {e}", path.display())))?;
    run(repo, args)
}
