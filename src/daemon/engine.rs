//! The daemon's state and every operation on it: submit, start, finish, cancel, retry, list.
//! One mutex guards the tasks and the scheduler; it is never held across an await. A task's
//! file is written before the event that announces the change is sent.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{broadcast, mpsc};

use crate::config::Config;
use crate::core::limits::Scheduler;
use crate::core::task::{Outcome, Task, TaskSpec, TaskStatus, TmuxOrigin};
use crate::core::{ids, text, timefmt};
use crate::paths::Paths;
use crate::proto::{ErrorBody, ErrorKind, Event, ListFilter, StatusData};
use crate::runner::{self, Launch, headless};
use crate::store::{self, Durability, Store, Writer};

mod agent_tasks;
mod pane_tasks;

use super::panes::Panes;
use super::supervisor::{self, KillReason};

/// How many events a slow subscriber may fall behind before it is told it lagged.
const EVENT_BUFFER: usize = 8192;

pub type Shared = Arc<Engine>;

/// A started process: its handle, stale and TTL timeouts, and its tmux pane if it has one.
type Launched = (runner::RunHandle, supervisor::Timers, Option<String>);

pub struct Engine {
    state: Mutex<State>,
    events: broadcast::Sender<Event>,
    pub store: Store,
    writer: Writer,
    /// Agent panes in tmux.
    pub panes: Panes,
    /// The config in force; swapped whole when the file changes.
    settings: std::sync::RwLock<Settings>,
    pub paths: Paths,
    pub started_at: timefmt::Timestamp,
    exe: PathBuf,
    /// The desktop notification server, as last probed.
    pub notify_server: crate::notify::service::ServerState,
}

#[derive(Default)]
struct State {
    tasks: HashMap<String, Task>,
    /// Ids in creation order.
    order: Vec<String>,
    sched: Scheduler,
    /// Kill switches of running tasks.
    running: HashMap<String, mpsc::UnboundedSender<KillReason>>,
    /// Client environments of tasks not yet started (memory only).
    envs: HashMap<String, Vec<(String, String)>>,
    /// Tasks taken from the queue whose process is being created.
    starting: usize,
    /// Tasks whose process has ended and whose record is being made durable.
    finishing: usize,
    /// The layout preset switched to at run time (the dashboard's `l`).
    layout: Option<String>,
    /// Main panes registered by dashboards, newest last: (connection number, pane).
    mains: Vec<(u64, TmuxOrigin)>,
    /// Pane tasks found running at start-up, for `adopt_panes`.
    adoptable: Vec<String>,
    /// Tasks running in tmux panes: how to hand them to their wrapper, and their wiring.
    pane_ctl: HashMap<String, PaneCtl>,
    /// Tasks that never ran (cancelled while pending, or unable to start) whose end is being
    /// made durable; not to be cancelled again meanwhile.
    ending: HashSet<String>,
    /// Each task's JSON for `list`, by position in `order`; `pos` finds a task's position and
    /// `dirty` names the tasks changed since their JSON was made.
    json: Vec<Arc<str>>,
    pos: HashMap<String, usize>,
    dirty: HashSet<String>,
    reserved: HashSet<String>,
    problems: Vec<String>,
    shutting_down: bool,
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

/// A pane task's wiring between its wrapper and its supervisor.
struct PaneCtl {
    launch: Launch,
    /// Told the agent's pid once the wrapper has started it (or why it could not).
    started: Option<tokio::sync::oneshot::Sender<Result<u32, String>>>,
    exit: Option<tokio::sync::oneshot::Sender<runner::Exit>>,
    activity: Arc<runner::Activity>,
}

impl State {
    /// A task to change; its cached JSON is remade on the next `list`.
    fn task_mut(&mut self, id: &str) -> Option<&mut Task> {
        self.dirty.insert(id.to_string());
        self.tasks.get_mut(id)
    }

