//! The daemon's share of the system: its open-file limit raised to the hard one at start, and a
//! cap on connections, so that a client beyond it is refused at once with a reason instead of
//! waiting in the listen queue while nothing can be opened.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use nix::sys::resource::{Resource, getrlimit, setrlimit};

/// Raises the soft limit of open files to the hard one; returns the soft limit in force.
pub fn raise_open_files() -> u64 {
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) if soft < hard => match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
            Ok(()) => {
                tracing::info!(from = soft, to = hard, "raised the open-file limit");
                hard
            }
            Err(e) => {
                tracing::warn!(soft, hard, error = %e, "cannot raise the open-file limit");
                soft
            }
        },
        Ok((soft, _)) => soft,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the open-file limit");
            1024
        }
    }
}

/// How many connections may be open at once with `open_files` descriptors: half of them, the
/// rest left for tasks (their logs, pipes and processes) and the daemon's own files.
pub fn connection_cap(open_files: u64) -> usize {
    usize::try_from(open_files / 2).unwrap_or(usize::MAX).clamp(8, 16_384)
}

/// How many tasks may run at once with `open_files` descriptors, `connections` of them kept for
/// clients: each running task holds about three (its log, its output pipe, its process).
pub fn task_cap(open_files: u64, connections: usize) -> u32 {
    let left = open_files.saturating_sub(connections as u64).saturating_sub(64);
    u32::try_from(left / 3).unwrap_or(u32::MAX).max(1)
}

/// Counts open connections against the cap.
#[derive(Clone)]
pub struct Gate {
    open: Arc<AtomicUsize>,
    cap: usize,
}

/// One open connection; its place is given back when dropped.
pub struct Ticket(Arc<AtomicUsize>);

impl Drop for Ticket {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Gate {
    pub fn new(cap: usize) -> Gate {
        Gate { open: Arc::new(AtomicUsize::new(0)), cap }
    }

    pub fn cap(&self) -> usize {
        self.cap
    }

    /// A place for a new connection, unless `cap` are open.
    pub fn enter(&self) -> Option<Ticket> {
        let mut n = self.open.load(Ordering::SeqCst);
        loop {
            if n >= self.cap {
                return None;
            }
            match self.open.compare_exchange(n, n + 1, Ordering::SeqCst, Ordering::SeqCst) {
                Ok(_) => return Some(Ticket(self.open.clone())),
                Err(now) => n = now,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gate_lets_in_up_to_its_cap_and_again_when_one_leaves() {
        let g = Gate::new(2);
        let a = g.enter().unwrap();
        let _b = g.enter().unwrap();
        assert!(g.enter().is_none());
        drop(a);
        assert!(g.enter().is_some());
    }

    #[test]
    fn half_the_descriptors_go_to_connections() {
        assert_eq!(connection_cap(256), 128);
        assert_eq!(connection_cap(1024), 512);
        assert_eq!(connection_cap(4), 8);
        assert_eq!(connection_cap(u64::MAX), 16_384);
        // 256 descriptors: 128 for connections, 64 for the daemon, the rest for tasks.
        assert_eq!(task_cap(256, 128), 21);
        assert_eq!(task_cap(10, 8), 1);
    }
}
