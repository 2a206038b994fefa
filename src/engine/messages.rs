//! What goes into the engine (`Input`) and what comes out (`Effect`): plain data, so that the
//! engine's tests can feed the one and compare the other.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::config::tmux::TmuxSettings;
use crate::core::launch::{Exit, Launch};
use crate::core::records::{Durability, SecretOp};
use crate::core::task::{ExitRecord, Task, TmuxOrigin};
use crate::core::timefmt::Timestamp;
use crate::proto::{
    ErrorBody, Event, InboxData, NotifyTestData, OutputData, PaneLaunch, Request, StatusData,
    WaitData,
};

/// Which client request an answer is for (the daemon maps it to the connection).
pub type ReplyTo = u64;

/// The answer to a request.
pub type Reply = Result<Answer, ErrorBody>;

/// The data of an answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    Unit,
    Task(Box<Task>),
    MaybeTask(Option<Box<Task>>),
    Tasks(Vec<Task>),
    /// The tasks a cancel asked to stop: `daemon::requests` waits for their ends and answers
    /// with them (`Tasks`).
    Stopping(Vec<String>),
    /// The tasks of a `list`, newest first, shared with the engine's table (not copied);
    /// `whole`: every task (an unfiltered listing).
    List {
        tasks: Vec<Arc<Task>>,
        whole: bool,
    },
    Status(Box<StatusData>),
    PaneLaunch(Box<PaneLaunch>),
    /// A task's output (`output`).
    Output(Box<OutputData>),
    /// The tasks waited for, as they are now (`wait`).
    Waited(WaitData),
    /// The ends not yet told to a delegating agent (`inbox`).
    Inbox(InboxData),
    /// How many (of the ends a resumed session took over).
    Count(usize),
    /// The hosts (`hosts`).
    Hosts(Vec<crate::proto::HostInfo>),
    /// A tmux pane, or none (`host_tmux`).
    Origin(Option<TmuxOrigin>),
    /// What a test notification found (`notify test`).
    NotifyTest(Box<NotifyTestData>),
}

/// Why a pane task's agent lost its terminal (a hang-up), as the pane manager found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hangup {
    /// The pane is still there: an ordinary signal 1.
    PaneThere,
    /// The pane was closed (by hand): cancelled.
    PaneClosed,
    /// The whole tmux server went away: an error.
    ServerGone,
}

/// The engine's timers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TimerKind {
    /// No output for the stale timeout → interrupted.
    Stale,
    /// Running past the TTL → cancelled.
    Ttl,
    /// No output for `idle_secs` after some output → done (completed).
    Idle,
    /// SIGTERM sent this long ago: SIGKILL.
    HardKill,
    /// A pane's wrapper had this long to start its agent.
    WrapperStart,
    /// An output event is due (output came within `OUTPUT_EVENT_EVERY` of the last event).
    OutputEvent,
    /// A record that could not be written (a full disk) is tried again.
    Rewrite,
}

/// A signal for a task's process group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Term,
    Kill,
}

/// Everything that can happen to the engine.
#[derive(Debug, Clone)]
pub enum Input {
    /// A client's request, on connection `conn`; the answer is for `reply`.
    Request {
        request: Request,
        reply: ReplyTo,
        conn: u64,
    },
    /// Connection `conn` closed.
    Closed {
        conn: u64,
    },
    /// A task's process started (headless), or its pane's wrapper started it.
    Started {
        id: String,
        pid: u32,
    },
    /// A task's process could not be started.
    StartFailed {
        id: String,
        reason: String,
    },
    /// The pane manager opened a task's pane (its wrapper will fetch what to run).
    PaneOpened {
        id: String,
        pane: String,
    },
    /// Connection `conn` starts (`on`) or stops reading task `id`'s result for its delegator.
    Reading {
        id: String,
        conn: u64,
        on: bool,
    },
    /// A task wrote `bytes` of output.
    Output {
        id: String,
        bytes: u64,
    },
    /// A task's process exited, and all its output is in its log — or, `log_error`, what
    /// could not be written there and why (a full disk).
    Exited {
        id: String,
        exit: Exit,
        log_error: Option<String>,
    },
    /// Why a pane task's agent hung up (asked with `PaneJob::Hangup`).
    Hangup {
        id: String,
        hangup: Hangup,
    },
    /// A pane task of a previous daemon still has its pane, with its wrapper in it (shown or
    /// not), or, `None`, it has not; `exit`: its agent ended meanwhile, as its wrapper wrote
    /// down.
    Adopted {
        id: String,
        visible: Option<bool>,
        exit: Option<ExitRecord>,
    },
    /// A task's result, read from its log (or why it could not be read).
    Collected {
        id: String,
        result: Result<String, crate::core::records::Failure>,
        /// What the agent wrote as its answer (`{answer_file}`), when it did.
        answer: Option<String>,
    },
    /// A record asked with `Effect::Write` is written (or could not be).
    Written {
        token: u64,
        error: Option<crate::core::records::Failure>,
    },
    Timer {
        id: String,
        kind: TimerKind,
    },
    /// The summarizer's one line for a task (`None`: it failed).
    Summarized {
        id: String,
        summary: Option<String>,
    },
    /// A task's worktree was made (or found again), or why not.
    WorktreeReady {
        id: String,
        result: Result<crate::core::worktrees::Prepared, crate::core::records::Failure>,
    },
    /// The output of a task's agent's `session_command`.
    SessionFound {
        id: String,
        output: String,
    },
    /// A host's link reports on a task that runs there.
    Host(crate::core::hosts::HostReport),
    /// How a host's link is now.
    HostLink {
        host: String,
        state: crate::core::hosts::LinkState,
    },
    /// The config file changed: its new content, or why it cannot be used.
    ConfigLoaded(Result<Box<crate::config::Loaded>, Box<crate::config::ConfigError>>),
    /// Agent panes were opened, closed, or moved into or out of view.
    PanesChanged,
    /// How desktop notifications go.
    NotifierStatus(String),
    /// A component's answer to a request passed on to it.
    Answered {
        reply: ReplyTo,
        answer: Reply,
    },
    /// Stop: cancel what runs, keep what waits, then `Effect::Stopped`.
    Shutdown,
}