    /// Adds a new task (at the end of the creation order) or replaces one.
    fn put(&mut self, task: Task) {
        if !self.pos.contains_key(&task.id) {
            self.pos.insert(task.id.clone(), self.order.len());
            self.order.push(task.id.clone());
            self.json.push(Arc::from("null"));
        }
        self.dirty.insert(task.id.clone());
        self.tasks.insert(task.id.clone(), task);
    }
}

fn invalid(msg: impl Into<String>) -> ErrorBody {
    ErrorBody::new(ErrorKind::Invalid, msg)
}

impl Engine {
    /// Loads the history and prepares the engine. Tasks that were running under a daemon that
    /// died are recorded as lost; pending ones are queued again under the current limits.
    pub fn new(paths: Paths, loaded: crate::config::Loaded) -> anyhow::Result<Shared> {
        let crate::config::Loaded { config, user_file, digest } = loaded;
        let store = Store::open(&paths.tasks_dir())?;
        let loaded = store.load_all()?;
        let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("paneherd"));
        let (events, _) = broadcast::channel(EVENT_BUFFER);
        let mut st = State {
            sched: Scheduler::new(config.concurrency.max_running),
            reserved: loaded.reserved_ids.into_iter().collect(),
            problems: loaded.problems.iter().map(|p| p.to_string()).collect(),
            ..Default::default()
        };
        for p in &loaded.problems {
            tracing::warn!(problem = %p, "skipping unreadable task file");
        }
        let limits = config.limits();
        for mut task in loaded.tasks {
            match task.status {
                // A pane task may still run in its pane: `adopt_panes` looks.
                TaskStatus::Running if task.pane_id.is_some() && task.tmux.is_some() => {
                    st.adoptable.push(task.id.clone());
                }
                TaskStatus::Running => {
                    stop_orphan(&task);
                    let lost = Outcome::Error {
                        exit_code: None,
                        reason: "lost: daemon restarted while it ran".into(),
                    };
                    if task.finish(lost, timefmt::now()).is_ok() {
                        let result = read_output(&task.log_path);
                        task.summary = text::task_summary(&result, &task.id, &task.prompt);
                        store.save(&task, Some(&result), true)?;
                    }
                }
                TaskStatus::Pending => {
                    let group = limits.group_for(task.model.as_deref());
                    if task.limit_group != group.key {
                        task.limit_group = group.key.clone();
                        store.save(&task, None, true)?;
                    }
                    st.sched.enqueue(&task.id, &group);
                }
                _ => {}
            }
            st.put(task);
        }
        let writer = Writer::start(store.clone())?;
        Ok(Arc::new(Engine {
            state: Mutex::new(st),
            events,
            store,
            writer,
            panes: Panes::default(),
            settings: std::sync::RwLock::new(Settings {
                config: Arc::new(config),
                file: user_file,
                digest,
                error: None,
            }),
            paths,
            started_at: timefmt::now(),
            exe,
            notify_server: Default::default(),
        }))
    }

    /// The config in force.
    pub fn config(&self) -> Arc<Config> {
        self.settings.read().unwrap_or_else(|p| p.into_inner()).config.clone()
    }

    /// Reads the config file again. A good one is in force at once for what happens next
    /// (new tasks, limits, timeouts of tasks yet to start, notifications, layouts); a bad one
    /// is logged and reported, and the config before it stays in force.
    pub fn reload_config(self: &Arc<Self>) {
        let loaded = Config::load(&self.paths.config);
        let mut settings = self.settings.write().unwrap_or_else(|p| p.into_inner());
        match loaded {
            Ok(l) => {
                if l.digest == settings.digest && settings.error.is_none() {
                    return;
                }
                tracing::info!(file = %self.paths.config.display(), "config reloaded");
                let config = Arc::new(l.config);
                *settings = Settings {
                    config: config.clone(),
                    file: l.user_file,
                    digest: l.digest,
                    error: None,
                };
                drop(settings);
                self.regroup(&config);
                self.emit(Event::ConfigReloaded { error: None });
            }
            Err(e) => {
                let msg = e.to_string();
                if settings.error.as_deref() == Some(msg.as_str()) {
                    return;
                }
                tracing::error!(error = %msg, "config not reloaded: the last good one stays in force");
                settings.error = Some(msg.clone());
                drop(settings);
                self.emit(Event::ConfigReloaded { error: Some(msg) });
            }
        }
    }

