//! Talking to the daemon: connect (starting it on demand, like tmux's client), handshake,
//! requests with correlated replies, and the event stream.

mod blocking;
pub mod mux;

use std::collections::VecDeque;
use std::path::Path;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::value::RawValue;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};

pub use blocking::Blocking;

use crate::paths::Paths;
use crate::proto::{ErrorBody, Event, Request, ServerLine, Welcome, ask, codec};

/// How long a client waits for a daemon it started to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No daemon is running and none was to be started.
    #[error("no paneherd daemon is running (socket {0})")]
    NotRunning(String),
    /// The daemon could not be reached or started.
    #[error("{0}")]
    Unreachable(String),
    /// The daemon answered with an error.
    #[error("{0}")]
    Daemon(ErrorBody),
    #[error("daemon connection: {0}")]
    Io(#[from] std::io::Error),
    #[error("unexpected reply from the daemon: {0}")]
    Protocol(String),
    /// Where a reply was being copied to could not be written (a closed standard output).
    #[error("cannot write the reply: {0}")]
    Output(std::io::Error),
}

impl ClientError {
    /// The connection was dropped (before the daemon said hello, or while a request waited).
    pub fn is_dropped(&self) -> bool {
        match self {
            ClientError::Io(e) => matches!(
                e.kind(),
                std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::BrokenPipe
                    | std::io::ErrorKind::UnexpectedEof
            ),
            ClientError::Unreachable(m) => m == CLOSED,
            _ => false,
        }
    }
}

const CLOSED: &str = "the daemon closed the connection";

/// What a line read while waiting for a reply is.
enum Step {
    Event(Event),
    /// Not for this request.
    Other,
    Reply(Result<Box<RawValue>, ClientError>),
}

/// Reads `msg` as the reply to request `id`, or says what else it is.
fn reply_step(msg: ServerLine, id: u64) -> Step {
    if let Some(ev) = msg.event {
        return Step::Event(ev);
    }
    if msg.re != Some(id) {
        return match (msg.re, msg.error) {
            (Some(0), Some(e)) => Step::Reply(Err(ClientError::Daemon(e))),
            _ => Step::Other,
        };
    }
    Step::Reply(reply_of(msg))
}

/// A reply line's data, or its error.
fn reply_of(msg: ServerLine) -> Result<Box<RawValue>, ClientError> {
    if msg.ok == Some(true) {
        // `"data": null` arrives as None.
        return Ok(msg.data.unwrap_or_else(|| RawValue::NULL.to_owned()));
    }
    Err(match msg.error {
        Some(e) => ClientError::Daemon(e),
        None => ClientError::Protocol("error reply without error".into()),
    })
}

/// What a failed connection to `sock` means; `None`: no daemon runs, and one is to be started.
fn connect_failed(sock: &Path, e: &std::io::Error, autostart: bool) -> Option<ClientError> {
    if is_absent(e) {
        return (!autostart).then(|| ClientError::NotRunning(sock.display().to_string()));
    }
    Some(ClientError::Unreachable(format!("cannot connect to {}: {e}", sock.display())))
}

/// Before connecting: the runtime dir and its socket must be the user's own and private, or
/// what is sent (prompts, the environment) could reach another user's process.
fn check_paths(paths: &Paths) -> Result<(), ClientError> {
    paths.check_socket().map(|_| ()).map_err(|e| ClientError::Unreachable(format!("{e:#}")))
}

/// After connecting, before sending anything: the process listening is the user's own.
fn check_peer(stream: &impl std::os::fd::AsFd, sock: &Path) -> Result<(), ClientError> {
    use nix::sys::socket::{getsockopt, sockopt::PeerCredentials};
    let cred = getsockopt(stream, PeerCredentials).map_err(|e| {
        ClientError::Unreachable(format!("cannot tell who listens on {}: {e}", sock.display()))
    })?;
    let me = nix::unistd::getuid().as_raw();
    if cred.uid() != me {
        return Err(ClientError::Unreachable(format!(
            "refusing the daemon on {}: it runs as uid {}, not as you (uid {me}), and would \
             receive what you send; remove the socket if you did not make it, or set \
             PANEHERD_RUNTIME_DIR to a private directory",
            sock.display(),
            cred.uid()
        )));
    }
    Ok(())
}

