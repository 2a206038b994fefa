//! The conversation with the daemon in plain blocking reads and writes: connecting (starting
//! the daemon on demand), the handshake, and requests with their replies, for the one-shot
//! commands. No async runtime is started, so `paneherd run` and its kin start fast; the async
//! [`Client`](super::Client) starts daemons through here too.

use std::fs::OpenOptions;
use std::io::{BufRead, BufReader, ErrorKind, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use nix::fcntl::{Flock, FlockArg};
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;

use super::{
    CLOSED, ClientError, HELLO_TIMEOUT, READ_BUFFER, START_TIMEOUT, Step, check_data_dir,
    check_paths, check_peer, connect_failed, decode_data, decode_line, hello_timed_out, reply_step,
    welcome_of,
};
use crate::paths::Paths;
use crate::proto::{Request, Welcome, codec};

pub struct Blocking {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
    next_id: u64,
    pub welcome: Welcome,
}

impl Blocking {
    /// Connects; with `autostart`, starts a daemon when none answers.
    pub fn connect(paths: &Paths, autostart: bool) -> Result<Blocking, ClientError> {
        // A daemon that is dying (killed, or stopping) may still accept a connection and then
        // drop it; try again a few times, starting a new daemon if need be.
        let mut tries = 0;
        loop {
            match Blocking::connect_once(paths, autostart) {
                Err(e) if tries < 5 && e.is_dropped() => {
                    tries += 1;
                    std::thread::sleep(Duration::from_millis(20 * tries));
                }
                r => return r,
            }
        }
    }

    fn connect_once(paths: &Paths, autostart: bool) -> Result<Blocking, ClientError> {
        let sock = paths.socket();
        check_paths(paths)?;
        let stream = match UnixStream::connect(&sock) {
            Ok(s) => s,
            Err(e) => match connect_failed(&sock, &e, autostart) {
                Some(err) => return Err(err),
                None => start_daemon(paths)?,
            },
        };
        check_peer(&stream, &sock)?;
        let client = Blocking::handshake(stream)?;
        check_data_dir(&client.welcome, paths)?;
        Ok(client)
    }

    fn handshake(stream: UnixStream) -> Result<Blocking, ClientError> {
        let mut writer = stream.try_clone()?;
        let line = codec::hello("cli").map_err(|e| ClientError::Protocol(e.message))?;
        writer.write_all(line.as_bytes())?;
        stream.set_read_timeout(Some(HELLO_TIMEOUT))?;
        let mut reader = BufReader::with_capacity(READ_BUFFER, stream);
        let mut first = String::new();
        match reader.read_line(&mut first) {
            Ok(0) => return Err(ClientError::Unreachable(CLOSED.into())),
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Err(hello_timed_out());
            }
            Err(e) => return Err(e.into()),
        }
        // Replies may take long (a wait): no limit after the hello.
        reader.get_ref().set_read_timeout(None)?;
        let welcome = welcome_of(&first)?;
        Ok(Blocking { reader, writer, next_id: 1, welcome })
    }

    /// Sends a request and returns the raw JSON of its reply data (events met on the way,
    /// which a one-shot command has not asked for, are passed over).
    pub fn request_raw(&mut self, request: Request) -> Result<Box<RawValue>, ClientError> {
        let id = self.send(request)?;
        self.await_reply(id)
    }

    /// Reads lines until the reply to `id`; returns its data.
    fn await_reply(&mut self, id: u64) -> Result<Box<RawValue>, ClientError> {
        let mut line = String::new();
        loop {
            line.clear();
            if self.reader.read_line(&mut line)? == 0 {
                return Err(ClientError::Unreachable(CLOSED.into()));
            }
            let msg = decode_line(&line)?;
            if let Step::Reply(r) = reply_step(msg, id) {
                return r;
            }
        }
    }

    /// Subscribes to the daemon's events; then `next_event`.
    pub fn subscribe(&mut self) -> Result<(), ClientError> {
        self.request_raw(Request::Subscribe { no_output: false }).map(|_| ())
    }

    /// The next event (after `subscribe`); `None` when the daemon closed the connection.
    pub fn next_event(&mut self) -> Result<Option<crate::proto::Event>, ClientError> {
        let mut line = String::new();
        loop {
            line.clear();
            if self.reader.read_line(&mut line)? == 0 {
                return Ok(None);
            }
            let msg = decode_line(&line)?;
            if let Some(ev) = msg.event {
                return Ok(Some(ev));
            }
        }
    }

    /// Sends a request and decodes its reply data.
    pub fn request<T: DeserializeOwned>(&mut self, request: Request) -> Result<T, ClientError> {
        let raw = self.request_raw(request)?;
        decode_data(&raw)
    }

    /// Asks `a` and decodes its reply into the type that kind of request is answered with.
    pub fn ask<A: crate::proto::Ask>(&mut self, a: A) -> Result<A::Reply, ClientError> {
        self.request(a.into())
    }

    fn send(&mut self, request: Request) -> Result<u64, ClientError> {
        let id = self.next_id;
        self.next_id += 1;
        let line = codec::request(id, request).map_err(|e| ClientError::Protocol(e.message))?;
        self.writer.write_all(line.as_bytes())?;
        Ok(id)
    }

    /// Sends a request and copies its reply data to `out` as it arrives, without holding it
    /// whole in memory: for large replies passed straight through (`list --json`).
    pub fn request_to<W: Write>(
        &mut self,
        request: Request,
        out: &mut W,
    ) -> Result<(), ClientError> {
        let id = self.send(request)?;
        let prefix = codec::ok_head(id);
        // Peek at the reply: the fast path applies only to a success reply to this request.
        let buf = self.reader.fill_buf()?;
        if buf.is_empty() {
            return Err(ClientError::Unreachable(CLOSED.into()));
        }
        // A first read too short to tell falls back to reading whole lines.
        if !buf.starts_with(prefix.as_bytes()) {
            let text = self.await_reply(id)?;
            return out.write_all(text.get().as_bytes()).map_err(ClientError::Output);
        }
        self.reader.consume(prefix.len());
        // The reply's data runs to the line's end but for the reply object's closing brace:
        // the last byte read is held back until the next shows whether it was that brace.
        let mut held: Option<u8> = None;
        loop {
            let buf = self.reader.fill_buf()?;
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
                    self.reader.consume(1);
                    return Ok(());
                }
                out.write_all(&[b]).map_err(ClientError::Output)?;
            }
            if end {
                out.write_all(&chunk[..n.saturating_sub(1)]).map_err(ClientError::Output)?;
                self.reader.consume(n + 1);
                return Ok(());
            }
            out.write_all(&chunk[..n - 1]).map_err(ClientError::Output)?;
            held = Some(chunk[n - 1]);
            self.reader.consume(n);
        }
    }
}

