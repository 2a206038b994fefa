//! The task record, what a client asks for (`TaskSpec`), and the lifecycle state machine.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::timefmt::{self, Timestamp};

/// Where a task is in its life. Serialized lower-case: `pending running completed error
/// cancelled interrupted`, the `status` of the task object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskStatus {
    Pending,
    Running,
    Completed,
    Error,
    Cancelled,
    Interrupted,
}

impl TaskStatus {
    pub const ALL: [TaskStatus; 6] = [
        TaskStatus::Pending,
        TaskStatus::Running,
        TaskStatus::Completed,
        TaskStatus::Error,
        TaskStatus::Cancelled,
        TaskStatus::Interrupted,
    ];

    /// True once the task can never change again.
    pub fn is_terminal(self) -> bool {
        !matches!(self, TaskStatus::Pending | TaskStatus::Running)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Pending => "pending",
            TaskStatus::Running => "running",
            TaskStatus::Completed => "completed",
            TaskStatus::Error => "error",
            TaskStatus::Cancelled => "cancelled",
            TaskStatus::Interrupted => "interrupted",
        }
    }

    /// A one-character mark for tables and notifications.
    pub fn symbol(self) -> &'static str {
        match self {
            TaskStatus::Pending => "…",
            TaskStatus::Running => "▶",
            TaskStatus::Completed => "✓",
            TaskStatus::Error => "✗",
            TaskStatus::Cancelled => "⊘",
            TaskStatus::Interrupted => "⏸",
        }
    }
}

impl fmt::Display for TaskStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for TaskStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TaskStatus::ALL.into_iter().find(|t| t.as_str() == s).ok_or_else(|| {
            format!(
                "unknown status {s:?} (one of: pending running completed error cancelled interrupted)"
            )
        })
    }
}

/// What a client asks to run. The daemon resolves agent, model and limits from the config.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TaskSpec {
    pub prompt: String,
    pub agent: Option<String>,
    pub category: Option<String>,
    pub model: Option<String>,
    pub title: Option<String>,
    pub skills: Vec<String>,
    /// Working directory asked for explicitly (`--cwd`); wins over the agent's `cwd`.
    pub cwd: Option<PathBuf>,
    /// The submitting client's directory: the task's when neither `cwd` nor the agent's is set.
    pub client_cwd: Option<PathBuf>,
    /// The submitting client's environment; the base environment of the task's process.
    /// Never in the task's record: kept in memory, and on disk only while the task waits to
    /// start, in its private `.secret` file (`TaskSecret`).
    pub env: Option<BTreeMap<String, String>>,
    /// The task this one retries or continues, if any.
    pub parent: Option<String>,
    /// The tmux pane the submitter runs in: the task gets a pane beside it.
    pub tmux: Option<TmuxOrigin>,
    /// Resume this agent session (through the agent's `continue_command`).
    pub resume: Option<String>,
    /// The agent session that delegates the task (found by the client: `crate::delegator`).
    pub delegator: Option<Delegator>,
    /// Run it in a git worktree of its own (`run --worktree`, MCP `isolation: "worktree"`).
    pub worktree: Option<WorktreeRequest>,
    /// Run it on this host of `[hosts]` (over SSH) rather than on this machine.
    pub host: Option<String>,
    /// The id to give the task (a daemon that runs it for another, which named it): refused
    /// when taken or not an id.
    pub id: Option<String>,
    /// Its sandbox (`bwrap`, or `none`), over the category's or agent's.
    pub sandbox: Option<String>,
}

/// What a task needs that must not be in its record (which `list` shows), kept in a private
/// file beside it while needed: the submitter's environment until the task starts, the token
/// of its pane's wrapper while it runs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TaskSecret {
    pub env: Option<Vec<(String, String)>>,
    pub pane_token: Option<String>,
}

/// How a pane task's agent ended, as its wrapper wrote it down before telling the daemon: a
/// daemon that was away when it ended learns it from this.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ExitRecord {
    pub code: Option<i32>,
    pub signal: Option<i32>,
    /// What of the output could not be written to the log, and why (a full disk), if any.
    pub log_error: Option<String>,
    /// When the agent ended.
    #[serde(with = "timefmt::ts_opt")]
    pub at: Option<Timestamp>,
}

/// A task's own git worktree, as asked for when it was submitted; made when it starts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WorktreeRequest {
    /// What to branch from (a commit the client resolved, or a ref); none: `HEAD` at the start.
    pub base: Option<String>,
    /// The branch's name (default: the task's id, after the config's `branch_prefix`); with
    /// `attach`, an existing branch to check out instead.
    pub branch: Option<String>,
    pub attach: bool,
    /// An earlier task's worktree to run in again (retry, continue).
    pub reuse: Option<PathBuf>,
}

