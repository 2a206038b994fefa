//! A task taken off its queue and started: its argv built from the config (the program still
//! installed?), then launched headless or in a pane, its clocks set once its process runs.

use super::*;
use crate::config::AgentConfig;
use crate::core::argv;
use crate::core::records::{Durability, SecretOp};
use crate::core::task::Outcome;
use crate::core::task::TaskSecret;
use crate::proto::Event;

/// Why a task's process cannot be started (said in its reason).
#[derive(Debug, thiserror::Error)]
pub(super) enum StartError {
    #[error("agent {0:?} is no longer in the config")]
    AgentGone(String),
    #[error(transparent)]
    Template(#[from] argv::TemplateError),
    #[error(transparent)]
    Locate(#[from] crate::core::launch::LocateError),
    #[error(transparent)]
    Confine(#[from] crate::core::launch::ConfineError),
    #[error(
        "its sandbox cannot be made: {0} — install bubblewrap (Debian: `apt install bubblewrap`; \
         `paneherd sandbox check` says what works here), or run it with `--sandbox none`; it was \
         not run without one"
    )]
    NoBwrap(crate::core::launch::LocateError),
    #[error(transparent)]
    Kind(#[from] crate::core::sandbox::KindError),
    #[error(
        "its sandbox cannot be made: {source} — install {engine} (or use `--sandbox bwrap`; \
         `paneherd sandbox check` says what works here); it was not run without one"
    )]
    NoEngine { engine: &'static str, source: crate::core::launch::LocateError },
}

impl Engine {
    /// Starts every queued task that has a free slot.
    pub(super) fn dispatch(&mut self, now: Timestamp) -> Vec<Effect> {
        let mut fx = vec![];
        if self.shutting_down {
            return fx;
        }
        loop {
            // Hosts whose `max_tasks` are at work: their queued tasks wait, others go first.
            let full = self.hosts_full();
            let table = &self.table;
            let may = |id: &str| {
                table.get(id).and_then(|t| t.host.as_ref()).is_none_or(|h| !full.contains(h))
            };
            let Some(id) = self.sched.next_ready_where(may) else { break };
            fx.extend(self.start(&id, now));
        }
        fx
    }

    /// The program an agent runs, found as the task's process would find it (on the `PATH` of
    /// `env`, the submitter's; else the daemon's), or why it cannot be.
    pub(super) fn program_of(
        &self,
        agent: &AgentConfig,
        env: Option<&[(String, String)]>,
        cwd: &std::path::Path,
    ) -> Result<PathBuf, StartError> {
        let first = agent.command.get_ref().first().cloned().unwrap_or_default();
        let values = [("paneherd", self.setup.exe.display().to_string())].into_iter().collect();
        let program = argv::expand(&[first], &values)?.pop().unwrap_or_default();
        self.locate(&program, env, cwd)
    }

    /// Finds `program` as the task's process would (on the `PATH` of `env`, the submitter's;
    /// else the daemon's).
    fn locate(
        &self,
        program: &str,
        env: Option<&[(String, String)]>,
        cwd: &std::path::Path,
    ) -> Result<PathBuf, StartError> {
        let path = match env {
            Some(env) => env.iter().find(|(k, _)| k == "PATH").map(|(_, v)| v.clone()),
            None => self.setup.path.clone(),
        };
        Ok(self.world.find_program(program, path.as_deref(), cwd)?)
    }

    /// What `task`'s sandbox lets its agent write and see: its directory, its agent's state
    /// dirs and `[sandbox] read_write` writable; `hide` hidden (`~` as its environment's home).
    fn sandbox_of(
        &self,
        task: &Task,
        env: Option<&[(String, String)]>,
    ) -> crate::core::sandbox::Sandbox {
        use crate::core::sandbox::expand_home;
        let config = &self.settings.config;
        let home = env
            .and_then(|e| e.iter().find(|(k, _)| k == "HOME").map(|(_, v)| PathBuf::from(v)))
            .or_else(|| self.setup.home.clone());
        let state =
            config.agents.get(&task.agent).map(|a| a.state_dirs.clone()).unwrap_or_default();
        let mut writable = vec![task.cwd.clone()];
        writable.extend(
            state
                .iter()
                .chain(&config.sandbox.read_write)
                .filter_map(|p| expand_home(p, home.as_deref())),
        );
        let hidden = config
            .sandbox
            .hide
            .iter()
            .filter_map(|p| expand_home(p, home.as_deref()))
            // What is not there needs no hiding (and bwrap could not make it in a read-only home).
            .filter(|p| self.world.exists(p))
            .collect();
        crate::core::sandbox::Sandbox {
            network: config.sandbox.network,
            writable,
            hidden,
            socket: self.setup.socket.clone(),
            home,
            readable: vec![],
        }
    }

