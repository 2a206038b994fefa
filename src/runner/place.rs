//! Where a task's process runs: the seam a new "where" plugs into. The engine says what to run
//! (a `Launch`); the hub hands headless launches to the daemon's `Place`, which starts them,
//! signals them and stops what a lost daemon left running. `Local` is this machine. Pane tasks
//! run where their pane is (the pane manager opens it; its wrapper starts the agent). Tasks of
//! another host do not come here: the daemon there runs them, keeping their record, and
//! `daemon::hosts` mirrors them — a place would start a process there, which would die with
//! the SSH connection.

use std::sync::Arc;

use nix::sys::signal::Signal;

use super::headless::Starter;
use super::{Launch, Report};

/// Where what happens to a started process is told, in order.
pub type Reporter = Arc<dyn Fn(Report) + Send + Sync>;

/// A place tasks' processes run in.
pub trait Place: Send + Sync {
    /// Starts a launch and follows it; `Started`/`Output`/`Exited` come back through `report`
    /// in that order, and launches are said to have started in the order they were given.
    /// Returns at once (inside a tokio runtime).
    fn start(&self, launch: Launch, report: Reporter);
    /// Signals a started process's group.
    fn signal(&self, pid: u32, signal: Signal);
    /// Stops the processes a previous daemon left running for task `id`: its process group
    /// when `pid` is known, else every process that carries the task's id.
    fn stop_orphan(&self, id: &str, pid: Option<u32>);
}

/// This machine.
#[derive(Default)]
pub struct Local {
    starter: Starter,
}

impl Place for Local {
    fn start(&self, launch: Launch, report: Reporter) {
        self.starter.start(launch, move |r| report(r));
    }

    fn signal(&self, pid: u32, signal: Signal) {
        super::signal_group(pid, signal);
    }

    fn stop_orphan(&self, id: &str, pid: Option<u32>) {
        match pid {
            Some(pid) => super::stop_orphan(pid, id),
            None => {
                let id = id.to_string();
                tokio::task::spawn_blocking(move || super::stop_every_process_of(&id));
            }
        }
    }
}
