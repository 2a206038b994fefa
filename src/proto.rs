//! Wire types of the daemon's socket: newline-delimited JSON, one object per line.
//!
//! A client opens with `{"hello":{"protocol":1,"client":"cli"}}`; the daemon answers
//! `{"welcome":{...}}` (or an error and closes, on a version mismatch). Then each request is
//! `{"req":N,"type":"submit",...}` and gets exactly one reply `{"re":N,"ok":true,"data":…}` or
//! `{"re":N,"ok":false,"error":{"kind":…,"message":…}}`. After `subscribe`, the daemon also
//! sends `{"event":{"kind":"task_changed",…}}` lines.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::core::limits::GroupUsage;
use crate::core::task::{Task, TaskSpec, TaskStatus};
use crate::core::timefmt::{self, Timestamp};

pub const PROTOCOL_VERSION: u32 = 1;
/// Longest line the daemon accepts; longer ones get an error and the connection is closed.
pub const MAX_LINE: usize = 4 * 1024 * 1024;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Hello {
    pub protocol: u32,
    pub client: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HelloLine {
    pub hello: Hello,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Welcome {
    pub protocol: u32,
    pub version: String,
    pub pid: u32,
    /// The data dir the daemon serves (canonical), so that a client knows it found its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    /// The home directory of the user the daemon runs as: where a host's tasks run that do
    /// not name a directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub home: Option<PathBuf>,
}

/// Filters of `list`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ListFilter {
    pub status: Vec<TaskStatus>,
    /// Only tasks created at or after this time.
    #[serde(with = "timefmt::ts_opt")]
    pub since: Option<Timestamp>,
    /// At most this many, newest first.
    pub limit: Option<usize>,
    /// Only tasks of these agents, of these categories (any of each, when given).
    pub agent: Vec<String>,
    pub category: Vec<String>,
    /// Only tasks whose id, title or prompt holds this text (case ignored).
    pub text: Option<String>,
}

impl ListFilter {
    /// Whether it filters anything out.
    pub fn is_empty(&self) -> bool {
        self.status.is_empty()
            && self.since.is_none()
            && self.agent.is_empty()
            && self.category.is_empty()
            && self.text.as_deref().is_none_or(str::is_empty)
    }

    /// Whether task `t` passes.
    pub fn keeps(&self, t: &Task) -> bool {
        let text = self.text.as_deref().map(str::to_lowercase).unwrap_or_default();
        (self.status.is_empty() || self.status.contains(&t.status))
            && self.since.is_none_or(|s| t.created_at >= s)
            && (self.agent.is_empty() || self.agent.contains(&t.agent))
            && (self.category.is_empty()
                || t.category.as_ref().is_some_and(|c| self.category.contains(c)))
            && (text.is_empty()
                || [&t.id, &t.title, &t.prompt].iter().any(|s| s.to_lowercase().contains(&text)))
    }
}

/// Defines [`Request`] and, for each kind of request, a type of its own in [`ask`] that knows
/// the type of its reply ([`Ask::Reply`]): struct-like requests first, then (after `@units`)
/// the ones without fields.
macro_rules! requests {
    (
        $( $(#[$vm:meta])* $V:ident { $( $(#[$fm:meta])* $f:ident : $t:ty ),* $(,)? } -> $R:ty ; )*
        @units
        $( $(#[$um:meta])* $U:ident -> $UR:ty ; )*
    ) => {
        /// What a client can ask (each kind's reply type: [`ask`]).
        #[derive(Debug, Clone, Serialize, Deserialize)]
        #[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
        pub enum Request {
            $( $(#[$vm])* $V { $( $(#[$fm])* $f: $t, )* }, )*
            $( $(#[$um])* $U, )*
        }

        /// Each kind of request as a type of its own (the fields of the [`Request`] variant of
        /// the same name), with the type its reply decodes into: `client.ask(ask::List {
        /// filter })` is a `Vec<Task>`, checked when it is compiled.
        pub mod ask {
            use super::*;
            $(
                #[doc = concat!("[`Request::", stringify!($V), "`], answered with `", stringify!($R), "`.")]
                #[derive(Debug, Clone)]
                pub struct $V { $( pub $f: $t, )* }
                impl From<$V> for Request {
                    fn from(a: $V) -> Request {
                        Request::$V { $( $f: a.$f, )* }
                    }
                }
                impl Ask for $V {
                    type Reply = $R;
                }
            )*
            $(
                #[doc = concat!("[`Request::", stringify!($U), "`], answered with `", stringify!($UR), "`.")]
                #[derive(Debug, Clone, Copy)]
                pub struct $U;
                impl From<$U> for Request {
                    fn from(_: $U) -> Request {
                        Request::$U
                    }
                }
                impl Ask for $U {
                    type Reply = $UR;
                }
            )*
        }
    };
}

/// A request that knows the type of its reply: the client decodes the answer into it.
pub trait Ask: Into<Request> {
    type Reply: serde::de::DeserializeOwned;
}

requests! {
    Submit {
        spec: Box<TaskSpec>,
    } -> Task;
    Get {
        id: String,
    } -> Option<Task>;
    /// The task and its result; with `wait`, only once it has ended or `timeout_ms` passed;
    /// with `full`, all of a running task's output so far (else its last lines).
    Output {
        id: String,
        #[serde(default)]
        wait: bool,
        #[serde(default)]
        timeout_ms: Option<u64>,
        #[serde(default)]
        full: bool,
        /// The caller is the agent that delegated the task, reading its result: the end counts
        /// as told (no hook's notice follows), and is not told by a notice while it waits.
        #[serde(default)]
        deliver: bool,
    } -> OutputData;
    /// Blocks until every named task (or, with `all`, every unfinished task) has ended.
    Wait {
        #[serde(default)]
        ids: Vec<String>,
        #[serde(default)]
        all: bool,
        #[serde(default)]
        timeout_ms: Option<u64>,
    } -> WaitData;
    Cancel {
        #[serde(default)]
        ids: Vec<String>,
        #[serde(default)]
        all: bool,
    } -> Vec<Task>;
    /// Runs a task again, in the environment of the client that asks (`env`).
    Retry {
        id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        env: Option<std::collections::BTreeMap<String, String>>,
    } -> Task;
    List {
        #[serde(default)]
        filter: ListFilter,
    } -> Vec<Task>;
    /// `main`: the asking dashboard's pane, for its window's layout.
    Status {
        #[serde(default)]
        main: Option<crate::core::task::TmuxOrigin>,
    } -> StatusData;
    /// A follow-up to an earlier task (a new task linked to it).
    Continue {
        id: String,
        prompt: String,
        /// The earlier task's result, carried into the follow-up's prompt when its agent cannot
        /// resume its session (the daemon fills it in; clients leave it out).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        earlier: Option<String>,
        /// The asking client's environment, the follow-up's.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        env: Option<std::collections::BTreeMap<String, String>>,
    } -> Task;
    /// From an agent's hook: waiting (with the question), working, done, session (with its id).
    /// `token`: the task's own (`PANEHERD_TASK_TOKEN` in its environment): signals come from
    /// inside the task.
    Signal {
        task_id: String,
        kind: String,
        #[serde(default)]
        text: Option<String>,
        #[serde(default)]
        token: Option<String>,
    } -> Task;
    /// From a delegating agent's hook: its session id (Claude Code's `session_id`), recorded on
    /// the delegator of its tasks that have none yet. Reply: the number of tasks it was set on.
    DelegatorSession {
        delegator: String,
        session: String,
    } -> usize;
    /// From a client that merged or discarded a task's worktree (git runs in the client):
    /// what became of it, recorded on the task. Reply: `Task`.
    WorktreeNote {
        id: String,
        note: String,
    } -> Task;
    /// From a task's pane wrapper: what to run (the reply is a `PaneLaunch`). `token` is the
    /// one the daemon gave the wrapper when it opened the pane (`PANEHERD_PANE_TOKEN`): only
    /// the task's own wrapper reports for it.
    PaneAttach {
        task_id: String,
        token: String,
    } -> Option<PaneLaunch>;
    /// From a task's pane wrapper: the agent started (its pid), or could not start (why).
    PaneStarted {
        task_id: String,
        #[serde(default)]
        pid: Option<u32>,
        #[serde(default)]
        error: Option<String>,
        /// The wrapper's pane (`$TMUX_PANE`).
        #[serde(default)]
        pane: Option<String>,
    } -> ();
    /// From a task's pane wrapper: the agent exited and all its output is in the log (or,
    /// `log_error`, some of it could not be written there: a full disk).
    PaneExited {
        task_id: String,
        #[serde(default)]
        code: Option<i32>,
        #[serde(default)]
        signal: Option<i32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        log_error: Option<String>,
    } -> ();
    /// From a task's pane wrapper: the agent wrote output.
    PaneOutput {
        task_id: String,
        bytes: u64,
    } -> ();
    /// From a dashboard in tmux: lay agents out beside this pane while this connection lasts.
    RegisterMain {
        socket: PathBuf,
        pane: String,
    } -> ();
    /// Switch the tmux layout preset of the window of the dashboard in pane `main` (which
    /// registered it), while that dashboard is open (the dashboard's `l`).
    SetLayout {
        name: String,
        #[serde(default)]
        main: Option<crate::core::task::TmuxOrigin>,
    } -> ();
    /// Close the panes of these tasks now (those that have ended), not after `close_after_secs`.
    ClosePanes {
        ids: Vec<String>,
    } -> ();
    /// Type `text` into a running task's pane, then Enter: an answer to an agent that asks.
    Input {
        id: String,
        text: String,
    } -> ();
    /// Select a task's pane (bringing it into view).
    Focus {
        id: String,
    } -> Task;
    /// Send a sample desktop notification through the daemon and say which way it went (the
    /// reply is a `NotifyTestData`); `tmux` is the caller's pane, for the fallback.
    NotifyTest {
        #[serde(default)]
        tmux: Option<crate::core::task::TmuxOrigin>,
    } -> NotifyTestData;
    /// Ended tasks not yet told to their delegator (`delegator`'s only, when given), oldest
    /// end first; with `ack`, told now. Reply: `InboxData`.
    Inbox {
        #[serde(default)]
        delegator: Option<String>,
        #[serde(default)]
        ack: bool,
    } -> InboxData;
    /// Marks these tasks' ends as told to their delegator. Reply: `InboxData` of the ends this
    /// call told (one told before is not in it: no end is told twice).
    Deliver {
        ids: Vec<String>,
        /// For a notice (a hook's): not the ends an agent is reading itself right now.
        #[serde(default)]
        notice: bool,
    } -> InboxData;
    /// From tmux's resize hook: re-plan the window's panes.
    TmuxResized {
        socket: PathBuf,
        window: String,
    } -> ();
    /// From now on, the daemon's events on this connection; with `no_output`, all but the
    /// `output` ones (a list kept live needs no more, and they are most of the events).
    Subscribe {
        #[serde(default)]
        no_output: bool,
    } -> ();
    @units
    Shutdown -> ();
    /// The hosts of `[hosts]`, each with how its link is and its tasks here.
    Hosts -> Vec<HostInfo>;
    /// (Asked by another machine's host link.) The main pane of this daemon's own tmux session
    /// for the link's tasks — made if need be — or none (no tmux here): they run headless.
    HostTmux -> Option<crate::core::task::TmuxOrigin>;
}

/// A host of `[hosts]` (`hosts`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostInfo {
    pub name: String,
    pub ssh: String,
    /// How its link is (`None`: not opened yet — no task has gone there).
    pub link: Option<crate::core::hosts::LinkState>,
    pub running: usize,
    pub queued: usize,
}

/// Reply data of `pane_attach`: how the wrapper starts the agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PaneLaunch {
    pub argv: Vec<String>,
    pub env: Vec<(String, String)>,
    /// Whether `env` replaces the wrapper's environment (it does when the submitter's is known).
    pub clear_env: bool,
    pub cwd: PathBuf,
    /// Where the wrapper appends the agent's output.
    pub log_path: PathBuf,
    /// Written to the agent's standard input (a pipe, then), which then ends; `None`: its
    /// input is the pane's terminal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdin: Option<String>,
    /// Made (empty, private) before the agent starts, when not there yet.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub touch: Vec<PathBuf>,
}

/// A request with the client's correlation number. Without one it is a one-way notice,
/// answered by nothing (only `pane_output`, which a pane's wrapper sends as its agent prints).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RequestLine {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub req: Option<u64>,
    #[serde(flatten)]
    pub request: Request,
}

/// Kinds of error replies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// Not JSON, not an object, missing fields, unknown request type.
    BadRequest,
    /// The hello did not match this daemon's protocol.
    Protocol,
    /// A line longer than `MAX_LINE`.
    LineTooLong,
    UnknownId,
    AmbiguousId,
    /// A well-formed request the daemon refuses (unknown agent, empty prompt, …).
    Invalid,
    /// The daemon is shutting down.
    ShuttingDown,
    /// A submission named an id a task has already (`TaskSpec::id`).
    Exists,
    /// The daemon has as many connections open as it takes.
    Busy,
    Internal,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct ErrorBody {
    pub kind: ErrorKind,
    pub message: String,
}

impl ErrorBody {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        ErrorBody { kind, message: message.into() }
    }
}

/// A reply to request `re`.
#[derive(Debug, Clone, Serialize)]
pub struct Reply<T: Serialize> {
    pub re: u64,
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<T>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorBody>,
}

/// What the daemon pushes to subscribers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    TaskCreated {
        task: Box<Task>,
    },
    TaskChanged {
        task: Box<Task>,
    },
    /// This subscriber fell behind and missed `missed` events: list again.
    Lagged {
        missed: u64,
    },
    /// The config file changed: reloaded (`error` null), or its new content refused (the last
    /// good config stays in force).
    ConfigReloaded {
        error: Option<String>,
    },
    /// Agent panes were opened, closed, moved into or out of view: ask `status` for the counts.
    PanesChanged,
    /// A host's link came up or went down: ask `status` (or `hosts`).
    HostsChanged,
    /// The daemon is stopping on purpose (`daemon stop`, SIGTERM): a client should not start
    /// another unless asked.
    DaemonStopping,
    /// The task wrote output (at most about one a second per task).
    Output {
        id: String,
        #[serde(with = "timefmt::ts")]
        at: Timestamp,
        bytes: u64,
    },
}

impl Event {
    pub fn task(&self) -> Option<&Task> {
        match self {
            Event::TaskCreated { task } | Event::TaskChanged { task } => Some(task),
            Event::Output { .. }
            | Event::DaemonStopping
            | Event::Lagged { .. }
            | Event::ConfigReloaded { .. }
            | Event::PanesChanged
            | Event::HostsChanged => None,
        }
    }
}

/// A success reply, as written.
#[derive(Serialize)]
struct OkLine<'a, T: Serialize> {
    re: u64,
    ok: bool,
    data: &'a T,
}

/// An error reply, as written.
#[derive(Serialize)]
struct ErrLine<'a> {
    re: u64,
    ok: bool,
    error: &'a ErrorBody,
}

#[derive(Serialize)]
struct WelcomeLine<'a> {
    welcome: &'a Welcome,
}

