//! The daemon stopping: no new work, running tasks stopped, pending ones kept on disk.

use super::*;
use crate::proto::Event;

impl Engine {
    /// Stops accepting work and stops every running task (pending ones stay queued on disk);
    /// `Effect::Stopped` once nothing runs.
    pub(super) fn shutdown(&mut self, now: Timestamp) -> Vec<Effect> {
        let mut fx = vec![];
        if !self.shutting_down {
            fx.push(Effect::Announce(Event::DaemonStopping));
        }
        self.shutting_down = true;
        // Another host's tasks go on there (watched again after a restart).
        let ids: Vec<String> = self
            .runs
            .keys()
            .filter(|id| !self.runs.get(id).is_some_and(|r| r.remote))
            .cloned()
            .collect();
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