/// Starts a daemon under the start lock (two clients starting at once yield one daemon) and
/// returns a connection to it.
pub(super) fn start_daemon(paths: &Paths) -> Result<UnixStream, ClientError> {
    paths.secure_runtime_dir().map_err(|e| ClientError::Unreachable(format!("{e:#}")))?;
    let lock_path = paths.start_lock();
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(&lock_path)
        .map_err(|e| {
            ClientError::Unreachable(format!("cannot open {}: {e}", lock_path.display()))
        })?;
    let lock = Flock::lock(file, FlockArg::LockExclusive).map_err(|(_, e)| {
        ClientError::Unreachable(format!("cannot lock {}: {e}", lock_path.display()))
    })?;
    let sock = paths.socket();
    // Someone else may have started it while we waited for the lock.
    if let Ok(s) = UnixStream::connect(&sock) {
        drop(lock);
        return Ok(s);
    }
    let err_path = paths.runtime.join("daemon-start.err");
    let err_file = OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .mode(0o600)
        .open(&err_path)
        .map_err(|e| {
            ClientError::Unreachable(format!("cannot create {}: {e}", err_path.display()))
        })?;
    let exe = std::env::current_exe()
        .map_err(|e| ClientError::Unreachable(format!("cannot find the paneherd binary: {e}")))?;
    let mut child = crate::runner::start_daemon(&exe, paths, err_file)
        .map_err(|e| ClientError::Unreachable(format!("cannot start the daemon: {e}")))?;
    let deadline = Instant::now() + START_TIMEOUT;
    let mut delay = Duration::from_millis(2);
    loop {
        if let Ok(s) = UnixStream::connect(&sock) {
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
        if Instant::now() >= deadline {
            return Err(ClientError::Unreachable(format!(
                "the daemon did not open {} within {}s",
                sock.display(),
                START_TIMEOUT.as_secs()
            )));
        }
        std::thread::sleep(delay);
        delay = (delay * 2).min(Duration::from_millis(50));
    }
}

fn read_start_error(path: &std::path::Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    // The daemon's own message, without the program name it was printed with.
    let t = text.trim();
    let t = t.strip_prefix("paneherd: ").unwrap_or(t);
    if t.is_empty() { "no message (see the log under the data dir)".into() } else { t.to_string() }
}