    /// `launch` inside `task`'s sandbox, when it has one (its kind checked when it was
    /// submitted, and again here: a record of an older paneherd may name another).
    fn sandboxed(
        &self,
        launch: Launch,
        task: &Task,
        env: Option<&[(String, String)]>,
    ) -> Result<Launch, StartError> {
        use crate::core::sandbox::{self, Container, Kind};
        let kind = match task.sandbox.as_deref() {
            Some(s) => s.parse::<Kind>()?,
            None => Kind::None,
        };
        let path = self.setup.path.as_deref();
        match kind {
            Kind::None => Ok(launch),
            Kind::Bwrap => {
                let mut s = self.sandbox_of(task, env);
                // Its program and paneherd's (its hooks run it), where they are installed
                // under the private /tmp.
                for p in [launch.program.as_path(), self.setup.exe.as_path()] {
                    if let Some(top) = sandbox::under_tmp(p).filter(|t| !s.readable.contains(t)) {
                        s.readable.push(top);
                    }
                }
                let bwrap = &self.settings.config.sandbox.bwrap;
                let found = self.world.find_program(bwrap, path, &task.cwd);
                let bwrap = found.map_err(StartError::NoBwrap)?;
                Ok(sandbox::wrap(launch, &s, &bwrap)?)
            }
            Kind::Container { engine, image } => {
                let mut s = self.sandbox_of(task, env);
                // Nothing of this machine is there but what is mounted, and a mount of what
                // is missing would fail (or be made, as root's).
                s.writable.retain(|w| self.world.exists(w));
                let found = self.world.find_program(engine.program(), path, &task.cwd);
                let program = found
                    .map_err(|source| StartError::NoEngine { engine: engine.program(), source })?;
                let c = Container {
                    engine,
                    program: &program,
                    image: &image,
                    tty: task.tmux.is_some(),
                    user: self.setup.user,
                    paneherd: &self.setup.exe,
                };
                Ok(sandbox::contain(launch, &s, &c)?)
            }
        }
    }