/// The agent session that delegated a task: its process (`claude@PID.START`), which agent it
/// is, and its session id once a hook has told it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Delegator {
    pub id: String,
    pub agent: String,
    #[serde(default)]
    pub session: Option<String>,
}

/// A pane of a tmux server (the submitter's, or a dashboard's).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TmuxOrigin {
    /// The server's socket (from `$TMUX`).
    pub socket: PathBuf,
    /// The pane id (`$TMUX_PANE`, like `%3`).
    pub pane: String,
}

/// One task as clients see it and the store keeps it: the task object of `list --json`,
/// `output --json` and the task file (field names are an interface: scripts rely on them).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Task {
    pub id: String,
    pub title: String,
    pub status: TaskStatus,
    pub reason: Option<String>,
    pub agent: String,
    pub category: Option<String>,
    pub model: Option<String>,
    pub prompt: String,
    #[serde(default)]
    pub skills: Vec<String>,
    pub cwd: PathBuf,
    #[serde(with = "timefmt::ts")]
    pub created_at: Timestamp,
    #[serde(with = "timefmt::ts_opt", default)]
    pub started_at: Option<Timestamp>,
    #[serde(with = "timefmt::ts_opt", default)]
    pub finished_at: Option<Timestamp>,
    pub exit_code: Option<i32>,
    pub summary: Option<String>,
    pub pane_id: Option<String>,
    pub log_path: PathBuf,
    /// Process id of the agent while it runs (the leader of its process group).
    #[serde(default)]
    pub pid: Option<u32>,
    /// The question an agent is waiting on, while it waits.
    #[serde(default)]
    pub needs_input: Option<String>,
    /// Time of the last output seen, while running.
    #[serde(with = "timefmt::ts_opt", default)]
    pub last_output_at: Option<Timestamp>,
    /// The task this one retries or continues.
    #[serde(default)]
    pub parent: Option<String>,
    /// The limit group the task counts against (`model:…`, `provider:…` or `default`).
    #[serde(default)]
    pub limit_group: String,
    /// The tmux server and the pane beside which the task runs in a pane of its own.
    #[serde(default)]
    pub tmux: Option<TmuxOrigin>,
    /// The agent's own session id (from `session_pattern` or `paneherd signal session`).
    #[serde(default)]
    pub session: Option<String>,
    /// The session this task resumes (a `continue` through the agent's `continue_command`).
    #[serde(default)]
    pub resume: Option<String>,
    /// The agent session that delegated the task, when an agent did.
    #[serde(default)]
    pub delegator: Option<Delegator>,
    /// The task's end has reached its delegator (a hook's notice, the inbox, or an MCP tool
    /// that returned the result): it is not told again.
    #[serde(default)]
    pub delivered: bool,
    /// The worktree asked for (kept for `retry` and `continue`).
    #[serde(default)]
    pub worktree_request: Option<WorktreeRequest>,
    /// Its git worktree once made, the branch checked out there, the base commit, and the
    /// repository's main worktree (where `merge` goes).
    #[serde(default)]
    pub worktree: Option<PathBuf>,
    #[serde(default)]
    pub branch: Option<String>,
    #[serde(default)]
    pub base: Option<String>,
    #[serde(default)]
    pub repo: Option<PathBuf>,
    /// What befell the worktree: its set-up failed, it was merged or discarded.
    #[serde(default)]
    pub worktree_note: Option<String>,
    /// The submitter sent its environment, kept (never in this record) in the private secrets
    /// journal until the task starts: a task that finds it gone after a restart is not run in
    /// the daemon's instead.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub env_kept: bool,
    /// The host of `[hosts]` it runs on (null: this machine). Its record there is the
    /// original; this one mirrors it.
    #[serde(default)]
    pub host: Option<String>,
    /// The sandbox its agent runs in (`bwrap`; null: none).
    #[serde(default)]
    pub sandbox: Option<String>,
}

/// How a running (or pending) task ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The process exited 0.
    Completed,
    /// Non-zero exit, a signal, or a failure to start.
    Error { exit_code: Option<i32>, reason: String },
    /// Stopped by a user, by its TTL, or by paneherd shutting down.
    Cancelled { exit_code: Option<i32>, reason: String },
    /// Stopped because it stalled (no output for the stale timeout).
    Interrupted { exit_code: Option<i32>, reason: String },
}

