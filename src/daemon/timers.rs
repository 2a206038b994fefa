//! The engine's timers: one task holds every deadline (stale, TTL, idle, kill grace, …) and
//! sleeps until the earliest, then reports it as an input. A timer the engine no longer cares
//! about simply fires and is ignored: nothing is cancelled, nothing polls.

use std::collections::BTreeMap;

use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::core::timefmt::{self, Timestamp};
use crate::engine::{Input, TimerKind};

/// Sets timers.
#[derive(Clone)]
pub struct Timers {
    tx: mpsc::UnboundedSender<(String, TimerKind, Timestamp)>,
}

impl Timers {
    /// Starts the timer task; fired timers go to `fire`.
    pub fn start(fire: impl Fn(Input) + Send + 'static) -> Timers {
        let (tx, mut rx) = mpsc::unbounded_channel::<(String, TimerKind, Timestamp)>();
        tokio::spawn(async move {
            // By deadline, then by arrival (a sequence number keeps equal deadlines apart).
            let mut due: BTreeMap<(Instant, u64), (String, TimerKind)> = BTreeMap::new();
            let mut seq = 0u64;
            loop {
                let next = due.keys().next().map(|(at, _)| *at);
                tokio::select! {
                    set = rx.recv() => match set {
                        Some((id, kind, at)) => {
                            // From the wall clock the engine speaks to the monotonic one.
                            let wait = (at - timefmt::now()).to_std().unwrap_or_default();
                            seq += 1;
                            due.insert((Instant::now() + wait, seq), (id, kind));
                        }
                        None => break,
                    },
                    _ = tokio::time::sleep_until(next.unwrap_or_else(Instant::now)), if next.is_some() => {
                        let now = Instant::now();
                        while let Some(entry) = due.first_entry() {
                            if entry.key().0 > now {
                                break;
                            }
                            let (id, kind) = entry.remove();
                            fire(Input::Timer { id, kind });
                        }
                    }
                }
            }
        });
        Timers { tx }
    }

    pub fn set(&self, id: String, kind: TimerKind, at: Timestamp) {
        let _ = self.tx.send((id, kind, at));
    }
}
