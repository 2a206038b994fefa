//! One client connection: the hello handshake, then requests answered concurrently, and the
//! event stream after `subscribe`. Bad input gets an error reply; it never takes the daemon down.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use serde::Serialize;
use tokio::net::UnixStream;
use tokio::sync::{broadcast, mpsc};
use tokio_util::codec::{FramedRead, LinesCodec, LinesCodecError};

use crate::proto::{
    ErrorBody, ErrorKind, Event, HelloLine, MAX_LINE, OutputData, PROTOCOL_VERSION, Request,
    RequestLine, WaitData, Welcome,
};

use super::engine::Engine;
use super::supervisor::KILL_GRACE;

/// Most a `wait` or `output --wait` may block, whatever the client asks.
const MAX_WAIT: Duration = Duration::from_secs(7 * 24 * 3600);

/// Lines to the client end in '\n' already, so a large one is never copied to add it.
fn reply_ok(re: u64, data_json: &str) -> String {
    format!("{}{data_json}}}\n", ok_prefix(re))
}

fn ok_prefix(re: u64) -> String {
    format!("{{\"re\":{re},\"ok\":true,\"data\":")
}

fn reply_err(re: u64, e: &ErrorBody) -> String {
    let body = serde_json::to_string(e).unwrap_or_else(|_| "{}".into());
    format!("{{\"re\":{re},\"ok\":false,\"error\":{body}}}\n")
}

/// What the connection's writer sends: a line, or a large reply in pieces (a JSON array whose
/// elements are shared with the engine's cache), so that it is never built as one string.
enum Out {
    Line(String),
    Array { head: String, items: Vec<Arc<str>>, tail: &'static str },
}

impl From<String> for Out {
    fn from(s: String) -> Self {
        Out::Line(s)
    }
}

async fn write_out<W: tokio::io::AsyncWrite + Unpin>(
    w: &mut W,
    out: Out,
    buf: &mut Vec<u8>,
) -> std::io::Result<()> {
    use tokio::io::AsyncWriteExt;
    match out {
        Out::Line(l) => w.write_all(l.as_bytes()).await,
        Out::Array { head, items, tail } => {
            buf.clear();
            buf.extend_from_slice(head.as_bytes());
            buf.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    buf.push(b',');
                }
                buf.extend_from_slice(item.as_bytes());
                if buf.len() >= 64 * 1024 {
                    w.write_all(buf).await?;
                    buf.clear();
                }
            }
            buf.push(b']');
            buf.extend_from_slice(tail.as_bytes());
            w.write_all(buf).await?;
            buf.clear();
            buf.shrink_to(64 * 1024);
            Ok(())
        }
    }
}

fn json<T: Serialize>(v: &T) -> Result<String, ErrorBody> {
    serde_json::to_string(v).map_err(|e| ErrorBody::new(ErrorKind::Internal, e.to_string()))
}

