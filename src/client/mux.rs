//! A connection to a daemon over any byte stream — a host's daemon reached through
//! `ssh … paneherd-full dial` — with requests answered as they come (several may wait at
//! once) and events on a channel: what a host link needs, where [`super::Client`] asks one
//! thing at a time. Lines are decoded by the client's one decoder.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use futures_util::StreamExt;
use serde_json::value::RawValue;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};
use tokio_util::codec::{FramedRead, LinesCodec, LinesCodecError};

use super::{CLOSED, ClientError, HELLO_TIMEOUT, decode_data, decode_line, reply_of, welcome_of};
use crate::proto::{Ask, Event, Welcome, codec};

type Waiter = oneshot::Sender<Result<Box<RawValue>, ClientError>>;

/// The longest line taken from the daemon there (a `list` of a long history is long).
const MAX_REPLY: usize = 256 * 1024 * 1024;

fn line_error(e: LinesCodecError) -> ClientError {
    match e {
        LinesCodecError::Io(e) => ClientError::Io(e),
        LinesCodecError::MaxLineLengthExceeded => {
            ClientError::Protocol(format!("a line longer than {MAX_REPLY} bytes"))
        }
    }
}

/// Requests waiting for their replies, by correlation number.
#[derive(Default)]
struct Waiting {
    by_id: std::sync::Mutex<HashMap<u64, Waiter>>,
    /// The connection is gone: no reply will come.
    closed: AtomicBool,
}

impl Waiting {
    fn take(&self, id: u64) -> Option<Waiter> {
        self.by_id.lock().ok().and_then(|mut m| m.remove(&id))
    }

    /// Every waiting request fails: the connection closed.
    fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        let all: Vec<Waiter> = match self.by_id.lock() {
            Ok(mut m) => m.drain().map(|(_, w)| w).collect(),
            Err(_) => vec![],
        };
        for w in all {
            let _ = w.send(Err(ClientError::Unreachable(CLOSED.into())));
        }
    }
}

/// One connection; shared by reference (`Arc`) between the link's tasks.
pub struct Mux {
    writer: tokio::sync::Mutex<Box<dyn AsyncWrite + Send + Unpin>>,
    waiting: Arc<Waiting>,
    next: AtomicU64,
    pub welcome: Welcome,
    /// The task reading its lines: stopped with the last reference, so that the connection
    /// closes whole (a daemon keeps writing events to a half-closed one).
    reader: tokio::task::AbortHandle,
}

impl Drop for Mux {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

impl Mux {
    /// Says hello over `read`/`write` and reads the welcome; then lines are read in the
    /// background: replies to their requests, events to the returned channel (closed when
    /// the connection is).
    pub async fn handshake(
        read: impl AsyncRead + Send + Unpin + 'static,
        write: impl AsyncWrite + Send + Unpin + 'static,
        client: &str,
    ) -> Result<(Mux, mpsc::UnboundedReceiver<Event>), ClientError> {
        Mux::handshake_within(read, write, client, MAX_REPLY).await
    }

    /// The same, no line longer than `max`.
    async fn handshake_within(
        read: impl AsyncRead + Send + Unpin + 'static,
        mut write: impl AsyncWrite + Send + Unpin + 'static,
        client: &str,
        max: usize,
    ) -> Result<(Mux, mpsc::UnboundedReceiver<Event>), ClientError> {
        let hello = codec::hello(client).map_err(|e| ClientError::Protocol(e.message))?;
        write.write_all(hello.as_bytes()).await?;
        write.flush().await?;
        // No line longer than `MAX_REPLY`: a daemon there that sends one without end does
        // not take this one's memory with it.
        let mut lines = FramedRead::new(read, LinesCodec::new_with_max_length(max));
        let first = tokio::time::timeout(HELLO_TIMEOUT, lines.next())
            .await
            .map_err(|_| ClientError::Unreachable("no welcome within 10 s".into()))?
            .ok_or_else(|| ClientError::Unreachable(CLOSED.into()))?
            .map_err(line_error)?;
        let welcome = welcome_of(&first)?;
        let waiting = Arc::new(Waiting::default());
        let (events, rx) = mpsc::unbounded_channel();
        let w = waiting.clone();
        let reader = tokio::spawn(async move {
            loop {
                let line = match lines.next().await {
                    Some(Ok(l)) => l,
                    None => break,
                    Some(Err(e)) => {
                        tracing::warn!(error = %e, "host connection: closed");
                        break;
                    }
                };
                let msg = match decode_line(&line) {
                    Ok(m) => m,
                    Err(e) => {
                        tracing::warn!(error = %e, "host connection: a line not understood");
                        continue;
                    }
                };
                if let Some(ev) = msg.event {
                    let _ = events.send(ev);
                    continue;
                }
                if let Some(waiter) = msg.re.and_then(|re| w.take(re)) {
                    let _ = waiter.send(reply_of(msg));
                }
            }
            w.close();
        });
        let mux = Mux {
            reader: reader.abort_handle(),
            writer: tokio::sync::Mutex::new(Box::new(write)),
            waiting,
            next: 1.into(),
            welcome,
        };
        Ok((mux, rx))
    }

