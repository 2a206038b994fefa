//! The engine's side of clients' requests: which request does what, reading the table, agents'
//! signals, pane wrappers reporting in, dashboards' main panes and layouts.

use super::*;
use crate::core::records::Durability;
use crate::proto::{ErrorBody, ErrorKind, Event, PaneLaunch, Request, StatusData};

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
            Request::Retry { id, env } => {
                match self.table.resolve(&id).and_then(|id| self.retry_spec(&id, env)) {
                    Ok(spec) => self.submit(spec, reply, now),
                    Err(e) => answer(Err(e)),
                }
            }
            Request::Continue { id, prompt, earlier, env } => {
                match self.continue_spec(&id, &prompt, earlier, env) {
                    Ok(spec) => self.submit(spec, reply, now),
                    Err(e) => answer(Err(e)),
                }
            }
            Request::Get { id } => answer(
                self.table
                    .resolve(&id)
                    .map(|id| Answer::MaybeTask(self.table.get(&id).map(|t| Box::new(t.clone())))),
            ),
            Request::List { filter } => {
                let whole = filter.is_empty();
                answer(Ok(Answer::List { tasks: self.table.list(&filter), whole }))
            }
            // The pane manager adds where the agent panes are, as it knows it now.
            Request::Status { main } => {
                let conn = self.dashboards.of(conn, main.as_ref());
                vec![Effect::Pane(PaneJob::Status {
                    reply,
                    status: Box::new(self.status(conn, now)),
                    main,
                })]
            }
            Request::Cancel { ids, all } => match self.resolve_many(&ids, all) {
                Ok(ids) => {
                    let (_stopping, mut fx) = self.cancel(&ids, "cancelled by user", now);
                    fx.push(Effect::Reply { to: reply, answer: Ok(Answer::Stopping(ids)) });
                    fx
                }
                Err(e) => answer(Err(e)),
            },
            Request::Signal { task_id, kind, text, token } => {
                self.signal(&task_id, &kind, text, token.as_deref(), reply, now)
            }
            Request::DelegatorSession { delegator, session } => {
                if session.trim().is_empty() || session.len() > 200 {
                    return answer(Err(invalid("a session id is 1 to 200 characters")));
                }
                let (n, mut fx) = self.delegator_session(&delegator, &session);
                fx.push(Effect::Reply { to: reply, answer: Ok(Answer::Count(n)) });
                fx
            }
            Request::WorktreeNote { id, note } => {
                let id = match self.table.resolve(&id) {
                    Ok(id) => id,
                    Err(e) => return answer(Err(e)),
                };
                let Some(t) = self.table.get_mut(&id) else { return answer(Err(invalid("gone"))) };
                if t.worktree.is_none() {
                    return answer(Err(invalid(format!("task {id} has no worktree"))));
                }
                t.worktree_note = Some(note);
                let t = t.clone();
                vec![
                    self.write(&t, None, Durability::Now, None),
                    Effect::Announce(Event::TaskChanged { task: Box::new(t.clone()) }),
                    Effect::Reply { to: reply, answer: Ok(Answer::Task(Box::new(t))) },
                ]
            }
            Request::PaneAttach { task_id, token } => {
                if !self.runs.attach(conn, &task_id, &token) {
                    return answer(Err(invalid(format!(
                        "no pane task {task_id:?} with that token is running: only the task's \
                         own pane wrapper reports for it"
                    ))));
                }
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
            Request::PaneExited { task_id, code, signal, log_error } => {
                self.runs.reported_exit(conn, &task_id);
                let exit = crate::core::launch::Exit { code, signal };
                let mut fx = self.exited(&task_id, exit, log_error, now);
                fx.push(Effect::Reply { to: reply, answer: Ok(Answer::Unit) });
                fx
            }
            Request::PaneOutput { task_id, bytes } => {
                let mut fx = self.output(&task_id, bytes, now);
                fx.push(Effect::Reply { to: reply, answer: Ok(Answer::Unit) });
                fx
            }
            Request::RegisterMain { socket, pane } => {
                self.dashboards.register(conn, TmuxOrigin { socket, pane });
                answer(Ok(Answer::Unit))
            }
            // For the asking dashboard's window alone, while it is open: other windows, and
            // later dashboards, keep the configured layout.
            Request::SetLayout { name, main } => {
                if !self.settings.config.presets.0.contains_key(&name) {
                    return answer(Err(invalid(format!("unknown layout preset {name:?}"))));
                }
                let conn = self.dashboards.of(conn, main.as_ref());
                let Some(origin) = self.dashboards.main_of(conn).cloned() else {
                    return answer(Err(invalid(
                        "this dashboard is not in tmux: it has no window to lay agents out in",
                    )));
                };
                let settings = self.settings.config.tmux_settings_for(&name);
                self.dashboards.switch(conn, name);
                vec![
                    Effect::Pane(PaneJob::WindowLayout {
                        origin,
                        geometry: Some(settings.geometry),
                    }),
                    Effect::Pane(PaneJob::Relayout { window: None, tmux: self.tmux_settings() }),
                    Effect::Reply { to: reply, answer: Ok(Answer::Unit) },
                ]
            }
            Request::Focus { id } => match self.table.resolve(&id) {
                // Another host's: a window here attached to its pane there.
                Ok(id) if self.table.get(&id).is_some_and(|t| t.host.is_some()) => {
                    self.attach_there(&id, conn, reply)
                }
                Ok(id) if self.table.get(&id).is_some_and(|t| t.pane_id.is_some()) => {
                    let task = Box::new(self.table.get(&id).cloned().unwrap_or_else(|| {
                        Task::pending(&id, "", "", PathBuf::new(), PathBuf::new(), now)
                    }));
                    vec![Effect::Pane(PaneJob::Focus { task, reply, tmux: self.tmux_settings() })]
                }
                Ok(id) => answer(Err(invalid(format!(
                    "task {id} has no tmux pane (it runs headless or has ended)"
                )))),
                Err(e) => answer(Err(e)),
            },
            Request::Input { id, text } => match self.table.resolve(&id) {
                Ok(id) => match self.input_to(&id, &text) {
                    Ok((origin, pane)) => {
                        vec![Effect::Pane(PaneJob::Input { origin, pane, text, reply })]
                    }
                    Err(e) => answer(Err(e)),
                },
                Err(e) => answer(Err(e)),
            },
            Request::ClosePanes { ids } => match self.resolve_many(&ids, false) {
                Ok(ids) => {
                    let ended: Vec<String> = ids
                        .into_iter()
                        .filter(|id| self.table.get(id).is_some_and(|t| t.status.is_terminal()))
                        .collect();
                    vec![Effect::Pane(PaneJob::Close {
                        ids: ended,
                        tmux: self.tmux_settings(),
                        reply: Some(reply),
                    })]
                }
                Err(e) => answer(Err(e)),
            },
            Request::Inbox { delegator, ack } => {
                let (tasks, mut fx) = self.inbox(delegator.as_deref(), ack);
                let in_progress = self.in_progress(delegator.as_deref());
                fx.push(inbox_answer(reply, tasks, in_progress));
                fx
            }
            Request::Deliver { ids, notice } => match self.resolve_many(&ids, false) {
                Ok(ids) => {
                    let (tasks, mut fx) = self.deliver(&ids, notice);
                    let delegator = ids
                        .first()
                        .and_then(|id| self.table.get(id))
                        .and_then(|t| t.delegator.as_ref())
                        .map(|d| d.id.clone());
                    let in_progress = self.in_progress(delegator.as_deref());
                    fx.push(inbox_answer(reply, tasks, in_progress));
                    fx
                }
                Err(e) => answer(Err(e)),
            },
            Request::TmuxResized { socket, window } => vec![
                Effect::Pane(PaneJob::Relayout {
                    window: Some((socket, window)),
                    tmux: self.tmux_settings(),
                }),
                Effect::Reply { to: reply, answer: Ok(Answer::Unit) },
            ],
            Request::NotifyTest { tmux } => vec![Effect::NotifyTest { reply, tmux }],
            Request::Hosts => {
                // A host no task has gone to yet: its link opens now, to say how it is.
                let mut fx: Vec<Effect> = self
                    .settings
                    .config
                    .hosts
                    .iter()
                    .filter(|(name, _)| !self.hosts.contains_key(*name))
                    .map(|(name, h)| {
                        Effect::Host(crate::core::hosts::HostJob::Connect { host: h.to_host(name) })
                    })
                    .collect();
                fx.extend(answer(Ok(Answer::Hosts(self.hosts_info()))));
                fx
            }
            // Served by the connection itself.
            Request::Output { .. }
            | Request::Wait { .. }
            | Request::Subscribe { .. }
            | Request::HostTmux
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

    /// `paneherd signal`: an agent waits for input, works again, is done, or names its session.
    fn signal(
        &mut self,
        task_id: &str,
        kind: &str,
        text: Option<String>,
        token: Option<&str>,
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
        // From inside the task only: its agent (and what it runs) has the task's token.
        let ours = self.runs.get(&id).and_then(|r| r.token.as_deref());
        if ours.is_none() || ours != token {
            return answer(Err(invalid(format!(
                "signals for task {id} come from inside it (PANEHERD_TASK_TOKEN in its \
                 environment); to stop it from outside, `paneherd cancel {id}`"
            ))));
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

    /// Where `text` is typed for task `id`: its pane, while it runs there (not another host's:
    /// its pane is there). `text` is what a person types: no control characters but tabs and
    /// newlines (each an Enter), at most 4 KiB.
    fn input_to(&self, id: &str, text: &str) -> Result<(TmuxOrigin, String), ErrorBody> {
        let invalid = |m: String| ErrorBody::new(ErrorKind::Invalid, m);
        let t = self.table.get(id).ok_or_else(|| invalid(format!("no task {id:?}")))?;
        if text.len() > 4096 {
            return Err(invalid(format!("an answer of {} bytes (at most 4096)", text.len())));
        }
        if let Some(c) = text.chars().find(|c| c.is_control() && !matches!(c, '\n' | '\t')) {
            return Err(invalid(format!("an answer with a control character ({c:?})")));
        }
        if t.status != TaskStatus::Running {
            return Err(invalid(format!("task {id} is {}: nothing reads an answer", t.status)));
        }
        if t.host.is_some() {
            return Err(invalid(format!(
                "task {id} runs on {}: answer it in its pane (`paneherd focus`)",
                t.host.as_deref().unwrap_or_default()
            )));
        }
        match (&t.tmux, &t.pane_id) {
            (Some(origin), Some(pane)) => Ok((origin.clone(), pane.clone())),
            _ => Err(invalid(format!("task {id} runs headless: it has no terminal to answer in"))),
        }
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
            stdin: l.stdin.clone(),
            touch: l.touch.clone(),
        })))
    }

    /// A connection closed: a dashboard's main pane is released; a pane wrapper gone before it
    /// reported its agent's exit means its pane closed (or its tmux server went away).
    pub(super) fn closed(&mut self, conn: u64, now: Timestamp) -> Vec<Effect> {
        let mut fx = vec![];
        // A dashboard gone: its window goes back to the configured layout.
        if let Some(origin) = self.dashboards.close(conn) {
            fx.push(Effect::Pane(PaneJob::WindowLayout { origin, geometry: None }));
            fx.push(Effect::Pane(PaneJob::Relayout { window: None, tmux: self.tmux_settings() }));
        }
        fx.extend(self.wrapper_gone(conn, now));
        fx
    }

    /// A pane wrapper's connection closed before it reported its agent's exit: its pane closed
    /// (or its tmux server went away), found out by the pane manager.
    fn wrapper_gone(&mut self, conn: u64, now: Timestamp) -> Vec<Effect> {
        let Some(id) = self.runs.wrapper_gone(conn) else { return vec![] };
        let Some(t) = self.table.get(&id).filter(|t| t.status == TaskStatus::Running) else {
            return vec![];
        };
        let (Some(origin), Some(pane)) = (t.tmux.clone(), t.pane_id.clone()) else { return vec![] };
        let _ = now;
        vec![Effect::Pane(PaneJob::Hangup { id, origin, pane })]
    }

    /// The daemon's status as the client on connection `conn` sees it (its window's layout).
    pub(super) fn status(&self, conn: u64, now: Timestamp) -> StatusData {
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
            layout: self.layout_name(conn),
            panes: vec![],
            notifications: self.notifier.clone(),
            hosts_unreachable: self
                .hosts
                .iter()
                .filter(|(_, s)| !s.reachable)
                .map(|(h, s)| (h.clone(), s.error.clone().unwrap_or_default()))
                .collect(),
        }
    }

    /// The layout preset of the window of the dashboard on connection `conn`: the one it
    /// switched to, else the configured one.
    pub(super) fn layout_name(&self, conn: u64) -> String {
        match self.dashboards.layout(conn) {
            Some(n) => n.to_string(),
            None => self.settings.config.layout_name().to_string(),
        }
    }

    /// The configured tmux settings (a window a dashboard switched has its own geometry in
    /// the pane manager).
    pub(super) fn tmux_settings(&self) -> crate::config::tmux::TmuxSettings {
        self.settings.config.tmux_settings()
    }
}

fn inbox_answer(reply: ReplyTo, tasks: Vec<Task>, in_progress: usize) -> Effect {
    let data = crate::proto::InboxData { tasks, in_progress };
    Effect::Reply { to: reply, answer: Ok(Answer::Inbox(data)) }
}