    /// Puts every queued and running task under the limits of `config` and starts what may
    /// start now.
    fn regroup(self: &Arc<Self>, config: &Config) {
        let limits = config.limits();
        let mut st = self.lock();
        let models: HashMap<String, Option<String>> = st
            .tasks
            .values()
            .filter(|t| !t.status.is_terminal())
            .map(|t| (t.id.clone(), t.model.clone()))
            .collect();
        st.sched.regroup(config.concurrency.max_running, |id| {
            limits.group_for(models.get(id).and_then(|m| m.as_deref()))
        });
        let pending: Vec<String> = models.keys().cloned().collect();
        for id in pending {
            let group = limits.group_for(models.get(&id).and_then(|m| m.as_deref())).key;
            if let Some(t) = st.tasks.get(&id).filter(|t| t.limit_group != group).cloned() {
                let mut t = t;
                t.limit_group = group;
                self.writer.save(t.clone(), None, Durability::Written);
                st.put(t);
            }
        }
        self.dispatch(&mut st);
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves consistent-enough data (every write to a task
        // is followed by its save); keep serving rather than poison every later request.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    pub(super) fn emit(&self, e: Event) {
        let _ = self.events.send(e);
    }

    /// Resolves a user-typed id or prefix.
    pub fn resolve(&self, prefix: &str) -> Result<String, ErrorBody> {
        let st = self.lock();
        resolve_in(&st, prefix)
    }

    pub fn status_of(&self, id: &str) -> Option<TaskStatus> {
        self.lock().tasks.get(id).map(|t| t.status)
    }

    pub fn get(&self, id: &str) -> Option<Task> {
        self.lock().tasks.get(id).cloned()
    }

    /// Creates a pending task and starts it if a slot is free. Returns once its file is written
    /// (a crash of paneherd cannot lose it; it is flushed to the device moments later).
    pub async fn submit(self: &Arc<Self>, spec: TaskSpec) -> Result<Task, ErrorBody> {
        let (task, written) = self.create(spec)?;
        match written.await {
            Ok(Ok(())) => Ok(task),
            Ok(Err(e)) => Err(ErrorBody::new(ErrorKind::Internal, e)),
            Err(_) => Err(ErrorBody::new(ErrorKind::Internal, "the store writer has stopped")),
        }
    }

    fn create(
        self: &Arc<Self>,
        spec: TaskSpec,
    ) -> Result<(Task, store::writer::Pending), ErrorBody> {
        if spec.prompt.trim().is_empty() {
            return Err(invalid("the prompt is empty"));
        }
        if spec.prompt.contains('\0') {
            return Err(invalid("the prompt contains a NUL byte"));
        }
        let config = self.config();
        let r = config
            .resolve(spec.category.as_deref(), spec.agent.as_deref(), spec.model.as_deref())
            .map_err(invalid)?;
        let agent_cwd = config.agents.get(&r.agent).and_then(|a| a.cwd.clone());
        let cwd = match spec.cwd.clone().or(agent_cwd).or(spec.client_cwd.clone()) {
            Some(c) if c.is_absolute() => c,
            Some(c) => return Err(invalid(format!("cwd {:?} is not an absolute path", c))),
            None => std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/")),
        };
        if !cwd.is_dir() {
            return Err(invalid(format!("cwd {} is not a directory", cwd.display())));
        }
        // An agent that is not installed is refused now, not found missing when it starts.
        if let Some(agent) = config.agents.get(&r.agent) {
            let env = spec
                .env
                .as_ref()
                .map(|e| e.iter().map(|(k, v)| (k.clone(), v.clone())).collect::<Vec<_>>());
            self.program_of(agent, env.as_deref(), &cwd).map_err(invalid)?;
        }
        let group = config.limits().group_for(r.model.as_deref());
        let mut st = self.lock();
        // A dashboard open in tmux hosts the panes: of tasks from its server, and of tasks
        // from outside tmux.
        let tmux = match (spec.tmux, st.mains.last()) {
            (Some(o), Some((_, m))) if o.socket == m.socket => Some(m.clone()),
            (None, Some((_, m))) => Some(m.clone()),
            (o, _) => o,
        };
        if st.shutting_down {
            return Err(ErrorBody::new(ErrorKind::ShuttingDown, "the daemon is shutting down"));
        }
        let id = ids::fresh_id(|c| {
            st.tasks.contains_key(c) || st.reserved.contains(c) || self.store.md_path(c).exists()
        });
        let mut task = Task::pending(
            &id,
            &r.agent,
            &spec.prompt,
            cwd,
            self.store.log_path(&id),
            timefmt::now(),
        );
        task.title = text::title(spec.title.as_deref(), &spec.prompt);
        task.category = r.category;
        task.model = r.model;
        task.skills = spec.skills;
        task.parent = spec.parent;
        task.tmux = tmux;
        // The agent's session: the one a continue resumes, or a fresh id for an agent that
        // takes one (`{session_id}`), known before it runs.
        task.session = match &spec.resume {
            Some(s) if !s.is_empty() => Some(s.clone()),
            _ => config
                .agents
                .get(&r.agent)
                .filter(|a| a.makes_session_id() && spec.resume.is_none())
                .map(|_| uuid::Uuid::new_v4().to_string()),
        };
        task.resume = spec.resume;
        task.limit_group = group.key.clone();
        let written = self.writer.save_then(task.clone(), None, Durability::Soon);
        if let Some(env) = spec.env {
            st.envs.insert(id.clone(), env.into_iter().collect());
        }
        st.sched.enqueue(&id, &group);
        st.put(task.clone());
        self.emit(Event::TaskCreated { task: Box::new(task.clone()) });
        self.dispatch(&mut st);
        let task = st.tasks.get(&id).cloned().unwrap_or(task);
        Ok((task, written))
    }

    /// Starts whatever may start now (after loading a history with queued tasks).
    pub fn kick(self: &Arc<Self>) {
        let mut st = self.lock();
        self.dispatch(&mut st);
    }

    /// Starts every queued task that has a free slot.
    fn dispatch(self: &Arc<Self>, st: &mut State) {
        if st.shutting_down {
            return;
        }
        while let Some(id) = st.sched.next_ready() {
            st.starting += 1;
            let env = st.envs.remove(&id);
            // Started outside the lock: creating a process takes a while, and submitters,
            // listers and other tasks need not wait for it.
            tokio::spawn(self.clone().start(id, env));
        }
    }

    async fn start(self: Arc<Self>, id: String, env: Option<Vec<(String, String)>>) {
        let Some(task) = self.get(&id) else { return };
        let launched = self.launch(&task, env).await;
        let unstarted = self.apply_start(&id, &task, launched);
        self.record_unstarted(unstarted).await;
    }

    /// Records a start (or its failure) under the lock; returns the ended record of a task that
    /// could not start, to be made durable.
    fn apply_start(
        self: &Arc<Self>,
        id: &str,
        task: &Task,
        launched: Result<Launched, String>,
    ) -> Vec<Task> {
        let id = id.to_string();
        let mut st = self.lock();
        st.starting = st.starting.saturating_sub(1);
        match launched {
            Ok((handle, timers, pane)) => {
                let now = timefmt::now();
                let started = !st.shutting_down
                    && st.task_mut(&id).is_some_and(|t| {
                        t.pane_id = pane.clone();
                        t.start(handle.pid, now).is_ok()
                    });
                if !started {
                    // Cancelled while it was being started, or the daemon is stopping (then it
                    // stays pending for the next daemon): stop the process at once.
                    runner::signal_group(handle.pid, nix::sys::signal::Signal::SIGKILL);
                    st.sched.release(&id);
                    self.dispatch(&mut st);
                    return vec![];
                }
                if let Some(t) = st.tasks.get(&id) {
                    // Not flushed: after a power loss it shows as pending or as lost, both
                    // true enough. Its creation and its end are durable.
                    self.writer.save(t.clone(), None, Durability::Written);
                    self.emit(Event::TaskChanged { task: Box::new(t.clone()) });
                }
                let (tx, rx) = mpsc::unbounded_channel();
                st.running.insert(id.clone(), tx);
                tracing::info!(task = %id, pid = handle.pid, agent = %task.agent, "started");
                supervisor::spawn(self.clone(), id, handle, rx, timers);
                vec![]
            }
            Err(reason) => {
                tracing::warn!(task = %id, %reason, "could not start");
                st.sched.release(&id);
                let outcome = Outcome::Error { exit_code: None, reason };
                let ended = self.end_unstarted(&mut st, &id, outcome);
                self.dispatch(&mut st);
                ended
            }
        }
    }

    /// The ended record of a task that never ran; it stays pending in memory (and is marked
    /// `ending`) until `record_unstarted` has made the end durable.
    fn end_unstarted(&self, st: &mut State, id: &str, outcome: Outcome) -> Vec<Task> {
        let Some(mut t) = st.tasks.get(id).cloned() else {
            return vec![];
        };
        if t.finish(outcome, timefmt::now()).is_err() {
            return vec![];
        }
        t.summary = t.reason.clone();
        st.ending.insert(id.to_string());
        vec![t]
    }

    /// Writes and flushes the ends of tasks that never ran, then applies and announces them.
    async fn record_unstarted(&self, ended: Vec<Task>) {
        if ended.is_empty() {
            return;
        }
        let waits: Vec<_> = ended
            .iter()
            .map(|t| self.writer.save_then(t.clone(), t.reason.clone(), Durability::Now))
            .collect();
        for w in waits {
            if !matches!(w.await, Ok(Ok(()))) {
                tracing::error!("the end of a task that never ran may not be durable");
            }
        }
        let mut st = self.lock();
        for t in ended {
            st.ending.remove(&t.id);
            st.put(t.clone());
            self.emit(Event::TaskChanged { task: Box::new(t) });
        }
    }

    /// The values of an argv template's placeholders for `task`, run with `prompt` and `model`.
    fn template_values(
        &self,
        task: &Task,
        prompt: String,
        model: Option<&str>,
        skills: &[String],
    ) -> std::collections::BTreeMap<&'static str, String> {
        let mut values = std::collections::BTreeMap::new();
        values.insert("prompt", prompt);
        values.insert("task_id", task.id.clone());
        values.insert("title", task.title.clone());
        values.insert("cwd", task.cwd.display().to_string());
        values.insert("paneherd", self.exe.display().to_string());
        if let Some(s) = &task.session {
            values.insert("session_id", s.clone());
        }
        if !skills.is_empty() {
            values.insert("skills", skills.join(","));
        }
        if let Some(m) = model {
            values.insert("model", m.to_string());
            values.insert("model_id", m.rsplit('/').next().unwrap_or(m).to_string());
        }
        values
    }

