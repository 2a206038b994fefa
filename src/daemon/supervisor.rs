//! Watches one running task: its exit, its stale and TTL deadlines, and kill requests. It
//! sleeps until something happens — the exit is awaited, deadlines are timers — never polls.

use std::sync::Arc;
use std::time::Duration;

use nix::sys::signal::Signal;
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until};

use crate::core::task::Outcome;
use crate::core::timefmt;
use crate::runner::{self, RunHandle};

use super::engine::Engine;

/// Time between SIGTERM and SIGKILL when a task is stopped.
pub const KILL_GRACE: Duration = Duration::from_secs(3);
/// At most one output event per task per this interval.
const OUTPUT_EVENT_EVERY: Duration = Duration::from_millis(250);

/// Why paneherd stops a task.
#[derive(Debug, Clone)]
pub enum KillReason {
    /// A user (or shutdown) cancelled it: the reason text is recorded.
    Cancel(String),
    /// No output for the stale timeout.
    Stale(String),
    /// Ran past its TTL.
    Ttl(String),
    /// Its environment failed (e.g. the tmux server went away): recorded as an error.
    Fail(String),
    /// The agent said it is done (`paneherd signal done`), or went idle: recorded as completed.
    Done,
}

impl KillReason {
    fn outcome(self, exit_code: Option<i32>) -> Outcome {
        match self {
            KillReason::Cancel(reason) | KillReason::Ttl(reason) => {
                Outcome::Cancelled { exit_code, reason }
            }
            KillReason::Stale(reason) => Outcome::Interrupted { exit_code, reason },
            KillReason::Fail(reason) => Outcome::Error { exit_code, reason },
            KillReason::Done => Outcome::Completed,
        }
    }
}

fn human_secs(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 60 && s.is_multiple_of(60) { format!("{}m", s / 60) } else { format!("{s}s") }
}

/// A task's clocks: no output for `stale` → interrupted; running past `ttl` → cancelled; with
/// `idle`, no output for that long after some output → completed (interactive agents).
#[derive(Debug, Clone, Copy)]
pub struct Timers {
    pub stale: Duration,
    pub ttl: Duration,
    pub idle: Option<Duration>,
}

pub fn spawn(
    engine: Arc<Engine>,
    id: String,
    handle: RunHandle,
    kill_rx: mpsc::UnboundedReceiver<KillReason>,
    timers: Timers,
) {
    tokio::spawn(supervise(engine, id, handle, kill_rx, timers));
}

async fn supervise(
    engine: Arc<Engine>,
    id: String,
    handle: RunHandle,
    mut kill_rx: mpsc::UnboundedReceiver<KillReason>,
    timers: Timers,
) {
    let Timers { stale, ttl, idle } = timers;
    let RunHandle { pid, mut exit, activity } = handle;
    // Output may already have come before this watch began.
    let mut idle_at: Option<Instant> =
        idle.filter(|_| activity.last_ms() != 0).map(|d| Instant::now() + d);
    let started = Instant::now();
    let ttl_at = started + ttl;
    let mut stale_at = started + stale;
    let mut seen_ms = activity.last_ms();
    let mut killing: Option<KillReason> = None;
    let mut hard_kill_at: Option<Instant> = None;
    let mut next_event_at = Instant::now();
    let mut event_due = false;
    let far = || Instant::now() + Duration::from_secs(365 * 24 * 3600);
    let status = loop {
        tokio::select! {
            // A reason sent just before the exit (a pane's server gone) must be seen first.
            biased;
            Some(reason) = kill_rx.recv(), if killing.is_none() => {
                tracing::info!(task = %id, ?reason, "stopping");
                runner::signal_group(pid, Signal::SIGTERM);
                killing = Some(reason);
                hard_kill_at = Some(Instant::now() + KILL_GRACE);
            }
            status = &mut exit => break status.ok(),
            _ = sleep_until(hard_kill_at.unwrap_or_else(far)), if hard_kill_at.is_some() => {
                tracing::warn!(task = %id, "did not stop after SIGTERM; sending SIGKILL");
                runner::signal_group(pid, Signal::SIGKILL);
                hard_kill_at = None;
            }
            _ = activity.changed.notified() => {
                let now = Instant::now();
                let last = activity.last_ms();
                if last != seen_ms || (idle_at.is_none() && last != 0) {
                    seen_ms = last;
                    stale_at = now + stale;
                    idle_at = idle.map(|d| now + d);
                }
                if now >= next_event_at {
                    engine.note_output(&id, timefmt::now(), activity.bytes());
                    next_event_at = now + OUTPUT_EVENT_EVERY;
                } else {
                    event_due = true;
                }
            }
            _ = sleep_until(next_event_at), if event_due => {
                event_due = false;
                engine.note_output(&id, timefmt::now(), activity.bytes());
                next_event_at = Instant::now() + OUTPUT_EVENT_EVERY;
            }
            _ = sleep_until(stale_at), if killing.is_none() => {
                // Output may have come since the deadline was set; the notify above may not have
                // run yet, so check the clock of the last output itself.
                let last = activity.last_ms();
                if last != seen_ms {
                    seen_ms = last;
                    let since = chrono::Utc::now().timestamp_millis() - last;
                    let left = stale.saturating_sub(Duration::from_millis(since.max(0) as u64));
                    stale_at = Instant::now() + left;
                    continue;
                }
                let reason = format!("no output for {} s", stale.as_secs());
                tracing::info!(task = %id, %reason, "stale");
                runner::signal_group(pid, Signal::SIGTERM);
                killing = Some(KillReason::Stale(reason));
                hard_kill_at = Some(Instant::now() + KILL_GRACE);
            }
            _ = sleep_until(idle_at.unwrap_or_else(far)), if killing.is_none() && idle_at.is_some() => {
                if activity.last_ms() != seen_ms {
                    // Output came since: the notify branch re-arms the clock.
                    idle_at = None;
                    continue;
                }
                tracing::info!(task = %id, "idle: done");
                runner::signal_group(pid, Signal::SIGTERM);
                killing = Some(KillReason::Done);
                hard_kill_at = Some(Instant::now() + KILL_GRACE);
            }
            _ = sleep_until(ttl_at), if killing.is_none() => {
                let reason = format!("ttl {} exceeded", human_secs(ttl));
                tracing::info!(task = %id, %reason, "ttl");
                runner::signal_group(pid, Signal::SIGTERM);
                killing = Some(KillReason::Ttl(reason));
                hard_kill_at = Some(Instant::now() + KILL_GRACE);
            }
        }
    };
    if killing.is_some() {
        // The leader is gone; make sure nothing it started lingers on.
        runner::signal_group(pid, Signal::SIGKILL);
    }
    let outcome = match (killing, status) {
        (Some(k), s) => k.outcome(s.and_then(|s| s.as_code())),
        (None, Some(s)) if s.code == Some(0) => Outcome::Completed,
        (None, Some(s)) => Outcome::Error { exit_code: s.as_code(), reason: s.describe() },
        (None, None) => {
            Outcome::Error { exit_code: None, reason: "lost track of the process".into() }
        }
    };
    engine.finish(&id, outcome).await;
}