/// The daemon serves the client's data dir: one data dir, one daemon, whichever way a client
/// was started (a client that found another data dir's daemon says so rather than mix the two).
fn check_data_dir(welcome: &Welcome, paths: &Paths) -> Result<(), ClientError> {
    let Some(theirs) = &welcome.data_dir else { return Ok(()) };
    let ours = std::fs::canonicalize(&paths.data).unwrap_or_else(|_| paths.data.clone());
    if &ours == theirs {
        return Ok(());
    }
    Err(ClientError::Unreachable(format!(
        "the paneherd daemon on {} serves the data dir {}, not yours ({}): give each data dir \
         its own PANEHERD_RUNTIME_DIR",
        paths.socket().display(),
        theirs.display(),
        ours.display()
    )))
}

/// One line the daemon sent, for both clients (the one decoder of what the daemon sends, with
/// `decode_data`). An event this client does not know (from a newer daemon) is a line with
/// nothing in it, skipped, not an error.
fn decode_line(line: &str) -> Result<ServerLine, ClientError> {
    let line = line.trim_end();
    serde_json::from_str(line).or_else(|e| {
        match serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(line) {
            Ok(m) if m.contains_key("event") => Ok(ServerLine::default()),
            _ => Err(ClientError::Protocol(format!("{e}: {line}"))),
        }
    })
}

/// A reply's data, as the type the request is answered with.
fn decode_data<T: DeserializeOwned>(raw: &RawValue) -> Result<T, ClientError> {
    serde_json::from_str(raw.get())
        .map_err(|e| ClientError::Protocol(format!("unexpected reply data: {e}")))
}

/// The daemon's first line: its welcome, or why not.
fn welcome_of(first: &str) -> Result<Welcome, ClientError> {
    let first = first.trim_end();
    let parsed = decode_line(first)?;
    if let Some(err) = parsed.error {
        return Err(ClientError::Daemon(err));
    }
    parsed.welcome.ok_or_else(|| ClientError::Protocol(format!("no welcome: {first}")))
}

/// How long a daemon has to say hello: one that accepts but does not answer (stopped with
/// SIGSTOP, hung) is reported rather than waited for without end.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);

fn hello_timed_out() -> ClientError {
    ClientError::Unreachable(format!(
        "the daemon accepted the connection but did not answer within {} s: is it stopped or \
         hung? (`paneherd daemon status`; its pid is in the data dir's daemon.lock)",
        HELLO_TIMEOUT.as_secs()
    ))
}

/// How much of the daemon's replies is read at once.
const READ_BUFFER: usize = 64 * 1024;

pub struct Client {
    reader: tokio::io::Lines<BufReader<OwnedReadHalf>>,
    writer: OwnedWriteHalf,
    next_id: u64,
    events: VecDeque<Event>,
    pub welcome: Welcome,
}

fn is_absent(e: &std::io::Error) -> bool {
    matches!(e.kind(), std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused)
}

