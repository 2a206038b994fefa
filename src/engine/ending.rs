//! A task's end: its process gone (its slot freed at once), its result read, its record written
//! durably, and only then announced; a pane agent's hang-up told apart; the summarizer and the
//! agent's session learned afterwards.

use super::*;
use crate::core::records::{Durability, SecretOp};
use crate::core::task::Outcome;
use crate::core::text;
use crate::core::{argv, launch::Exit};
use crate::proto::Event;

/// How often a record that could not be written is tried again.
const REWRITE_EVERY: Duration = Duration::from_secs(5);

/// A write's error as a person reads it: a full disk said so.
fn disk_reason(e: &crate::core::records::Failure) -> String {
    if e.as_str().contains("No space left") || e.as_str().contains("quota exceeded") {
        format!("disk full ({e})")
    } else {
        e.to_string()
    }
}

impl Engine {
    /// A task's process exited and all its output is in its log: its slot goes to the next
    /// task now; its result is read, then its end written, then announced.
    pub(super) fn exited(
        &mut self,
        id: &str,
        exit: Exit,
        log_error: Option<String>,
        now: Timestamp,
    ) -> Vec<Effect> {
        let Some(run) = self.runs.get_mut(id) else { return vec![] };
        if run.ended.is_some() {
            return vec![];
        }
        // Output that could not be kept (a full disk): the result is not what the agent
        // printed, so the task did not complete, whatever its exit; stopped, it stays stopped.
        if let Some(why) = log_error {
            let outcome = match run.kill.take() {
                Some(k @ (KillReason::Cancel(_) | KillReason::Ttl(_) | KillReason::Stale(_))) => {
                    k.outcome(exit.as_code())
                }
                _ => Outcome::Error { exit_code: exit.as_code(), reason: why },
            };
            run.ended = Some(outcome);
            run.log_failed = true;
            let mut fx = vec![];
            if let Some(pid) = run.pid {
                fx.push(Effect::Signal { pid, signal: Signal::Kill });
            }
            fx.extend(self.collect(id, now));
            return fx;
        }
        // A pane agent's hang-up: its pane was closed, or its tmux server went away. Say which
        // rather than "killed by signal 1".
        if exit.signal == Some(1) && run.kill.is_none() && run.pane.is_some() {
            run.ended = Some(Outcome::Error { exit_code: exit.as_code(), reason: exit.describe() });
            let t = self.table.get(id);
            if let Some((origin, pane)) =
                t.and_then(|t| Some((t.tmux.clone()?, t.pane_id.clone()?)))
            {
                return vec![Effect::Pane(PaneJob::Hangup { id: id.to_string(), origin, pane })];
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
            fx.push(Effect::Pane(PaneJob::Forget {
                id: id.to_string(),
                tmux: self.tmux_settings(),
            }));
        }
        fx.extend(self.collect(id, now));
        fx
    }

    /// The process is gone: its slot is free (its end is recorded as of now, before the next
    /// task starts in the slot); read its result.
    pub(super) fn collect(&mut self, id: &str, now: Timestamp) -> Vec<Effect> {
        if let Some(run) = self.runs.get_mut(id) {
            run.ended_at.get_or_insert(now);
        }
        self.sched.release(id);
        let mut fx = vec![];
        if let Some(t) = self.table.get(id) {
            fx.push(Effect::Collect {
                id: id.to_string(),
                log: t.log_path.clone(),
                since: t.started_at,
            });
        }
        fx.extend(self.dispatch(now));
        fx
    }

    /// A task's result was read: its end is written (durably), then announced.
    pub(super) fn collected(
        &mut self,
        id: &str,
        result: Result<String, crate::core::records::Failure>,
        answer: Option<String>,
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
        // A container's engine that could not make its container: that, not "exit code 125".
        let outcome = match (task.sandbox.as_deref().map(str::parse), outcome) {
            (
                Some(Ok(crate::core::sandbox::Kind::Container { engine, .. })),
                Outcome::Error { exit_code, reason },
            ) => {
                let why = crate::core::sandbox::engine_failure(engine, exit_code, &result);
                Outcome::Error { exit_code, reason: why.unwrap_or(reason) }
            }
            (_, o) => o,
        };
        if task.finish(outcome, run.ended_at.unwrap_or(now)).is_err() {
            return vec![];
        }
        if task.session.is_none() {
            task.session = agent.as_ref().and_then(|a| a.session_in(&result, &task.id));
        }
        // A completed agent's answer is what it wrote as its answer, when it wrote one (the
        // transcript stays in the log); a failed run's output says why.
        let result = match (answer, &agent) {
            (Some(a), _) if task.status == TaskStatus::Completed => a,
            (_, Some(a)) => a.without_banners(&result),
            (_, None) => result,
        };
        // What it printed says what it found, unless what it printed was not all kept: then
        // that is the news.
        task.summary = match run.log_failed {
            true => task.reason.clone(),
            false => {
                text::task_summary(&result, &task.id, &task.prompt).or_else(|| task.reason.clone())
            }
        };
        self.ending.insert(id.to_string());
        let summarize = (!result.trim().is_empty() && self.settings.config.summarizer.is_some())
            .then(|| result.chars().take(20_000).collect());
        let after = AfterWrite::Ended {
            task: Box::new(task.clone()),
            summarize,
            result: Some(result.clone()),
        };
        vec![self.writes.record(task, Some(result), Durability::Now, SecretOp::Clear, Some(after))]
    }

    /// The summarizer's run for an ended task, when one is configured.
    pub(super) fn summarizer(&self, id: &str, result: &str) -> Vec<Effect> {
        let config = &self.settings.config;
        let Some(name) = config.summarizer.as_ref().map(|s| s.get_ref().clone()) else {
            return vec![];
        };
        let (Some(a), Some(task)) = (config.agents.get(&name), self.table.get(id)) else {
            return vec![];
        };
        let excerpt = result;
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
                // A host's task's directory is there: the summarizer runs here, in `/`.
                cwd: if task.host.is_some() { PathBuf::from("/") } else { task.cwd.clone() },
                env: a.env.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            }],
            Ok(_) => vec![],
            Err(e) => {
                tracing::warn!(task = %id, "the summarizer's command: {e}");
                vec![]
            }
        }
    }

    /// A record was written: what waited for it happens now.
    pub(super) fn written(
        &mut self,
        token: u64,
        error: Option<crate::core::records::Failure>,
        now: Timestamp,
    ) -> Vec<Effect> {
        let Some(after) = self.writes.written(token) else { return vec![] };
        let mut fx = vec![];
        match after {
            AfterWrite::Created { id, reply } => match error {
                // Not recorded: not started, and forgotten (nothing of it is on disk).
                Some(e) => {
                    tracing::error!(task = %id, error = %e, "a submission could not be recorded");
                    self.envs.remove(&id);
                    self.table.remove(&id);
                    let e = format!("the task was not started: {}", disk_reason(&e));
                    let answer =
                        Err(crate::proto::ErrorBody::new(crate::proto::ErrorKind::Internal, e));
                    fx.push(Effect::Reply { to: reply, answer });
                }
                None => {
                    if let Some(t) = self.table.get(&id).filter(|t| !t.status.is_terminal()) {
                        let group = self.settings.config.limits().group_for(t.model.as_deref());
                        self.sched.enqueue(&id, &group);
                    }
                    let task = self.table.get(&id).cloned().unwrap_or_else(|| {
                        Task::pending(&id, "", "", PathBuf::new(), PathBuf::new(), now)
                    });
                    fx.push(Effect::Announce(Event::TaskCreated { task: Box::new(task.clone()) }));
                    fx.push(Effect::Reply { to: reply, answer: Ok(Answer::Task(Box::new(task))) });
                    fx.extend(self.dispatch(now));
                }
            },
            AfterWrite::Rewritten { id } => match error {
                Some(e) => {
                    tracing::warn!(task = %id, error = %e, "its record still cannot be written");
                    fx.push(Effect::timer(&id, TimerKind::Rewrite, now, REWRITE_EVERY));
                }
                None => {
                    tracing::info!(task = %id, "its record is written now");
                    self.writes.rewritten(&id);
                    // Said as it is now: recorded, late. (Not a new end: nobody is told again.)
                    const NOT_YET: &str = "its end could not be recorded: ";
                    let late = |text: &mut String| {
                        if let Some(at) = text.find(NOT_YET) {
                            let why = text[at + NOT_YET.len()..].to_string();
                            text.replace_range(at.., &format!("its end was recorded late ({why})"));
                        }
                    };
                    if let Some(t) = self.table.get_mut(&id)
                        && t.reason.as_deref().is_some_and(|r| r.contains(NOT_YET))
                    {
                        t.reason.as_mut().map(late);
                        t.summary.as_mut().map(late);
                        let t = t.clone();
                        fx.push(self.write(&t, None, Durability::Soon, None));
                        fx.push(Effect::Announce(Event::TaskChanged { task: Box::new(t) }));
                    }
                }
            },
            AfterWrite::Ended { task, summarize, result } => {
                self.startup.remove(&task.id);
                let mut task = task;
                if let Some(e) = error {
                    // Not recorded (a full disk): not a completion anyone can rely on. Told as
                    // an error that says so, and written again until it is.
                    tracing::error!(task = %task.id, error = %e, "the end of a task could not be recorded");
                    let why = format!("its end could not be recorded: {}", disk_reason(&e));
                    let reason = match task.reason.take() {
                        Some(r) => format!("{r}; {why}"),
                        None => why,
                    };
                    task.status = TaskStatus::Error;
                    task.reason = Some(reason.clone());
                    task.summary = Some(reason);
                    self.writes.keep_unwritten(&task.id, result);
                    fx.push(Effect::timer(&task.id, TimerKind::Rewrite, now, REWRITE_EVERY));
                }
                self.ending.remove(&task.id);
                tracing::info!(task = %task.id, status = %task.status, reason = ?task.reason, "ended");
                if task.pane_id.is_some() {
                    let status = format!("{} {}", task.status.symbol(), task.how_it_ended());
                    let took = task
                        .run_ms(now)
                        .map(crate::core::timefmt::human_duration)
                        .unwrap_or_default();
                    fx.push(Effect::Pane(PaneJob::Ended {
                        id: task.id.clone(),
                        status,
                        took,
                        tmux: self.tmux_settings(),
                        pane: task
                            .tmux
                            .as_ref()
                            .zip(task.pane_id.as_ref())
                            .map(|(o, p)| (o.socket.clone(), p.clone())),
                    }));
                }
                // A host's task's session is learnt there (and mirrored): nothing runs here.
                if task.session.is_none()
                    && task.host.is_none()
                    && let Some(a) = self.settings.config.agents.get(&task.agent)
                    && let Some(cmd) = &a.session_command
                {
                    let values =
                        self.template_values(&task, String::new(), task.model.as_deref(), &[]);
                    match argv::expand(cmd.get_ref(), &values) {
                        Ok(argv) => fx.push(Effect::LearnSession {
                            id: task.id.clone(),
                            argv,
                            cwd: task.cwd.clone(),
                            env: a.env.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
                        }),
                        // `config check` refuses such a template; said in case one slips by.
                        Err(e) => tracing::warn!(task = %task.id, "session_command: {e}"),
                    }
                }
                self.table.put((*task).clone());
                if let Some(excerpt) = summarize {
                    fx.extend(self.summarizer(&task.id, &excerpt));
                }
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
        let after = AfterWrite::Ended {
            task: Box::new(t.clone()),
            summarize: None,
            result: result.clone(),
        };
        vec![self.writes.record(t, result, Durability::Now, SecretOp::Clear, Some(after))]
    }

    /// The record of an ended task that could not be written, tried again.
    pub(super) fn rewrite(&mut self, id: &str) -> Vec<Effect> {
        let (Some(result), Some(task)) = (self.writes.unwritten(id), self.table.get(id)) else {
            return vec![];
        };
        let (result, task) = (result.clone(), task.clone());
        let after = AfterWrite::Rewritten { id: id.to_string() };
        vec![self.writes.record(task, result, Durability::Now, SecretOp::Clear, Some(after))]
    }

    /// Tasks that ran when a daemon died without a trace of where: recorded as lost (after
    /// their output is collected), and their process stopped if it still runs.
    pub(super) fn lose(&mut self, task: &Task, now: Timestamp) -> Vec<Effect> {
        let mut fx = vec![];
        if let Some(pid) = task.pid {
            fx.push(Effect::StopOrphan { id: task.id.clone(), pid: Some(pid) });
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
        fx.push(Effect::Collect {
            id: task.id.clone(),
            log: task.log_path.clone(),
            since: task.started_at,
        });
        fx
    }

    /// A task the last daemon started but had not recorded as started when it stopped: lost
    /// (its output so far collected as its result), its processes stopped wherever they are.
    pub(super) fn lose_launched(&mut self, task: &Task) -> Vec<Effect> {
        let reason = format!(
            "lost: the daemon stopped while it was starting it (it is not run twice: `paneherd \
             retry {}` runs it again)",
            task.id
        );
        let ended = Some(Outcome::Error { exit_code: None, reason });
        self.runs.insert(task.id.clone(), Run { ended, ..Default::default() });
        vec![
            Effect::StopOrphan { id: task.id.clone(), pid: None },
            Effect::Collect { id: task.id.clone(), log: task.log_path.clone(), since: None },
        ]
    }
}