#[derive(Serialize)]
struct EventLine<'a> {
    event: &'a Event,
}

/// The envelope, written: every line the daemon and its clients exchange is made here, so that
/// the wire format is spelled once. Each line ends in `\n`.
pub mod codec {
    use super::*;

    fn line<T: Serialize>(v: &T) -> Result<String, ErrorBody> {
        let mut s = serde_json::to_string(v)
            .map_err(|e| ErrorBody::new(ErrorKind::Internal, format!("cannot encode: {e}")))?;
        s.push('\n');
        Ok(s)
    }

    /// A client's first line.
    pub fn hello(client: &str) -> Result<String, ErrorBody> {
        line(&HelloLine { hello: Hello { protocol: PROTOCOL_VERSION, client: client.into() } })
    }

    /// A request.
    pub fn request(req: u64, request: Request) -> Result<String, ErrorBody> {
        line(&RequestLine { req: Some(req), request })
    }

    /// A one-way notice: a request without a correlation number, which nothing answers.
    pub fn notice(request: Request) -> Result<String, ErrorBody> {
        line(&RequestLine { req: None, request })
    }

    pub fn welcome(w: &Welcome) -> Result<String, ErrorBody> {
        line(&WelcomeLine { welcome: w })
    }

    pub fn ok<T: Serialize>(re: u64, data: &T) -> Result<String, ErrorBody> {
        line(&OkLine { re, ok: true, data })
    }

