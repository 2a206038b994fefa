//! A new config in force: what it changes for queued and running tasks (their limit groups),
//! or, when it is bad, the last good one kept and the error reported.

use super::*;
use crate::core::records::Durability;
use crate::proto::Event;

impl Engine {
    /// The config file changed.
    pub(super) fn config_loaded(
        &mut self,
        loaded: Result<Box<crate::config::Loaded>, Box<crate::config::ConfigError>>,
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
            Err(e) => {
                let msg = e.to_string();
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
}