    /// Asks `a` and waits for its reply, typed as that kind of request is answered.
    pub async fn ask<A: Ask>(&self, a: A) -> Result<A::Reply, ClientError> {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        if let Ok(mut m) = self.waiting.by_id.lock() {
            m.insert(id, tx);
        }
        // Closed before it was noted: no reader is left to answer it.
        if self.waiting.closed.load(Ordering::SeqCst) {
            self.waiting.take(id);
            return Err(ClientError::Unreachable(CLOSED.into()));
        }
        let line = codec::request(id, a.into()).map_err(|e| ClientError::Protocol(e.message))?;
        {
            let mut w = self.writer.lock().await;
            w.write_all(line.as_bytes()).await?;
            w.flush().await?;
        }
        let raw = rx.await.map_err(|_| ClientError::Unreachable(CLOSED.into()))??;
        decode_data(&raw)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use tokio::io::{AsyncBufReadExt, BufReader};

    /// A daemon's side played over an in-memory pipe: replies out of order, an event between.
    #[tokio::test]
    async fn replies_reach_their_requests_in_any_order_and_events_the_channel() {
        let (ours, theirs) = tokio::io::duplex(64 * 1024);
        let (r, w) = tokio::io::split(ours);
        let (tr, mut tw) = tokio::io::split(theirs);
        let daemon = tokio::spawn(async move {
            let mut lines = BufReader::new(tr).lines();
            let hello = lines.next_line().await.unwrap().unwrap();
            assert!(hello.contains("\"hello\""), "{hello}");
            let welcome = Welcome {
                protocol: crate::proto::PROTOCOL_VERSION,
                version: "9.9.9".into(),
                pid: 1,
                data_dir: None,
                home: None,
            };
            tw.write_all(codec::welcome(&welcome).unwrap().as_bytes()).await.unwrap();
            let a = lines.next_line().await.unwrap().unwrap();
            let b = lines.next_line().await.unwrap().unwrap();
            let re = |l: &str| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["req"].as_u64().unwrap()
            };
            let (a, b) = (re(&a), re(&b));
            let ev = Event::Output { id: "x".into(), at: crate::core::timefmt::now(), bytes: 3 };
            tw.write_all(codec::event(&ev).unwrap().as_bytes()).await.unwrap();
            // The second asked is answered first; the first gets an error.
            tw.write_all(codec::ok(b, &None::<crate::core::task::Task>).unwrap().as_bytes())
                .await
                .unwrap();
            let e = crate::proto::ErrorBody::new(crate::proto::ErrorKind::UnknownId, "nope");
            tw.write_all(codec::error(a, &e).as_bytes()).await.unwrap();
        });
        let (mux, mut events) = Mux::handshake(r, w, "test").await.unwrap();
        assert_eq!(mux.welcome.version, "9.9.9");
        let mux = Arc::new(mux);
        let m = mux.clone();
        let first =
            tokio::spawn(async move { m.ask(crate::proto::ask::Get { id: "a".into() }).await });
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        let second = mux.ask(crate::proto::ask::Get { id: "b".into() }).await.unwrap();
        assert_eq!(second, None);
        let first = first.await.unwrap().unwrap_err();
        assert!(matches!(first, ClientError::Daemon(ref b) if b.message == "nope"), "{first}");
        assert!(matches!(events.recv().await, Some(Event::Output { bytes: 3, .. })));
        daemon.await.unwrap();
        // The daemon's side is gone: asking now fails at once, not never.
        let gone = mux.ask(crate::proto::ask::Get { id: "c".into() }).await.unwrap_err();
        assert!(gone.is_dropped() || matches!(gone, ClientError::Io(_)), "{gone}");
        assert!(events.recv().await.is_none());
    }

    /// A daemon there that sends a line without end: the connection is dropped, not this
    /// daemon's memory taken; what waited gets an error.
    #[tokio::test]
    async fn a_line_without_end_closes_the_connection() {
        let (ours, theirs) = tokio::io::duplex(64 * 1024);
        let (r, w) = tokio::io::split(ours);
        let (tr, mut tw) = tokio::io::split(theirs);
        tokio::spawn(async move {
            let mut lines = BufReader::new(tr).lines();
            lines.next_line().await.unwrap();
            let welcome = Welcome {
                protocol: crate::proto::PROTOCOL_VERSION,
                version: "x".into(),
                pid: 1,
                data_dir: None,
                home: None,
            };
            tw.write_all(codec::welcome(&welcome).unwrap().as_bytes()).await.unwrap();
            let _ = lines.next_line().await;
            let junk = vec![b'x'; 8192];
            loop {
                if tw.write_all(&junk).await.is_err() {
                    break;
                }
            }
        });
        let (mux, mut events) = Mux::handshake_within(r, w, "test", 4096).await.unwrap();
        let e = mux.ask(crate::proto::ask::Get { id: "a".into() }).await.unwrap_err();
        assert!(e.is_dropped(), "{e}");
        assert!(events.recv().await.is_none());
    }
}