    /// The values of an argv template's placeholders for `task`, run with `prompt`.
    pub(super) fn template_values(
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
        values.insert("paneherd", self.setup.exe.display().to_string());
        values.insert("answer_file", task.answer_path().display().to_string());
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

    /// Takes a task off the queue and starts it: its worktree made first when it wants one
    /// (a job of its own; `worktree_ready` goes on), then `launch`.
    pub(super) fn start(&mut self, id: &str, now: Timestamp) -> Vec<Effect> {
        let Some(task) = self.table.get(id) else { return vec![] };
        // Another host's task: made (worktree and all) there.
        if let Some(host) = task.host.clone() {
            return self.launch_remote(id, &host, now);
        }
        if let (Some(request), None) = (&task.worktree_request, &task.worktree) {
            let prepare = crate::core::worktrees::Prepare {
                task_id: id.to_string(),
                cwd: task.cwd.clone(),
                request: request.clone(),
                settings: self.settings.config.worktree_settings(),
            };
            self.runs.insert(id.to_string(), Run { preparing: true, ..Default::default() });
            return vec![Effect::PrepareWorktree { prepare: Box::new(prepare) }];
        }
        self.launch(id, now)
    }

    /// The task's worktree is there (or could not be made: it ends as an error, naming git's
    /// complaint). Recorded on the task before anything else, so that it is never lost track of.
    pub(super) fn worktree_ready(
        &mut self,
        id: &str,
        result: Result<crate::core::worktrees::Prepared, crate::core::records::Failure>,
        now: Timestamp,
    ) -> Vec<Effect> {
        if !self.runs.get(id).is_some_and(|r| r.preparing) {
            return vec![];
        }
        let Some(run) = self.runs.remove(id) else { return vec![] };
        let made = result.as_ref().ok().cloned();
        if let (Some(p), Some(t)) = (&made, self.table.get_mut(id)) {
            t.worktree = Some(p.path.clone());
            t.branch = Some(p.branch.clone());
            t.base = Some(p.base.clone());
            t.repo = Some(p.repo.clone());
            t.worktree_note = p.note.clone();
            t.cwd = p.cwd.clone();
        }
        let outcome = match (run.kill, result) {
            (Some(kill), _) => Some(kill.outcome(None)),
            (None, Err(reason)) => {
                Some(Outcome::Error { exit_code: None, reason: format!("worktree: {reason}") })
            }
            (None, Ok(_)) => None,
        };
        if let Some(outcome) = outcome {
            self.sched.release(id);
            let mut fx = self.end_unstarted(id, outcome, now);
            fx.extend(self.dispatch(now));
            return fx;
        }
        let mut fx = vec![];
        if let Some(t) = self.table.get(id).cloned() {
            fx.push(self.write(&t, None, Durability::Soon, None));
            fx.push(Effect::Announce(Event::TaskChanged { task: Box::new(t) }));
        }
        fx.extend(self.launch(id, now));
        fx
    }

    /// Starts a task's process: in a tmux pane when it came from inside tmux, else headless. A
    /// task that cannot start ends as an error.
    fn launch(&mut self, id: &str, now: Timestamp) -> Vec<Effect> {
        let Some(task) = self.table.get(id).cloned() else { return vec![] };
        let env = self.envs.remove(id);
        let token = self.world.secret();
        let config = self.settings.config.clone();
        let launch = (|| {
            let agent = config
                .agents
                .get(&task.agent)
                .ok_or_else(|| StartError::AgentGone(task.agent.clone()))?;
            let mut values = self.template_values(
                &task,
                task.prompt.clone(),
                task.model.as_deref(),
                &task.skills,
            );
            let template = match (&task.resume, &agent.continue_command) {
                (Some(session), Some(cont)) => {
                    values.insert("session", session.clone());
                    cont.get_ref()
                }
                _ => agent.command.get_ref(),
            };
            let argv = argv::expand(template, &values)?;
            let stdin = match &agent.stdin {
                Some(s) => Some(argv::expand(std::slice::from_ref(s.get_ref()), &values)?.concat()),
                None => None,
            };
            // Installed when the task was submitted; still there now?
            let program = self.locate(
                argv.first().map(String::as_str).unwrap_or_default(),
                env.as_deref(),
                &task.cwd,
            )?;
            // PWD too: programs that take their directory from it (OpenCode does) must not run
            // in the submitter's or the daemon's.
            let mut extra = vec![("PWD".to_string(), task.cwd.display().to_string())];
            extra.extend(agent.env.iter().map(|(k, v)| (k.clone(), v.clone())));
            extra.push(("PANEHERD_TASK_ID".into(), task.id.clone()));
            // The task's own token: its signals (`paneherd signal`, its hooks) carry it, and its
            // pane's wrapper attaches with it.
            extra.push(("PANEHERD_TASK_TOKEN".into(), token.clone()));
            // Its answer file, made before it starts: a sandbox can let it write only that.
            let answer = task.answer_path();
            let answer_s = answer.display().to_string();
            let touch =
                if argv.iter().any(|a| a.contains(&answer_s)) { vec![answer] } else { vec![] };
            Ok::<_, StartError>(Launch {
                task_id: task.id.clone(),
                program,
                argv,
                base_env: env.clone(),
                env: extra,
                cwd: task.cwd.clone(),
                log_path: task.log_path.clone(),
                stdin,
                touch,
            })
        })();
        let sandboxed = launch.and_then(|l| self.sandboxed(l, &task, env.as_deref()));
        let confined = sandboxed.and_then(|l| Ok(self.setup.confinement.confine(l)?));
        let launch = match confined {
            Ok(l) => l,
            Err(e) => {
                self.sched.release(id);
                let reason = e.to_string();
                return self.end_unstarted(id, Outcome::Error { exit_code: None, reason }, now);
            }
        };
        let (stale, ttl) = config.timeouts_for(task.category.as_deref(), &task.agent);
        let idle = config
            .agents
            .get(&task.agent)
            .and_then(|a| a.idle_secs.as_ref())
            .map(|s| Duration::from_secs(*s.get_ref()));
        let mut run = Run {
            stale: Duration::from_secs(stale),
            ttl: Duration::from_secs(ttl),
            idle,
            token: Some(token.clone()),
            ..Default::default()
        };
        let fx = match &task.tmux {
            Some(origin) => {
                run.launch = Some(launch);
                vec![Effect::Pane(PaneJob::Open {
                    id: id.to_string(),
                    origin: origin.clone(),
                    cwd: task.cwd.clone(),
                    title: task.title.clone(),
                    token,
                    tmux: self.tmux_settings(),
                })]
            }
            None => vec![Effect::Launch { launch: Box::new(launch) }],
        };
        self.runs.insert(id.to_string(), run);
        fx
    }

    /// The pane manager opened a pane: its wrapper has `WRAPPER_START` to start the agent.
    pub(super) fn pane_opened(&mut self, id: &str, pane: String, now: Timestamp) -> Vec<Effect> {
        let Some(run) = self.runs.get_mut(id) else { return vec![] };
        run.pane = Some(pane);
        vec![Effect::timer(id, TimerKind::WrapperStart, now, WRAPPER_START)]
    }

    /// A task's process could not be started (or its pane could not be opened: then it runs
    /// headless).
    pub(super) fn start_failed(&mut self, id: &str, reason: String, now: Timestamp) -> Vec<Effect> {
        let Some(run) = self.runs.get_mut(id) else { return vec![] };
        if run.pid.is_some() {
            return vec![];
        }
        // No pane (tmux unreachable): the task runs headless instead.
        if run.pane.is_none()
            && let Some(launch) = run.launch.take()
        {
            return vec![Effect::Launch { launch: Box::new(launch) }];
        }
        let had_pane = run.pane.is_some();
        self.runs.remove(id);
        self.sched.release(id);
        let mut fx = self.end_unstarted(id, Outcome::Error { exit_code: None, reason }, now);
        if had_pane {
            fx.push(Effect::Pane(PaneJob::Close {
                ids: vec![id.to_string()],
                tmux: self.tmux_settings(),
                reply: None,
            }));
        }
        fx.extend(self.dispatch(now));
        fx
    }

    /// A task's process runs: its timers start.
    pub(super) fn started(&mut self, id: &str, pid: u32, now: Timestamp) -> Vec<Effect> {
        let Some(run) = self.runs.get_mut(id) else { return vec![] };
        if run.pid.is_some() {
            return vec![];
        }
        run.pid = Some(pid);
        let (stale, ttl, pane, kill) = (run.stale, run.ttl, run.pane.clone(), run.kill.clone());
        // Its environment has served; a pane task keeps its token through a restart (its
        // wrapper and agent report with it to the next daemon).
        let secret = match (&run.token, &run.pane) {
            (Some(t), Some(_)) => {
                SecretOp::Set(TaskSecret { env: None, pane_token: Some(t.clone()) })
            }
            _ => SecretOp::Clear,
        };
        let Some(t) = self.table.get_mut(id) else { return vec![] };
        t.pane_id = pane;
        if t.start(pid, now).is_err() {
            return vec![];
        }
        let t = t.clone();
        let mut fx = vec![
            // Not flushed: after a power loss it shows as pending or as lost, both true
            // enough. Its creation and its end are durable.
            self.writes.record(t.clone(), None, Durability::Written, secret, None),
            Effect::Announce(Event::TaskChanged { task: Box::new(t) }),
            Effect::timer(id, TimerKind::Stale, now, stale),
            Effect::timer(id, TimerKind::Ttl, now, ttl),
        ];
        // Cancelled (or the daemon stopping) while it was being started: stop it now.
        if kill.is_some() {
            fx.extend(self.signal_kill(id, now));
        }
        fx
    }
}