    /// The program an agent runs, found as the task's process would find it (on the `PATH` of
    /// `env`, the submitter's; else the daemon's), or why it cannot be.
    fn program_of(
        &self,
        agent: &crate::config::AgentConfig,
        env: Option<&[(String, String)]>,
        cwd: &std::path::Path,
    ) -> Result<PathBuf, String> {
        let first = agent.command.get_ref().first().cloned().unwrap_or_default();
        let values = [("paneherd", self.exe.display().to_string())].into_iter().collect();
        let program = runner::argv::expand(&[first], &values)?.pop().unwrap_or_default();
        let path = match env {
            Some(env) => env.iter().find(|(k, _)| k == "PATH").map(|(_, v)| v.clone()),
            None => std::env::var("PATH").ok(),
        };
        runner::locate(&program, path.as_deref(), cwd)
    }

    /// Builds the argv and environment of a task from the current config and starts it: in a
    /// tmux pane when it came from inside tmux, else headless.
    async fn launch(
        self: &Arc<Self>,
        task: &Task,
        env: Option<Vec<(String, String)>>,
    ) -> Result<Launched, String> {
        let config = self.config();
        let agent = config
            .agents
            .get(&task.agent)
            .ok_or_else(|| format!("agent {:?} is no longer in the config", task.agent))?;
        // Installed when the task was submitted; still there now?
        self.program_of(agent, env.as_deref(), &task.cwd)?;
        let (stale, ttl) = self.config().timeouts_for(task.category.as_deref(), &task.agent);
        let mut values =
            self.template_values(task, task.prompt.clone(), task.model.as_deref(), &task.skills);
        let template = match (&task.resume, &agent.continue_command) {
            (Some(session), Some(cont)) => {
                values.insert("session", session.clone());
                cont.get_ref()
            }
            _ => agent.command.get_ref(),
        };
        let argv = runner::argv::expand(template, &values)?;
        // PWD too: programs that take their directory from it (OpenCode does) must not run in
        // the submitter's or the daemon's.
        let mut extra: Vec<(String, String)> = vec![("PWD".into(), task.cwd.display().to_string())];
        extra.extend(agent.env.iter().map(|(k, v)| (k.clone(), v.clone())));
        extra.push(("PANEHERD_TASK_ID".into(), task.id.clone()));
        let launch = Launch {
            task_id: task.id.clone(),
            argv,
            base_env: env,
            env: extra,
            cwd: task.cwd.clone(),
            log_path: task.log_path.clone(),
        };
        let timers = supervisor::Timers {
            stale: Duration::from_secs(stale),
            ttl: Duration::from_secs(ttl),
            idle: self.idle_of(&task.agent),
        };
        if let Some(origin) = &task.tmux {
            match self.launch_in_pane(&launch, origin, task).await {
                Ok((handle, pane)) => return Ok((handle, timers, Some(pane))),
                Err(e) => tracing::warn!(task = %task.id, error = %e, "no pane; running headless"),
            }
        }
        let handle = headless::spawn(&launch).map_err(|e| format!("{e:#}"))?;
        Ok((handle, timers, None))
    }

