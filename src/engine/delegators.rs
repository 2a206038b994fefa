//! What the engine knows of the agents that delegate tasks, beyond the tasks' records: each
//! delegator process's session (from its hooks: a resumed session in a new process is the
//! same delegator), and which ended tasks a delegator is reading right now (a notice of such
//! an end would tell it twice).

use std::collections::{HashMap, HashSet};

use crate::core::task::Delegator;

#[derive(Debug, Default)]
pub(super) struct Delegators {
    /// Connections reading a task's result for its delegator right now, by task.
    readers: HashMap<String, HashSet<u64>>,
    /// Each delegator process's session id, as its hooks last said.
    sessions: HashMap<String, String>,
}

impl Delegators {
    /// Connection `conn` starts (`on`) or stops reading task `id`'s result.
    pub(super) fn reading(&mut self, id: String, conn: u64, on: bool) {
        if on {
            self.readers.entry(id).or_default().insert(conn);
        } else if let Some(r) = self.readers.get_mut(&id) {
            r.remove(&conn);
            if r.is_empty() {
                self.readers.remove(&id);
            }
        }
    }

    /// A connection closed: it reads nothing any more.
    pub(super) fn closed(&mut self, conn: u64) {
        self.readers.retain(|_, r| {
            r.remove(&conn);
            !r.is_empty()
        });
    }

    /// Whether some connection is reading task `id`'s result right now.
    pub(super) fn is_read(&self, id: &str) -> bool {
        self.readers.get(id).is_some_and(|r| !r.is_empty())
    }

    /// Delegator process `who` is in `session` (a hook said so).
    pub(super) fn learn_session(&mut self, who: &str, session: &str) {
        self.sessions.insert(who.to_string(), session.to_string());
    }

    /// Whether a task delegated by `d` is delegator `who`'s: the same process, or the same
    /// session (the one `who`'s hooks said it is in), resumed by another process.
    pub(super) fn is_of(&self, d: &Delegator, who: &str) -> bool {
        d.id == who || d.session.as_ref().is_some_and(|s| self.sessions.get(who) == Some(s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn by(id: &str, session: Option<&str>) -> Delegator {
        Delegator { id: id.into(), agent: "claude".into(), session: session.map(str::to_string) }
    }

    #[test]
    fn a_task_is_its_delegators_by_process_or_by_a_resumed_session() {
        let mut d = Delegators::default();
        d.learn_session("claude@20.2", "s-1");
        d.learn_session("claude@30.3", "s-2");
        // (the task's delegator, who asks, whether it is theirs)
        let cases = [
            (by("claude@10.1", None), "claude@10.1", true),
            (by("claude@10.1", Some("s-1")), "claude@20.2", true),
            (by("claude@10.1", Some("s-1")), "claude@30.3", false),
            (by("claude@10.1", None), "claude@20.2", false),
            (by("claude@10.1", Some("s-1")), "claude@40.4", false),
        ];
        for (task, who, want) in cases {
            assert_eq!(d.is_of(&task, who), want, "{task:?} asked by {who}");
        }
        // A new session of the same process: its later tasks' session.
        d.learn_session("claude@20.2", "s-3");
        assert!(!d.is_of(&by("claude@10.1", Some("s-1")), "claude@20.2"));
        assert!(d.is_of(&by("claude@10.1", Some("s-3")), "claude@20.2"));
    }

    #[test]
    fn a_result_is_being_read_until_every_reader_stopped_or_left() {
        let mut d = Delegators::default();
        d.reading("t1".into(), 1, true);
        d.reading("t1".into(), 2, true);
        d.reading("t2".into(), 1, true);
        d.reading("t1".into(), 1, false);
        assert!(d.is_read("t1"), "connection 2 still reads it");
        d.closed(2);
        assert!(!d.is_read("t1"));
        assert!(d.is_read("t2"));
        d.closed(1);
        assert!(!d.is_read("t2"));
        // Stopping what was never started is nothing.
        d.reading("t3".into(), 5, false);
        assert!(!d.is_read("t3"));
    }
}
