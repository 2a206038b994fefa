//! One client connection: frames lines, checks who speaks (the peer's uid, the hello, a pane
//! wrapper's token), and forwards each request to `requests`, which answers every one; replies
//! are written in order of their ends, and events after `subscribe`. Bad input gets an error
//! reply; it never takes the daemon down.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::net::UnixStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, broadcast, mpsc};
use tokio_util::codec::{FramedRead, LinesCodec, LinesCodecError};

use super::hub::HubHandle;
use super::listing::ListingCache;
use super::requests;
use crate::engine::{Answer, Input, Reply};
use crate::proto::{
    ErrorBody, ErrorKind, Event, HelloLine, MAX_LINE, PROTOCOL_VERSION, Request, RequestLine,
    Welcome, codec,
};

/// Most replies of one connection answered and not yet written: a client that sends requests
/// without reading the replies is read no further until it reads (its replies would otherwise
/// pile up in the daemon).
const UNSENT: usize = 16;
/// Most requests of one connection being answered at once (waits among them).
const IN_FLIGHT: usize = 256;

/// What the connection's writer sends: a line, or a large reply in pieces (a JSON array whose
/// elements are shared with the engine's cache), so that it is never built as one string.
enum Out {
    Line(String),
    Array { re: u64, items: Vec<Arc<str>> },
}

/// A line for the writer, with the in-flight place of the request it answers (given back once
/// it is written).
struct Queued(Out, Option<OwnedSemaphorePermit>);

impl From<Out> for Queued {
    fn from(o: Out) -> Queued {
        Queued(o, None)
    }
}

/// A reply this large is written from a thread of its own (`write_array_blocking`).
const LARGE: usize = 256 * 1024;

