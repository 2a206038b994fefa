//! New tasks: a submission validated (agent, directory, program installed) and queued, a retry,
//! and a continue (through the agent's session, or carrying the earlier result).

use std::collections::BTreeMap;

use super::*;
use crate::core::records::{Durability, SecretOp};
use crate::core::task::TaskSecret;
use crate::core::task::TaskSpec;
use crate::core::text;
use crate::proto::{ErrorBody, ErrorKind};

/// The longest argument a program can be started with on Linux (`MAX_ARG_STRLEN`, 32 pages,
/// less its NUL): a longer prompt fails every agent at its start with "Argument list too long".
pub const ARG_MAX_BYTES: usize = 32 * 4096 - 1;
/// What arguments and environment may take in all (`ARG_MAX`, 2 MiB on Linux), less room for
/// the agent's own arguments.
const ARGS_AND_ENV_MAX: usize = 2 * 1024 * 1024 - 16 * 1024;

impl Engine {
    /// Creates a pending task and writes it (with the submitter's environment in its secret
    /// file while it waits); once written, it is queued, announced, answered, and started if
    /// it can be. A task that cannot be recorded (a full disk) is never started.
    pub(super) fn submit(&mut self, spec: TaskSpec, reply: ReplyTo, now: Timestamp) -> Vec<Effect> {
        match self.create(spec, now) {
            Ok(id) => {
                let Some(task) = self.table.get(&id).cloned() else { return vec![] };
                let secret = match self.envs.get(&id) {
                    Some(env) => {
                        SecretOp::Set(TaskSecret { env: Some(env.clone()), pane_token: None })
                    }
                    None => SecretOp::Keep,
                };
                let after = AfterWrite::Created { id, reply };
                vec![self.writes.record(task.clone(), None, Durability::Soon, secret, Some(after))]
            }
            Err(e) => vec![Effect::Reply { to: reply, answer: Err(e) }],
        }
    }