    /// Notes output activity of a running task (memory only; saved when it ends).
    pub fn note_output(&self, id: &str, at: timefmt::Timestamp, bytes: u64) {
        let mut st = self.lock();
        if let Some(t) = st.task_mut(id) {
            t.last_output_at = Some(at);
        }
        drop(st);
        self.emit(Event::Output { id: id.to_string(), at, bytes });
    }

    /// Records how a running task ended, frees its slot and starts what may start next. The
    /// record is durable on disk before the change is applied and announced.
    pub async fn finish(self: &Arc<Self>, id: &str, outcome: Outcome) {
        let Some(task) = self.get(id) else { return };
        let result = read_output(&task.log_path);
        let summary = text::task_summary(&result, &task.id, &task.prompt);
        // An agent that exits 0 although it failed (aider after an authentication error) is
        // known by its output; a failure line also says more than "exit code 1".
        let outcome = match outcome {
            Outcome::Completed | Outcome::Error { .. } => {
                let failure =
                    self.config().agents.get(&task.agent).and_then(|a| a.failure_in(&result));
                match (failure, outcome) {
                    (Some(line), Outcome::Error { exit_code, .. }) => {
                        Outcome::Error { exit_code, reason: line }
                    }
                    (Some(line), _) => Outcome::Error { exit_code: Some(0), reason: line },
                    (None, o) => o,
                }
            }
            o => o,
        };
        let ended = {
            let mut st = self.lock();
            let Some(mut t) = st.tasks.get(id).cloned() else {
                return;
            };
            if let Err(e) = t.finish(outcome, timefmt::now()) {
                tracing::error!(error = %e, "refused transition");
                return;
            }
            t.summary = summary.or_else(|| t.reason.clone());
            if t.session.is_none() {
                t.session = self.find_session(&t.agent, &t.id, &result);
            }
            // The process is gone: its slot goes to the next task now, while the record is
            // being made durable.
            st.running.remove(id);
            st.sched.release(id);
            st.finishing += 1;
            self.dispatch(&mut st);
            t
        };
        if let Err(e) =
            self.writer.save_wait(ended.clone(), Some(result.clone()), Durability::Now).await
        {
            tracing::error!(task = id, error = %e, "task end may not be durable");
        }
        tracing::info!(task = id, status = %ended.status, reason = ?ended.reason, "ended");
        if let Some(agent) = self.config().summarizer.as_ref().map(|s| s.get_ref().clone())
            && !result.trim().is_empty()
        {
            tokio::spawn(self.clone().summarize(ended.clone(), agent, result));
        }
        self.schedule_pane_close(&ended);
        if ended.session.is_none()
            && self.config().agents.get(&ended.agent).is_some_and(|a| a.session_command.is_some())
        {
            tokio::spawn(self.clone().learn_session(ended.clone()));
        }
        let mut st = self.lock();
        st.finishing = st.finishing.saturating_sub(1);
        st.put(ended.clone());
        self.emit(Event::TaskChanged { task: Box::new(ended) });
    }

