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
        // A window that has closed with nothing held in it is over: a quiet spell again.
        if self.due.is_none() && self.window_until.is_some_and(|w| now >= w) {
            self.window_until = None;
        }
        let due = match (self.due, self.window_until) {
            // Within a window (after a notification, or in a burst): told when it closes.
            (_, Some(w)) => w,
            // A second end within the grace of the first: a burst; wait for the window.
            (Some(d), None) => {
                let w = now + window;
                self.window_until = Some(w);
                w.max(d)
            }
            // The first end after a quiet spell: told after the grace.
            (None, None) => now + GRACE,
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

    /// Drives a coalescer as the service does: ends arrive at the given times, and whatever
    /// is due is taken before each; returns the size of each notification.
    fn drive(c: &mut Coalescer, ends: &[(Instant, &str)]) -> Vec<usize> {
        let mut told = vec![];
        let mut take_due = |c: &mut Coalescer, until: Option<Instant>| {
            while let Some(due) = c.due().filter(|d| until.is_none_or(|u| *d <= u)) {
                let batch = c.take(due, W);
                if !batch.is_empty() {
                    told.push(batch.len());
                }
            }
        };
        for (at, id) in ends {
            take_due(c, Some(*at));
            c.push(t(id), *at, W);
        }
        take_due(c, None);
        told
    }

    #[test]
    fn every_burst_is_merged_however_many_come_in_a_row() {
        let mut c = Coalescer::default();
        let mut start = Instant::now();
        for burst in 0..4 {
            // Ten ends spread over 36 ms: longer than the grace, well inside the window.
            let names: Vec<String> = (0..10).map(|i| format!("b{burst}t{i}")).collect();
            let ends: Vec<(Instant, &str)> = names
                .iter()
                .enumerate()
                .map(|(i, n)| (start + Duration::from_millis(4 * i as u64), n.as_str()))
                .collect();
            assert_eq!(drive(&mut c, &ends), vec![10], "burst {burst} is one notification");
            // A quiet spell longer than the window before the next burst.
            start += W * 4;
        }
    }

    #[test]
    fn a_lone_end_after_a_burst_and_a_quiet_spell_is_told_quickly() {
        let mut c = Coalescer::default();
        let t0 = Instant::now();
        c.push(t("a"), t0, W);
        c.push(t("b"), t0, W);
        let due = c.due().unwrap();
        assert_eq!(c.take(due, W).len(), 2);
        let later = due + W * 3;
        assert_eq!(c.push(t("c"), later, W), later + GRACE);
    }
}