/// Writes `bytes` to the (non-blocking) socket `fd`, waiting for room with `poll`: from a
/// blocking thread, so that a large reply goes out as fast as its client reads, not once per
/// turn of the daemon's busy loop. A client that reads nothing for a minute is given up on.
fn write_fully(fd: &std::os::fd::OwnedFd, mut bytes: &[u8]) -> std::io::Result<()> {
    use nix::errno::Errno;
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    use std::os::fd::AsFd;
    while !bytes.is_empty() {
        match nix::unistd::write(fd, bytes) {
            Ok(n) => bytes = &bytes[n..],
            Err(Errno::EINTR) => {}
            Err(Errno::EAGAIN) => {
                let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLOUT)];
                match poll(&mut fds, PollTimeout::from(60_000u16)) {
                    Ok(0) => {
                        return Err(std::io::Error::new(
                            std::io::ErrorKind::TimedOut,
                            "the client read nothing for 60 s",
                        ));
                    }
                    Ok(_) | Err(Errno::EINTR) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// A `list` reply written whole from a blocking thread, in pieces of `LARGE` bytes.
fn write_array_blocking(
    fd: &std::os::fd::OwnedFd,
    re: u64,
    items: &[Arc<str>],
) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(LARGE + 4096);
    buf.extend_from_slice(codec::ok_head(re).as_bytes());
    buf.push(b'[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            buf.push(b',');
        }
        buf.extend_from_slice(item.as_bytes());
        if buf.len() >= LARGE {
            write_fully(fd, &buf)?;
            buf.clear();
        }
    }
    buf.push(b']');
    buf.extend_from_slice(codec::END.as_bytes());
    write_fully(fd, &buf)
}

async fn write_out(
    w: &mut tokio::net::unix::OwnedWriteHalf,
    out: Out,
    buf: &mut Vec<u8>,
) -> std::io::Result<()> {
    match out {
        Out::Array { re, items } if items.iter().map(|i| i.len() + 1).sum::<usize>() > LARGE => {
            use std::os::fd::AsFd;
            let fd = w.as_ref().as_fd().try_clone_to_owned()?;
            tokio::task::spawn_blocking(move || write_array_blocking(&fd, re, &items))
                .await
                .map_err(std::io::Error::other)?
        }
        out => write_out_async(w, out, buf).await,
    }
}

async fn write_out_async<W: tokio::io::AsyncWrite + Unpin>(
    w: &mut W,
    out: Out,
    buf: &mut Vec<u8>,
) -> std::io::Result<()> {
    use tokio::io::AsyncWriteExt;
    match out {
        Out::Line(l) => w.write_all(l.as_bytes()).await,
        Out::Array { re, items } => {
            buf.clear();
            buf.extend_from_slice(codec::ok_head(re).as_bytes());
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
            buf.extend_from_slice(codec::END.as_bytes());
            w.write_all(buf).await?;
            buf.clear();
            buf.shrink_to(64 * 1024);
            Ok(())
        }
    }
}

fn err(kind: ErrorKind, msg: impl Into<String>) -> ErrorBody {
    ErrorBody::new(kind, msg)
}

/// The line answering request `re`.
fn answer_line(re: u64, reply: Reply, listing: &ListingCache) -> Out {
    let encoded = match reply {
        Err(e) => Err(e),
        Ok(Answer::List { tasks, whole }) => match listing.json(&tasks, whole) {
            Ok(items) => return Out::Array { re, items },
            Err(e) => Err(e),
        },
        Ok(Answer::Unit) => codec::ok(re, &()),
        Ok(Answer::Task(t)) => codec::ok(re, &t),
        Ok(Answer::MaybeTask(t)) => codec::ok(re, &t),
        Ok(Answer::Tasks(t)) => codec::ok(re, &t),
        Ok(Answer::Stopping(ids)) => codec::ok(re, &ids),
        Ok(Answer::Status(s)) => codec::ok(re, &s),
        Ok(Answer::PaneLaunch(l)) => codec::ok(re, &l),
        Ok(Answer::Output(o)) => codec::ok(re, &o),
        Ok(Answer::Waited(w)) => codec::ok(re, &w),
        Ok(Answer::Inbox(i)) => codec::ok(re, &i),
        Ok(Answer::Count(n)) => codec::ok(re, &n),
        Ok(Answer::Hosts(h)) => codec::ok(re, &h),
        Ok(Answer::Origin(o)) => codec::ok(re, &o),
        Ok(Answer::NotifyTest(t)) => codec::ok(re, &t),
    };
    Out::Line(encoded.unwrap_or_else(|e| codec::error(re, &e)))
}

/// A connection beyond the cap: told why at once (as the answer to its hello), then closed.
pub async fn refuse_busy(stream: UnixStream, cap: usize) {
    use tokio::io::AsyncWriteExt;
    let e = err(
        ErrorKind::Busy,
        format!(
            "the daemon has {cap} connections open, its most (half its open-file limit): close \
             some clients (dashboards, waiting commands) and try again"
        ),
    );
    let mut stream = stream;
    let line = codec::error(0, &e);
    let _ = tokio::time::timeout(Duration::from_secs(1), stream.write_all(line.as_bytes())).await;
    tracing::warn!(cap, "refused a connection: too many open");
}

/// Whether the peer is a process of the daemon's own user (the socket is private; this holds
/// even where that was undone).
fn peer_is_ours(stream: &UnixStream) -> bool {
    match stream.peer_cred() {
        Ok(cred) => cred.uid() == nix::unistd::getuid().as_raw(),
        Err(e) => {
            tracing::warn!(error = %e, "cannot tell who connected");
            false
        }
    }
}

pub async fn serve(hub: HubHandle, stream: UnixStream, welcome: &Welcome) {
    if !peer_is_ours(&stream) {
        tracing::warn!("refused a connection from another user");
        return;
    }
    let (read, mut write) = stream.into_split();
    let mut lines = FramedRead::new(read, LinesCodec::new_with_max_length(MAX_LINE));
    let (out_tx, mut out_rx) = mpsc::channel::<Queued>(256);
    let unsent = Arc::new(Semaphore::new(UNSENT));
    let in_flight = Arc::new(Semaphore::new(IN_FLIGHT));
    let writer = tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        let mut buf = Vec::new();
        let mut lines = Vec::new();
        let mut written = Vec::new();
        'outer: while let Some(out) = out_rx.recv().await {
            // Lines queued together (a burst of events) go out in one write.
            let mut next = Some(out);
            while let Some(Queued(out, permit)) = next.take() {
                written.extend(permit);
                match out {
                    Out::Line(l) => lines.extend_from_slice(l.as_bytes()),
                    big => {
                        if (!lines.is_empty() && write.write_all(&lines).await.is_err())
                            || write_out(&mut write, big, &mut buf).await.is_err()
                        {
                            break 'outer;
                        }
                        lines.clear();
                    }
                }
                next = out_rx.try_recv().ok();
            }
            if !lines.is_empty() && write.write_all(&lines).await.is_err() {
                break;
            }
            lines.clear();
            // Written: the requests' places are free for the next.
            written.clear();
        }
        let _ = write.shutdown().await;
    });
    let conn = hub.conn_id();
    let mut greeted = false;
    // The task this connection is the pane wrapper of, once it attached with the task's token:
    // reports for any other task are refused.
    let mut wrapper_of: Option<String> = None;
    while let Some(item) = lines.next().await {
        let line = match item {
            Ok(l) => l,
            Err(LinesCodecError::MaxLineLengthExceeded) => {
                let e = err(
                    ErrorKind::LineTooLong,
                    format!("line longer than {MAX_LINE} bytes; closing the connection"),
                );
                let _ = out_tx.send(Out::Line(codec::error(0, &e)).into()).await;
                break;
            }
            Err(LinesCodecError::Io(e)) => {
                let e = err(ErrorKind::BadRequest, format!("unreadable input: {e}"));
                let _ = out_tx.send(Out::Line(codec::error(0, &e)).into()).await;
                break;
            }
        };
        if line.trim().is_empty() {
            continue;
        }
        if !greeted {
            match greet(&line, welcome) {
                Ok(welcome) => {
                    greeted = true;
                    let _ = out_tx.send(Out::Line(welcome).into()).await;
                    continue;
                }
                Err(e) => {
                    let _ = out_tx.send(Out::Line(codec::error(0, &e)).into()).await;
                    break;
                }
            }
        }
        let (re, request) = match serde_json::from_str::<RequestLine>(&line) {
            Ok(RequestLine { req: Some(re), request }) => (re, request),
            // A wrapper's one-way report of output: no answer, not even a wait for the engine.
            Ok(RequestLine { req: None, request: Request::PaneOutput { task_id, bytes } }) => {
                if wrapper_of.as_deref() == Some(task_id.as_str()) {
                    hub.input(Input::Output { id: task_id, bytes });
                }
                continue;
            }
            Ok(RequestLine { req: None, .. }) => {
                let e = err(
                    ErrorKind::BadRequest,
                    "bad request: missing field `req` (only pane_output may go without)",
                );
                let _ = out_tx.send(Out::Line(codec::error(0, &e)).into()).await;
                continue;
            }
            Err(e) => {
                // Answer to the request's number when the line has one.
                let value = match serde_json::from_str::<serde_json::Value>(&line) {
                    Ok(v) => v,
                    Err(e) => {
                        let e = err(ErrorKind::BadRequest, format!("not JSON: {e}"));
                        let _ = out_tx.send(Out::Line(codec::error(0, &e)).into()).await;
                        continue;
                    }
                };
                let re = value.get("req").and_then(|v| v.as_u64()).unwrap_or(0);
                let e = err(ErrorKind::BadRequest, format!("bad request: {e}"));
                let _ = out_tx.send(Out::Line(codec::error(re, &e)).into()).await;
                continue;
            }
        };
        // Too many replies unread, or requests unanswered: this connection is read no further
        // until its client has read some replies (or some waits have ended).
        let Ok(answering) = in_flight.clone().acquire_owned().await else { break };
        if unsent.acquire().await.is_err() {
            break;
        }
        let unsent = unsent.clone();
        let out = out_tx.clone();
        // Queues the reply once a place among the unsent is free.
        let reply_to = move |line: Out| async move {
            drop(answering);
            if let Ok(place) = unsent.acquire_owned().await {
                let _ = out.send(Queued(line, Some(place))).await;
            }
        };
        match request {
            Request::Subscribe { no_output } => {
                let rx = hub.subscribe();
                reply_to(answer_line(re, Ok(Answer::Unit), &hub.listing)).await;
                tokio::spawn(forward_events(rx, out_tx.clone(), no_output));
            }
            // A pane wrapper's reports are handled in the order they come, and only from the
            // connection that attached as the task's wrapper (with its token).
            Request::PaneAttach { task_id, token } => {
                let reply = hub.ask(Request::PaneAttach { task_id: task_id.clone(), token }, conn);
                let reply = reply.await;
                if reply.is_ok() {
                    wrapper_of = Some(task_id);
                }
                reply_to(answer_line(re, reply, &hub.listing)).await;
            }
            r @ (Request::PaneStarted { .. }
            | Request::PaneExited { .. }
            | Request::PaneOutput { .. }) => {
                let reply = match pane_task(&r) {
                    Some(id) if wrapper_of.as_deref() == Some(id) => hub.ask(r, conn).await,
                    _ => Err(err(
                        ErrorKind::Invalid,
                        "pane reports come only from the task's own pane wrapper (attach with \
                         its token first)",
                    )),
                };
                reply_to(answer_line(re, reply, &hub.listing)).await;
            }
            // Reads are answered at once (the hub takes them before anything else waiting):
            // no task of their own, one turn of the loop fewer behind a burst.
            r if requests::is_quick(&r) => {
                let shutdown = matches!(r, Request::Shutdown);
                let reply = requests::answer(&hub, r, conn).await;
                reply_to(answer_line(re, reply, &hub.listing)).await;
                requests::stop_after_reply(&hub, shutdown);
            }
            request => {
                let hub = hub.clone();
                tokio::spawn(async move {
                    let reply = requests::answer(&hub, request, conn).await;
                    reply_to(answer_line(re, reply, &hub.listing)).await;
                });
            }
        }
    }
    drop(out_tx);
    let _ = writer.await;
    hub.input(Input::Closed { conn });
}

