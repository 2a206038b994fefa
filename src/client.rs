//! Talking to the daemon: connect (starting it on demand, like tmux's client), handshake,
//! requests with correlated replies, and the event stream.

use std::collections::VecDeque;
use std::fs::OpenOptions;
use std::path::Path;
use std::time::Duration;

use nix::fcntl::{Flock, FlockArg};
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};

use crate::paths::Paths;
use crate::proto::{ErrorBody, Event, Request, ServerLine, Welcome, codec};

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
    /// The connection was dropped before the daemon said hello.
    fn is_dropped_handshake(&self) -> bool {
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
                Err(e) if tries < 5 && e.is_dropped_handshake() => {
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
        Client::handshake(s).await
    }

    async fn connect_once(paths: &Paths, autostart: bool) -> Result<Client, ClientError> {
        let sock = paths.socket();
        match UnixStream::connect(&sock).await {
            Ok(s) => return Client::handshake(s).await,
            Err(e) if is_absent(&e) && autostart => {}
            Err(e) if is_absent(&e) => {
                return Err(ClientError::NotRunning(sock.display().to_string()));
            }
            Err(e) => {
                return Err(ClientError::Unreachable(format!(
                    "cannot connect to {}: {e}",
                    sock.display()
                )));
            }
        }
        let stream = start_daemon(paths).await?;
        Client::handshake(stream).await
    }

    async fn handshake(stream: UnixStream) -> Result<Client, ClientError> {
        let (r, mut w) = stream.into_split();
        let line = codec::hello("cli").map_err(|e| ClientError::Protocol(e.message))?;
        w.write_all(line.as_bytes()).await?;
        let mut reader = BufReader::with_capacity(64 * 1024, r).lines();
        let first =
            reader.next_line().await?.ok_or_else(|| ClientError::Unreachable(CLOSED.into()))?;
        let parsed: ServerLine = serde_json::from_str(&first)
            .map_err(|e| ClientError::Protocol(format!("{e}: {first}")))?;
        if let Some(err) = parsed.error {
            return Err(ClientError::Daemon(err));
        }
        let welcome =
            parsed.welcome.ok_or_else(|| ClientError::Protocol(format!("no welcome: {first}")))?;
        Ok(Client { reader, writer: w, next_id: 1, events: VecDeque::new(), welcome })
    }

    async fn read_line(&mut self) -> Result<ServerLine, ClientError> {
        let line = self
            .reader
            .next_line()
            .await?
            .ok_or_else(|| ClientError::Unreachable(CLOSED.into()))?;
        serde_json::from_str(&line).map_err(|e| ClientError::Protocol(format!("{e}")))
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
            let msg = self.read_line().await?;
            if let Some(ev) = msg.event {
                self.events.push_back(ev);
                continue;
            }
            if msg.re != Some(id) {
                if let (Some(0), Some(e)) = (msg.re, msg.error) {
                    return Err(ClientError::Daemon(e));
                }
                continue;
            }
            if msg.ok == Some(true) {
                // `"data": null` arrives as None.
                return Ok(msg.data.unwrap_or_else(|| RawValue::NULL.to_owned()));
            }
            return Err(ClientError::Daemon(
                msg.error
                    .ok_or_else(|| ClientError::Protocol("error reply without error".into()))?,
            ));
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
                let msg: ServerLine = serde_json::from_str(&line)
                    .map_err(|e| ClientError::Protocol(e.to_string()))?;
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

    /// Sends a request and copies its reply data to `out` as it arrives, without holding it
    /// whole in memory: for large replies passed straight through (`list --json`).
    pub async fn request_to<W: std::io::Write>(
        &mut self,
        request: Request,
        out: &mut W,
    ) -> Result<(), ClientError> {
        use tokio::io::AsyncBufReadExt as _;
        let id = self.send(request).await?;
        let prefix = codec::ok_head(id);
        // Peek at the reply: the fast path applies only to a success reply to this request.
        let reader = self.reader.get_mut();
        let buf = reader.fill_buf().await?;
        if buf.is_empty() {
            return Err(ClientError::Unreachable(CLOSED.into()));
        }
        // A first read too short to tell falls back to reading whole lines.
        let head = buf.starts_with(prefix.as_bytes());
        if !head {
            let text = self.await_reply(id).await?;
            out.write_all(text.get().as_bytes()).map_err(ClientError::Output)?;
            return Ok(());
        }
        reader.consume(prefix.len());
        let mut held: Option<u8> = None;
        loop {
            let buf = reader.fill_buf().await?;
            if buf.is_empty() {
                return Err(ClientError::Unreachable(CLOSED.into()));
            }
            let (chunk, end) = match memchr::memchr(b'\n', buf) {
                Some(i) => (&buf[..i], true),
                None => (buf, false),
            };
            let n = chunk.len();
            if let Some(b) = held.take() {
                if end && n == 0 {
                    // `b` was the closing brace of the reply object.
                    reader.consume(1);
                    return Ok(());
                }
                out.write_all(&[b]).map_err(ClientError::Output)?;
            }
            if end {
                out.write_all(&chunk[..n.saturating_sub(1)]).map_err(ClientError::Output)?;
                reader.consume(n + 1);
                return Ok(());
            }
            out.write_all(&chunk[..n - 1]).map_err(ClientError::Output)?;
            held = Some(chunk[n - 1]);
            reader.consume(n);
        }
    }

    /// Sends a request and decodes its reply data.
    pub async fn request<T: DeserializeOwned>(
        &mut self,
        request: Request,
    ) -> Result<T, ClientError> {
        let raw = self.request_raw(request).await?;
        serde_json::from_str(raw.get()).map_err(|e| ClientError::Protocol(e.to_string()))
    }

    /// Subscribes to events; then call `next_event`.
    pub async fn subscribe(&mut self) -> Result<(), ClientError> {
        self.request_raw(Request::Subscribe).await.map(|_| ())
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
            let v: serde_json::Value = match serde_json::from_str(&line) {
                Ok(v) => v,
                Err(e) => return Err(ClientError::Protocol(e.to_string())),
            };
            if let Some(ev) = v.get("event")
                && let Ok(ev) = serde_json::from_value::<Event>(ev.clone())
            {
                return Ok(Some(ev));
            }
        }
    }
}

