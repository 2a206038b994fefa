//! The engine's side of clients' requests: submitting (and retrying, continuing), cancelling,
//! reading the table, agents' signals, pane wrappers reporting in, dashboards' main panes and
//! layouts.

use super::*;
use crate::core::task::{Outcome, TaskSpec};
use crate::core::text;
use crate::proto::{ErrorBody, ErrorKind, Event, PaneLaunch, Request, StatusData};
use crate::store::Durability;

impl Engine {
    pub(super) fn request(
        &mut self,
        request: Request,
        reply: ReplyTo,
        conn: u64,
        now: Timestamp,
    ) -> Vec<Effect> {
        let answer = |a: Reply| vec![Effect::Reply { to: reply, answer: a }];
        match request {
            Request::Submit { spec } => self.submit(*spec, reply, now),
            Request::Retry { id } => {
                match self.table.resolve(&id).and_then(|id| self.retry_spec(&id)) {
                    Ok(spec) => self.submit(spec, reply, now),
                    Err(e) => answer(Err(e)),
                }
            }
            Request::Continue { id, prompt, earlier } => {
                match self.continue_spec(&id, &prompt, earlier) {
                    Ok(spec) => self.submit(spec, reply, now),
                    Err(e) => answer(Err(e)),
                }
            }
            Request::Get { id } => answer(
                self.table
                    .resolve(&id)
                    .map(|id| Answer::MaybeTask(self.table.get(&id).map(|t| Box::new(t.clone())))),
            ),
            Request::List { filter } => answer(self.table.list_json(&filter).map(Answer::List)),
            // The pane manager adds where the agent panes are, as it knows it now.
            Request::Status => vec![Effect::Status { reply, status: Box::new(self.status(now)) }],
            Request::Cancel { ids, all } => match self.resolve_many(&ids, all) {
                Ok(ids) => {
                    let (_stopping, mut fx) = self.cancel(&ids, "cancelled by user", now);
                    fx.push(Effect::Reply { to: reply, answer: Ok(Answer::Ids(ids)) });
                    fx
                }
                Err(e) => answer(Err(e)),
            },
            Request::Signal { task_id, kind, text } => {
                self.signal(&task_id, &kind, text, reply, now)
            }
            Request::PaneAttach { task_id } => {
                self.wrappers.insert(conn, (task_id.clone(), false));
                answer(self.pane_launch(&task_id))
            }
            Request::PaneStarted { task_id, pid, error, pane } => {
                // The wrapper may report before the pane manager has said where its pane is.
                if let (Some(run), Some(p)) = (self.runs.get_mut(&task_id), pane) {
                    run.pane.get_or_insert(p);
                }
                let mut fx = match (pid, error) {
                    (Some(pid), None) => self.started(&task_id, pid, now),
                    (_, e) => {
                        let why = e.unwrap_or_else(|| "the wrapper reported no pid".into());
                        self.start_failed(&task_id, why, now)
                    }
                };
                fx.push(Effect::Reply { to: reply, answer: Ok(Answer::Unit) });
                fx
            }
            Request::PaneExited { task_id, code, signal } => {
                if let Some(w) = self.wrappers.get_mut(&conn).filter(|w| w.0 == task_id) {
                    w.1 = true;
                }
                let mut fx = self.exited(&task_id, crate::runner::Exit { code, signal }, now);
                fx.push(Effect::Reply { to: reply, answer: Ok(Answer::Unit) });
                fx
            }
            Request::PaneOutput { task_id, bytes } => {
                let mut fx = self.output(&task_id, bytes, now);
                fx.push(Effect::Reply { to: reply, answer: Ok(Answer::Unit) });
                fx
            }
            Request::RegisterMain { socket, pane } => {
                self.mains.retain(|(c, _)| *c != conn);
                self.mains.push((conn, TmuxOrigin { socket, pane }));
                answer(Ok(Answer::Unit))
            }
            Request::SetLayout { name } => {
                if !self.settings.config.presets.0.contains_key(&name) {
                    return answer(Err(invalid(format!("unknown layout preset {name:?}"))));
                }
                self.layout = Some(name);
                vec![
                    Effect::Relayout { window: None, tmux: self.tmux_settings() },
                    Effect::Reply { to: reply, answer: Ok(Answer::Unit) },
                ]
            }
            Request::Focus { id } => match self.table.resolve(&id) {
                Ok(id) if self.table.get(&id).is_some_and(|t| t.pane_id.is_some()) => {
                    let task = Box::new(self.table.get(&id).cloned().unwrap_or_else(|| {
                        Task::pending(&id, "", "", PathBuf::new(), PathBuf::new(), now)
                    }));
                    vec![Effect::Focus { task, reply, tmux: self.tmux_settings() }]
                }
                Ok(id) => answer(Err(invalid(format!(
                    "task {id} has no tmux pane (it runs headless or has ended)"
                )))),
                Err(e) => answer(Err(e)),
            },
            Request::ClosePanes { ids } => match self.resolve_many(&ids, false) {
                Ok(ids) => {
                    let ended: Vec<String> = ids
                        .into_iter()
                        .filter(|id| self.table.get(id).is_some_and(|t| t.status.is_terminal()))
                        .collect();
                    vec![Effect::ClosePanes {
                        ids: ended,
                        tmux: self.tmux_settings(),
                        reply: Some(reply),
                    }]
                }
                Err(e) => answer(Err(e)),
            },
            Request::TmuxResized { socket, window } => vec![
                Effect::Relayout { window: Some((socket, window)), tmux: self.tmux_settings() },
                Effect::Reply { to: reply, answer: Ok(Answer::Unit) },
            ],
            Request::NotifyTest { tmux } => vec![Effect::NotifyTest { reply, tmux }],
            // Served by the connection itself.
            Request::Output { .. }
            | Request::Wait { .. }
            | Request::Subscribe
            | Request::Shutdown => {
                answer(Err(ErrorBody::new(ErrorKind::Internal, "not the engine's request")))
            }
        }
    }

