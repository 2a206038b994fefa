//! The engine's running tasks: each one's run (its process, pane, limits, why it is being
//! stopped, how it ended) and the pane wrappers that report for them, by connection: a wrapper
//! attaches with its task's token, and one that goes away before it reported its agent's exit
//! is a hang-up to look into.

use std::collections::HashMap;
use std::time::Duration;

use super::KillReason;
use crate::core::launch::Launch;
use crate::core::task::Outcome;
use crate::core::timefmt::Timestamp;

/// A task whose process runs (or is being started, or has ended and is being recorded).
#[derive(Debug, Clone, Default)]
pub(super) struct Run {
    /// The process group to signal, once known.
    pub pid: Option<u32>,
    /// Its tmux pane, for a pane task.
    pub pane: Option<String>,
    /// What it runs, until its pane's wrapper has fetched it.
    pub launch: Option<Launch>,
    pub stale: Duration,
    pub ttl: Duration,
    pub idle: Option<Duration>,
    /// Why paneherd is stopping it, once it is.
    pub kill: Option<KillReason>,
    /// When it last printed; when its last output event went out.
    pub last_output: Option<Timestamp>,
    pub last_event: Option<Timestamp>,
    /// Bytes of output seen and not yet announced.
    pub unannounced: u64,
    /// How it ended, once its process has (its result being read and written), and when.
    pub ended: Option<Outcome>,
    pub ended_at: Option<Timestamp>,
    /// Its worktree is being made: no process yet.
    pub preparing: bool,
    /// The token its pane's wrapper attaches with (pane tasks only).
    pub token: Option<String>,
    /// Some of its output could not be written to its log (a full disk).
    pub log_failed: bool,
    /// It runs on another host (its link reports for it; no process here).
    pub remote: bool,
}

/// The runs, and the pane wrappers reporting for them.
#[derive(Debug, Default)]
pub(super) struct Runs {
    by_task: HashMap<String, Run>,
    /// By connection: the task, and whether it reported its agent's exit.
    wrappers: HashMap<u64, (String, bool)>,
}

impl Runs {
    pub fn get(&self, id: &str) -> Option<&Run> {
        self.by_task.get(id)
    }
    pub fn get_mut(&mut self, id: &str) -> Option<&mut Run> {
        self.by_task.get_mut(id)
    }
    pub fn insert(&mut self, id: String, run: Run) -> Option<Run> {
        self.by_task.insert(id, run)
    }
    pub fn remove(&mut self, id: &str) -> Option<Run> {
        self.by_task.remove(id)
    }
    pub fn contains_key(&self, id: &str) -> bool {
        self.by_task.contains_key(id)
    }
    pub fn keys(&self) -> impl Iterator<Item = &String> + '_ {
        self.by_task.keys()
    }
    pub fn len(&self) -> usize {
        self.by_task.len()
    }
    /// How many run on other hosts.
    pub fn remote(&self) -> usize {
        self.by_task.values().filter(|r| r.remote && r.ended.is_none()).count()
    }

    /// A pane wrapper on connection `conn` attaches for `task` with `token`: true (and from
    /// now on that connection reports for the task) only if the task runs in a pane with
    /// that token.
    pub fn attach(&mut self, conn: u64, task: &str, token: &str) -> bool {
        let ours = self.by_task.get(task).and_then(|r| r.token.as_deref());
        if ours != Some(token) {
            return false;
        }
        self.wrappers.insert(conn, (task.to_string(), false));
        true
    }

    /// The wrapper on `conn` reported the exit of `task`'s agent (a report for another task
    /// than its own changes nothing).
    pub fn reported_exit(&mut self, conn: u64, task: &str) {
        if let Some(w) = self.wrappers.get_mut(&conn).filter(|w| w.0 == task) {
            w.1 = true;
        }
    }

    /// The connection `conn` closed: the task its wrapper ran, if the wrapper had not
    /// reported its agent's exit (its pane closed, or its tmux server went away).
    pub fn wrapper_gone(&mut self, conn: u64) -> Option<String> {
        match self.wrappers.remove(&conn) {
            Some((task, false)) => Some(task),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runs() -> Runs {
        let mut r = Runs::default();
        r.insert("pane".into(), Run { token: Some("secret".into()), ..Default::default() });
        r.insert("headless".into(), Run::default());
        r
    }

    #[test]
    fn only_a_tasks_own_wrapper_attaches() {
        let cases = [
            ("pane", "secret", true),
            ("pane", "guess", false),
            ("pane", "", false),
            ("headless", "", false),
            ("headless", "secret", false),
            ("nobody", "secret", false),
        ];
        for (task, token, attaches) in cases {
            let mut r = runs();
            assert_eq!(r.attach(7, task, token), attaches, "{task} with {token:?}");
            // Only an attached wrapper's going away is a hang-up.
            assert_eq!(r.wrapper_gone(7).is_some(), attaches, "{task} with {token:?}");
        }
    }

    #[test]
    fn a_wrapper_gone_before_it_reported_the_exit_is_a_hang_up() {
        // (reports before going: the task named in an exit report) → a hang-up of the task?
        let cases: [(&[&str], Option<&str>); 4] = [
            (&[], Some("pane")),
            (&["pane"], None),
            (&["headless"], Some("pane")),
            (&["headless", "pane"], None),
        ];
        for (reports, hangup) in cases {
            let mut r = runs();
            assert!(r.attach(3, "pane", "secret"));
            for t in reports {
                r.reported_exit(3, t);
            }
            assert_eq!(r.wrapper_gone(3).as_deref(), hangup, "after reports {reports:?}");
            assert_eq!(r.wrapper_gone(3), None, "the connection is forgotten once gone");
        }
        assert_eq!(runs().wrapper_gone(99), None, "not a wrapper's connection");
    }
}