impl Client {
    /// Connects; with `autostart`, starts a daemon when none answers.
    pub async fn connect(paths: &Paths, autostart: bool) -> Result<Client, ClientError> {
        // A daemon that is dying (killed, or stopping) may still accept a connection and then
        // drop it; try again a few times, starting a new daemon if need be.
        let mut tries = 0;
        loop {
            match Client::connect_once(paths, autostart).await {
                Err(e) if tries < 5 && e.is_dropped() => {
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(20 * tries)).await;
                }
                r => return r,
            }
        }
    }

    /// Connects to the daemon listening on `socket` (no start on demand).
    pub async fn connect_socket(socket: &std::path::Path) -> Result<Client, ClientError> {
        let s = UnixStream::connect(socket).await.map_err(|e| {
            ClientError::Unreachable(format!("cannot connect to {}: {e}", socket.display()))
        })?;
        check_peer(&s, socket)?;
        Client::handshake(s).await
    }

    async fn connect_once(paths: &Paths, autostart: bool) -> Result<Client, ClientError> {
        let stream = Client::connect_stream(paths, autostart).await?;
        let client = Client::handshake(stream).await?;
        check_data_dir(&client.welcome, paths)?;
        Ok(client)
    }

    /// The daemon's socket, connected (a daemon started if need be with `autostart`) and
    /// checked to be the user's own, before any line is sent: what `dial` bridges.
    pub async fn connect_stream(paths: &Paths, autostart: bool) -> Result<UnixStream, ClientError> {
        let sock = paths.socket();
        check_paths(paths)?;
        let stream = match UnixStream::connect(&sock).await {
            Ok(s) => s,
            Err(e) => {
                if let Some(err) = connect_failed(&sock, &e, autostart) {
                    return Err(err);
                }
                // Starting one waits (for the start lock, for the daemon): off this thread.
                let paths = paths.clone();
                let s = tokio::task::spawn_blocking(move || blocking::start_daemon(&paths))
                    .await
                    .map_err(|e| ClientError::Unreachable(e.to_string()))??;
                s.set_nonblocking(true)?;
                UnixStream::from_std(s)?
            }
        };
        check_peer(&stream, &sock)?;
        Ok(stream)
    }

    async fn handshake(stream: UnixStream) -> Result<Client, ClientError> {
        let (r, mut w) = stream.into_split();
        let line = codec::hello("cli").map_err(|e| ClientError::Protocol(e.message))?;
        w.write_all(line.as_bytes()).await?;
        let mut reader = BufReader::with_capacity(READ_BUFFER, r).lines();
        let first = tokio::time::timeout(HELLO_TIMEOUT, reader.next_line())
            .await
            .map_err(|_| hello_timed_out())??
            .ok_or_else(|| ClientError::Unreachable(CLOSED.into()))?;
        let welcome = welcome_of(&first)?;
        Ok(Client { reader, writer: w, next_id: 1, events: VecDeque::new(), welcome })
    }

    async fn read_line(&mut self) -> Result<ServerLine, ClientError> {
        let line = self
            .reader
            .next_line()
            .await?
            .ok_or_else(|| ClientError::Unreachable(CLOSED.into()))?;
        decode_line(&line)
    }

    /// Sends a request and returns the raw JSON of its reply data.
    pub async fn request_raw(&mut self, request: Request) -> Result<Box<RawValue>, ClientError> {
        let id = self.send(request).await?;
        self.await_reply(id).await
    }

    /// Sends a one-way notice (`pane_output`): nothing answers it.
    pub async fn notice(&mut self, request: Request) -> Result<(), ClientError> {
        let line = codec::notice(request).map_err(|e| ClientError::Protocol(e.message))?;
        self.writer.write_all(line.as_bytes()).await?;
        Ok(())
    }

    /// Writes a request; returns its correlation number.
    async fn send(&mut self, request: Request) -> Result<u64, ClientError> {
        let id = self.next_id;
        self.next_id += 1;
        let line = codec::request(id, request).map_err(|e| ClientError::Protocol(e.message))?;
        self.writer.write_all(line.as_bytes()).await?;
        Ok(id)
    }

    /// Reads lines until the reply to `id` (queueing events met on the way); returns its data.
    async fn await_reply(&mut self, id: u64) -> Result<Box<RawValue>, ClientError> {
        loop {
            match reply_step(self.read_line().await?, id) {
                Step::Event(ev) => self.events.push_back(ev),
                Step::Other => {}
                Step::Reply(r) => return r,
            }
        }
    }

    /// Sends several requests at once (pipelined) and returns their replies' data in order.
    pub async fn request_many(
        &mut self,
        requests: Vec<Request>,
    ) -> Result<Vec<Result<Box<RawValue>, ErrorBody>>, ClientError> {
        let first = self.next_id;
        let mut buf = String::new();
        for request in requests {
            let line = codec::request(self.next_id, request)
                .map_err(|e| ClientError::Protocol(e.message))?;
            buf.push_str(&line);
            self.next_id += 1;
        }
        let n = (self.next_id - first) as usize;
        // Write and read at once: the daemon answers while we are still sending.
        let (w, r) = (&mut self.writer, &mut self.reader);
        let write = async {
            w.write_all(buf.as_bytes()).await?;
            Ok::<(), ClientError>(())
        };
        let read = async {
            let mut out: Vec<Option<Result<Box<RawValue>, ErrorBody>>> =
                (0..n).map(|_| None).collect();
            let mut got = 0;
            let mut events = Vec::new();
            while got < n {
                let line =
                    r.next_line().await?.ok_or_else(|| ClientError::Unreachable(CLOSED.into()))?;
                let msg = decode_line(&line)?;
                if let Some(ev) = msg.event {
                    events.push(ev);
                    continue;
                }
                let Some(re) = msg.re.filter(|re| *re >= first && *re < first + n as u64) else {
                    if let Some(e) = msg.error {
                        return Err(ClientError::Daemon(e));
                    }
                    continue;
                };
                let slot = &mut out[(re - first) as usize];
                if slot.is_none() {
                    got += 1;
                }
                *slot = Some(match (msg.ok, msg.error) {
                    (Some(true), _) => Ok(msg.data.unwrap_or_else(|| RawValue::NULL.to_owned())),
                    (_, Some(e)) => Err(e),
                    _ => Err(ErrorBody::new(crate::proto::ErrorKind::Internal, "empty reply")),
                });
            }
            Ok::<_, ClientError>((out, events))
        };
        let ((), (out, events)) = tokio::try_join!(write, read)?;
        self.events.extend(events);
        Ok(out
            .into_iter()
            .map(|o| {
                o.unwrap_or_else(|| {
                    Err(ErrorBody::new(crate::proto::ErrorKind::Internal, "no reply"))
                })
            })
            .collect())
    }

    /// Sends a request and decodes its reply data.
    pub async fn request<T: DeserializeOwned>(
        &mut self,
        request: Request,
    ) -> Result<T, ClientError> {
        let raw = self.request_raw(request).await?;
        decode_data(&raw)
    }

    /// Asks `a` and decodes its reply into the type that kind of request is answered with.
    pub async fn ask<A: crate::proto::Ask>(&mut self, a: A) -> Result<A::Reply, ClientError> {
        self.request(a.into()).await
    }

    /// Subscribes to events; then call `next_event`.
    pub async fn subscribe(&mut self) -> Result<(), ClientError> {
        self.request_raw(Request::Subscribe { no_output: false }).await.map(|_| ())
    }

    /// Subscribes to every event but `output`.
    pub async fn subscribe_no_output(&mut self) -> Result<(), ClientError> {
        self.request_raw(Request::Subscribe { no_output: true }).await.map(|_| ())
    }

    /// The next event (after `subscribe`); `None` when the daemon went away. Events the daemon
    /// could not deliver (`lagged`) are skipped: call `list` again to resynchronise.
    pub async fn next_event(&mut self) -> Result<Option<Event>, ClientError> {
        if let Some(ev) = self.events.pop_front() {
            return Ok(Some(ev));
        }
        loop {
            let Some(line) = self.reader.next_line().await? else {
                return Ok(None);
            };
            if let Some(ev) = decode_line(&line)?.event {
                return Ok(Some(ev));
            }
        }
    }
}