/// What the engine asks the daemon's components to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Answer a client.
    Reply { to: ReplyTo, answer: Reply },
    /// Tell every subscriber.
    Announce(Event),
    /// Write a task's record (and its secret file, as `secret` says); report
    /// `Input::Written { token }`.
    Write {
        token: u64,
        task: Box<Task>,
        result: Option<String>,
        durability: Durability,
        secret: SecretOp,
    },
    /// Start a task's process headless; report `Started` (or `StartFailed`), then output and
    /// `Exited`.
    Launch { launch: Box<Launch> },
    /// Ask the pane manager.
    Pane(PaneJob),
    /// Ask a host's link (tasks that run on another host); it reports `Input::Host`.
    Host(crate::core::hosts::HostJob),
    /// Signal a task's process group.
    Signal { pid: u32, signal: Signal },
    /// Stop a process a previous daemon left running, if it still runs task `id`; with no pid,
    /// every process that runs it (its environment names it) and its pane wrapper.
    StopOrphan { id: String, pid: Option<u32> },
    /// Read a task's result from its log, and the answer it wrote (`{answer_file}`) in the run
    /// that started at `since`: report `Collected`.
    Collect { id: String, log: PathBuf, since: Option<Timestamp> },
    /// Fire `Input::Timer` at `at`.
    Timer { id: String, kind: TimerKind, at: Timestamp },
    /// Make (or find again) a task's git worktree: report `WorktreeReady`.
    PrepareWorktree { prepare: Box<crate::core::worktrees::Prepare> },
    /// Run the summarizer (argv) for a task: report `Summarized`.
    Summarize { id: String, argv: Vec<String>, cwd: PathBuf, env: Vec<(String, String)> },
    /// Run an agent's `session_command` for a task: report `SessionFound`.
    LearnSession { id: String, argv: Vec<String>, cwd: PathBuf, env: Vec<(String, String)> },
    /// Send a sample desktop notification: answer `reply`.
    NotifyTest { reply: ReplyTo, tmux: Option<TmuxOrigin> },
    /// Nothing runs any more after a shutdown: the daemon may exit.
    Stopped,
}

/// What the engine asks of the pane manager (`Effect::Pane`); each reports back as it says.
#[derive(Debug, Clone, PartialEq)]
pub enum PaneJob {
    /// Open a pane for a task beside `origin` running its wrapper, which attaches with `token`;
    /// report `PaneOpened` (or `StartFailed`). The wrapper then reports `Started`, output and
    /// `Exited`.
    Open {
        id: String,
        origin: TmuxOrigin,
        cwd: PathBuf,
        title: String,
        token: String,
        tmux: TmuxSettings,
    },
    /// Show on an ended task's pane border how it ended; close the pane after `close_after`
    /// (never, for `None`), and bring a waiting agent into view.
    /// `pane`: where the task's pane is (its tmux server and pane id), closed by that even if
    /// the pane manager lost track of it.
    Ended {
        id: String,
        status: String,
        took: String,
        tmux: TmuxSettings,
        pane: Option<(PathBuf, String)>,
    },
    /// Close these tasks' panes now; answer `reply` (if any) once they are closed.
    Close { ids: Vec<String>, tmux: TmuxSettings, reply: Option<ReplyTo> },
    /// Bring a task's pane into view and select it; answer `reply` (with the task).
    Focus { task: Box<Task>, reply: ReplyTo, tmux: TmuxSettings },
    /// Type `text` into the task's pane (its terminal's input), then Enter.
    Input { origin: TmuxOrigin, pane: String, text: String, reply: ReplyTo },
    /// Re-plan the panes of `window` (resized), or of every window (`None`: the layout changed).
    Relayout { window: Option<(PathBuf, String)>, tmux: TmuxSettings },
    /// Lay the agents beside main pane `origin` out with this geometry from now on (`None`:
    /// with the configured one again).
    WindowLayout { origin: TmuxOrigin, geometry: Option<crate::config::tmux::Geometry> },
    /// Find out why a pane task's agent hung up: report `Hangup`.
    Hangup { id: String, origin: TmuxOrigin, pane: String },
    /// See whether a pane task of a previous daemon still runs in its pane: report `Adopted`.
    CheckAdoption { id: String, origin: TmuxOrigin, pane: String, pid: u32 },
    /// Take a still-running pane task back into the placement of agent panes.
    Adopt { id: String, origin: TmuxOrigin, pane: String, visible: bool },
    /// Forget a task's pane (it closed by itself).
    Forget { id: String, tmux: TmuxSettings },
    /// Answer `reply` with this status, completed with the agent panes per main pane (of
    /// `main` alone, when a dashboard asks about its own window).
    Status { reply: ReplyTo, status: Box<StatusData>, main: Option<TmuxOrigin> },
}

impl Effect {
    /// A timer `after` from `now`.
    pub fn timer(id: &str, kind: TimerKind, now: Timestamp, after: Duration) -> Effect {
        let after = chrono::Duration::from_std(after).unwrap_or(chrono::Duration::MAX);
        Effect::Timer { id: id.to_string(), kind, at: now + after }
    }
}
