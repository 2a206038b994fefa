//! Answers every request a client sends: what the engine answers by itself is asked of it at
//! once; the requests that are several steps (a task's output, waiting for ends, cancel and
//! continue, which read the store or wait on the event stream) are carried out here, asking the
//! engine in turn. Connections only frame, authenticate and forward (`connection`).

use std::collections::HashSet;
use std::time::Duration;

use tokio::sync::broadcast;

use super::hub::HubHandle;
use crate::core::task::{Task, TaskStatus};
use crate::engine::{Answer, Input, KILL_GRACE, Reply};
use crate::proto::{ErrorBody, ErrorKind, ListFilter, OutputData, Request, WaitData};
use crate::store;

/// Most a `wait` or `output --wait` may block, whatever the client asks.
const MAX_WAIT: Duration = Duration::from_secs(7 * 24 * 3600);

fn err(kind: ErrorKind, msg: impl Into<String>) -> ErrorBody {
    ErrorBody::new(kind, msg)
}

/// Requests answered in the connection's own task, before anything it reads next: reads that
/// are one look at the engine's state, and a shutdown (answered before the daemon stops).
pub fn is_quick(request: &Request) -> bool {
    matches!(request, Request::List { .. } | Request::Get { .. } | Request::Shutdown)
}

/// What a request sets going once its reply is queued: a shutdown stops the daemon only
/// then, so that the client that asked is answered first.
pub fn stop_after_reply(hub: &HubHandle, request_was_shutdown: bool) {
    if request_was_shutdown {
        hub.input(Input::Shutdown);
    }
}

/// A task, by id or prefix.
async fn get(hub: &HubHandle, id: &str, conn: u64) -> Result<Task, ErrorBody> {
    match hub.ask(Request::Get { id: id.to_string() }, conn).await? {
        Answer::MaybeTask(Some(t)) | Answer::Task(t) => Ok(*t),
        _ => Err(err(ErrorKind::UnknownId, format!("no task {id}"))),
    }
}

/// The tasks named, resolved (every one not yet ended, for `all`).
async fn tasks(
    hub: &HubHandle,
    ids: &[String],
    all: bool,
    conn: u64,
) -> Result<Vec<Task>, ErrorBody> {
    match (all, ids.is_empty()) {
        (true, false) => Err(err(ErrorKind::Invalid, "give ids or all, not both")),
        (false, true) => Err(err(ErrorKind::Invalid, "no task ids given (or use all)")),
        (true, true) => {
            let filter = ListFilter {
                status: vec![TaskStatus::Pending, TaskStatus::Running],
                ..Default::default()
            };
            let Answer::List { tasks: items, .. } = hub.ask(Request::List { filter }, conn).await?
            else {
                return Ok(vec![]);
            };
            let mut out: Vec<Task> = items.iter().map(|t| Task::clone(t)).collect();
            out.reverse();
            Ok(out)
        }
        (false, false) => {
            let mut out: Vec<Task> = vec![];
            for id in ids {
                let t = get(hub, id, conn).await?;
                if !out.iter().any(|o| o.id == t.id) {
                    out.push(t);
                }
            }
            Ok(out)
        }
    }
}

/// Waits until every id has ended or the timeout passes; returns whether it timed out.
async fn wait_ended(hub: &HubHandle, ids: &[String], timeout: Duration, conn: u64) -> bool {
    // Subscribe before looking, so that no end between the look and the wait is missed.
    let mut rx = hub.subscribe();
    let deadline = tokio::time::Instant::now() + timeout;
    let mut open: HashSet<String> = HashSet::new();
    for id in ids {
        if get(hub, id, conn).await.is_ok_and(|t| !t.status.is_terminal()) {
            open.insert(id.clone());
        }
    }
    while !open.is_empty() {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Err(_) | Ok(Err(broadcast::error::RecvError::Closed)) => return true,
            Ok(Err(broadcast::error::RecvError::Lagged(_))) => {
                let mut still = HashSet::new();
                for id in &open {
                    if get(hub, id, conn).await.is_ok_and(|t| !t.status.is_terminal()) {
                        still.insert(id.clone());
                    }
                }
                open = still;
            }
            Ok(Ok(ev)) => {
                if let Some(t) = ev.task()
                    && t.status.is_terminal()
                {
                    open.remove(&t.id);
                }
            }
        }
    }
    false
}

fn timeout_of(ms: Option<u64>) -> Duration {
    ms.map(Duration::from_millis).unwrap_or(MAX_WAIT).min(MAX_WAIT)
}