impl Outcome {
    pub fn status(&self) -> TaskStatus {
        match self {
            Outcome::Completed => TaskStatus::Completed,
            Outcome::Error { .. } => TaskStatus::Error,
            Outcome::Cancelled { .. } => TaskStatus::Cancelled,
            Outcome::Interrupted { .. } => TaskStatus::Interrupted,
        }
    }
}

/// A transition the state machine refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("task {id}: cannot {action} a {from} task")]
pub struct TransitionError {
    pub id: String,
    pub from: TaskStatus,
    pub action: &'static str,
}

/// The answer file that goes with a log (`Task::answer_path`).
pub fn answer_path(log: &std::path::Path) -> PathBuf {
    log.with_extension("answer")
}

impl Task {
    /// How it ended, in words: `error (exit code 3)`, `completed`, and `cancelled by user`
    /// (a reason that says the status already is not preceded by it again).
    pub fn how_it_ended(&self) -> String {
        let status = self.status.to_string();
        match &self.reason {
            Some(r) if r.starts_with(&status) => r.clone(),
            Some(r) => format!("{status} ({r})"),
            None => status,
        }
    }

    /// Where its agent writes its final answer when the agent's command names
    /// `{answer_file}` (Codex's `--output-last-message`): beside the log, as private as it.
    pub fn answer_path(&self) -> PathBuf {
        answer_path(&self.log_path)
    }
    /// A new pending task: everything else starts empty.
    pub fn pending(
        id: &str,
        agent: &str,
        prompt: &str,
        cwd: PathBuf,
        log_path: PathBuf,
        created_at: Timestamp,
    ) -> Task {
        Task {
            id: id.to_string(),
            title: super::text::title(None, prompt),
            status: TaskStatus::Pending,
            reason: None,
            agent: agent.to_string(),
            category: None,
            model: None,
            prompt: prompt.to_string(),
            skills: vec![],
            cwd,
            created_at,
            started_at: None,
            finished_at: None,
            exit_code: None,
            summary: None,
            pane_id: None,
            log_path,
            pid: None,
            needs_input: None,
            last_output_at: None,
            parent: None,
            limit_group: "default".into(),
            tmux: None,
            session: None,
            resume: None,
            delegator: None,
            delivered: false,
            worktree_request: None,
            worktree: None,
            branch: None,
            base: None,
            repo: None,
            worktree_note: None,
            host: None,
            sandbox: None,
            env_kept: false,
        }
    }

    fn refuse(&self, action: &'static str) -> TransitionError {
        TransitionError { id: self.id.clone(), from: self.status, action }
    }

    /// pending → running.
    pub fn start(&mut self, pid: u32, now: Timestamp) -> Result<(), TransitionError> {
        if self.status != TaskStatus::Pending {
            return Err(self.refuse("start"));
        }
        self.status = TaskStatus::Running;
        self.started_at = Some(now);
        self.pid = Some(pid);
        self.reason = None;
        Ok(())
    }

    /// pending → running on another host, which said so (no pid here: its process is there).
    pub fn start_elsewhere(&mut self, at: Timestamp) -> Result<(), TransitionError> {
        if self.status != TaskStatus::Pending {
            return Err(self.refuse("start"));
        }
        self.status = TaskStatus::Running;
        self.started_at = Some(at);
        self.pid = None;
        self.reason = None;
        Ok(())
    }

    /// What the host that runs this task says of it in its own record, copied into this
    /// mirror: never its pid, pane or log (they are the host's).
    pub fn mirror(&mut self, there: &Task) {
        self.needs_input = there.needs_input.clone();
        self.last_output_at = there.last_output_at.or(self.last_output_at);
        self.session = there.session.clone().or(self.session.take());
        self.cwd = there.cwd.clone();
        self.worktree = there.worktree.clone();
        self.branch = there.branch.clone();
        self.base = there.base.clone();
        self.repo = there.repo.clone();
        self.worktree_note = there.worktree_note.clone();
    }

    /// running → completed | error | cancelled | interrupted; pending → cancelled | error
    /// (cancelled before it started, or it could not be started).
    pub fn finish(&mut self, outcome: Outcome, now: Timestamp) -> Result<(), TransitionError> {
        match (self.status, &outcome) {
            (TaskStatus::Running, _) => {}
            (TaskStatus::Pending, Outcome::Cancelled { .. } | Outcome::Error { .. }) => {}
            _ => return Err(self.refuse(outcome_verb(&outcome))),
        }
        let status = outcome.status();
        let (exit_code, reason) = match outcome {
            Outcome::Completed => (Some(0), None),
            Outcome::Error { exit_code, reason }
            | Outcome::Cancelled { exit_code, reason }
            | Outcome::Interrupted { exit_code, reason } => (exit_code, Some(reason)),
        };
        self.status = status;
        self.exit_code = exit_code;
        self.reason = reason;
        self.finished_at = Some(now);
        self.needs_input = None;
        Ok(())
    }

