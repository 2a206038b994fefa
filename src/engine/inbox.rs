//! Ends on their way to the agents that delegated them: which ended tasks a delegator has not
//! been told of yet, and telling (each end once, whoever tells it: a hook's notice, the inbox,
//! an MCP tool that returned the result). The `delivered` mark is in the task's record, so it
//! survives a restart.

use super::*;
use crate::core::records::Durability;

impl Engine {
    /// Ended tasks not yet delivered, of one delegator (of every delegator when `None`),
    /// oldest end first; with `ack`, they are delivered now.
    pub(super) fn inbox(&mut self, delegator: Option<&str>, ack: bool) -> (Vec<Task>, Vec<Effect>) {
        let mut ended: Vec<Task> = self
            .table
            .all()
            .filter(|t| t.status.is_terminal() && !t.delivered && !self.ending.contains(&t.id))
            .filter(|t| match (&t.delegator, delegator) {
                (Some(d), Some(want)) => self.delegators.is_of(d, want),
                (Some(_), None) => true,
                (None, _) => false,
            })
            .cloned()
            .collect();
        ended.sort_by_key(|t| t.finished_at);
        if !ack {
            return (ended, vec![]);
        }
        let ids: Vec<String> = ended.iter().map(|t| t.id.clone()).collect();
        self.deliver(&ids, false)
    }

    /// Marks the ends of `ids` delivered; returns the tasks this call delivered (an end told
    /// before, or not yet recorded, is left out; for a `notice`, so is one that its agent is
    /// reading itself right now).
    pub(super) fn deliver(&mut self, ids: &[String], notice: bool) -> (Vec<Task>, Vec<Effect>) {
        let mut told = vec![];
        let mut fx = vec![];
        for id in ids {
            if self.ending.contains(id) || self.runs.contains_key(id) {
                continue;
            }
            if notice && self.delegators.is_read(id) {
                continue;
            }
            let Some(t) = self.table.get_mut(id) else { continue };
            if !t.status.is_terminal() || t.delivered {
                continue;
            }
            t.delivered = true;
            let t = t.clone();
            fx.push(self.write(&t, None, Durability::Written, None));
            told.push(t);
        }
        (told, fx)
    }

    /// Records a delegator's session id on its tasks that have none yet (a session id learnt
    /// from a hook; a new session of the same process is recorded on the tasks from then on).
    pub(super) fn delegator_session(
        &mut self,
        delegator: &str,
        session: &str,
    ) -> (usize, Vec<Effect>) {
        self.delegators.learn_session(delegator, session);
        let ids: Vec<String> = self
            .table
            .all()
            .filter(|t| {
                t.delegator.as_ref().is_some_and(|d| d.id == delegator && d.session.is_none())
            })
            .map(|t| t.id.clone())
            .collect();
        let mut fx = vec![];
        for id in &ids {
            let Some(t) = self.table.get_mut(id) else { continue };
            if let Some(d) = t.delegator.as_mut() {
                d.session = Some(session.to_string());
            }
            let t = t.clone();
            fx.push(self.write(&t, None, Durability::Soon, None));
        }
        (ids.len(), fx)
    }

    /// Tasks of a delegator still pending or running; of anyone's for a person (`None`), who
    /// reads every task's end.
    pub(super) fn in_progress(&self, delegator: Option<&str>) -> usize {
        self.table
            .all()
            .filter(|t| !t.status.is_terminal())
            .filter(|t| {
                delegator.is_none_or(|who| {
                    t.delegator.as_ref().is_some_and(|d| self.delegators.is_of(d, who))
                })
            })
            .count()
    }
}

impl Engine {
    /// Connection `conn` starts (`on`) or stops reading task `id`'s result for its delegator.
    pub(super) fn reading(&mut self, id: String, conn: u64, on: bool) -> Vec<Effect> {
        self.delegators.reading(id, conn, on);
        vec![]
    }
}