/// Reads the output of a task from the store, in a blocking thread.
async fn read_output(
    task: &Task,
    full: bool,
) -> Result<(Option<String>, Option<String>), ErrorBody> {
    let (id, log, ended, store_dir) = (
        task.id.clone(),
        task.log_path.clone(),
        task.status.is_terminal(),
        task.log_path.parent().map(|p| p.to_path_buf()),
    );
    let read = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        use anyhow::Context;
        if ended {
            let dir = store_dir.context("the task's directory is unknown")?;
            let result = store::Store::open(&dir)?.read_result(&id)?;
            Ok((result, None))
        } else if full {
            Ok((None, Some(store::output::whole(&log)?)))
        } else {
            Ok((None, Some(store::output::tail(&log, 20)?)))
        }
    });
    match read.await {
        Ok(r) => r.map_err(|e| {
            err(ErrorKind::Internal, format!("the task's output cannot be read: {e:#}"))
        }),
        Err(e) => Err(err(ErrorKind::Internal, e.to_string())),
    }
}

/// A host's running task's output so far, read there (or why it cannot be now).
async fn tail_there(hub: &HubHandle, host: &str, id: &str, full: bool) -> String {
    let Some(mux) = hub.hosts.get(host) else {
        return format!(
            "(it runs on host {host}, which is not reachable now: its output shows here once it is)"
        );
    };
    let ask = crate::proto::ask::Output {
        id: id.to_string(),
        wait: false,
        timeout_ms: None,
        full,
        deliver: false,
    };
    match mux.ask(ask).await {
        Ok(o) => o.tail.or(o.result).unwrap_or_default(),
        Err(e) => format!("(its output on host {host} cannot be read now: {e})"),
    }
}

/// The answer to one request of connection `conn`.
pub async fn answer(hub: &HubHandle, request: Request, conn: u64) -> Reply {
    match request {
        Request::Output { id, wait, timeout_ms, full, deliver } => {
            let task = get(hub, &id, conn).await?;
            let id = task.id;
            // The delegating agent reads the result itself: no notice of the end meanwhile,
            // and its end is told by this answer.
            if deliver {
                hub.input(Input::Reading { id: id.clone(), conn, on: true });
            }
            let answer = async {
                let timed_out = wait
                    && wait_ended(hub, std::slice::from_ref(&id), timeout_of(timeout_ms), conn)
                        .await;
                let task = get(hub, &id, conn).await?;
                let (result, tail) = match &task.host {
                    Some(h) if !task.status.is_terminal() => {
                        (None, Some(tail_there(hub, h, &id, full).await))
                    }
                    _ => read_output(&task, full).await?,
                };
                if deliver && task.status.is_terminal() {
                    hub.ask(Request::Deliver { ids: vec![id.clone()], notice: false }, conn)
                        .await?;
                }
                Ok(Answer::Output(Box::new(OutputData { task, result, tail, timed_out })))
            }
            .await;
            if deliver {
                hub.input(Input::Reading { id, conn, on: false });
            }
            answer
        }
        Request::Wait { ids, all, timeout_ms } => {
            let asked = tasks(hub, &ids, all, conn).await?;
            let ids: Vec<String> = asked.iter().map(|t| t.id.clone()).collect();
            let timed_out = wait_ended(hub, &ids, timeout_of(timeout_ms), conn).await;
            let mut now = vec![];
            for id in &ids {
                now.push(get(hub, id, conn).await?);
            }
            Ok(Answer::Waited(WaitData { tasks: now, timed_out }))
        }
        Request::Cancel { ids, all } => {
            let Answer::Stopping(ids) = hub.ask(Request::Cancel { ids, all }, conn).await? else {
                return Ok(Answer::Tasks(vec![]));
            };
            // Answer once the stopped processes are gone, so the reply says how they ended.
            wait_ended(hub, &ids, KILL_GRACE + Duration::from_secs(2), conn).await;
            let mut now = vec![];
            for id in &ids {
                now.push(get(hub, id, conn).await?);
            }
            Ok(Answer::Tasks(now))
        }
        Request::Continue { id, prompt, env, .. } => {
            // The earlier result, for an agent that cannot resume its session.
            let task = get(hub, &id, conn).await?;
            let (result, tail) = read_output(&task, false).await?;
            let earlier = result.or(tail);
            hub.ask(Request::Continue { id: task.id, prompt, earlier, env }, conn).await
        }
        // The daemon stops once the reply is queued (`stop_after_reply`).
        Request::Shutdown => Ok(Answer::Unit),
        Request::HostTmux => Ok(Answer::Origin(super::hosts::session_here(&hub.runtime).await)),
        other => hub.ask(other, conn).await,
    }
}
