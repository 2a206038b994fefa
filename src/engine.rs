//! The engine decides; it does no I/O. A state machine over the tasks, the limit slots and the
//! tasks' processes: it takes `Input`s (a client's request, a process started or exited, output
//! seen, a record written, a timer fired, the config changed…) and returns `Effect`s (start
//! this, stop that, write this record, announce this event, answer that client, set a timer)
//! that the daemon's components carry out and report back on, as further inputs. Time comes in
//! with each input, so the tests drive it with a fake clock, without processes, tmux or sleeps.
//!
//! A task's life here: `Request::Submit` → `Effect::Write` (its creation) and, when a slot is
//! free, `Effect::Launch` (headless) or `Effect::Pane(PaneJob::Open)` → `Input::Started` → timers (stale,
//! TTL, idle) → `Input::Exited` (its output complete) → `Effect::Collect` → `Input::Collected`
//! (the result) → `Effect::Write` (durable) → `Input::Written` → `Effect::Announce`.

mod adoption;
mod dashboards;
mod delegators;
mod ending;
mod inbox;
mod messages;
mod reload;
mod remote;
mod requests;
mod running;
mod runs;
use runs::Run;
mod shutdown;
mod starting;
mod submit;
mod table;
#[cfg(test)]
mod tests;
mod writes;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use messages::{Answer, Effect, Hangup, Input, PaneJob, Reply, ReplyTo, Signal, TimerKind};

use crate::config::Config;
use crate::core::launch::Launch;
use crate::core::limits::Scheduler;
use crate::core::task::{Outcome, Task, TaskStatus, TmuxOrigin};
use crate::core::timefmt::Timestamp;
use table::Table;

/// Time between SIGTERM and SIGKILL when a task is stopped.
pub const KILL_GRACE: Duration = Duration::from_secs(3);
/// At most one output event per task per this interval (a little under a second, so that the
/// once-a-second reports of a busy pane, which come on the second, each make one).
pub const OUTPUT_EVENT_EVERY: Duration = Duration::from_millis(900);
/// How long a new pane's wrapper may take to start its agent.
pub const WRAPPER_START: Duration = Duration::from_secs(15);

/// What the engine needs to know of the world beyond its own state, behind a narrow trait:
/// fresh ids, and facts about the file system (is a directory there, is a program installed).
pub trait World: Send {
    /// A fresh task id that `taken` does not hold.
    fn task_id(&mut self, taken: &dyn Fn(&str) -> bool) -> String;
    /// A fresh session id, for agents that take one from paneherd (`{session_id}`).
    fn session_id(&mut self) -> String;
    /// A fresh secret that nobody can guess (a pane wrapper's token).
    fn secret(&mut self) -> String;
    fn is_dir(&self, path: &std::path::Path) -> bool;
    /// Whether a file is there (a task's log: made when its process is started).
    fn exists(&self, path: &std::path::Path) -> bool;
    /// Finds `program` as a process with `PATH` = `path` in `cwd` would, or says why not.
    fn find_program(
        &self,
        program: &str,
        path: Option<&str>,
        cwd: &std::path::Path,
    ) -> Result<PathBuf, crate::core::launch::LocateError>;
}

/// Fixed facts of the daemon the engine is part of.
#[derive(Debug, Clone)]
pub struct Setup {
    /// This binary (`{paneherd}` in argv templates; the pane wrapper).
    pub exe: PathBuf,
    /// Where task files and logs go.
    pub tasks_dir: PathBuf,
    /// The daemon's socket (pane wrappers report to it).
    pub socket: PathBuf,
    pub pid: u32,
    pub data_dir: PathBuf,
    pub started_at: Timestamp,
    /// The daemon's own `PATH`, for tasks submitted without an environment.
    pub path: Option<String>,
    /// The daemon's user's home (`~` in `[sandbox]` paths, when a task's environment has none).
    pub home: Option<PathBuf>,
    /// The daemon's user and group ids (a docker sandbox's container runs as them).
    pub user: (u32, u32),
    /// The most tasks that may run at once for the daemon's open-file limit (each holds a
    /// few descriptors: its log, its output pipe, its process), whatever the config allows:
    /// beyond it, tasks wait their turn rather than fail to start.
    pub max_tasks: Option<u32>,
    /// How tasks' processes are confined (applied to every launch the engine makes).
    pub confinement: std::sync::Arc<dyn crate::core::launch::Confinement>,
}

/// The config in force and what became of the last attempt to reload it.
struct Settings {
    config: Arc<Config>,
    /// The user's file, when there is one (else the embedded defaults are in force).
    file: Option<PathBuf>,
    /// `config::digest` of what is in force.
    digest: u64,
    /// Why the file's current content is not in force (the config before it still is).
    error: Option<String>,
}

/// Why paneherd stops a task, and so how it is recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KillReason {
    /// A user (or shutdown) cancelled it: the reason text is recorded.
    Cancel(String),
    /// No output for the stale timeout.
    Stale(String),
    /// Ran past its TTL.
    Ttl(String),
    /// Its environment failed (the tmux server went away): recorded as an error.
    Fail(String),
    /// The agent said it is done (`paneherd signal done`), or went idle: completed.
    Done,
}

