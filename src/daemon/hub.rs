//! The daemon's one loop: every input (a client's request, a component's report) goes to the
//! engine, one at a time, and each effect the engine returns goes to the component that carries
//! it out — the store writer, the process runner, the pane manager, the timers, the notifier,
//! the event stream, or the waiting client. Components report back by message, never by
//! calling the engine.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::{broadcast, mpsc, oneshot, watch};

use super::pane_jobs::Job as PaneManagerJob;
use super::timers::Timers;
use crate::config::Config;
use crate::core::records::Failure;
use crate::core::timefmt;
use crate::engine::{Effect, Engine, Input, Reply, ReplyTo};
use crate::proto::{Event, Request};
use crate::runner::{self, Report};
use crate::store::{self, Writer};

/// How many events a slow subscriber may fall behind before it is told it lagged.
const EVENT_BUFFER: usize = 8192;

/// What reaches the loop.
pub enum HubMsg {
    /// A client's request: its answer goes to `reply`.
    Ask { request: Request, conn: u64, reply: oneshot::Sender<Reply> },
    /// A component's report.
    Input(Input),
}

/// How connections and components reach the loop.
#[derive(Clone)]
pub struct HubHandle {
    tx: mpsc::UnboundedSender<HubMsg>,
    /// Questions that change nothing (`list`, `get`, `status`): the loop takes them before
    /// anything else waiting, so that a burst of submissions does not hold up a read.
    reads: mpsc::UnboundedSender<HubMsg>,
    events: broadcast::Sender<Event>,
    config: watch::Receiver<Arc<Config>>,
    next_conn: Arc<AtomicU64>,
    pub store: store::Store,
    /// The tasks' JSON for `list` replies.
    pub listing: Arc<super::listing::ListingCache>,
    /// The hosts' connections, for what is read there (a running task's output).
    pub hosts: super::hosts::Connections,
    /// The daemon's private runtime dir (its socket's).
    pub runtime: std::path::PathBuf,
}

impl HubHandle {
    /// Asks the engine; the answer comes when the engine gives it (a submission: once its file
    /// is written).
    pub async fn ask(&self, request: Request, conn: u64) -> Reply {
        let (reply, rx) = oneshot::channel();
        let gone = || {
            crate::proto::ErrorBody::new(
                crate::proto::ErrorKind::ShuttingDown,
                "the daemon is stopping",
            )
        };
        let lane = match request {
            Request::List { .. } | Request::Get { .. } | Request::Status { .. } => &self.reads,
            _ => &self.tx,
        };
        if lane.send(HubMsg::Ask { request, conn, reply }).is_err() {
            return Err(gone());
        }
        rx.await.unwrap_or_else(|_| Err(gone()))
    }

    /// Reports an input to the engine.
    pub fn input(&self, input: Input) {
        let _ = self.tx.send(HubMsg::Input(input));
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    /// The config in force, as it changes.
    pub fn config(&self) -> watch::Receiver<Arc<Config>> {
        self.config.clone()
    }

    /// A number for a new connection.
    pub fn conn_id(&self) -> u64 {
        self.next_conn.fetch_add(1, Ordering::Relaxed)
    }
}

/// The components the loop hands effects to.
pub struct Components {
    pub writer: Writer,
    /// Where headless processes run (started in the order asked).
    pub place: Box<dyn runner::place::Place>,
    pub panes: mpsc::UnboundedSender<PaneManagerJob>,
    pub timers: Timers,
    pub notify_test: mpsc::UnboundedSender<(ReplyTo, Option<crate::core::task::TmuxOrigin>)>,
    /// The links to hosts of `[hosts]`.
    pub hosts: super::hosts::Hosts,
    /// Told once nothing runs after a shutdown.
    pub stopped: watch::Sender<bool>,
}

/// What the loop receives: everything, and (first) the questions that change nothing.
pub struct Inbox {
    all: mpsc::UnboundedReceiver<HubMsg>,
    reads: mpsc::UnboundedReceiver<HubMsg>,
}

impl Inbox {
    /// The next message, a waiting read before anything else; `None` once every sender is gone.
    async fn recv(&mut self) -> Option<HubMsg> {
        tokio::select! {
            biased;
            Some(m) = self.reads.recv() => Some(m),
            m = self.all.recv() => m,
        }
    }
}

/// Starts the loop with `engine` and the effects of taking over its history; returns the
/// handle, and the receiver the other components are built around.
pub fn channel(
    store: store::Store,
    config: Arc<Config>,
    runtime: std::path::PathBuf,
) -> (HubHandle, Inbox, watch::Sender<Arc<Config>>) {
    let (tx, all) = mpsc::unbounded_channel();
    let (reads_tx, reads) = mpsc::unbounded_channel();
    let (events, _) = broadcast::channel(EVENT_BUFFER);
    let (config_tx, config_rx) = watch::channel(config);
    let handle = HubHandle {
        tx,
        reads: reads_tx,
        events,
        config: config_rx,
        next_conn: Arc::new(AtomicU64::new(1)),
        listing: Arc::default(),
        hosts: Default::default(),
        runtime,
        store,
    };
    (handle, Inbox { all, reads }, config_tx)
}

/// Runs the loop until every sender is gone.
pub async fn run(
    mut engine: Engine,
    first: Vec<Effect>,
    handle: HubHandle,
    mut inbox: Inbox,
    config_tx: watch::Sender<Arc<Config>>,
    components: Components,
) {
    let mut hub = Hub { handle, components, replies: HashMap::new(), next_reply: 1 };
    for e in first {
        hub.exec(e);
    }
    // Clients wait while the history is being settled (pane tasks checked for adoption, lost
    // ones recorded), so that nobody is told of a task that is about to change.
    let mut held: std::collections::VecDeque<HubMsg> = std::collections::VecDeque::new();
    loop {
        let msg =
            if engine.ready() && !held.is_empty() { held.pop_front() } else { inbox.recv().await };
        let Some(msg) = msg else { break };
        if !engine.ready() && matches!(msg, HubMsg::Ask { .. }) {
            held.push_back(msg);
            continue;
        }
        let input = match msg {
            HubMsg::Ask { request, conn, reply } => {
                let id = hub.next_reply;
                hub.next_reply += 1;
                hub.replies.insert(id, reply);
                Input::Request { request, reply: id, conn }
            }
            HubMsg::Input(i) => i,
        };
        for e in engine.handle(input, timefmt::now()) {
            hub.exec(e);
        }
        if !Arc::ptr_eq(&config_tx.borrow(), engine.config()) {
            let _ = config_tx.send(engine.config().clone());
        }
    }
}

struct Hub {
    handle: HubHandle,
    components: Components,
    replies: HashMap<ReplyTo, oneshot::Sender<Reply>>,
    next_reply: ReplyTo,
}

impl Hub {
    fn report(&self) -> impl Fn(Input) + Send + Sync + Clone + 'static {
        let h = self.handle.clone();
        move |i| h.input(i)
    }

