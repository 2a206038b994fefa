//! Merging bursts: the first end after a quiet spell is told at once (after a short grace in
//! which a second end turns it into a burst); ends within `window` of a notification are told
//! together when the window closes. Pure: the caller passes the time.

use std::time::{Duration, Instant};

use crate::core::task::Task;

/// How long the first end waits for company before it is told alone.
pub const GRACE: Duration = Duration::from_millis(20);

#[derive(Debug, Default)]
pub struct Coalescer {
    pending: Vec<Task>,
    /// When the pending ends must be told.
    due: Option<Instant>,
    /// Ends before this instant fall into the current window.
    window_until: Option<Instant>,
}

impl Coalescer {
    /// Adds an end seen at `now`; returns when the caller should next call `take`.
    pub fn push(&mut self, task: Task, now: Instant, window: Duration) -> Instant {
        // A task already waiting (e.g. needs input, then ended) is replaced by its news.
        self.pending.retain(|t| t.id != task.id);
        self.pending.push(task);
        let due = match (self.due, self.window_until) {
            (Some(d), _) => {
                // A second end inside the grace: it is a burst, wait for the window.
                if self.pending.len() == 2 && self.window_until.is_none() {
                    let w = now + window;
                    self.window_until = Some(w);
                    w.max(d)
                } else {
                    d
                }
            }
            (None, Some(w)) if now < w => w,
            _ => now + GRACE,
        };
        self.due = Some(due);
        due
    }

    /// The ends to tell now (empty if not yet due), and starts the window after them.
    pub fn take(&mut self, now: Instant, window: Duration) -> Vec<Task> {
        match self.due {
            Some(d) if d <= now => {
                self.due = None;
                self.window_until = Some(now + window);
                std::mem::take(&mut self.pending)
            }
            _ => vec![],
        }
    }

    pub fn due(&self) -> Option<Instant> {
        self.due
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::task::TaskStatus;

    fn t(id: &str) -> Task {
        let mut t: Task = toml::from_str(&format!(
            "id = \"{id}\"\ntitle = \"t\"\nstatus = \"completed\"\nagent = \"shell\"\nprompt = \"p\"\n\
             cwd = \"/\"\ncreated_at = \"2026-01-01T00:00:00.000Z\"\nlog_path = \"/x\"\n"
        ))
        .unwrap();
        t.status = TaskStatus::Completed;
        t
    }

    const W: Duration = Duration::from_millis(1500);

    #[test]
    fn a_lone_end_is_told_after_the_grace() {
        let mut c = Coalescer::default();
        let t0 = Instant::now();
        let due = c.push(t("a"), t0, W);
        assert_eq!(due, t0 + GRACE);
        assert!(c.take(t0, W).is_empty());
        assert_eq!(c.take(due, W).len(), 1);
    }

    #[test]
    fn a_tight_burst_is_one_notification() {
        let mut c = Coalescer::default();
        let t0 = Instant::now();
        c.push(t("a"), t0, W);
        for i in 1..10 {
            c.push(t(&format!("t{i}")), t0 + Duration::from_millis(i), W);
        }
        assert!(c.take(t0 + GRACE, W).is_empty(), "a burst waits for the window");
        // The window runs from the second end (t0 + 1 ms).
        assert!(c.take(t0 + W, W).is_empty());
        let got = c.take(t0 + W + Duration::from_millis(1), W);
        assert_eq!(got.len(), 10);
        assert!(c.take(t0 + W * 3, W).is_empty());
    }

    #[test]
    fn ends_after_a_notification_within_the_window_are_merged() {
        let mut c = Coalescer::default();
        let t0 = Instant::now();
        let d = c.push(t("a"), t0, W);
        assert_eq!(c.take(d, W).len(), 1);
        let d2 = c.push(t("b"), d + Duration::from_millis(100), W);
        c.push(t("c"), d + Duration::from_millis(200), W);
        assert_eq!(d2, d + W, "held until the window closes");
        assert_eq!(c.take(d2, W).len(), 2);
        // Long after: told at once again.
        let later = d2 + W * 2;
        assert_eq!(c.push(t("d"), later, W), later + GRACE);
    }
}