pub async fn serve(engine: Arc<Engine>, stream: UnixStream, shutdown: mpsc::Sender<()>) {
    let (read, mut write) = stream.into_split();
    let mut lines = FramedRead::new(read, LinesCodec::new_with_max_length(MAX_LINE));
    let (out_tx, mut out_rx) = mpsc::channel::<Out>(1024);
    let writer = tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        let mut buf = Vec::new();
        while let Some(out) = out_rx.recv().await {
            if write_out(&mut write, out, &mut buf).await.is_err() {
                break;
            }
        }
        let _ = write.shutdown().await;
    });

    static CONN: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let conn = CONN.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut registered = false;
    let mut greeted = false;
    // A pane wrapper on this connection, and whether it reported its agent's exit.
    let mut wrapper: Option<(String, bool)> = None;
    while let Some(item) = lines.next().await {
        let line = match item {
            Ok(l) => l,
            Err(LinesCodecError::MaxLineLengthExceeded) => {
                let e = ErrorBody::new(
                    ErrorKind::LineTooLong,
                    format!("line longer than {MAX_LINE} bytes; closing the connection"),
                );
                let _ = out_tx.send(reply_err(0, &e).into()).await;
                break;
            }
            Err(LinesCodecError::Io(err)) => {
                let e = ErrorBody::new(ErrorKind::BadRequest, format!("unreadable input: {err}"));
                let _ = out_tx.send(reply_err(0, &e).into()).await;
                break;
            }
        };
        if line.trim().is_empty() {
            continue;
        }
        if !greeted {
            match serde_json::from_str::<HelloLine>(&line) {
                Ok(h) if h.hello.protocol == PROTOCOL_VERSION => {
                    greeted = true;
                    let w = Welcome {
                        protocol: PROTOCOL_VERSION,
                        version: env!("CARGO_PKG_VERSION").into(),
                        pid: std::process::id(),
                    };
                    let welcome = format!("{{\"welcome\":{}}}\n", json(&w).unwrap_or_default());
                    let _ = out_tx.send(welcome.into()).await;
                    continue;
                }
                Ok(h) => {
                    let e = ErrorBody::new(
                        ErrorKind::Protocol,
                        format!(
                            "protocol {} is not supported by this daemon (it speaks {PROTOCOL_VERSION}); \
                             restart it with `paneherd daemon stop`",
                            h.hello.protocol
                        ),
                    );
                    let _ = out_tx.send(reply_err(0, &e).into()).await;
                    break;
                }
                Err(err) => {
                    let e = ErrorBody::new(
                        ErrorKind::Protocol,
                        format!(
                            "expected {{\"hello\":{{\"protocol\":{PROTOCOL_VERSION},…}}}} first: {err}"
                        ),
                    );
                    let _ = out_tx.send(reply_err(0, &e).into()).await;
                    break;
                }
            }
        }
        let value: serde_json::Value = match serde_json::from_str(&line) {
            Ok(v) => v,
            Err(err) => {
                let e = ErrorBody::new(ErrorKind::BadRequest, format!("not JSON: {err}"));
                let _ = out_tx.send(reply_err(0, &e).into()).await;
                continue;
            }
        };
        let re = value.get("req").and_then(|v| v.as_u64()).unwrap_or(0);
        let req = match serde_json::from_value::<RequestLine>(value) {
            Ok(r) => r.request,
            Err(err) => {
                let e = ErrorBody::new(ErrorKind::BadRequest, format!("bad request: {err}"));
                let _ = out_tx.send(reply_err(re, &e).into()).await;
                continue;
            }
        };
        match &req {
            Request::PaneAttach { task_id } => wrapper = Some((task_id.clone(), false)),
            Request::PaneExited { task_id, .. } => {
                if let Some(w) = wrapper.as_mut().filter(|w| &w.0 == task_id) {
                    w.1 = true;
                }
            }
            _ => {}
        }
        if let Request::RegisterMain { socket, pane } = &req {
            engine.register_main(
                conn,
                crate::core::task::TmuxOrigin { socket: socket.clone(), pane: pane.clone() },
            );
            registered = true;
            let _ = out_tx.send(reply_ok(re, "null").into()).await;
            continue;
        }
        if let Request::Subscribe = req {
            let rx = engine.subscribe();
            let _ = out_tx.send(reply_ok(re, "null").into()).await;
            tokio::spawn(forward_events(rx, out_tx.clone()));
            continue;
        }
        if let Request::Shutdown = req {
            let _ = out_tx.send(reply_ok(re, "null").into()).await;
            let _ = shutdown.send(()).await;
            continue;
        }
        let engine = engine.clone();
        let out = out_tx.clone();
        tokio::spawn(async move {
            let line = match req {
                // The one large reply: sent in pieces, never copied into one string.
                Request::List { filter } => match engine.list_json(&filter) {
                    Ok(items) => Out::Array { head: ok_prefix(re), items, tail: "}\n" },
                    Err(e) => reply_err(re, &e).into(),
                },
                req => match handle(&engine, req).await {
                    Ok(data) => reply_ok(re, &data).into(),
                    Err(e) => reply_err(re, &e).into(),
                },
            };
            let _ = out.send(line).await;
        });
    }
    drop(out_tx);
    let _ = writer.await;
    if registered {
        engine.unregister_main(conn);
    }
    if let Some((task_id, false)) = wrapper {
        engine.pane_gone(&task_id).await;
    }
}

async fn forward_events(mut rx: broadcast::Receiver<Event>, out: mpsc::Sender<Out>) {
    loop {
        let line = match rx.recv().await {
            Ok(ev) => match serde_json::to_string(&ev) {
                Ok(j) => format!("{{\"event\":{j}}}\n"),
                Err(_) => continue,
            },
            Err(broadcast::error::RecvError::Lagged(n)) => {
                format!("{{\"event\":{{\"kind\":\"lagged\",\"missed\":{n}}}}}\n")
            }
            Err(broadcast::error::RecvError::Closed) => break,
        };
        if out.send(Out::Line(line)).await.is_err() {
            break;
        }
    }
}

fn timeout_of(ms: Option<u64>) -> Duration {
    ms.map(Duration::from_millis).unwrap_or(MAX_WAIT).min(MAX_WAIT)
}