impl KillReason {
    fn outcome(self, exit_code: Option<i32>) -> Outcome {
        match self {
            KillReason::Cancel(reason) | KillReason::Ttl(reason) => {
                Outcome::Cancelled { exit_code, reason }
            }
            KillReason::Stale(reason) => Outcome::Interrupted { exit_code, reason },
            KillReason::Fail(reason) => Outcome::Error { exit_code, reason },
            KillReason::Done => Outcome::Completed,
        }
    }
}

/// A record being written, and what to do once it is.
#[derive(Debug)]
enum AfterWrite {
    /// A new task: answer its submitter.
    Created { id: String, reply: ReplyTo },
    /// A task ended: apply and announce it; then have its result summarized (`summarize`, an
    /// excerpt of it), so that the summary always lands on the recorded end. `result` is kept
    /// to write again should the record not be written.
    Ended { task: Box<Task>, summarize: Option<String>, result: Option<String> },
    /// An ended task's record written again after it could not be (`Rewrite`).
    Rewritten { id: String },
}

/// The daemon's state. See the module's doc.
pub struct Engine {
    setup: Setup,
    world: Box<dyn World>,
    settings: Settings,
    table: Table,
    sched: Scheduler,
    /// Client environments of tasks not yet started (on disk only in their private secret
    /// file, while they wait).
    envs: HashMap<String, Vec<(String, String)>>,
    /// Tokens of the pane wrappers of a previous daemon's tasks, until they are adopted.
    tokens: HashMap<String, String>,
    /// The tasks whose process runs (or is being started, or ended and being recorded), and
    /// the pane wrappers that report for them.
    runs: runs::Runs,
    /// Tasks that never ran (cancelled while pending, or unable to start) whose end is being
    /// written: not to be ended twice meanwhile.
    ending: HashSet<String>,
    /// Delegators' sessions, and the results they are reading right now.
    delegators: delegators::Delegators,
    /// The dashboards open in tmux: their main panes and the layouts they switched to.
    dashboards: dashboards::Dashboards,
    /// How desktop notifications go, as the notifier last said.
    notifier: String,
    /// The records being written, and ended ones that could not be.
    writes: writes::Writes,
    shutting_down: bool,
    /// Tasks of the history still being settled (a pane task being checked for adoption, a
    /// lost one being recorded): clients are answered once there are none.
    startup: HashSet<String>,
    /// How each host's link is, as it last said.
    hosts: BTreeMap<String, crate::core::hosts::LinkState>,
    /// Ids of task files that could not be read (never reused) and why.
    reserved: HashSet<String>,
    problems: Vec<String>,
}

/// The cap on tasks running at once: the config's, within the daemon's own.
fn cap(configured: Option<u32>, daemon: Option<u32>) -> Option<u32> {
    match (configured.filter(|&m| m > 0), daemon) {
        (Some(c), Some(d)) => Some(c.min(d)),
        (c, d) => c.or(d),
    }
}

fn invalid(msg: impl Into<String>) -> crate::proto::ErrorBody {
    crate::proto::ErrorBody::new(crate::proto::ErrorKind::Invalid, msg)
}