    /// Validates a spec and adds its task to the table (queued once it is written); returns
    /// its id.
    fn create(&mut self, spec: TaskSpec, now: Timestamp) -> Result<String, ErrorBody> {
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
            .map_err(|e| invalid(e.to_string()))?;
        let agent = config.agents.get(&r.agent).ok_or_else(|| invalid("the agent vanished"))?;
        let host = spec.host.clone().or_else(|| config.host_for(r.category.as_deref(), &r.agent));
        let host_config = match &host {
            Some(h) => Some(
                config
                    .hosts
                    .get(h)
                    .ok_or_else(|| invalid(crate::config::hosts::unknown(h, &config.hosts)))?,
            ),
            None => None,
        };
        // An agent that reads its prompt on standard input takes any length; others take it
        // as an argument, which the kernel limits.
        let in_argv = !agent.prompt_on_stdin();
        if in_argv && spec.prompt.len() > ARG_MAX_BYTES {
            return Err(invalid(format!(
                "the prompt is {} bytes: a program's argument holds at most {ARG_MAX_BYTES} (the \
                 kernel's limit), and agent {:?} takes its prompt as an argument; put the long \
                 part in a file and ask the agent to read that file (or give the agent \
                 `stdin = \"{{prompt}}\"` if it reads its prompt there, as opencode does)",
                spec.prompt.len(),
                r.agent
            )));
        }
        // The kernel's limit on a program's arguments and environment together.
        if let Some(env) = &spec.env {
            let bytes: usize = env.iter().map(|(k, v)| k.len() + v.len() + 2 + 8).sum::<usize>()
                + if in_argv { spec.prompt.len() } else { 0 };
            if bytes > ARGS_AND_ENV_MAX {
                return Err(invalid(format!(
                    "the prompt ({} bytes) and the environment it would run in ({} variables, {} \
                     bytes) pass the kernel's limit for a program's arguments and environment \
                     ({ARGS_AND_ENV_MAX} bytes): shorten the prompt or unset large variables",
                    spec.prompt.len(),
                    env.len(),
                    bytes - spec.prompt.len()
                )));
            }
        }
        // The agent's argument that holds the prompt, with what its template puts around it.
        let longest = agent
            .command
            .get_ref()
            .iter()
            .filter(|a| a.contains("{prompt}"))
            .map(|a| a.len() + a.matches("{prompt}").count() * spec.prompt.len().saturating_sub(8))
            .max()
            .unwrap_or(0);
        if longest > ARG_MAX_BYTES {
            return Err(invalid(format!(
                "the prompt ({} bytes) makes agent {:?}'s argument {longest} bytes: a program's \
                 argument holds at most {ARG_MAX_BYTES} (the kernel's limit); put the long part \
                 in a file and ask the agent to read that file",
                spec.prompt.len(),
                r.agent
            )));
        }
        // Another host's task runs in a directory there: the one asked for, the host's
        // `cwd`, or its home; nothing of this machine (directory, program, environment) is
        // looked at or sent.
        let cwd = match host_config {
            Some(h) => match spec.cwd.clone().or(h.cwd.clone().map(PathBuf::from)) {
                Some(c) if c.is_absolute() => c,
                Some(c) => return Err(invalid(format!("cwd {:?} is not an absolute path", c))),
                None => PathBuf::from(super::remote::HOME_THERE),
            },
            None => match spec.cwd.clone().or(agent.cwd.clone()).or(spec.client_cwd.clone()) {
                Some(c) if c.is_absolute() => c,
                Some(c) => return Err(invalid(format!("cwd {:?} is not an absolute path", c))),
                None => PathBuf::from("/"),
            },
        };
        let here = host.is_none();
        if let Some(gone) = spec.worktree.as_ref().and_then(|w| w.reuse.as_ref())
            && here
            && !self.world.is_dir(gone)
        {
            return Err(invalid(format!(
                "its worktree {} is gone (merged, discarded or removed by hand): not made again",
                gone.display()
            )));
        }
        if here && !self.world.is_dir(&cwd) {
            return Err(invalid(format!("cwd {} is not a directory", cwd.display())));
        }
        // An agent that is not installed is refused now, not found missing when it starts.
        let env: Option<Vec<(String, String)>> = spec
            .env
            .as_ref()
            .filter(|_| here)
            .map(|e| e.iter().map(|(k, v)| (k.clone(), v.clone())).collect());
        if here {
            self.program_of(agent, env.as_deref(), &cwd).map_err(|e| invalid(e.to_string()))?;
        }
        let group = config.limits().group_for(r.model.as_deref());
        // A dashboard open in tmux hosts the panes: of tasks from its server, and of tasks
        // from outside tmux.
        let tmux = if here { self.dashboards.host(spec.tmux) } else { None };
        let (table, reserved) = (&self.table, &self.reserved);
        let tasks_dir = self.setup.tasks_dir.clone();
        let taken = |c: &str| {
            table.contains(c) || reserved.contains(c) || tasks_dir.join(format!("{c}.md")).exists()
        };
        let id = match &spec.id {
            // Named by the daemon this one runs it for (its host link): that id or none.
            Some(want) => {
                crate::core::ids::validate(want).map_err(|e| invalid(e.to_string()))?;
                if taken(want) {
                    return Err(ErrorBody::new(
                        ErrorKind::Exists,
                        format!("there is a task {want} already"),
                    ));
                }
                want.clone()
            }
            None => self.world.task_id(&taken),
        };
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
        task.delegator = spec.delegator;
        task.env_kept = env.is_some();
        task.limit_group = group.key.clone();
        // Its sandbox: asked for, else its category's or agent's; `none` is none.
        let sandbox = spec
            .sandbox
            .clone()
            .or_else(|| config.sandbox_for(task.category.as_deref(), &task.agent));
        if let Some(why) = sandbox.as_deref().and_then(crate::core::sandbox::refuse_kind) {
            return Err(invalid(why));
        }
        task.sandbox = sandbox.filter(|s| s != "none");
        task.host = host;
        // A worktree: asked for, or the category's or the agent's `worktree = true`.
        let wanted = config.worktree_for(task.category.as_deref(), &task.agent);
        task.worktree_request = spec.worktree.or_else(|| wanted.then(Default::default));
        if let Some(env) = env {
            self.envs.insert(id.clone(), env);
        }
        self.table.put(task);
        Ok(id)
    }

    /// The spec to run a task again (a new task, linked to it), in the environment `env` of
    /// the client that asks.
    pub(super) fn retry_spec(
        &self,
        id: &str,
        env: Option<BTreeMap<String, String>>,
    ) -> Result<TaskSpec, ErrorBody> {
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
            env,
            parent: Some(t.id.clone()),
            tmux: t.tmux.clone(),
            resume: None,
            delegator: t.delegator.clone(),
            host: t.host.clone(),
            id: None,
            sandbox: Some(t.sandbox.clone().unwrap_or_else(|| "none".into())),
            // Its worktree and branch again, when it had one; else asked for again.
            worktree: match (&t.worktree, &t.worktree_request) {
                (Some(path), r) => Some(crate::core::task::WorktreeRequest {
                    base: t.base.clone(),
                    branch: t.branch.clone(),
                    attach: r.as_ref().is_some_and(|r| r.attach),
                    reuse: Some(path.clone()),
                }),
                (None, r) => r.clone(),
            },
        })
    }

    /// The spec of a follow-up to task `id`: through the agent's `continue_command` when it
    /// can (the session is known, or the agent continues by directory), else a new task that
    /// carries the earlier prompt and result — never for a command line, whose output is not
    /// a conversation and must never be run as a command.
    pub(super) fn continue_spec(
        &self,
        id: &str,
        prompt: &str,
        earlier: Option<String>,
        env: Option<BTreeMap<String, String>>,
    ) -> Result<TaskSpec, ErrorBody> {
        if prompt.trim().is_empty() {
            return Err(invalid("the follow-up prompt is empty"));
        }
        let id = self.table.resolve(id)?;
        let t =
            self.table.get(&id).ok_or_else(|| ErrorBody::new(ErrorKind::UnknownId, id.clone()))?;
        let mut spec = self.retry_spec(&id, env)?;
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
}
