//! The pane tasks of a daemon that stopped, taken over by this one: still in their panes
//! (adopted), ended there while no daemon watched (adopted and ended as the wrapper wrote down),
//! or lost.

use super::*;
use crate::core::launch::Exit;
use crate::core::task::ExitRecord;

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
        let mut fx =
            vec![Effect::Pane(PaneJob::Adopt { id: id.to_string(), origin, pane, visible })];
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
}