    /// An error reply; one that cannot be encoded says so as plainly as it can.
    pub fn error(re: u64, e: &ErrorBody) -> String {
        line(&ErrLine { re, ok: false, error: e }).unwrap_or_else(|_| {
            format!("{{\"re\":{re},\"ok\":false,\"error\":{{\"kind\":\"internal\",\"message\":\"?\"}}}}\n")
        })
    }

    pub fn event(ev: &Event) -> Result<String, ErrorBody> {
        line(&EventLine { event: ev })
    }

    /// The start of a success reply to `re` — exactly what `ok` writes before the data. A
    /// reply too large to build whole (`list` of 10,000 tasks) is written as this, the data
    /// in pieces, then `END`; a client copying such a reply out recognises it by this head.
    pub fn ok_head(re: u64) -> String {
        let whole = ok(re, &()).unwrap_or_default();
        whole.strip_suffix("null}\n").unwrap_or(&whole).to_string()
    }

    /// What follows the data of a reply written in pieces.
    pub const END: &str = "}\n";
}

/// Any line from the daemon, as a client reads it.
#[derive(Debug, Default, Deserialize)]
pub struct ServerLine {
    pub welcome: Option<Welcome>,
    pub re: Option<u64>,
    pub ok: Option<bool>,
    pub data: Option<Box<serde_json::value::RawValue>>,
    pub error: Option<ErrorBody>,
    pub event: Option<Event>,
}

