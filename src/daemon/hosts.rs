//! The daemon's links to hosts of `[hosts]`: one per host, opened on its first task and kept,
//! each its own loop (`link`) that reports its tasks and its state to the engine.

mod attach;
mod link;

pub use attach::session_here;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;

use tokio::sync::mpsc;

use crate::client::mux::Mux;
use crate::core::hosts::HostJob;
use crate::engine::Input;

/// The hosts' connections while they are up, by host name: what the daemon's request
/// handlers read through (a running task's output is there).
#[derive(Clone, Default)]
pub struct Connections(std::sync::Arc<Mutex<HashMap<String, std::sync::Arc<Mux>>>>);

impl Connections {
    pub fn get(&self, host: &str) -> Option<std::sync::Arc<Mux>> {
        self.0.lock().ok().and_then(|m| m.get(host).cloned())
    }

    pub(super) fn set(&self, host: &str, conn: Option<std::sync::Arc<Mux>>) {
        if let Ok(mut m) = self.0.lock() {
            match conn {
                Some(c) => m.insert(host.to_string(), c),
                None => m.remove(host),
            };
        }
    }
}

/// The links, by host name.
pub struct Hosts {
    links: Mutex<HashMap<String, mpsc::UnboundedSender<HostJob>>>,
    /// Where the control sockets of ssh's master connections go (the private runtime dir).
    control_dir: PathBuf,
    conns: Connections,
    report: std::sync::Arc<dyn Fn(Input) + Send + Sync>,
}

impl Hosts {
    pub fn new(
        control_dir: PathBuf,
        conns: Connections,
        report: impl Fn(Input) + Send + Sync + 'static,
    ) -> Hosts {
        let report = std::sync::Arc::new(report);
        Hosts { links: Mutex::new(HashMap::new()), control_dir, conns, report }
    }

    /// Hands `job` to its host's link, opening the link on first use.
    pub fn job(&self, job: HostJob) {
        // Attaching needs only the connection: done beside the link, answered when done.
        if let HostJob::Attach { host, task, into, reply } = job {
            let (mux, report) = (self.conns.get(&host.name), self.report.clone());
            let control = host.control(&self.control_dir);
            tokio::spawn(async move {
                let answer = match attach::attach(&host, &control, mux, &task, &into).await {
                    Ok(()) => Ok(crate::engine::Answer::Task(task)),
                    Err(why) => {
                        Err(crate::proto::ErrorBody::new(crate::proto::ErrorKind::Invalid, why))
                    }
                };
                report(Input::Answered { reply, answer });
            });
            return;
        }
        let Ok(mut links) = self.links.lock() else { return };
        let host = job.host().clone();
        // A link whose loop ended (it never does unless the daemon stops) is opened again.
        let tx = links.entry(host.name.clone()).or_insert_with(|| {
            link::spawn(
                host.clone(),
                self.control_dir.clone(),
                self.conns.clone(),
                self.report.clone(),
            )
        });
        if let Err(mpsc::error::SendError(job)) = tx.send(job) {
            let tx = link::spawn(
                host.clone(),
                self.control_dir.clone(),
                self.conns.clone(),
                self.report.clone(),
            );
            let _ = tx.send(job);
            links.insert(host.name, tx);
        }
    }
}
