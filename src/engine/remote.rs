//! Tasks that run on another host: handed to that host's link when they get their slot here
//! (limits count them like any task), mirrored from what the link reports, ended as the host
//! ended them — their result copied home, so `output`, the inbox and notifications work as for
//! a task of this machine. A host's task outlives this daemon: a restart watches it again.

use super::*;
use crate::core::hosts::{HostJob, HostReport, LinkState};
use crate::core::records::{Durability, SecretOp};
use crate::core::task::{Outcome, TaskSpec};
use crate::proto::Event;

/// The `cwd` of a host's task that did not name one: the home directory there.
pub const HOME_THERE: &str = "~";

impl Engine {
    /// The job handing `task` to `host`'s link, or why it cannot be.
    pub(super) fn host_of(&self, name: &str) -> Option<crate::core::hosts::Host> {
        self.settings.config.hosts.get(name).map(|h| h.to_host(name))
    }

    /// A task of another host got its slot: its link hands it over (no process here).
    pub(super) fn launch_remote(&mut self, id: &str, host: &str, now: Timestamp) -> Vec<Effect> {
        let Some(task) = self.table.get(id).cloned() else { return vec![] };
        let Some(h) = self.host_of(host) else {
            self.sched.release(id);
            let reason = format!("host {host:?} is no longer in the config");
            let mut fx = self.end_unstarted(id, Outcome::Error { exit_code: None, reason }, now);
            fx.extend(self.dispatch(now));
            return fx;
        };
        // Its agent and model as resolved here (the host runs its own agent of that name);
        // never this machine's environment.
        let spec = TaskSpec {
            prompt: task.prompt.clone(),
            agent: Some(task.agent.clone()),
            model: task.model.clone(),
            title: Some(task.title.clone()),
            skills: task.skills.clone(),
            cwd: (task.cwd.as_os_str() != HOME_THERE).then(|| task.cwd.clone()),
            resume: task.resume.clone(),
            worktree: task.worktree_request.clone(),
            sandbox: task.sandbox.clone(),
            ..Default::default()
        };
        self.runs.insert(id.to_string(), Run { remote: true, ..Default::default() });
        vec![Effect::Host(HostJob::Submit { host: h, id: id.to_string(), spec: Box::new(spec) })]
    }

    /// A running task of another host, after a restart: its link follows it again.
    pub(super) fn watch_remote(&mut self, task: &Task, host: &str, now: Timestamp) -> Vec<Effect> {
        let Some(h) = self.host_of(host) else { return self.lose(task, now) };
        let group = self.settings.config.limits().group_for(task.model.as_deref());
        self.sched.mark_running(&task.id, &group);
        self.runs.insert(task.id.clone(), Run { remote: true, ..Default::default() });
        vec![Effect::Host(HostJob::Watch { host: h, id: task.id.clone() })]
    }

    /// How a host's link is now: kept for `hosts` (and said in the log when it changes).
    pub(super) fn host_link(&mut self, host: String, state: LinkState) -> Vec<Effect> {
        let was = self.hosts.get(&host).map(|s| s.reachable);
        let changed = was != Some(state.reachable);
        if changed {
            match (&state.error, state.reachable) {
                (_, true) => tracing::info!(%host, "host reachable"),
                (Some(e), false) => tracing::warn!(%host, "host unreachable: {e}"),
                (None, false) => tracing::warn!(%host, "host unreachable"),
            }
        }
        // The latency is kept until the next one is measured.
        let latency = state.latency_ms.or(self.hosts.get(&host).and_then(|s| s.latency_ms));
        let state = LinkState { latency_ms: latency.filter(|_| state.reachable), ..state };
        self.hosts.insert(host, state);
        match changed {
            true => vec![Effect::Announce(Event::HostsChanged)],
            false => vec![],
        }
    }

    /// Every host of the config with its link and its tasks here.
    pub(super) fn hosts_info(&self) -> Vec<crate::proto::HostInfo> {
        let count = |name: &str, status: TaskStatus| {
            self.table
                .all()
                .filter(|t| t.host.as_deref() == Some(name) && t.status == status)
                .count()
        };
        self.settings
            .config
            .hosts
            .iter()
            .map(|(name, h)| crate::proto::HostInfo {
                name: name.clone(),
                ssh: h.ssh.get_ref().clone(),
                link: self.hosts.get(name).cloned(),
                running: count(name, TaskStatus::Running),
                queued: count(name, TaskStatus::Pending),
            })
            .collect()
    }