/// Reply data of `output`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutputData {
    pub task: Task,
    /// The persisted result, once the task has ended.
    pub result: Option<String>,
    /// The last lines of output so far, while it runs.
    pub tail: Option<String>,
    /// A wait ran out before the task ended.
    pub timed_out: bool,
}

/// Reply data of `inbox` and `deliver`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InboxData {
    /// The ended tasks.
    pub tasks: Vec<Task>,
    /// Tasks of the same delegator still pending or running (of `inbox` with a delegator, and
    /// of `deliver`: of the delegator of its first task).
    pub in_progress: usize,
}

/// Reply data of `wait`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WaitData {
    pub tasks: Vec<Task>,
    pub timed_out: bool,
}

/// Reply data of `status`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StatusData {
    pub version: String,
    pub pid: u32,
    pub socket: PathBuf,
    pub data_dir: PathBuf,
    pub config: Option<PathBuf>,
    /// Why the config file's current content is not in force (the last good one is).
    #[serde(default)]
    pub config_error: Option<String>,
    /// `config::digest` of the config in force.
    #[serde(default)]
    pub config_digest: Option<u64>,
    #[serde(with = "timefmt::ts")]
    pub started_at: Timestamp,
    pub uptime_ms: i64,
    pub counts: Vec<(TaskStatus, usize)>,
    pub groups: Vec<GroupUsage>,
    /// Task files that could not be read at start (skipped, left untouched).
    pub store_problems: Vec<String>,
    /// The tmux layout preset in force.
    #[serde(default)]
    pub layout: String,
    /// Agent panes per main pane: how many are shown and how many wait out of view.
    #[serde(default)]
    pub panes: Vec<PaneUsage>,
    /// How desktop notifications go (or why they do not).
    #[serde(default)]
    pub notifications: String,
    /// Hosts whose link is down, and why (ssh's words).
    #[serde(default)]
    pub hosts_unreachable: Vec<(String, String)>,
}

/// Reply data of `notify_test`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotifyTestData {
    /// `desktop`, `tmux` or `none`.
    pub route: String,
    /// Why that way (the desktop's error, for the fallbacks).
    pub why: String,
    /// The notification server, when there is one.
    pub server: Option<String>,
    pub took_ms: u64,
}

/// Agent panes beside one main pane.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PaneUsage {
    pub socket: PathBuf,
    pub main_pane: String,
    pub visible: usize,
    pub hidden: usize,
    /// How the layout adapted to the window to show agents at all (e.g. "agents below the main
    /// pane"), when it did.
    #[serde(default)]
    pub fallback: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reply_written_in_pieces_is_one_written_whole() {
        let whole = codec::ok(7, &serde_json::json!([1, 2])).unwrap();
        assert_eq!(whole, format!("{}[1,2]{}", codec::ok_head(7), codec::END));
        assert_eq!(codec::ok_head(7), "{\"re\":7,\"ok\":true,\"data\":");
        let line: ServerLine = serde_json::from_str(&whole).unwrap();
        assert_eq!((line.re, line.ok), (Some(7), Some(true)));
    }
}