/// The pane wrapper's line to the daemon (`runner::pane::DaemonLine`).
pub struct PaneLink(Client);

/// A failed request as the pane wrapper tells it apart: refused by the daemon, or not through.
fn link_error(e: ClientError) -> crate::runner::pane::LineError {
    use crate::runner::pane::LineError;
    match e {
        ClientError::Daemon(b) => LineError::Refused(b.message),
        e => LineError::Gone(e.to_string()),
    }
}

impl crate::runner::pane::DaemonLine for PaneLink {
    async fn connect(socket: &Path) -> anyhow::Result<PaneLink> {
        Ok(PaneLink(Client::connect_socket(socket).await?))
    }

    async fn attach(
        &mut self,
        task_id: &str,
        token: &str,
    ) -> Result<Option<crate::proto::PaneLaunch>, crate::runner::pane::LineError> {
        let attach = ask::PaneAttach { task_id: task_id.to_string(), token: token.into() };
        self.0.ask(attach).await.map_err(link_error)
    }

    async fn report(&mut self, report: Request) -> Result<(), crate::runner::pane::LineError> {
        match report {
            // Sent as the agent prints: one-way, so the wrapper waits for nothing.
            r @ Request::PaneOutput { .. } => self.0.notice(r).await.map_err(link_error)?,
            r => {
                self.0.request_raw(r).await.map_err(link_error)?;
            }
        }
        Ok(())
    }

    async fn lost(&mut self) {
        // Events are not asked for, so anything but an error or the end is skipped.
        while let Ok(Some(_)) = self.0.next_event().await {}
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn every_line_the_daemon_sends_has_one_decoder() {
        // A reply, typed by what the request is answered with.
        let l = decode_line(
            r#"{"re":4,"ok":true,"data":{"route":"tmux","why":"","server":null,"took_ms":3}}"#,
        )
        .unwrap();
        assert_eq!(l.re, Some(4));
        let t: crate::proto::NotifyTestData = decode_data(&l.data.unwrap()).unwrap();
        assert_eq!((t.route.as_str(), t.took_ms), ("tmux", 3));
        // Data of another shape is a protocol error that says so, not a default.
        let raw = RawValue::from_string("[1,2]".into()).unwrap();
        let e = decode_data::<crate::proto::NotifyTestData>(&raw).unwrap_err();
        assert!(e.to_string().contains("unexpected reply data"), "{e}");
        // An event a newer daemon knows and this client does not: skipped, not fatal.
        let l = decode_line(r#"{"event":{"type":"from_the_future","x":1}}"#).unwrap();
        assert!(l.event.is_none() && l.re.is_none() && l.error.is_none());
        // A line that is not the protocol: an error quoting it.
        let e = decode_line("hello there").unwrap_err();
        assert!(e.to_string().contains("hello there"), "{e}");
    }
}