    /// Cancels tasks: pending ones at once, running ones by stopping their process. Returns
    /// the ids that were asked to stop and were running.
    pub async fn cancel(self: &Arc<Self>, ids: &[String], reason: &str) -> Vec<String> {
        let (stopping, ended) = self.cancel_now(ids, reason);
        self.record_unstarted(ended).await;
        stopping
    }

    /// The part of `cancel` done under the lock: returns the running tasks asked to stop and
    /// the ended records of pending ones.
    fn cancel_now(self: &Arc<Self>, ids: &[String], reason: &str) -> (Vec<String>, Vec<Task>) {
        let mut st = self.lock();
        let mut stopping = Vec::new();
        let mut ended = Vec::new();
        for id in ids {
            let Some(status) = st.tasks.get(id).map(|t| t.status) else {
                continue;
            };
            match status {
                TaskStatus::Pending if !st.ending.contains(id) && st.sched.remove_queued(id) => {
                    st.envs.remove(id);
                    let outcome = Outcome::Cancelled { exit_code: None, reason: reason.into() };
                    ended.extend(self.end_unstarted(&mut st, id, outcome));
                }
                TaskStatus::Running => {
                    if let Some(tx) = st.running.get(id) {
                        let _ = tx.send(KillReason::Cancel(reason.to_string()));
                        stopping.push(id.clone());
                    }
                }
                _ => {}
            }
        }
        self.dispatch(&mut st);
        (stopping, ended)
    }