    /// Milliseconds the task has run (so far, or in all).
    pub fn run_ms(&self, now: Timestamp) -> Option<i64> {
        let start = self.started_at?;
        let end = self.finished_at.unwrap_or(now);
        Some((end - start).num_milliseconds())
    }
}

fn outcome_verb(o: &Outcome) -> &'static str {
    match o {
        Outcome::Completed => "complete",
        Outcome::Error { .. } => "fail",
        Outcome::Cancelled { .. } => "cancel",
        Outcome::Interrupted { .. } => "interrupt",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(status: TaskStatus) -> Task {
        let mut t = Task::pending(
            "bold-otter",
            "shell",
            "true",
            "/".into(),
            "/tmp/x.log".into(),
            timefmt::now(),
        );
        t.title = "t".into();
        t.status = status;
        t
    }

    fn err(reason: &str) -> Outcome {
        Outcome::Error { exit_code: Some(3), reason: reason.into() }
    }
    fn cancel() -> Outcome {
        Outcome::Cancelled { exit_code: None, reason: "cancelled by user".into() }
    }
    fn interrupt() -> Outcome {
        Outcome::Interrupted { exit_code: None, reason: "no output for 180 s".into() }
    }

    #[test]
    fn happy_path_pending_running_completed() {
        let mut t = task(TaskStatus::Pending);
        let now = timefmt::now();
        t.start(42, now).unwrap();
        assert_eq!((t.status, t.pid, t.started_at), (TaskStatus::Running, Some(42), Some(now)));
        t.finish(Outcome::Completed, now).unwrap();
        assert_eq!(t.status, TaskStatus::Completed);
        assert_eq!(t.exit_code, Some(0));
        assert_eq!(t.reason, None);
        assert_eq!(t.finished_at, Some(now));
    }

    #[test]
    fn every_transition_from_every_state() {
        // (from, action, allowed, resulting status)
        use TaskStatus::*;
        let table: Vec<(TaskStatus, &str, Option<TaskStatus>)> = vec![
            (Pending, "start", Some(Running)),
            (Pending, "complete", None),
            (Pending, "fail", Some(Error)),
            (Pending, "cancel", Some(Cancelled)),
            (Pending, "interrupt", None),
            (Running, "start", None),
            (Running, "complete", Some(Completed)),
            (Running, "fail", Some(Error)),
            (Running, "cancel", Some(Cancelled)),
            (Running, "interrupt", Some(Interrupted)),
        ];
        let mut rows = table;
        for from in [Completed, Error, Cancelled, Interrupted] {
            for action in ["start", "complete", "fail", "cancel", "interrupt"] {
                rows.push((from, action, None));
            }
        }
        for (from, action, want) in rows {
            let mut t = task(from);
            let before = t.clone();
            let now = timefmt::now();
            let r = match action {
                "start" => t.start(1, now),
                "complete" => t.finish(Outcome::Completed, now),
                "fail" => t.finish(err("exit code 3"), now),
                "cancel" => t.finish(cancel(), now),
                _ => t.finish(interrupt(), now),
            };
            match want {
                Some(s) => {
                    assert!(r.is_ok(), "{from} --{action}--> should be allowed");
                    assert_eq!(t.status, s, "{from} --{action}-->");
                }
                None => {
                    let e = r.expect_err("should be refused");
                    assert_eq!(e.from, from);
                    assert_eq!(t, before, "a refused transition changes nothing");
                }
            }
        }
    }

    #[test]
    fn reason_and_exit_code_recorded() {
        let mut t = task(TaskStatus::Running);
        t.needs_input = Some("Allow?".into());
        t.finish(err("exit code 3"), timefmt::now()).unwrap();
        assert_eq!(t.exit_code, Some(3));
        assert_eq!(t.reason.as_deref(), Some("exit code 3"));
        assert_eq!(t.needs_input, None, "a finished task waits on nobody");
    }

    #[test]
    fn status_names_round_trip() {
        for s in TaskStatus::ALL {
            assert_eq!(s.as_str().parse::<TaskStatus>().unwrap(), s);
            assert_eq!(serde_json::to_string(&s).unwrap(), format!("\"{s}\""));
        }
        assert!("interrupt".parse::<TaskStatus>().is_err());
    }
}