/// Starts a daemon under the start lock (two clients starting at once yield one daemon) and
/// returns a connection to it.
async fn start_daemon(paths: &Paths) -> Result<UnixStream, ClientError> {
    paths.secure_runtime_dir().map_err(|e| ClientError::Unreachable(format!("{e:#}")))?;
    let lock_path = paths.start_lock();
    let file =
        OpenOptions::new().create(true).truncate(false).write(true).open(&lock_path).map_err(
            |e| ClientError::Unreachable(format!("cannot open {}: {e}", lock_path.display())),
        )?;
    let lock = tokio::task::spawn_blocking(move || Flock::lock(file, FlockArg::LockExclusive))
        .await
        .map_err(|e| ClientError::Unreachable(e.to_string()))?
        .map_err(|(_, e)| {
            ClientError::Unreachable(format!("cannot lock {}: {e}", lock_path.display()))
        })?;
    let sock = paths.socket();
    // Someone else may have started it while we waited for the lock.
    if let Ok(s) = UnixStream::connect(&sock).await {
        drop(lock);
        return Ok(s);
    }
    let err_path = paths.runtime.join("daemon-start.err");
    let err_file = std::fs::File::create(&err_path).map_err(|e| {
        ClientError::Unreachable(format!("cannot create {}: {e}", err_path.display()))
    })?;
    let exe = std::env::current_exe()
        .map_err(|e| ClientError::Unreachable(format!("cannot find the paneherd binary: {e}")))?;
    let mut child = crate::runner::start_daemon(&exe, paths, err_file)
        .map_err(|e| ClientError::Unreachable(format!("cannot start the daemon: {e}")))?;
    let deadline = tokio::time::Instant::now() + START_TIMEOUT;
    let mut delay = Duration::from_millis(2);
    loop {
        if let Ok(s) = UnixStream::connect(&sock).await {
            drop(lock);
            // Reap the daemon's exit status later without blocking: it runs on in its own session.
            std::thread::spawn(move || child.wait());
            return Ok(s);
        }
        if let Ok(Some(status)) = child.try_wait() {
            let msg = read_start_error(&err_path);
            return Err(ClientError::Unreachable(format!(
                "the daemon could not start ({status}): {msg}"
            )));
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(ClientError::Unreachable(format!(
                "the daemon did not open {} within {}s",
                sock.display(),
                START_TIMEOUT.as_secs()
            )));
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_millis(50));
    }
}

fn read_start_error(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let t = text.trim();
    if t.is_empty() { "no message (see the log under the data dir)".into() } else { t.to_string() }
}

/// The pane wrapper's line to the daemon (`runner::pane::Link`).
pub struct PaneLink(Client);

impl crate::runner::pane::Link for PaneLink {
    async fn connect(socket: &Path) -> anyhow::Result<PaneLink> {
        Ok(PaneLink(Client::connect_socket(socket).await?))
    }

    async fn attach(&mut self, task_id: &str) -> anyhow::Result<crate::proto::PaneLaunch> {
        Ok(self.0.request(Request::PaneAttach { task_id: task_id.to_string() }).await?)
    }

    async fn report(&mut self, report: Request) -> anyhow::Result<()> {
        match report {
            // Sent as the agent prints: one-way, so the wrapper waits for nothing.
            r @ Request::PaneOutput { .. } => self.0.notice(r).await?,
            r => {
                self.0.request_raw(r).await?;
            }
        }
        Ok(())
    }

    async fn lost(&mut self) {
        // Events are not asked for, so anything but an error or the end is skipped.
        while let Ok(Some(_)) = self.0.next_event().await {}
    }
}
