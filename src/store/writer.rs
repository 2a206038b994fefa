//! The store's writer thread: every update of a task file goes through it, in order. Updates
//! of the same task that queue up are merged (only the newest is written), and files that must
//! be durable are flushed in groups (one fsync per file, one for the directory), so that a burst
//! of tasks shares the cost and no lock is held while the disk works.

use std::collections::BTreeSet;
use std::fs::File;
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use super::{SecretOp, Store};
pub use crate::core::records::Durability;
use crate::core::task::Task;

/// How long a `Soon` flush may wait for company: a task that ends within this time needs one
/// flush for its creation and its end together.
const SOON: Duration = Duration::from_millis(50);

/// Why an update is not as durable as asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WriteError {
    /// The writer's thread has stopped (the daemon is ending).
    #[error("the store writer has stopped")]
    Stopped,
    /// The task's files could not be written: the cause says which file and why (a full
    /// disk in the system's words, which the engine tells apart).
    #[error("{cause}")]
    Write { task: String, cause: String },
    /// Written, but not flushed to the disk.
    #[error("cannot flush {path}: {cause}")]
    Flush { path: PathBuf, cause: String },
}

/// What a queued update came to.
pub type Written = Result<(), WriteError>;

/// Who is told once an update is as durable as asked (or why it is not): a waiting task, or
/// a callback run on the writer's thread (the daemon's hub takes it as an input at once, with
/// no task of its own waiting per update).
enum Done {
    Waiter(oneshot::Sender<Written>),
    Call(Box<dyn FnOnce(Written) + Send>),
}

impl Done {
    fn send(self, r: Written) {
        match self {
            Done::Waiter(tx) => {
                let _ = tx.send(r);
            }
            Done::Call(f) => f(r),
        }
    }
}

/// The answer to a queued update.
pub type Pending = oneshot::Receiver<Written>;

struct Job {
    /// `None`: a barrier, answered once everything queued before it is written and flushed.
    task: Option<Task>,
    result: Option<String>,
    secret: SecretOp,
    durability: Durability,
    done: Option<Done>,
}

/// A handle to the writer thread; the thread ends when every handle is gone.
#[derive(Clone)]
pub struct Writer {
    tx: mpsc::Sender<Job>,
}

impl Writer {
    pub fn start(store: Store) -> std::io::Result<Writer> {
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new().name("paneherd-store".into()).spawn(move || run(&store, rx))?;
        Ok(Writer { tx })
    }

    /// Queues an update; does not wait.
    pub fn save(&self, task: Task, result: Option<String>, durability: Durability) {
        let _ = self.tx.send(Job {
            task: Some(task),
            result,
            secret: SecretOp::Keep,
            durability,
            done: None,
        });
    }

    /// Queues an update and returns once it is as durable as asked.
    pub async fn save_wait(
        &self,
        task: Task,
        result: Option<String>,
        durability: Durability,
    ) -> Written {
        self.save_then(task, result, durability).await.map_err(|_| WriteError::Stopped)?
    }

    /// Queues an update; the returned receiver answers once it is as durable as asked.
    pub fn save_then(&self, task: Task, result: Option<String>, durability: Durability) -> Pending {
        self.save_secret_then(task, result, SecretOp::Keep, durability)
    }

    /// Queues an update of a task's record and of its secret file (written before the record,
    /// removed after it); the receiver answers once both are done, or why not.
    pub fn save_secret_then(
        &self,
        task: Task,
        result: Option<String>,
        secret: SecretOp,
        durability: Durability,
    ) -> Pending {
        let (done, rx) = oneshot::channel();
        // If the thread has stopped, `done` is dropped and the receiver reports it.
        let done = Some(Done::Waiter(done));
        let _ = self.tx.send(Job { task: Some(task), result, secret, durability, done });
        rx
    }

    /// Queues an update of a task's record and its secret; `then` is called on the writer's
    /// thread once it is as durable as asked (or with why not — also when the writer has
    /// stopped).
    pub fn save_and_call(
        &self,
        task: Task,
        result: Option<String>,
        secret: SecretOp,
        durability: Durability,
        then: impl FnOnce(Written) + Send + 'static,
    ) {
        let done = Some(Done::Call(Box::new(then)));
        if let Err(mpsc::SendError(job)) =
            self.tx.send(Job { task: Some(task), result, secret, durability, done })
            && let Some(done) = job.done
        {
            done.send(Err(WriteError::Stopped));
        }
    }

    /// Returns once every update queued before has been written and flushed.
    pub async fn barrier(&self) -> Written {
        let (done, rx) = oneshot::channel();
        let job = Job {
            task: None,
            result: None,
            secret: SecretOp::Keep,
            durability: Durability::Now,
            done: Some(Done::Waiter(done)),
        };
        self.tx.send(job).map_err(|_| WriteError::Stopped)?;
        rx.await.map_err(|_| WriteError::Stopped)?
    }
}

/// Updates of one task merged from a batch.
struct Merged {
    task: Task,
    result: Option<String>,
    secret: SecretOp,
    durability: Durability,
    waiters: Vec<Done>,
}

