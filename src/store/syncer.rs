//! Group commit: a thread that makes written task files durable (fsync of each file, then one
//! fsync of the directory) in batches, so that many updates share the cost of a disk flush and
//! nobody holds a lock while the disk works.

use std::collections::BTreeSet;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

struct Job {
    path: PathBuf,
    done: Option<oneshot::Sender<Result<(), String>>>,
}

/// A handle to the sync thread; cloning shares it. The thread ends when every handle is gone.
#[derive(Clone)]
pub struct Syncer {
    tx: mpsc::Sender<Job>,
}

impl Syncer {
    /// Starts the thread for files of directory `dir`.
    pub fn start(dir: &Path) -> std::io::Result<Syncer> {
        let (tx, rx) = mpsc::channel::<Job>();
        let dir = dir.to_path_buf();
        std::thread::Builder::new()
            .name("paneherd-sync".into())
            .spawn(move || run(&dir, rx))?;
        Ok(Syncer { tx })
    }

    /// Makes `path` durable soon; does not wait.
    pub fn sync_later(&self, path: PathBuf) {
        let _ = self.tx.send(Job { path, done: None });
    }

    /// Makes `path` durable and returns once it is.
    pub async fn sync(&self, path: PathBuf) -> Result<(), String> {
        let (done, rx) = oneshot::channel();
        self.tx
            .send(Job {
                path,
                done: Some(done),
            })
            .map_err(|_| "the sync thread has stopped".to_string())?;
        rx.await
            .map_err(|_| "the sync thread has stopped".to_string())?
    }
}

/// How long a `sync_later` may wait for company. A task that ends within this time needs one
/// flush for its creation and its end together.
const LATER_WINDOW: Duration = Duration::from_millis(50);
/// How long a `sync` waits for others: tasks that end together share one flush, for a few
/// milliseconds more before their end is announced.
const URGENT_WINDOW: Duration = Duration::from_millis(2);

fn run(dir: &Path, rx: mpsc::Receiver<Job>) {
    while let Ok(first) = rx.recv() {
        let mut urgent = first.done.is_some();
        let mut batch = vec![first];
        let start = Instant::now();
        loop {
            batch.extend(rx.try_iter().inspect(|j| urgent |= j.done.is_some()));
            let window = if urgent { URGENT_WINDOW } else { LATER_WINDOW };
            let left = (start + window).saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            match rx.recv_timeout(left) {
                Ok(j) => {
                    urgent |= j.done.is_some();
                    batch.push(j);
                }
                Err(_) => break,
            }
        }
        let paths: BTreeSet<&Path> = batch.iter().map(|j| j.path.as_path()).collect();
        let mut result = Ok(());
        for p in paths {
            if let Err(e) = File::open(p).and_then(|f| f.sync_all())
                && e.kind() != std::io::ErrorKind::NotFound
            {
                tracing::error!(path = %p.display(), error = %e, "cannot sync task file");
                result = Err(format!("cannot sync {}: {e}", p.display()));
            }
        }
        if let Err(e) = File::open(dir).and_then(|f| f.sync_all()) {
            tracing::error!(dir = %dir.display(), error = %e, "cannot sync task directory");
            result = Err(format!("cannot sync {}: {e}", dir.display()));
        }
        for job in batch {
            if let Some(done) = job.done {
                let _ = done.send(result.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sync_returns_after_the_batch() {
        let dir = tempfile::tempdir().unwrap();
        let s = Syncer::start(dir.path()).unwrap();
        let p = dir.path().join("a.md");
        std::fs::write(&p, "x").unwrap();
        s.sync_later(p.clone());
        s.sync(p).await.unwrap();
        // A file that vanished is not an error (it was replaced).
        s.sync(dir.path().join("gone.md")).await.unwrap();
    }
}
