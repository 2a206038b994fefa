//! A task's life in the engine: started when a slot is free, watched by timers (stale, TTL,
//! idle), stopped when asked, and recorded when it ends — its result read, then written, and
//! only then announced.

use super::*;
use crate::config::AgentConfig;
use crate::core::task::Outcome;
use crate::core::text;
use crate::proto::Event;
use crate::runner::{Exit, argv};
use crate::store::Durability;

fn human_secs(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 60 && s.is_multiple_of(60) { format!("{}m", s / 60) } else { format!("{s}s") }
}

fn since(later: Timestamp, earlier: Timestamp) -> Duration {
    (later - earlier).to_std().unwrap_or_default()
}

impl Engine {
    /// Starts every queued task that has a free slot.
    pub(super) fn dispatch(&mut self, now: Timestamp) -> Vec<Effect> {
        let mut fx = vec![];
        if self.shutting_down {
            return fx;
        }
        while let Some(id) = self.sched.next_ready() {
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
    ) -> Result<PathBuf, String> {
        let first = agent.command.get_ref().first().cloned().unwrap_or_default();
        let values = [("paneherd", self.setup.exe.display().to_string())].into_iter().collect();
        let program = argv::expand(&[first], &values)?.pop().unwrap_or_default();
        let path = match env {
            Some(env) => env.iter().find(|(k, _)| k == "PATH").map(|(_, v)| v.clone()),
            None => std::env::var("PATH").ok(),
        };
        self.world.find_program(&program, path.as_deref(), cwd)
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

    /// Takes a task off the queue and starts it: in a tmux pane when it came from inside tmux,
    /// else headless. A task that cannot start ends as an error.
    fn start(&mut self, id: &str, now: Timestamp) -> Vec<Effect> {
        let Some(task) = self.table.get(id).cloned() else { return vec![] };
        let env = self.envs.remove(id);
        let config = self.settings.config.clone();
        let launch = (|| {
            let agent = config
                .agents
                .get(&task.agent)
                .ok_or_else(|| format!("agent {:?} is no longer in the config", task.agent))?;
            // Installed when the task was submitted; still there now?
            self.program_of(agent, env.as_deref(), &task.cwd)?;
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
            // PWD too: programs that take their directory from it (OpenCode does) must not run
            // in the submitter's or the daemon's.
            let mut extra = vec![("PWD".to_string(), task.cwd.display().to_string())];
            extra.extend(agent.env.iter().map(|(k, v)| (k.clone(), v.clone())));
            extra.push(("PANEHERD_TASK_ID".into(), task.id.clone()));
            Ok::<_, String>(Launch {
                task_id: task.id.clone(),
                argv,
                base_env: env.clone(),
                env: extra,
                cwd: task.cwd.clone(),
                log_path: task.log_path.clone(),
            })
        })();
        let launch = match launch {
            Ok(l) => l,
            Err(reason) => {
                self.sched.release(id);
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
            ..Default::default()
        };
        let fx = match &task.tmux {
            Some(origin) => {
                run.launch = Some(launch);
                vec![Effect::OpenPane {
                    id: id.to_string(),
                    origin: origin.clone(),
                    cwd: task.cwd.clone(),
                    title: task.title.clone(),
                    tmux: self.tmux_settings(),
                }]
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
            fx.push(Effect::ClosePanes {
                ids: vec![id.to_string()],
                tmux: self.tmux_settings(),
                reply: None,
            });
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
        let Some(t) = self.table.get_mut(id) else { return vec![] };
        t.pane_id = pane;
        if t.start(pid, now).is_err() {
            return vec![];
        }
        let t = t.clone();
        let mut fx = vec![
            // Not flushed: after a power loss it shows as pending or as lost, both true
            // enough. Its creation and its end are durable.
            self.write(&t, None, Durability::Written, None),
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

    /// A task printed something.
    pub(super) fn output(&mut self, id: &str, bytes: u64, now: Timestamp) -> Vec<Effect> {
        let Some(run) = self.runs.get_mut(id) else { return vec![] };
        let first = run.last_output.is_none();
        run.last_output = Some(now);
        run.unannounced += bytes;
        let mut fx = vec![];
        if first && let Some(idle) = run.idle {
            fx.push(Effect::timer(id, TimerKind::Idle, now, idle));
        }
        match run.last_event {
            Some(last) if since(now, last) < OUTPUT_EVENT_EVERY => {
                // One event per interval: the rest waits for the interval's end.
                if run.unannounced == bytes {
                    let wait = OUTPUT_EVENT_EVERY.saturating_sub(since(now, last));
                    fx.push(Effect::timer(id, TimerKind::OutputEvent, now, wait));
                }
            }
            _ => fx.extend(self.announce_output(id, now)),
        }
        fx
    }

    fn announce_output(&mut self, id: &str, now: Timestamp) -> Vec<Effect> {
        let Some(run) = self.runs.get_mut(id) else { return vec![] };
        if run.unannounced == 0 {
            return vec![];
        }
        let bytes = std::mem::take(&mut run.unannounced);
        run.last_event = Some(now);
        let at = run.last_output.unwrap_or(now);
        if let Some(t) = self.table.get_mut(id) {
            t.last_output_at = Some(at);
        }
        vec![Effect::Announce(Event::Output { id: id.to_string(), at, bytes })]
    }

    /// Stops a task (once): SIGTERM to its process group now, SIGKILL after `KILL_GRACE`.
    pub(super) fn kill(&mut self, id: &str, reason: KillReason, now: Timestamp) -> Vec<Effect> {
        let Some(run) = self.runs.get_mut(id) else { return vec![] };
        if run.kill.is_some() || run.ended.is_some() {
            return vec![];
        }
        run.kill = Some(reason);
        self.signal_kill(id, now)
    }

    fn signal_kill(&mut self, id: &str, now: Timestamp) -> Vec<Effect> {
        match self.runs.get(id).and_then(|r| r.pid) {
            Some(pid) => vec![
                Effect::Signal { pid, signal: Signal::Term },
                Effect::timer(id, TimerKind::HardKill, now, KILL_GRACE),
            ],
            // Not started yet: signalled when it is.
            None => vec![],
        }
    }

    /// Cancels tasks: pending ones at once, running ones by stopping them. Returns the ids of
    /// those asked to stop.
    pub(super) fn cancel(
        &mut self,
        ids: &[String],
        reason: &str,
        now: Timestamp,
    ) -> (Vec<String>, Vec<Effect>) {
        let mut stopping = vec![];
        let mut fx = vec![];
        for id in ids {
            let Some(status) = self.table.get(id).map(|t| t.status) else { continue };
            if self.runs.contains_key(id) {
                stopping.push(id.clone());
                fx.extend(self.kill(id, KillReason::Cancel(reason.into()), now));
            } else if status == TaskStatus::Pending
                && !self.ending.contains(id)
                && self.sched.remove_queued(id)
            {
                let outcome = Outcome::Cancelled { exit_code: None, reason: reason.into() };
                fx.extend(self.end_unstarted(id, outcome, now));
            }
        }
        fx.extend(self.dispatch(now));
        (stopping, fx)
    }

    /// A timer fired.
    pub(super) fn timer(&mut self, id: &str, kind: TimerKind, now: Timestamp) -> Vec<Effect> {
        let Some(run) = self.runs.get(id) else { return vec![] };
        let started = self.table.get(id).and_then(|t| t.started_at).unwrap_or(now);
        let stopping = run.kill.is_some() || run.ended.is_some();
        match kind {
            TimerKind::Stale if !stopping && run.pid.is_some() => {
                let last = run.last_output.unwrap_or(started).max(started);
                let due =
                    last + chrono::Duration::from_std(run.stale).unwrap_or(chrono::Duration::MAX);
                if now < due {
                    // Output came since the timer was set: wait from the last output.
                    return vec![Effect::Timer { id: id.into(), kind, at: due }];
                }
                let reason = format!("no output for {} s", run.stale.as_secs());
                self.kill(id, KillReason::Stale(reason), now)
            }
            TimerKind::Ttl if !stopping && run.pid.is_some() => {
                let reason = format!("ttl {} exceeded", human_secs(run.ttl));
                self.kill(id, KillReason::Ttl(reason), now)
            }
            TimerKind::Idle if !stopping => {
                let (Some(last), Some(idle)) = (run.last_output, run.idle) else { return vec![] };
                let due = last + chrono::Duration::from_std(idle).unwrap_or(chrono::Duration::MAX);
                if now < due {
                    return vec![Effect::Timer { id: id.into(), kind, at: due }];
                }
                self.kill(id, KillReason::Done, now)
            }
            TimerKind::HardKill if run.ended.is_none() => match run.pid {
                Some(pid) => vec![Effect::Signal { pid, signal: Signal::Kill }],
                None => vec![],
            },
            TimerKind::WrapperStart if run.pid.is_none() => {
                let why = format!(
                    "the pane's wrapper did not start the agent within {} s",
                    WRAPPER_START.as_secs()
                );
                self.start_failed(id, why, now)
            }
            TimerKind::OutputEvent => self.announce_output(id, now),
            _ => vec![],
        }
    }

    /// A task's process exited and all its output is in its log: its slot goes to the next
    /// task now; its result is read, then its end written, then announced.
    pub(super) fn exited(&mut self, id: &str, exit: Exit, now: Timestamp) -> Vec<Effect> {
        let Some(run) = self.runs.get_mut(id) else { return vec![] };
        if run.ended.is_some() {
            return vec![];
        }
        // A pane agent's hang-up: its pane was closed, or its tmux server went away. Say which
        // rather than "killed by signal 1".
        if exit.signal == Some(1) && run.kill.is_none() && run.pane.is_some() {
            run.ended = Some(Outcome::Error { exit_code: exit.as_code(), reason: exit.describe() });
            let t = self.table.get(id);
            if let Some((origin, pane)) =
                t.and_then(|t| Some((t.tmux.clone()?, t.pane_id.clone()?)))
            {
                return vec![Effect::CheckHangup { id: id.to_string(), origin, pane }];
            }
        }
        let killed = run.kill.take();
        let outcome = match (killed.clone(), exit) {
            (Some(k), e) => k.outcome(e.as_code()),
            (None, e) if e.code == Some(0) => Outcome::Completed,
            (None, e) => Outcome::Error { exit_code: e.as_code(), reason: e.describe() },
        };
        run.ended = Some(outcome);
        let mut fx = vec![];
        // Stopped: make sure nothing it started lingers on.
        if let (Some(_), Some(pid)) = (killed, run.pid) {
            fx.push(Effect::Signal { pid, signal: Signal::Kill });
        }
        fx.extend(self.collect(id, now));
        fx
    }

    /// Why a pane agent hung up (after an exit by signal 1, or a wrapper gone without a word).
    pub(super) fn hangup(&mut self, id: &str, hangup: Hangup, now: Timestamp) -> Vec<Effect> {
        let Some(run) = self.runs.get_mut(id) else { return vec![] };
        let exit_code = match &run.ended {
            Some(Outcome::Error { exit_code, .. }) => *exit_code,
            _ => None,
        };
        let reason = match hangup {
            Hangup::PaneClosed => Some(KillReason::Cancel("pane closed".into())),
            Hangup::ServerGone => Some(KillReason::Fail("the tmux server went away".into())),
            Hangup::PaneThere => None,
        };
        let mut fx = vec![];
        match (reason, run.ended.take()) {
            (Some(r), _) => run.ended = Some(r.outcome(exit_code)),
            (None, Some(o)) => run.ended = Some(o),
            // The wrapper went, its pane is there: it was killed. Its agent goes too.
            (None, None) => {
                run.ended = Some(Outcome::Error {
                    exit_code: None,
                    reason: "the pane's wrapper stopped".into(),
                })
            }
        }
        if let Some(pid) = run.pid {
            fx.push(Effect::Signal { pid, signal: Signal::Kill });
        }
        if hangup != Hangup::PaneThere {
            fx.push(Effect::ForgetPane { id: id.to_string(), tmux: self.tmux_settings() });
        }
        fx.extend(self.collect(id, now));
        fx
    }

    /// The process is gone: its slot is free (its end is recorded as of now, before the next
    /// task starts in the slot); read its result.
    fn collect(&mut self, id: &str, now: Timestamp) -> Vec<Effect> {
        if let Some(run) = self.runs.get_mut(id) {
            run.ended_at.get_or_insert(now);
        }
        self.sched.release(id);
        let mut fx = vec![];
        if let Some(t) = self.table.get(id) {
            fx.push(Effect::Collect { id: id.to_string(), log: t.log_path.clone() });
        }
        fx.extend(self.dispatch(now));
        fx
    }

    /// A task's result was read: its end is written (durably), then announced.
    pub(super) fn collected(
        &mut self,
        id: &str,
        result: Result<String, String>,
        now: Timestamp,
    ) -> Vec<Effect> {
        let Some(run) = self.runs.remove(id) else { return vec![] };
        let Some(mut task) = self.table.get(id).cloned() else { return vec![] };
        let outcome = run.ended.unwrap_or(Outcome::Error {
            exit_code: None,
            reason: "lost track of the process".into(),
        });
        let result = result.unwrap_or_else(|e| format!("(the output could not be read: {e})"));
        let agent = self.settings.config.agents.get(&task.agent).cloned();
        // An agent that exits 0 although it failed (aider after an authentication error) is
        // known by its output; a failure line also says more than "exit code 1".
        let outcome = match (agent.as_ref().and_then(|a| a.failure_in(&result)), outcome) {
            (Some(line), Outcome::Error { exit_code, .. }) => {
                Outcome::Error { exit_code, reason: line }
            }
            (Some(line), Outcome::Completed) => Outcome::Error { exit_code: Some(0), reason: line },
            (_, o) => o,
        };
        if task.finish(outcome, run.ended_at.unwrap_or(now)).is_err() {
            return vec![];
        }
        task.summary =
            text::task_summary(&result, &task.id, &task.prompt).or_else(|| task.reason.clone());
        if task.session.is_none() {
            task.session = agent.as_ref().and_then(|a| a.session_in(&result, &task.id));
        }
        self.ending.insert(id.to_string());
        let token = self.next_token();
        self.writes.insert(token, AfterWrite::Ended { task: Box::new(task.clone()) });
        let summarize = !result.trim().is_empty();
        let mut fx = vec![Effect::Write {
            token,
            task: Box::new(task),
            result: Some(result.clone()),
            durability: Durability::Now,
        }];
        if summarize {
            fx.extend(self.summarizer(id, &result));
        }
        fx
    }

    /// The summarizer's run for an ended task, when one is configured.
    fn summarizer(&self, id: &str, result: &str) -> Vec<Effect> {
        let config = &self.settings.config;
        let Some(name) = config.summarizer.as_ref().map(|s| s.get_ref().clone()) else {
            return vec![];
        };
        let (Some(a), Some(task)) = (config.agents.get(&name), self.table.get(id)) else {
            return vec![];
        };
        let excerpt: String = result.chars().take(20_000).collect();
        let prompt = format!(
            "Summarize the result of the task \"{}\" in one line of at most 150 characters. \
             Reply with that line only.\n\n{excerpt}",
            task.title
        );
        let values = self.template_values(task, prompt, a.model.as_deref(), &[]);
        match argv::expand(a.command.get_ref(), &values) {
            Ok(argv) if !argv.is_empty() => vec![Effect::Summarize {
                id: id.to_string(),
                argv,
                cwd: task.cwd.clone(),
                env: a.env.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            }],
            _ => vec![],
        }
    }

    /// A record was written: what waited for it happens now.
    pub(super) fn written(
        &mut self,
        token: u64,
        error: Option<String>,
        now: Timestamp,
    ) -> Vec<Effect> {
        let Some(after) = self.writes.remove(&token) else { return vec![] };
        let mut fx = vec![];
        match after {
            AfterWrite::Created { id, reply } => {
                let answer = match error {
                    Some(e) => {
                        Err(crate::proto::ErrorBody::new(crate::proto::ErrorKind::Internal, e))
                    }
                    None => {
                        Ok(Answer::Task(Box::new(self.table.get(&id).cloned().unwrap_or_else(
                            || Task::pending(&id, "", "", PathBuf::new(), PathBuf::new(), now),
                        ))))
                    }
                };
                fx.push(Effect::Reply { to: reply, answer });
            }
            AfterWrite::Ended { task } => {
                self.startup.remove(&task.id);
                if let Some(e) = error {
                    tracing::error!(task = %task.id, error = %e, "the end of a task may not be durable");
                }
                self.ending.remove(&task.id);
                tracing::info!(task = %task.id, status = %task.status, reason = ?task.reason, "ended");
                if task.pane_id.is_some() {
                    let status = match &task.reason {
                        Some(r) => format!("{} {} ({r})", task.status.symbol(), task.status),
                        None => format!("{} {}", task.status.symbol(), task.status),
                    };
                    let took = task
                        .run_ms(now)
                        .map(crate::core::timefmt::human_duration)
                        .unwrap_or_default();
                    fx.push(Effect::PaneEnded {
                        id: task.id.clone(),
                        status,
                        took,
                        tmux: self.tmux_settings(),
                    });
                }
                if task.session.is_none()
                    && let Some(a) = self.settings.config.agents.get(&task.agent)
                    && let Some(cmd) = &a.session_command
                {
                    let values =
                        self.template_values(&task, String::new(), task.model.as_deref(), &[]);
                    if let Ok(argv) = argv::expand(cmd.get_ref(), &values) {
                        fx.push(Effect::LearnSession {
                            id: task.id.clone(),
                            argv,
                            cwd: task.cwd.clone(),
                            env: a.env.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
                        });
                    }
                }
                self.table.put((*task).clone());
                fx.push(Effect::Announce(Event::TaskChanged { task }));
                if self.shutting_down && self.busy() == 0 {
                    fx.push(Effect::Stopped);
                }
            }
        }
        fx
    }

    /// The summarizer's line replaces the default summary.
    pub(super) fn summarized(&mut self, id: &str, summary: Option<String>) -> Vec<Effect> {
        let Some(summary) = summary else { return vec![] };
        let Some(t) = self.table.get_mut(id) else { return vec![] };
        t.summary = Some(summary);
        let t = t.clone();
        vec![
            self.write(&t, None, Durability::Soon, None),
            Effect::Announce(Event::TaskChanged { task: Box::new(t) }),
        ]
    }

    /// The output of an agent's `session_command`: the task's session, if it names one.
    pub(super) fn session_found(&mut self, id: &str, output: &str) -> Vec<Effect> {
        let Some(agent) =
            self.table.get(id).and_then(|t| self.settings.config.agents.get(&t.agent))
        else {
            return vec![];
        };
        let Some(session) = agent.session_in(output, id) else {
            tracing::warn!(task = %id, "session_command did not name the task's session");
            return vec![];
        };
        let Some(t) = self.table.get_mut(id) else { return vec![] };
        t.session = Some(session);
        let t = t.clone();
        vec![
            self.write(&t, None, Durability::Soon, None),
            Effect::Announce(Event::TaskChanged { task: Box::new(t) }),
        ]
    }

    /// A pane task of a previous daemon: still in its pane (adopted, its slot taken, its clocks
    /// running from its start), or lost.
    pub(super) fn adopted(
        &mut self,
        id: &str,
        visible: Option<bool>,
        now: Timestamp,
    ) -> Vec<Effect> {
        let Some(task) = self.table.get(id).cloned() else { return vec![] };
        let Some(visible) = visible else { return self.lose(&task, now) };
        let (Some(origin), Some(pane), Some(pid)) =
            (task.tmux.clone(), task.pane_id.clone(), task.pid)
        else {
            return self.lose(&task, now);
        };
        let config = self.settings.config.clone();
        let (stale, ttl) = config.timeouts_for(task.category.as_deref(), &task.agent);
        let ran = task.run_ms(now).unwrap_or(0).max(0) as u64;
        let ttl_left = Duration::from_secs(ttl)
            .saturating_sub(Duration::from_millis(ran))
            .max(Duration::from_secs(1));
        let idle = config
            .agents
            .get(&task.agent)
            .and_then(|a| a.idle_secs.as_ref())
            .map(|s| Duration::from_secs(*s.get_ref()));
        self.runs.insert(
            id.to_string(),
            Run {
                pid: Some(pid),
                pane: Some(pane.clone()),
                stale: Duration::from_secs(stale),
                ttl: Duration::from_secs(ttl),
                idle,
                ..Default::default()
            },
        );
        self.sched.mark_running(id, &config.limits().group_for(task.model.as_deref()));
        self.startup.remove(id);
        tracing::info!(task = %id, pane = %pane, "re-adopted a running pane task");
        vec![
            Effect::AdoptPane { id: id.to_string(), origin, pane, visible },
            Effect::timer(id, TimerKind::Stale, now, Duration::from_secs(stale)),
            Effect::timer(id, TimerKind::Ttl, now, ttl_left),
        ]
    }

    /// The config file changed.
    pub(super) fn config_loaded(
        &mut self,
        loaded: Result<Box<crate::config::Loaded>, String>,
        now: Timestamp,
    ) -> Vec<Effect> {
        match loaded {
            Ok(l) => {
                if l.digest == self.settings.digest && self.settings.error.is_none() {
                    return vec![];
                }
                tracing::info!("config reloaded");
                let l = *l;
                self.settings = Settings {
                    config: Arc::new(l.config),
                    file: l.user_file,
                    digest: l.digest,
                    error: None,
                };
                let mut fx = self.regroup(now);
                fx.push(Effect::Announce(Event::ConfigReloaded { error: None }));
                fx
            }
            Err(msg) => {
                if self.settings.error.as_deref() == Some(msg.as_str()) {
                    return vec![];
                }
                tracing::error!(error = %msg, "config not reloaded: the last good one stays in force");
                self.settings.error = Some(msg.clone());
                vec![Effect::Announce(Event::ConfigReloaded { error: Some(msg) })]
            }
        }
    }

    /// Puts every queued and running task under the limits in force; starts what may start.
    fn regroup(&mut self, now: Timestamp) -> Vec<Effect> {
        let config = self.settings.config.clone();
        let limits = config.limits();
        let models: HashMap<String, Option<String>> = self
            .table
            .all()
            .filter(|t| !t.status.is_terminal())
            .map(|t| (t.id.clone(), t.model.clone()))
            .collect();
        self.sched.regroup(config.concurrency.max_running, |id| {
            limits.group_for(models.get(id).and_then(|m| m.as_deref()))
        });
        let mut fx = vec![];
        for (id, model) in &models {
            let group = limits.group_for(model.as_deref()).key;
            if let Some(mut t) = self.table.get(id).filter(|t| t.limit_group != group).cloned() {
                t.limit_group = group;
                fx.push(self.write(&t, None, Durability::Written, None));
                self.table.put(t);
            }
        }
        fx.extend(self.dispatch(now));
        fx
    }

    /// Stops accepting work and stops every running task (pending ones stay queued on disk);
    /// `Effect::Stopped` once nothing runs.
    pub(super) fn shutdown(&mut self, now: Timestamp) -> Vec<Effect> {
        self.shutting_down = true;
        let ids: Vec<String> = self.runs.keys().cloned().collect();
        let mut fx = vec![];
        for id in ids {
            fx.extend(self.kill(
                &id,
                KillReason::Cancel("cancelled: the daemon shut down".into()),
                now,
            ));
        }
        if self.busy() == 0 {
            fx.push(Effect::Stopped);
        }
        fx
    }
}