fn run(store: &Store, rx: mpsc::Receiver<Job>) {
    let mut unflushed: BTreeSet<PathBuf> = BTreeSet::new();
    let mut flush_waiters: Vec<Done> = Vec::new();
    let mut flush_by: Option<Instant> = None;
    loop {
        let first = match flush_by {
            Some(at) => match rx.recv_timeout(at.saturating_duration_since(Instant::now())) {
                Ok(j) => Some(j),
                Err(mpsc::RecvTimeoutError::Timeout) => None,
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            },
            None => match rx.recv() {
                Ok(j) => Some(j),
                Err(_) => break,
            },
        };
        let mut merged: Vec<Merged> = Vec::new();
        for job in first.into_iter().chain(rx.try_iter()) {
            let Some(task) = job.task else {
                flush_by = Some(Instant::now());
                flush_waiters.extend(job.done);
                continue;
            };
            match merged.iter_mut().find(|m| m.task.id == task.id) {
                Some(m) => {
                    m.task = task;
                    if job.result.is_some() {
                        m.result = job.result;
                    }
                    if job.secret != SecretOp::Keep {
                        m.secret = job.secret;
                    }
                    m.durability = m.durability.max(job.durability);
                    m.waiters.extend(job.done);
                }
                None => merged.push(Merged {
                    task,
                    result: job.result,
                    secret: job.secret,
                    durability: job.durability,
                    waiters: job.done.into_iter().collect(),
                }),
            }
        }
        for m in merged {
            let written = write_merged(store, &m).map_err(|e| WriteError::Write {
                task: m.task.id.clone(),
                cause: format!("{e:#}"),
            });
            if let Err(e) = &written {
                tracing::error!(task = %m.task.id, error = %e, "cannot write task file");
            }
            match (m.durability, written) {
                (Durability::Written, r) | (_, r @ Err(_)) => {
                    for w in m.waiters {
                        w.send(r.clone());
                    }
                }
                (Durability::Soon, Ok(())) => {
                    unflushed.insert(store.md_path(&m.task.id));
                    flush_by.get_or_insert_with(|| Instant::now() + SOON);
                    for w in m.waiters {
                        w.send(Ok(()));
                    }
                }
                (Durability::Now, Ok(())) => {
                    unflushed.insert(store.md_path(&m.task.id));
                    flush_by = Some(Instant::now());
                    flush_waiters.extend(m.waiters);
                }
            }
        }
        if flush_by.is_some_and(|at| at <= Instant::now()) {
            let r = flush(store, &unflushed);
            unflushed.clear();
            flush_by = None;
            for w in flush_waiters.drain(..) {
                w.send(r.clone());
            }
        }
    }
    // Whatever is left is flushed before the thread ends.
    let r = flush(store, &unflushed);
    for w in flush_waiters {
        w.send(r.clone());
    }
}

/// A secret to set goes first (a record never names a secret that is not there), one to clear
/// after the record that no longer needs it.
fn write_merged(store: &Store, m: &Merged) -> anyhow::Result<()> {
    if let SecretOp::Set(_) = m.secret {
        store.save_secret(&m.task.id, &m.secret)?;
    }
    store.save(&m.task, m.result.as_deref(), false)?;
    if m.secret == SecretOp::Clear {
        store.save_secret(&m.task.id, &m.secret)?;
    }
    Ok(())
}

fn flush(store: &Store, files: &BTreeSet<PathBuf>) -> Written {
    if files.is_empty() {
        return Ok(());
    }
    let mut result = Ok(());
    for p in files {
        match File::open(p).and_then(|f| f.sync_all()) {
            // Removed since (a secret no longer needed): nothing to flush.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::error!(path = %p.display(), error = %e, "cannot flush task file");
                result = Err(WriteError::Flush { path: p.clone(), cause: e.to_string() });
            }
            Ok(()) => {}
        }
    }
    if let Err(e) = File::open(store.dir()).and_then(|f| f.sync_all()) {
        tracing::error!(dir = %store.dir().display(), error = %e, "cannot flush task directory");
        result = Err(WriteError::Flush { path: store.dir().to_path_buf(), cause: e.to_string() });
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::task::{Outcome, TaskStatus};
    use crate::core::timefmt;

    fn task(id: &str) -> Task {
        let mut t: Task = toml::from_str(&format!(
            "id = \"{id}\"\ntitle = \"t\"\nstatus = \"pending\"\nagent = \"shell\"\n\
             prompt = \"p\"\ncwd = \"/\"\ncreated_at = \"2026-01-01T00:00:00.000Z\"\n\
             log_path = \"/tmp/x.log\"\n"
        ))
        .unwrap();
        t.limit_group = "default".into();
        t
    }

    #[tokio::test]
    async fn updates_of_a_task_are_merged_and_the_newest_wins() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let w = Writer::start(store.clone()).unwrap();
        let mut t = task("merge-me");
        w.save(t.clone(), None, Durability::Soon);
        t.start(5, timefmt::now()).unwrap();
        w.save(t.clone(), None, Durability::Written);
        t.finish(Outcome::Completed, timefmt::now()).unwrap();
        w.save_wait(t.clone(), Some("done".into()), Durability::Now).await.unwrap();
        let loaded = store.load_all().unwrap();
        assert_eq!(loaded.tasks[0].status, TaskStatus::Completed);
        assert_eq!(store.read_result("merge-me").unwrap().as_deref(), Some("done"));
    }

    #[tokio::test]
    async fn a_barrier_waits_for_what_was_queued() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let w = Writer::start(store.clone()).unwrap();
        for i in 0..50 {
            w.save(task(&format!("queued-{i}")), None, Durability::Written);
        }
        w.barrier().await.unwrap();
        assert_eq!(store.load_all().unwrap().tasks.len(), 50);
    }

    #[tokio::test]
    async fn soon_answers_once_written() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let w = Writer::start(store.clone()).unwrap();
        w.save_wait(task("soon-one"), None, Durability::Soon).await.unwrap();
        assert!(store.md_path("soon-one").exists());
    }
}