    /// The hosts with as many tasks at work as their `max_tasks`.
    pub(super) fn hosts_full(&self) -> std::collections::HashSet<String> {
        let config = &self.settings.config;
        if config.hosts.values().all(|h| h.max_tasks.is_none()) {
            return Default::default();
        }
        let mut at_work: BTreeMap<&str, u32> = BTreeMap::new();
        for id in self.runs.keys().filter(|id| self.runs.get(id).is_some_and(|r| r.remote)) {
            if let Some(h) = self.table.get(id).and_then(|t| t.host.as_deref()) {
                *at_work.entry(h).or_default() += 1;
            }
        }
        config
            .hosts
            .iter()
            .filter(|(name, h)| {
                h.max_tasks.as_ref().is_some_and(|m| {
                    at_work.get(name.as_str()).copied().unwrap_or(0) >= *m.get_ref()
                })
            })
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// `focus` on a host's task: a window beside the asking dashboard (or the newest one)
    /// attached to the task's pane there, over the host's connection.
    pub(super) fn attach_there(&self, id: &str, conn: u64, reply: ReplyTo) -> Vec<Effect> {
        let fail = |why: String| {
            let answer = Err(crate::proto::ErrorBody::new(crate::proto::ErrorKind::Invalid, why));
            vec![Effect::Reply { to: reply, answer }]
        };
        let Some(task) = self.table.get(id) else { return fail(format!("no task {id}")) };
        let name = task.host.clone().unwrap_or_default();
        let Some(host) = self.host_of(&name) else {
            return fail(format!("host {name:?} is no longer in the config"));
        };
        if task.status != TaskStatus::Running {
            return fail(format!("task {id} is {}: there is no pane to attach to", task.status));
        }
        let Some(into) =
            self.dashboards.main_of(conn).cloned().or_else(|| self.dashboards.host(None))
        else {
            return fail(format!(
                "no dashboard open in tmux here to attach beside: open `paneherd` in tmux, then \
                 Enter on {id}"
            ));
        };
        vec![Effect::Host(HostJob::Attach { host, task: Box::new(task.clone()), into, reply })]
    }

    /// A host's link reports on one of its tasks.
    pub(super) fn host_report(&mut self, report: HostReport, now: Timestamp) -> Vec<Effect> {
        let id = report.id().to_string();
        if !self.runs.get(&id).is_some_and(|r| r.remote && r.ended.is_none()) {
            return vec![];
        }
        match report {
            HostReport::Changed { task: there, .. } => self.mirrored(&id, &there, now),
            HostReport::Output { bytes, .. } => self.output(&id, bytes, now),
            HostReport::Ended { task: there, result, .. } => {
                let mut fx = self.mirrored(&id, &there, now);
                fx.extend(self.ended_there(&id, &there, result, now));
                fx
            }
            HostReport::Waiting { why, .. } => {
                let Some(t) = self.table.get_mut(&id) else { return vec![] };
                if t.status != TaskStatus::Pending || t.reason.as_deref() == Some(why.as_str()) {
                    return vec![];
                }
                t.reason = Some(why);
                let t = t.clone();
                vec![Effect::Announce(Event::TaskChanged { task: Box::new(t) })]
            }
            HostReport::Refused { why, .. } => {
                self.runs.remove(&id);
                self.sched.release(&id);
                let outcome = Outcome::Error { exit_code: None, reason: why };
                let mut fx = self.end_unstarted(&id, outcome, now);
                fx.extend(self.dispatch(now));
                fx
            }
        }
    }

    /// The host's record of a task, copied into this one's: running once it runs there.
    fn mirrored(&mut self, id: &str, there: &Task, now: Timestamp) -> Vec<Effect> {
        let Some(t) = self.table.get_mut(id) else { return vec![] };
        let before = t.clone();
        t.mirror(there);
        if t.status == TaskStatus::Pending {
            if there.status == TaskStatus::Pending {
                t.reason = Some(format!("queued on host {}", t.host.as_deref().unwrap_or("?")));
            } else {
                let _ = t.start_elsewhere(there.started_at.unwrap_or(now));
            }
        }
        if *t == before {
            return vec![];
        }
        let t = t.clone();
        vec![
            self.writes.record(t.clone(), None, Durability::Written, SecretOp::Keep, None),
            Effect::Announce(Event::TaskChanged { task: Box::new(t) }),
        ]
    }

    /// The task ended on its host: its slot here is free, and its end is recorded with the
    /// result the host read (then announced, once).
    fn ended_there(
        &mut self,
        id: &str,
        there: &Task,
        result: Option<String>,
        now: Timestamp,
    ) -> Vec<Effect> {
        let Some(run) = self.runs.get_mut(id) else { return vec![] };
        let reason = there.reason.clone().unwrap_or_default();
        let exit_code = there.exit_code;
        let outcome = match (run.kill.take(), there.status) {
            // Stopped from here: said as it was asked.
            (Some(kill), s) if s != TaskStatus::Completed => kill.outcome(exit_code),
            (_, TaskStatus::Completed) => Outcome::Completed,
            (_, TaskStatus::Cancelled) => Outcome::Cancelled { exit_code, reason },
            (_, TaskStatus::Interrupted) => Outcome::Interrupted { exit_code, reason },
            (_, _) => Outcome::Error { exit_code, reason },
        };
        run.ended = Some(outcome);
        run.ended_at = there.finished_at.or(Some(now));
        self.sched.release(id);
        let mut fx = self.collected(id, Ok(result.unwrap_or_default()), None, now);
        fx.extend(self.dispatch(now));
        fx
    }
}