/// The task a pane wrapper's report is about.
fn pane_task(r: &Request) -> Option<&str> {
    match r {
        Request::PaneStarted { task_id, .. }
        | Request::PaneExited { task_id, .. }
        | Request::PaneOutput { task_id, .. } => Some(task_id),
        _ => None,
    }
}

/// The hello line: the welcome, or why not.
fn greet(line: &str, welcome: &Welcome) -> Result<String, ErrorBody> {
    match serde_json::from_str::<HelloLine>(line) {
        Ok(h) if h.hello.protocol == PROTOCOL_VERSION => codec::welcome(welcome),
        Ok(h) => Err(err(
            ErrorKind::Protocol,
            format!(
                "protocol {} is not supported by this daemon (it speaks {PROTOCOL_VERSION}); \
                 restart it with `paneherd daemon stop`",
                h.hello.protocol
            ),
        )),
        Err(e) => Err(err(
            ErrorKind::Protocol,
            format!("expected {{\"hello\":{{\"protocol\":{PROTOCOL_VERSION},…}}}} first: {e}"),
        )),
    }
}

async fn forward_events(
    mut rx: broadcast::Receiver<Event>,
    out: mpsc::Sender<Queued>,
    no_output: bool,
) {
    loop {
        let line = match rx.recv().await {
            // Not asked for: neither encoded nor sent.
            Ok(Event::Output { .. }) if no_output => continue,
            Ok(ev) => match codec::event(&ev) {
                Ok(l) => l,
                Err(_) => continue,
            },
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                match codec::event(&Event::Lagged { missed }) {
                    Ok(l) => l,
                    Err(_) => continue,
                }
            }
            Err(broadcast::error::RecvError::Closed) => break,
        };
        if out.send(Out::Line(line).into()).await.is_err() {
            break;
        }
    }
}