    /// Resolves the ids of a request: these, or (`all`) every task not yet ended.
    pub(super) fn resolve_many(&self, ids: &[String], all: bool) -> Result<Vec<String>, ErrorBody> {
        if all {
            if !ids.is_empty() {
                return Err(invalid("give ids or all, not both"));
            }
            return Ok(self
                .table
                .ids()
                .filter(|id| self.table.get(id).is_some_and(|t| !t.status.is_terminal()))
                .cloned()
                .collect());
        }
        if ids.is_empty() {
            return Err(invalid("no task ids given (or use all)"));
        }
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let id = self.table.resolve(id)?;
            if !out.contains(&id) {
                out.push(id);
            }
        }
        Ok(out)
    }

    /// Creates a pending task (answered once its file is written) and starts it if it can.
    fn submit(&mut self, spec: TaskSpec, reply: ReplyTo, now: Timestamp) -> Vec<Effect> {
        match self.create(spec, now) {
            Ok((id, mut fx)) => {
                let task = self.table.get(&id).cloned();
                if let Some(task) = task {
                    let token = self.next_token();
                    self.writes.insert(token, AfterWrite::Created { id: id.clone(), reply });
                    fx.insert(
                        0,
                        Effect::Write {
                            token,
                            task: Box::new(task),
                            result: None,
                            durability: Durability::Soon,
                        },
                    );
                }
                fx.extend(self.dispatch(now));
                fx
            }
            Err(e) => vec![Effect::Reply { to: reply, answer: Err(e) }],
        }
    }

    /// Validates a spec and adds its task to the table and its queue; returns its id and its
    /// announcement.
    fn create(
        &mut self,
        spec: TaskSpec,
        now: Timestamp,
    ) -> Result<(String, Vec<Effect>), ErrorBody> {
        if spec.prompt.trim().is_empty() {
            return Err(invalid("the prompt is empty"));
        }
        if spec.prompt.contains('\0') {
            return Err(invalid("the prompt contains a NUL byte"));
        }
        if self.shutting_down {
            return Err(ErrorBody::new(ErrorKind::ShuttingDown, "the daemon is shutting down"));
        }
        let config = self.settings.config.clone();
        let r = config
            .resolve(spec.category.as_deref(), spec.agent.as_deref(), spec.model.as_deref())
            .map_err(invalid)?;
        let agent = config.agents.get(&r.agent).ok_or_else(|| invalid("the agent vanished"))?;
        let cwd = match spec.cwd.clone().or(agent.cwd.clone()).or(spec.client_cwd.clone()) {
            Some(c) if c.is_absolute() => c,
            Some(c) => return Err(invalid(format!("cwd {:?} is not an absolute path", c))),
            None => PathBuf::from("/"),
        };
        if !self.world.is_dir(&cwd) {
            return Err(invalid(format!("cwd {} is not a directory", cwd.display())));
        }
        // An agent that is not installed is refused now, not found missing when it starts.
        let env: Option<Vec<(String, String)>> =
            spec.env.as_ref().map(|e| e.iter().map(|(k, v)| (k.clone(), v.clone())).collect());
        self.program_of(agent, env.as_deref(), &cwd).map_err(invalid)?;
        let group = config.limits().group_for(r.model.as_deref());
        // A dashboard open in tmux hosts the panes: of tasks from its server, and of tasks
        // from outside tmux.
        let tmux = match (spec.tmux, self.mains.last()) {
            (Some(o), Some((_, m))) if o.socket == m.socket => Some(m.clone()),
            (None, Some((_, m))) => Some(m.clone()),
            (o, _) => o,
        };
        let (table, reserved) = (&self.table, &self.reserved);
        let tasks_dir = self.setup.tasks_dir.clone();
        let id = self.world.task_id(&|c| {
            table.contains(c) || reserved.contains(c) || tasks_dir.join(format!("{c}.md")).exists()
        });
        let mut task = Task::pending(
            &id,
            &r.agent,
            &spec.prompt,
            cwd,
            tasks_dir.join(format!("{id}.log")),
            now,
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
            Some(_) => None,
            None => agent.makes_session_id().then(|| self.world.session_id()),
        };
        task.resume = spec.resume;
        task.limit_group = group.key.clone();
        if let Some(env) = env {
            self.envs.insert(id.clone(), env);
        }
        self.sched.enqueue(&id, &group);
        self.table.put(task.clone());
        Ok((id, vec![Effect::Announce(Event::TaskCreated { task: Box::new(task) })]))
    }

    /// The spec to run a task again (a new task, linked to it).
    fn retry_spec(&self, id: &str) -> Result<TaskSpec, ErrorBody> {
        let t = self.table.get(id).ok_or_else(|| ErrorBody::new(ErrorKind::UnknownId, id))?;
        let (category, agent) = match &t.category {
            Some(c) => (Some(c.clone()), None),
            None => (None, Some(t.agent.clone())),
        };
        Ok(TaskSpec {
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

    /// The spec of a follow-up to task `id`: through the agent's `continue_command` when it
    /// can (the session is known, or the agent continues by directory), else a new task that
    /// carries the earlier prompt and result — never for a command line, whose output is not
    /// a conversation and must never be run as a command.
    fn continue_spec(
        &self,
        id: &str,
        prompt: &str,
        earlier: Option<String>,
    ) -> Result<TaskSpec, ErrorBody> {
        if prompt.trim().is_empty() {
            return Err(invalid("the follow-up prompt is empty"));
        }
        let id = self.table.resolve(id)?;
        let t =
            self.table.get(&id).ok_or_else(|| ErrorBody::new(ErrorKind::UnknownId, id.clone()))?;
        let mut spec = self.retry_spec(&id)?;
        spec.title = Some(format!("{} (continued)", text::cut(&t.title, 48)));
        let agent = self.settings.config.agents.get(&t.agent);
        let resume = match (agent, &t.session) {
            (Some(a), Some(s)) if a.continue_command.is_some() => Some(s.clone()),
            (Some(a), _) if a.continue_command.is_some() && !a.continues_by_session() => {
                Some(String::new())
            }
            _ => None,
        };
        match resume {
            Some(session) => {
                spec.prompt = prompt.to_string();
                spec.resume = Some(session);
                spec.category = None;
                spec.agent = Some(t.agent.clone());
            }
            None if agent.is_some_and(|a| a.prompt_goes_to_shell()) => {
                return Err(invalid(format!(
                    "task {id} ran a command line (agent {:?} hands its prompt to a shell), so there \
                     is no conversation to continue and its output is never run as a command. Run \
                     a new command with `paneherd run --agent {} …`, or `paneherd retry {id}` to \
                     run it again.",
                    t.agent, t.agent
                )));
            }
            None => {
                // The earlier result (the connection read it) is carried in the new prompt.
                let earlier = earlier.or_else(|| t.summary.clone()).unwrap_or_default();
                spec.prompt = format!(
                    "{prompt}\n\n---\nThis continues earlier task {id} (\"{}\").\nIts prompt was:\n{}\n\nIts result was:\n{earlier}",
                    t.title, t.prompt
                );
            }
        }
        Ok(spec)
    }

    /// `paneherd signal`: an agent waits for input, works again, is done, or names its session.
    fn signal(
        &mut self,
        task_id: &str,
        kind: &str,
        text: Option<String>,
        reply: ReplyTo,
        now: Timestamp,
    ) -> Vec<Effect> {
        let answer = |a: Reply| vec![Effect::Reply { to: reply, answer: a }];
        let id = match self.table.resolve(task_id) {
            Ok(id) => id,
            Err(e) => return answer(Err(e)),
        };
        if self.table.get(&id).map(|t| t.status) != Some(TaskStatus::Running) {
            return answer(Err(invalid(format!("task {id} is not running"))));
        }
        let mut fx = vec![];
        match kind {
            "done" => fx.extend(self.kill(&id, KillReason::Done, now)),
            "waiting" | "working" | "session" => {
                if kind == "session" && text.as_deref().is_none_or(|s| s.trim().is_empty()) {
                    return answer(Err(invalid("signal session needs the session id")));
                }
                let Some(t) = self.table.get_mut(&id) else { return answer(Err(invalid("gone"))) };
                match kind {
                    "waiting" => {
                        t.needs_input = Some(text.unwrap_or_else(|| "waiting for input".into()))
                    }
                    "working" => t.needs_input = None,
                    _ => t.session = text,
                }
                let t = t.clone();
                fx.push(self.write(&t, None, Durability::Written, None));
                fx.push(Effect::Announce(Event::TaskChanged { task: Box::new(t) }));
            }
            other => {
                return answer(Err(invalid(format!(
                    "unknown signal {other:?} (waiting, working, done, session)"
                ))));
            }
        }
        let task = self.table.get(&id).map(|t| Box::new(t.clone()));
        fx.push(Effect::Reply {
            to: reply,
            answer: task.map(Answer::Task).ok_or_else(|| invalid("gone")),
        });
        fx
    }

    /// What a pane's wrapper runs for `task_id` (nothing, for a wrapper reporting in to a new
    /// daemon after a restart).
    fn pane_launch(&mut self, task_id: &str) -> Reply {
        let run = self.runs.get_mut(task_id).ok_or_else(|| {
            ErrorBody::new(ErrorKind::UnknownId, format!("no pane task {task_id:?} is running"))
        })?;
        let Some(l) = run.launch.take() else {
            return Ok(Answer::Unit);
        };
        let (clear_env, mut env) = match &l.base_env {
            Some(base) => (true, base.clone()),
            None => (false, vec![]),
        };
        env.extend(l.env.iter().cloned());
        Ok(Answer::PaneLaunch(Box::new(PaneLaunch {
            argv: l.argv.clone(),
            env,
            clear_env,
            cwd: l.cwd.clone(),
            log_path: l.log_path.clone(),
        })))
    }

    /// A connection closed: a dashboard's main pane is released; a pane wrapper gone before it
    /// reported its agent's exit means its pane closed (or its tmux server went away).
    pub(super) fn closed(&mut self, conn: u64, now: Timestamp) -> Vec<Effect> {
        self.mains.retain(|(c, _)| *c != conn);
        let Some((id, false)) = self.wrappers.remove(&conn) else { return vec![] };
        let Some(t) = self.table.get(&id).filter(|t| t.status == TaskStatus::Running) else {
            return vec![];
        };
        let (Some(origin), Some(pane)) = (t.tmux.clone(), t.pane_id.clone()) else { return vec![] };
        let _ = now;
        vec![Effect::CheckHangup { id, origin, pane }]
    }

    pub(super) fn status(&self, now: Timestamp) -> StatusData {
        let counts = TaskStatus::ALL
            .iter()
            .map(|s| (*s, self.table.all().filter(|t| t.status == *s).count()))
            .collect();
        StatusData {
            version: env!("CARGO_PKG_VERSION").into(),
            pid: self.setup.pid,
            socket: self.setup.socket.clone(),
            data_dir: self.setup.data_dir.clone(),
            config: self.settings.file.clone(),
            config_error: self.settings.error.clone(),
            config_digest: Some(self.settings.digest),
            started_at: self.setup.started_at,
            uptime_ms: (now - self.setup.started_at).num_milliseconds(),
            counts,
            groups: self.sched.usage(),
            store_problems: self.problems.clone(),
            layout: self.layout_name(),
            panes: vec![],
            notifications: self.notifier.clone(),
        }
    }

    /// The layout preset in force.
    pub(super) fn layout_name(&self) -> String {
        self.layout.clone().unwrap_or_else(|| self.settings.config.layout_name().to_string())
    }

    /// The tmux settings in force (the dashboard may have switched the layout).
    pub(super) fn tmux_settings(&self) -> crate::tmux::TmuxSettings {
        match &self.layout {
            Some(n) => self.settings.config.tmux_settings_for(n),
            None => self.settings.config.tmux_settings(),
        }
    }

    /// Ends a task that never ran (cancelled while pending, or unable to start): its end is
    /// written, then announced.
    pub(super) fn end_unstarted(
        &mut self,
        id: &str,
        outcome: Outcome,
        now: Timestamp,
    ) -> Vec<Effect> {
        let Some(mut t) = self.table.get(id).cloned() else { return vec![] };
        if t.finish(outcome, now).is_err() {
            return vec![];
        }
        t.summary = t.reason.clone();
        self.envs.remove(id);
        self.ending.insert(id.to_string());
        let result = t.reason.clone();
        let token = self.next_token();
        self.writes.insert(token, AfterWrite::Ended { task: Box::new(t.clone()) });
        vec![Effect::Write { token, task: Box::new(t), result, durability: Durability::Now }]
    }

    /// A write's token.
    pub(super) fn next_token(&mut self) -> u64 {
        let t = self.next_write;
        self.next_write += 1;
        t
    }

    /// A record to write with nothing to do after it.
    pub(super) fn write(
        &mut self,
        task: &Task,
        result: Option<String>,
        durability: Durability,
        after: Option<AfterWrite>,
    ) -> Effect {
        let token = self.next_token();
        if let Some(a) = after {
            self.writes.insert(token, a);
        }
        Effect::Write { token, task: Box::new(task.clone()), result, durability }
    }

    /// Tasks that ran when a daemon died without a trace of where: recorded as lost (after
    /// their output is collected), and their process stopped if it still runs.
    pub(super) fn lose(&mut self, task: &Task, now: Timestamp) -> Vec<Effect> {
        let mut fx = vec![];
        if let Some(pid) = task.pid {
            fx.push(Effect::StopOrphan { id: task.id.clone(), pid });
        }
        let run = Run {
            ended: Some(Outcome::Error {
                exit_code: None,
                reason: "lost: daemon restarted while it ran".into(),
            }),
            ..Default::default()
        };
        self.runs.insert(task.id.clone(), run);
        let _ = now;
        fx.push(Effect::Collect { id: task.id.clone(), log: task.log_path.clone() });
        fx
    }
}
