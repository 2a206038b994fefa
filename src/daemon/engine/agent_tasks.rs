//! The engine's side of agents that talk back: signals from hooks, idle detection, continuing
//! an earlier task, and the optional summarizer.

use super::*;

impl Engine {
    /// The agent's session id in a task's output, by its `session_pattern`.
    pub(super) fn find_session(&self, agent: &str, task_id: &str, output: &str) -> Option<String> {
        self.config().agents.get(agent)?.session_in(output, task_id)
    }

    /// For an agent that does not print its session id: runs its `session_command` after the
    /// task ended and records the session it names. Failures are logged; `continue` then
    /// carries the earlier result instead.
    pub(super) async fn learn_session(self: Arc<Self>, task: Task) {
        let config = self.config();
        let Some(agent) = config.agents.get(&task.agent) else { return };
        let Some(cmd) = &agent.session_command else { return };
        let values = self.template_values(&task, String::new(), task.model.as_deref(), &[]);
        let argv = match runner::argv::expand(cmd.get_ref(), &values) {
            Ok(v) if !v.is_empty() => v,
            _ => return,
        };
        let out = match runner::capture(&argv, &task.cwd, &agent.env, Duration::from_secs(30)).await
        {
            Ok(out) => out,
            Err(e) => {
                tracing::warn!(task = %task.id, error = %e, "session_command failed");
                return;
            }
        };
        let Some(session) = agent.session_in(&out, &task.id) else {
            tracing::warn!(task = %task.id, "session_command did not name the task's session");
            return;
        };
        let mut st = self.lock();
        let Some(t) = st.task_mut(&task.id) else { return };
        t.session = Some(session);
        let t = t.clone();
        let result = self.store.read_result(&t.id).ok().flatten();
        self.writer.save(t.clone(), result, Durability::Soon);
        self.emit(Event::TaskChanged { task: Box::new(t) });
    }

    /// The spec of a follow-up to task `id`: through the agent's `continue_command` when it has
    /// one and the session is known, else a new task that carries the earlier prompt and result.
    pub fn continue_spec(&self, id: &str, prompt: &str) -> Result<TaskSpec, ErrorBody> {
        if prompt.trim().is_empty() {
            return Err(invalid("the follow-up prompt is empty"));
        }
        let id = self.resolve(id)?;
        let t = self.get(&id).ok_or_else(|| ErrorBody::new(ErrorKind::UnknownId, id.clone()))?;
        let mut spec =
            self.retry_spec(&id).ok_or_else(|| ErrorBody::new(ErrorKind::UnknownId, id.clone()))?;
        spec.title = Some(format!("{} (continued)", text::cut(&t.title, 48)));
        let config = self.config();
        let agent = config.agents.get(&t.agent);
        // Through the agent's continue_command: with the earlier session's id, or (an agent
        // that continues by directory, like aider) with none.
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
                let (result, tail) = self.output_of(&t);
                let earlier = result.or(tail).unwrap_or_default();
                spec.prompt = format!(
                    "{prompt}\n\n---\nThis continues earlier task {id} (\"{}\").\nIts prompt was:\n{}\n\nIts result was:\n{earlier}",
                    t.title, t.prompt
                );
            }
        }
        Ok(spec)
    }

    /// The agent's `idle_secs`, if it has one.
    pub(super) fn idle_of(&self, agent: &str) -> Option<Duration> {
        let config = self.config();
        let a = config.agents.get(agent)?;
        a.idle_secs.as_ref().map(|s| Duration::from_secs(*s.get_ref()))
    }

    /// `paneherd signal`: an agent says it waits for input, works again, is done, or names its
    /// session (for `continue`).
    pub fn signal(
        &self,
        task_id: &str,
        kind: &str,
        text: Option<String>,
    ) -> Result<Task, ErrorBody> {
        let id = self.resolve(task_id)?;
        let mut st = self.lock();
        let status = st.tasks.get(&id).map(|t| t.status);
        if status != Some(TaskStatus::Running) {
            return Err(invalid(format!("task {id} is not running")));
        }
        match kind {
            "done" => {
                if let Some(tx) = st.running.get(&id) {
                    let _ = tx.send(KillReason::Done);
                }
            }
            "waiting" | "working" | "session" => {
                let Some(t) = st.task_mut(&id) else { return Err(invalid("gone")) };
                match kind {
                    "waiting" => {
                        t.needs_input = Some(text.unwrap_or_else(|| "waiting for input".into()))
                    }
                    "working" => t.needs_input = None,
                    _ => {
                        let s = text
                            .filter(|s| !s.trim().is_empty())
                            .ok_or_else(|| invalid("signal session needs the session id"))?;
                        t.session = Some(s);
                    }
                }
                let t = t.clone();
                self.writer.save(t.clone(), None, Durability::Written);
                self.emit(Event::TaskChanged { task: Box::new(t) });
            }
            other => {
                return Err(invalid(format!(
                    "unknown signal {other:?} (waiting, working, done, session)"
                )));
            }
        }
        st.tasks.get(&id).cloned().ok_or_else(|| invalid("gone"))
    }

    /// Asks the configured summarizer agent for a one-line summary of an ended task and
    /// records it. Failures are logged; the default summary stays.
    pub(super) async fn summarize(self: Arc<Self>, task: Task, agent: String, result: String) {
        let config = self.config();
        let Some(a) = config.agents.get(&agent) else {
            return;
        };
        let excerpt: String = result.chars().take(20_000).collect();
        let prompt = format!(
            "Summarize the result of the task \"{}\" in one line of at most 150 characters. \
             Reply with that line only.\n\n{excerpt}",
            task.title
        );
        let values = self.template_values(&task, prompt, a.model.as_deref(), &[]);
        let argv = match runner::argv::expand(a.command.get_ref(), &values) {
            Ok(v) if !v.is_empty() => v,
            _ => return,
        };
        let mut cmd = tokio::process::Command::new(&argv[0]);
        cmd.args(&argv[1..])
            .current_dir(&task.cwd)
            .envs(a.env.iter())
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .process_group(0)
            .kill_on_drop(true);
        let out = tokio::time::timeout(Duration::from_secs(120), cmd.output()).await;
        let summary = match out {
            Ok(Ok(o)) if o.status.success() => text::summary(&text::clean_output(&o.stdout)),
            Ok(Ok(o)) => {
                tracing::warn!(task = %task.id, status = %o.status, "summarizer failed");
                None
            }
            Ok(Err(e)) => {
                tracing::warn!(task = %task.id, error = %e, "cannot run summarizer");
                None
            }
            Err(_) => {
                tracing::warn!(task = %task.id, "summarizer timed out");
                None
            }
        };
        let Some(summary) = summary else { return };
        let mut st = self.lock();
        let Some(t) = st.task_mut(&task.id) else {
            return;
        };
        t.summary = Some(summary);
        let t = t.clone();
        let result = self.store.read_result(&t.id).ok().flatten().unwrap_or(result);
        self.writer.save(t.clone(), Some(result), Durability::Soon);
        self.emit(Event::TaskChanged { task: Box::new(t) });
    }
}