/// Waits until every id has ended or the timeout passes; returns whether it timed out.
async fn wait_ended(engine: &Engine, ids: &[String], timeout: Duration) -> bool {
    // Subscribe before looking, so that no end between the look and the wait is missed.
    let mut rx = engine.subscribe();
    let deadline = tokio::time::Instant::now() + timeout;
    let open_now = |ids: &mut std::collections::HashSet<String>| {
        ids.retain(|id| engine.status_of(id).is_some_and(|s| !s.is_terminal()));
    };
    let mut open: std::collections::HashSet<String> = ids.iter().cloned().collect();
    open_now(&mut open);
    while !open.is_empty() {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Err(_) | Ok(Err(broadcast::error::RecvError::Closed)) => return true,
            Ok(Err(broadcast::error::RecvError::Lagged(_))) => open_now(&mut open),
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

async fn handle(engine: &Arc<Engine>, req: Request) -> Result<String, ErrorBody> {
    match req {
        Request::Submit { spec } => json(&engine.submit(*spec).await?),
        Request::Get { id } => {
            let id = engine.resolve(&id)?;
            json(&engine.get(&id))
        }
        Request::Output { id, wait, timeout_ms } => {
            let id = engine.resolve(&id)?;
            let timed_out =
                wait && wait_ended(engine, std::slice::from_ref(&id), timeout_of(timeout_ms)).await;
            let task = engine
                .get(&id)
                .ok_or_else(|| ErrorBody::new(ErrorKind::UnknownId, format!("no task {id}")))?;
            let (result, tail) = engine.output_of(&task);
            json(&OutputData { task, result, tail, timed_out })
        }
        Request::Wait { ids, all, timeout_ms } => {
            let ids = resolve_many(engine, &ids, all)?;
            let timed_out = wait_ended(engine, &ids, timeout_of(timeout_ms)).await;
            let tasks = ids.iter().filter_map(|id| engine.get(id)).collect();
            json(&WaitData { tasks, timed_out })
        }
        Request::Cancel { ids, all } => {
            let ids = resolve_many(engine, &ids, all)?;
            let stopping = engine.cancel(&ids, "cancelled by user").await;
            // Answer once the stopped processes are gone, so the reply says how they ended.
            wait_ended(engine, &stopping, KILL_GRACE + Duration::from_secs(2)).await;
            let tasks: Vec<_> = ids.iter().filter_map(|id| engine.get(id)).collect();
            json(&tasks)
        }
        Request::Retry { id } => {
            let id = engine.resolve(&id)?;
            let spec = engine
                .retry_spec(&id)
                .ok_or_else(|| ErrorBody::new(ErrorKind::UnknownId, format!("no task {id}")))?;
            json(&engine.submit(spec).await?)
        }
        Request::List { filter } => {
            let items = engine.list_json(&filter)?;
            Ok(format!("[{}]", items.iter().map(|i| &**i).collect::<Vec<_>>().join(",")))
        }
        Request::Status => {
            let mut s = engine.status();
            s.panes = engine.panes.usage().await;
            json(&s)
        }
        Request::Subscribe | Request::Shutdown | Request::RegisterMain { .. } => Ok("null".into()),
        Request::PaneAttach { task_id } => json(&engine.pane_attach(&task_id).await?),
        Request::PaneStarted { task_id, pid, error } => {
            let started = match (pid, error) {
                (Some(pid), None) => Ok(pid),
                (_, Some(e)) => Err(e),
                (None, None) => Err("the wrapper reported neither a pid nor an error".into()),
            };
            engine.pane_started(&task_id, started);
            Ok("null".into())
        }
        Request::PaneExited { task_id, code, signal } => {
            engine.pane_exited(&task_id, crate::runner::Exit { code, signal }).await;
            Ok("null".into())
        }
        Request::PaneOutput { task_id, bytes } => {
            engine.pane_output(&task_id, bytes);
            Ok("null".into())
        }
        Request::Focus { id } => json(&engine.focus(&id).await?),
        Request::ClosePanes { ids } => {
            let ids = resolve_many(engine, &ids, false)?;
            engine.close_panes(&ids).await;
            Ok("null".into())
        }
        Request::Continue { id, prompt } => {
            let spec = engine.continue_spec(&id, &prompt)?;
            json(&engine.submit(spec).await?)
        }
        Request::Signal { task_id, kind, text } => json(&engine.signal(&task_id, &kind, text)?),
        Request::SetLayout { name } => {
            engine.set_layout(&name).await?;
            Ok("null".into())
        }
        Request::NotifyTest { tmux } => json(&crate::notify::service::test(engine, tmux).await),
        Request::TmuxResized { socket, window } => {
            engine.tmux_resized(&socket, &window).await;
            Ok("null".into())
        }
    }
}

fn resolve_many(engine: &Engine, ids: &[String], all: bool) -> Result<Vec<String>, ErrorBody> {
    if all {
        if !ids.is_empty() {
            return Err(ErrorBody::new(ErrorKind::Invalid, "give ids or all, not both"));
        }
        return Ok(engine.unfinished());
    }
    if ids.is_empty() {
        return Err(ErrorBody::new(ErrorKind::Invalid, "no task ids given (or use all)"));
    }
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let id = engine.resolve(id)?;
        if !out.contains(&id) {
            out.push(id);
        }
    }
    Ok(out)
}
