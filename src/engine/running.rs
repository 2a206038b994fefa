//! A running task: its output seen (and announced at most every `OUTPUT_EVENT_EVERY`), its
//! timers (stale, TTL, idle, kill grace), and stopping it (SIGTERM, then SIGKILL) when asked.

use super::*;
use crate::core::hosts::HostJob;
use crate::core::task::Outcome;
use crate::proto::Event;

fn human_secs(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 60 && s.is_multiple_of(60) { format!("{}m", s / 60) } else { format!("{s}s") }
}

fn since(later: Timestamp, earlier: Timestamp) -> Duration {
    (later - earlier).to_std().unwrap_or_default()
}

impl Engine {
    /// A task printed something.
    pub(super) fn output(&mut self, id: &str, bytes: u64, now: Timestamp) -> Vec<Effect> {
        let Some(run) = self.runs.get_mut(id) else { return vec![] };
        let first = run.last_output.is_none();
        run.last_output = Some(now);
        run.unannounced += bytes;
        let mut fx = vec![];
        if first && let Some(idle) = run.idle {
            fx.push(Effect::timer(id, TimerKind::Idle, now, idle));
        }
        match run.last_event {
            Some(last) if since(now, last) < OUTPUT_EVENT_EVERY => {
                // One event per interval: the rest waits for the interval's end.
                if run.unannounced == bytes {
                    let wait = OUTPUT_EVENT_EVERY.saturating_sub(since(now, last));
                    fx.push(Effect::timer(id, TimerKind::OutputEvent, now, wait));
                }
            }
            _ => fx.extend(self.announce_output(id, now)),
        }
        fx
    }

    pub(super) fn announce_output(&mut self, id: &str, now: Timestamp) -> Vec<Effect> {
        let Some(run) = self.runs.get_mut(id) else { return vec![] };
        if run.unannounced == 0 {
            return vec![];
        }
        let bytes = std::mem::take(&mut run.unannounced);
        run.last_event = Some(now);
        let at = run.last_output.unwrap_or(now);
        if let Some(t) = self.table.get_mut(id) {
            t.last_output_at = Some(at);
        }
        vec![Effect::Announce(Event::Output { id: id.to_string(), at, bytes })]
    }

    /// Stops a task (once): SIGTERM to its process group now, SIGKILL after `KILL_GRACE`.
    pub(super) fn kill(&mut self, id: &str, reason: KillReason, now: Timestamp) -> Vec<Effect> {
        let Some(run) = self.runs.get_mut(id) else { return vec![] };
        if run.kill.is_some() || run.ended.is_some() {
            return vec![];
        }
        run.kill = Some(reason);
        self.signal_kill(id, now)
    }

    pub(super) fn signal_kill(&mut self, id: &str, now: Timestamp) -> Vec<Effect> {
        // Another host's: its link asks the host to cancel it (its end comes from there).
        if self.runs.get(id).is_some_and(|r| r.remote) {
            let host =
                self.table.get(id).and_then(|t| t.host.as_deref()).and_then(|h| self.host_of(h));
            return match host {
                Some(host) => vec![Effect::Host(HostJob::Cancel { host, id: id.to_string() })],
                None => vec![],
            };
        }
        match self.runs.get(id).and_then(|r| r.pid) {
            Some(pid) => vec![
                Effect::Signal { pid, signal: Signal::Term },
                Effect::timer(id, TimerKind::HardKill, now, KILL_GRACE),
            ],
            // Not started yet: signalled when it is.
            None => vec![],
        }
    }

    /// Cancels tasks: pending ones at once, running ones by stopping them. Returns the ids of
    /// those asked to stop.
    pub(super) fn cancel(
        &mut self,
        ids: &[String],
        reason: &str,
        now: Timestamp,
    ) -> (Vec<String>, Vec<Effect>) {
        let mut stopping = vec![];
        let mut fx = vec![];
        for id in ids {
            let Some(status) = self.table.get(id).map(|t| t.status) else { continue };
            if self.runs.contains_key(id) {
                stopping.push(id.clone());
                fx.extend(self.kill(id, KillReason::Cancel(reason.into()), now));
            } else if status == TaskStatus::Pending
                && !self.ending.contains(id)
                && self.sched.remove_queued(id)
            {
                let outcome = Outcome::Cancelled { exit_code: None, reason: reason.into() };
                fx.extend(self.end_unstarted(id, outcome, now));
            }
        }
        fx.extend(self.dispatch(now));
        (stopping, fx)
    }

    /// A timer fired.
    pub(super) fn timer(&mut self, id: &str, kind: TimerKind, now: Timestamp) -> Vec<Effect> {
        if kind == TimerKind::Rewrite {
            return self.rewrite(id);
        }
        let Some(run) = self.runs.get(id) else { return vec![] };
        let started = self.table.get(id).and_then(|t| t.started_at).unwrap_or(now);
        let stopping = run.kill.is_some() || run.ended.is_some();
        match kind {
            TimerKind::Stale if !stopping && run.pid.is_some() => {
                let last = run.last_output.unwrap_or(started).max(started);
                let due =
                    last + chrono::Duration::from_std(run.stale).unwrap_or(chrono::Duration::MAX);
                if now < due {
                    // Output came since the timer was set: wait from the last output.
                    return vec![Effect::Timer { id: id.into(), kind, at: due }];
                }
                let reason = format!("no output for {} s", run.stale.as_secs());
                self.kill(id, KillReason::Stale(reason), now)
            }
            TimerKind::Ttl if !stopping && run.pid.is_some() => {
                let reason = format!("ttl {} exceeded", human_secs(run.ttl));
                self.kill(id, KillReason::Ttl(reason), now)
            }
            TimerKind::Idle if !stopping => {
                let (Some(last), Some(idle)) = (run.last_output, run.idle) else { return vec![] };
                let due = last + chrono::Duration::from_std(idle).unwrap_or(chrono::Duration::MAX);
                if now < due {
                    return vec![Effect::Timer { id: id.into(), kind, at: due }];
                }
                self.kill(id, KillReason::Done, now)
            }
            TimerKind::HardKill if run.ended.is_none() => match run.pid {
                Some(pid) => vec![Effect::Signal { pid, signal: Signal::Kill }],
                None => vec![],
            },
            TimerKind::WrapperStart if run.pid.is_none() => {
                let why = format!(
                    "the pane's wrapper did not start the agent within {} s",
                    WRAPPER_START.as_secs()
                );
                self.start_failed(id, why, now)
            }
            TimerKind::OutputEvent => self.announce_output(id, now),
            _ => vec![],
        }
    }
}