    /// Ids of all tasks not yet ended, oldest first.
    pub fn unfinished(&self) -> Vec<String> {
        let st = self.lock();
        st.order
            .iter()
            .filter(|id| st.tasks.get(*id).is_some_and(|t| !t.status.is_terminal()))
            .cloned()
            .collect()
    }

    /// The spec to run a task again.
    pub fn retry_spec(&self, id: &str) -> Option<TaskSpec> {
        let st = self.lock();
        let t = st.tasks.get(id)?;
        let (category, agent) = match &t.category {
            Some(c) => (Some(c.clone()), None),
            None => (None, Some(t.agent.clone())),
        };
        Some(TaskSpec {
            prompt: t.prompt.clone(),
            agent,
            category,
            model: t.model.clone(),
            title: Some(t.title.clone()),
            skills: t.skills.clone(),
            cwd: Some(t.cwd.clone()),
            client_cwd: None,
            env: None,
            parent: Some(t.id.clone()),
            tmux: t.tmux.clone(),
            resume: None,
        })
    }

    /// The tasks, newest first, each as its cached JSON object (shared, not copied): the
    /// elements of `list`'s JSON array.
    pub fn list_json(&self, filter: &ListFilter) -> Result<Vec<Arc<str>>, ErrorBody> {
        let mut guard = self.lock();
        let st = &mut *guard;
        for id in std::mem::take(&mut st.dirty) {
            let (Some(t), Some(&i)) = (st.tasks.get(&id), st.pos.get(&id)) else {
                continue;
            };
            let j = serde_json::to_string(t)
                .map_err(|e| ErrorBody::new(ErrorKind::Internal, e.to_string()))?;
            st.json[i] = Arc::from(j);
        }
        let unfiltered = filter.status.is_empty() && filter.since.is_none();
        let limit = filter.limit.unwrap_or(usize::MAX);
        let mut out = Vec::with_capacity(st.order.len().min(limit));
        for (i, id) in st.order.iter().enumerate().rev() {
            if out.len() >= limit {
                break;
            }
            if !unfiltered {
                let Some(t) = st.tasks.get(id) else { continue };
                let keep = (filter.status.is_empty() || filter.status.contains(&t.status))
                    && filter.since.is_none_or(|s| t.created_at >= s);
                if !keep {
                    continue;
                }
            }
            out.push(st.json[i].clone());
        }
        Ok(out)
    }