    fn exec(&mut self, effect: Effect) {
        let c = &self.components;
        match effect {
            Effect::Reply { to, answer } => {
                if let Some(tx) = self.replies.remove(&to) {
                    let _ = tx.send(answer);
                }
            }
            Effect::Announce(ev) => {
                let _ = self.handle.events.send(ev);
            }
            Effect::Write { token, task, result, durability, secret } => {
                if token == 0 && secret == store::SecretOp::Keep {
                    c.writer.save(*task, result, durability);
                } else {
                    let report = self.report();
                    c.writer.save_and_call(*task, result, secret, durability, move |r| {
                        report(Input::Written { token, error: r.err().map(|e| Failure::of(&e)) });
                    });
                }
            }
            Effect::Launch { launch } => {
                let id = launch.task_id.clone();
                let report = self.report();
                c.place.start(*launch, std::sync::Arc::new(move |r| report(from_runner(&id, r))));
            }
            Effect::Signal { pid, signal } => c.place.signal(
                pid,
                match signal {
                    crate::engine::Signal::Term => nix::sys::signal::Signal::SIGTERM,
                    crate::engine::Signal::Kill => nix::sys::signal::Signal::SIGKILL,
                },
            ),
            Effect::StopOrphan { id, pid } => c.place.stop_orphan(&id, pid),
            Effect::Host(job) => c.hosts.job(job),
            Effect::Collect { id, log, since } => {
                let report = self.report();
                tokio::task::spawn_blocking(move || {
                    let result = store::output::result(&log).map_err(|e| Failure::of(&e));
                    let answer = since.and_then(|s| store::output::answer(&log, s.into()));
                    report(Input::Collected { id, result, answer });
                });
            }
            Effect::Timer { id, kind, at } => c.timers.set(id, kind, at),
            Effect::PrepareWorktree { prepare } => {
                let report = self.report();
                tokio::task::spawn_blocking(move || {
                    let result = crate::worktree::prepare(&prepare).map_err(|e| Failure::of(&e));
                    report(Input::WorktreeReady { id: prepare.task_id.clone(), result });
                });
            }
            Effect::Summarize { id, argv, cwd, env } => {
                let report = self.report();
                tokio::spawn(async move {
                    let summary = runner::summarize(&argv, &cwd, &env).await;
                    report(Input::Summarized { id, summary });
                });
            }
            Effect::LearnSession { id, argv, cwd, env } => {
                let report = self.report();
                tokio::spawn(async move {
                    let env = env.into_iter().collect();
                    match runner::capture(&argv, &cwd, &env, std::time::Duration::from_secs(30))
                        .await
                    {
                        Ok(output) => report(Input::SessionFound { id, output }),
                        Err(e) => tracing::warn!(task = %id, error = %e, "session_command failed"),
                    }
                });
            }
            Effect::NotifyTest { reply, tmux } => {
                let _ = c.notify_test.send((reply, tmux));
            }
            Effect::Stopped => {
                let _ = c.stopped.send(true);
            }
            Effect::Pane(job) => {
                let _ = c.panes.send(PaneManagerJob::Engine(job));
            }
        }
    }
}

/// A runner's report about task `id` as the engine's input.
fn from_runner(id: &str, r: Report) -> Input {
    let id = id.to_string();
    match r {
        Report::Started { pid } => Input::Started { id, pid },
        Report::StartFailed { reason } => Input::StartFailed { id, reason },
        Report::Output { bytes } => Input::Output { id, bytes },
        Report::Exited { exit, log_error } => Input::Exited { id, exit, log_error },
    }
}