impl Engine {
    /// The engine over a loaded history. Returns the effects of taking it over: tasks that ran
    /// under a daemon that died are checked (a pane task may still run in its pane and be
    /// adopted) or recorded as lost; queued ones start when slots are free.
    pub fn new(
        setup: Setup,
        world: Box<dyn World>,
        loaded: crate::config::Loaded,
        history: crate::core::records::Loaded,
        now: Timestamp,
    ) -> (Engine, Vec<Effect>) {
        let crate::config::Loaded { config, user_file, digest } = loaded;
        let max_tasks = setup.max_tasks;
        let mut e = Engine {
            setup,
            world,
            sched: Scheduler::new(cap(config.concurrency.max_running, max_tasks)),
            settings: Settings { config: Arc::new(config), file: user_file, digest, error: None },
            table: Table::default(),
            envs: HashMap::new(),
            tokens: HashMap::new(),
            runs: runs::Runs::default(),
            ending: HashSet::new(),
            delegators: delegators::Delegators::default(),
            dashboards: dashboards::Dashboards::default(),
            notifier: String::new(),
            writes: writes::Writes::default(),
            shutting_down: false,
            startup: HashSet::new(),
            hosts: BTreeMap::new(),
            reserved: history.reserved_ids.into_iter().collect(),
            problems: history.problems.iter().map(|p| p.to_string()).collect(),
        };
        let mut fx = vec![];
        let limits = e.settings.config.limits();
        let mut secrets = history.secrets;
        for mut task in history.tasks {
            let secret = secrets.remove(&task.id).unwrap_or_default();
            match task.status {
                TaskStatus::Running if task.host.is_some() => {
                    let host = task.host.clone().unwrap_or_default();
                    fx.extend(e.watch_remote(&task, &host, now));
                }
                TaskStatus::Running => {
                    e.startup.insert(task.id.clone());
                    if let Some(token) = secret.pane_token {
                        e.tokens.insert(task.id.clone(), token);
                    }
                    // Still in its pane, perhaps, or ended there meanwhile: the pane manager
                    // looks. Else lost.
                    match (&task.tmux, &task.pane_id, task.pid) {
                        (Some(origin), Some(pane), Some(pid)) => {
                            fx.push(Effect::Pane(PaneJob::CheckAdoption {
                                id: task.id.clone(),
                                origin: origin.clone(),
                                pane: pane.clone(),
                                pid,
                            }))
                        }
                        _ => fx.extend(e.lose(&task, now)),
                    }
                }
                // Its submitter's environment is gone (the secrets journal removed or torn): not
                // run in the daemon's instead.
                TaskStatus::Pending if task.env_kept && secret.env.is_none() => {
                    let id = task.id.clone();
                    e.table.put(task);
                    let reason = format!(
                        "its submitter's environment was not found after the restart (in the \
                         data dir's tasks/secrets.jsonl), and it is never run in the daemon's \
                         instead: `paneherd retry {id}` runs it again in yours"
                    );
                    fx.extend(e.end_unstarted(
                        &id,
                        Outcome::Error { exit_code: None, reason },
                        now,
                    ));
                    continue;
                }
                // Started by the last daemon, which stopped before it had recorded the start
                // (a crash within moments of it): its log was made, so it ran and may still run.
                // Never run a second time: recorded as lost, with what it printed, and whatever
                // of it still runs is stopped (found by its environment).
                TaskStatus::Pending if e.world.exists(&task.log_path) => {
                    e.startup.insert(task.id.clone());
                    fx.extend(e.lose_launched(&task));
                }
                TaskStatus::Pending => {
                    let group = limits.group_for(task.model.as_deref());
                    if task.limit_group != group.key {
                        task.limit_group = group.key.clone();
                        fx.push(e.write(
                            &task,
                            None,
                            crate::core::records::Durability::Written,
                            None,
                        ));
                    }
                    e.sched.enqueue(&task.id, &group);
                    // It runs in the environment of the client that submitted it.
                    if let Some(env) = secret.env {
                        e.envs.insert(task.id.clone(), env);
                    }
                }
                _ => {}
            }
            e.table.put(task);
        }
        fx.extend(e.dispatch(now));
        (e, fx)
    }

    /// Whether the history is settled (every task that ran when the last daemon stopped is
    /// adopted or recorded as lost): only then are clients answered.
    pub fn ready(&self) -> bool {
        self.startup.is_empty()
    }

    /// The config in force.
    pub fn config(&self) -> &Arc<Config> {
        &self.settings.config
    }

    /// Tasks whose process runs or is being started or recorded (the daemon waits for these
    /// at shutdown).
    pub fn busy(&self) -> usize {
        self.runs.len() - self.runs.remote() + self.ending.len()
    }

    /// Takes one input; returns what to do about it.
    pub fn handle(&mut self, input: Input, now: Timestamp) -> Vec<Effect> {
        match input {
            Input::Request { request, reply, conn } => self.request(request, reply, conn, now),
            Input::Closed { conn } => {
                self.delegators.closed(conn);
                self.closed(conn, now)
            }
            Input::Reading { id, conn, on } => self.reading(id, conn, on),
            Input::Started { id, pid } => self.started(&id, pid, now),
            Input::StartFailed { id, reason } => self.start_failed(&id, reason, now),
            Input::PaneOpened { id, pane } => self.pane_opened(&id, pane, now),
            Input::Output { id, bytes } => self.output(&id, bytes, now),
            Input::Exited { id, exit, log_error } => self.exited(&id, exit, log_error, now),
            Input::Hangup { id, hangup } => self.hangup(&id, hangup, now),
            Input::Adopted { id, visible, exit } => self.adopted(&id, visible, exit, now),
            Input::Collected { id, result, answer } => self.collected(&id, result, answer, now),
            Input::Written { token, error } => self.written(token, error, now),
            Input::Timer { id, kind } => self.timer(&id, kind, now),
            Input::Summarized { id, summary } => self.summarized(&id, summary),
            Input::WorktreeReady { id, result } => self.worktree_ready(&id, result, now),
            Input::Host(report) => self.host_report(report, now),
            Input::HostLink { host, state } => self.host_link(host, state),
            Input::SessionFound { id, output } => self.session_found(&id, &output),
            Input::ConfigLoaded(loaded) => self.config_loaded(loaded, now),
            Input::PanesChanged => vec![Effect::Announce(crate::proto::Event::PanesChanged)],
            Input::NotifierStatus(s) => {
                self.notifier = s;
                vec![]
            }
            Input::Answered { reply, answer } => vec![Effect::Reply { to: reply, answer }],
            Input::Shutdown => self.shutdown(now),
        }
    }
}