    pub fn status(&self) -> StatusData {
        let settings = self.settings.read().unwrap_or_else(|p| p.into_inner());
        let st = self.lock();
        let counts = TaskStatus::ALL
            .iter()
            .map(|s| (*s, st.tasks.values().filter(|t| t.status == *s).count()))
            .collect();
        let now = timefmt::now();
        StatusData {
            version: env!("CARGO_PKG_VERSION").into(),
            pid: std::process::id(),
            socket: self.paths.socket(),
            data_dir: self.paths.data.clone(),
            config: settings.file.clone(),
            config_error: settings.error.clone(),
            config_digest: Some(settings.digest),
            started_at: self.started_at,
            uptime_ms: (now - self.started_at).num_milliseconds(),
            counts,
            groups: st.sched.usage(),
            store_problems: st.problems.clone(),
            layout: st.layout.clone().unwrap_or_else(|| self.config().layout_name().to_string()),
            panes: vec![],
            notifications: self.notify_server.describe(),
        }
    }

    /// Stops accepting work and stops every running task; pending ones stay queued on disk.
    pub fn begin_shutdown(self: &Arc<Self>) -> usize {
        let mut st = self.lock();
        st.shutting_down = true;
        for tx in st.running.values() {
            let _ = tx.send(KillReason::Cancel("cancelled: the daemon shut down".into()));
        }
        st.running.len()
    }

    /// Returns once every queued update of the task files is written and flushed.
    pub async fn flush(&self) {
        if let Err(e) = self.writer.barrier().await {
            tracing::error!(error = %e, "cannot flush the task files");
        }
    }

    /// Tasks running or being started.
    pub fn running_count(&self) -> usize {
        let st = self.lock();
        st.running.len() + st.starting + st.finishing
    }

    /// The result (ended) or the tail of the output so far (running).
    pub fn output_of(&self, task: &Task) -> (Option<String>, Option<String>) {
        if task.status.is_terminal() {
            let r = self.store.read_result(&task.id).unwrap_or_else(|e| {
                tracing::warn!(task = %task.id, error = %format!("{e:#}"), "cannot read result");
                None
            });
            (r, None)
        } else {
            (None, Some(tail_of(&task.log_path, 20)))
        }
    }
}

fn resolve_in(st: &State, prefix: &str) -> Result<String, ErrorBody> {
    ids::resolve_id(prefix, st.tasks.keys().map(String::as_str)).map_err(|e| {
        let kind = match e {
            ids::IdError::Ambiguous { .. } => ErrorKind::AmbiguousId,
            _ => ErrorKind::UnknownId,
        };
        ErrorBody::new(kind, e.to_string())
    })
}

/// The task's whole output, cleaned, as the result text to keep.
pub fn read_output(log: &std::path::Path) -> String {
    match std::fs::read(log) {
        Ok(bytes) => store::result_from_output(&text::clean_output(&bytes)),
        Err(_) => String::new(),
    }
}

/// The last `n` lines of a log, cleaned.
pub fn tail_of(log: &std::path::Path, n: usize) -> String {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut f) = std::fs::File::open(log) else {
        return String::new();
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let start = len.saturating_sub(16 * 1024);
    let mut buf = Vec::new();
    if f.seek(SeekFrom::Start(start)).is_err() || f.read_to_end(&mut buf).is_err() {
        return String::new();
    }
    let text = text::clean_output(&buf);
    let lines: Vec<&str> = text.trim_end().lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Whether process `pid` still runs task `id`'s agent (its environment names the task).
fn runs_task(pid: u32, id: &str) -> bool {
    let Ok(environ) = std::fs::read(format!("/proc/{pid}/environ")) else { return false };
    let marker = format!("PANEHERD_TASK_ID={id}");
    environ.split(|b| *b == 0).any(|kv| kv == marker.as_bytes())
}

/// A task's process may outlive a daemon killed with SIGKILL. Stop it if it is still there and
/// still ours (its environment names the task), so it does not run on unwatched.
fn stop_orphan(task: &Task) {
    let Some(pid) = task.pid else { return };
    if runs_task(pid, &task.id) {
        tracing::warn!(task = %task.id, pid, "stopping the process of a task lost in a restart");
        runner::signal_group(pid, nix::sys::signal::Signal::SIGTERM);
    }
}
