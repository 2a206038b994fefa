//! What changes under the engine: the history of a daemon that stopped (pane tasks adopted), a
//! new config (limits regrouped), a shutdown; and the writes the engine asks of the store.

use super::*;
use crate::core::task::ExitRecord;
use crate::proto::Event;
use crate::runner::Exit;
use crate::store::{Durability, SecretOp};

impl Engine {
    /// A pane task of a previous daemon: still in its pane (adopted, its slot taken, its clocks
    /// running from its start; its wrapper reports in with its token), ended there while no
    /// daemon was watching (adopted and ended as its wrapper wrote down), or lost.
    pub(super) fn adopted(
        &mut self,
        id: &str,
        visible: Option<bool>,
        exit: Option<ExitRecord>,
        now: Timestamp,
    ) -> Vec<Effect> {
        let Some(task) = self.table.get(id).cloned() else { return vec![] };
        let token = self.tokens.remove(id);
        let visible = match (visible, exit.clone()) {
            (Some(v), _) => v,
            // Its pane is gone, but its wrapper wrote down how the agent ended: recorded so.
            (None, Some(exit)) => {
                self.runs.insert(id.to_string(), Run { ended_at: exit.at, ..Default::default() });
                self.startup.remove(id);
                return self.exited(
                    id,
                    Exit { code: exit.code, signal: exit.signal },
                    exit.log_error,
                    now,
                );
            }
            (None, None) => return self.lose(&task, now),
        };
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
                token,
                // Ended while no daemon watched: when it did.
                ended_at: exit.as_ref().and_then(|e| e.at),
                ..Default::default()
            },
        );
        self.sched.mark_running(id, &config.limits().group_for(task.model.as_deref()));
        self.startup.remove(id);
        let mut fx = vec![Effect::AdoptPane { id: id.to_string(), origin, pane, visible }];
        match exit {
            Some(exit) => {
                tracing::info!(task = %id, "its agent ended while no daemon watched: recorded");
                let e = Exit { code: exit.code, signal: exit.signal };
                fx.extend(self.exited(id, e, exit.log_error, now));
            }
            None => {
                tracing::info!(task = %id, "re-adopted a running pane task");
                fx.push(Effect::timer(id, TimerKind::Stale, now, Duration::from_secs(stale)));
                fx.push(Effect::timer(id, TimerKind::Ttl, now, ttl_left));
            }
        }
        fx
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
    pub(super) fn regroup(&mut self, now: Timestamp) -> Vec<Effect> {
        let config = self.settings.config.clone();
        let limits = config.limits();
        let models: HashMap<String, Option<String>> = self
            .table
            .all()
            .filter(|t| !t.status.is_terminal())
            .map(|t| (t.id.clone(), t.model.clone()))
            .collect();
        self.sched.regroup(cap(config.concurrency.max_running, self.setup.max_tasks), |id| {
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
        let mut fx = vec![];
        if !self.shutting_down {
            fx.push(Effect::Announce(Event::DaemonStopping));
        }
        self.shutting_down = true;
        let ids: Vec<String> = self.runs.keys().cloned().collect();
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

    /// A write's token.
    pub(super) fn next_token(&mut self) -> u64 {
        let t = self.next_write;
        self.next_write += 1;
        t
    }

    /// A record to write (its secret file left as it is), and what to do once it is written.
    pub(super) fn write(
        &mut self,
        task: &Task,
        result: Option<String>,
        durability: Durability,
        after: Option<AfterWrite>,
    ) -> Effect {
        self.write_secret(task, result, durability, SecretOp::Keep, after)
    }

    /// A record to write with its secret file set or cleared.
    pub(super) fn write_secret(
        &mut self,
        task: &Task,
        result: Option<String>,
        durability: Durability,
        secret: SecretOp,
        after: Option<AfterWrite>,
    ) -> Effect {
        let token = self.next_token();
        if let Some(a) = after {
            self.writes.insert(token, a);
        }
        Effect::Write { token, task: Box::new(task.clone()), result, durability, secret }
    }
}
