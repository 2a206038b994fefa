//! `paneherd web`: the agents in a browser — a small HTTP server (axum) on 127.0.0.1 unless told
//! otherwise, a client of the daemon like the dashboard: one connection subscribed to its
//! events, which reach every open page as Server-Sent Events; the page's actions become the
//! daemon's requests. Every page, file and API call needs the printed token.

mod api;
mod assets;
mod auth;

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use tokio::sync::broadcast;

use crate::client::mux::Mux;
use crate::paths::Paths;

/// How `paneherd web` serves.
#[derive(Debug, Clone)]
pub struct Options {
    pub listen: SocketAddr,
    /// Every action refused (403): watch only.
    pub read_only: bool,
    /// The token (a new random one when `None`).
    pub token: Option<String>,
}

/// What every request's handler shares.
pub(crate) struct Web {
    daemon: Mux,
    paths: Paths,
    /// The `output` events of the tasks whose output a page watches.
    outputs: Outputs,
    token: String,
    read_only: bool,
    /// The daemon's events, as the JSON lines the page reads.
    events: broadcast::Sender<String>,
    /// Where tasks submitted from the page run when they name no directory.
    cwd: std::path::PathBuf,
}

/// Serves until the daemon goes away or the process is stopped; prints the URL (with its
/// token) first.
pub async fn serve(paths: &Paths, options: Options) -> anyhow::Result<()> {
    let stream = crate::client::Client::connect_stream(paths, true)
        .await
        .context("cannot reach the daemon")?;
    let (read, write) = stream.into_split();
    let (daemon, mut events_in) =
        Mux::handshake(read, write, "web").await.context("the daemon did not answer")?;
    // A list kept live needs every event but `output` (most of them, under load): those come
    // on a connection of their own, open only while a page watches a task's output.
    let subscribe = crate::proto::ask::Subscribe { no_output: true };
    daemon.ask(subscribe).await.context("cannot subscribe to its events")?;
    let (events, _) = broadcast::channel(1024);
    let token = options.token.clone().unwrap_or_else(auth::new_token);
    let cwd = std::env::current_dir().context("the current directory is gone")?;
    let web = Arc::new(Web {
        daemon,
        paths: paths.clone(),
        outputs: Outputs::default(),
        token,
        read_only: options.read_only,
        events,
        cwd,
    });
    let listener = tokio::net::TcpListener::bind(options.listen)
        .await
        .with_context(|| format!("cannot listen on {}", options.listen))?;
    let addr = listener.local_addr().context("cannot read the address listened on")?;
    let shown = match addr.ip().is_unspecified() {
        true => SocketAddr::new(std::net::Ipv4Addr::LOCALHOST.into(), addr.port()),
        false => addr,
    };
    {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        writeln!(out, "http://{shown}/?token={}", web.token).context("cannot print the URL")?;
        out.flush().context("cannot print the URL")?;
    }
    // Said aside: whoever reads the URL may stop reading after it.
    if options.read_only {
        let _ = std::io::Write::write_all(
            &mut std::io::stderr(),
            b"paneherd web: read-only: every action is refused\n",
        );
    }
    if !addr.ip().is_loopback() {
        tracing::warn!(%addr, "listening beyond this machine");
        let mut err = std::io::stderr();
        let _ = std::io::Write::write_all(
            &mut err,
            format!(
                "paneherd web: listening on {addr}, beyond this machine: anyone with the URL can \
                 act (an SSH tunnel or a tailnet is safer; see the README)\n"
            )
            .as_bytes(),
        );
    }
    let forward = web.clone();
    let relay = async move {
        while let Some(ev) = events_in.recv().await {
            if let Ok(line) = serde_json::to_string(&ev) {
                // No page open: nothing to tell.
                let _ = forward.events.send(line);
            }
        }
    };
    let app = api::router(web);
    let server = axum::serve(listener, app).with_graceful_shutdown(async {
        let _ = tokio::signal::ctrl_c().await;
    });
    tokio::select! {
        r = server => r.context("the web server stopped"),
        () = relay => anyhow::bail!("the daemon went away (start `paneherd web` again)"),
    }
}

/// The daemon's `output` events for the pages watching a task's output: a second connection,
/// subscribed with them, open while at least one page watches (and closed after the last).
#[derive(Default)]
struct Outputs {
    /// The connection while open (its relay forwards to `tx`).
    conn: tokio::sync::Mutex<Option<Mux>>,
    /// How many pages watch.
    watchers: std::sync::atomic::AtomicUsize,
    /// (task id, the event's JSON line).
    tx: OutputSender,
}

/// Where the watched `output` events go.
struct OutputSender(broadcast::Sender<Arc<(String, String)>>);

impl Default for OutputSender {
    fn default() -> Self {
        OutputSender(broadcast::channel(256).0)
    }
}

/// One page watching; the connection closes after the last is dropped.
pub(crate) struct Watching {
    web: Arc<Web>,
    pub rx: broadcast::Receiver<Arc<(String, String)>>,
}

impl Drop for Watching {
    fn drop(&mut self) {
        use std::sync::atomic::Ordering;
        if self.web.outputs.watchers.fetch_sub(1, Ordering::SeqCst) == 1 {
            let web = self.web.clone();
            // Checked again under the lock: a page that came meanwhile keeps it open.
            tokio::spawn(async move {
                let mut conn = web.outputs.conn.lock().await;
                if web.outputs.watchers.load(Ordering::SeqCst) == 0 {
                    *conn = None;
                }
            });
        }
    }
}

impl Web {
    /// Starts watching the daemon's `output` events (opening their connection if none is).
    async fn watch_output(self: &Arc<Web>) -> anyhow::Result<Watching> {
        use std::sync::atomic::Ordering;
        let mut conn = self.outputs.conn.lock().await;
        if conn.is_none() {
            let stream = crate::client::Client::connect_stream(&self.paths, false)
                .await
                .context("cannot reach the daemon")?;
            let (read, write) = stream.into_split();
            let (mux, mut events) = Mux::handshake(read, write, "web-output")
                .await
                .context("the daemon did not answer")?;
            mux.ask(crate::proto::ask::Subscribe { no_output: false })
                .await
                .context("cannot subscribe to its output events")?;
            let tx = self.outputs.tx.0.clone();
            tokio::spawn(async move {
                while let Some(ev) = events.recv().await {
                    if let crate::proto::Event::Output { id, .. } = &ev
                        && let Ok(line) = serde_json::to_string(&ev)
                    {
                        let _ = tx.send(Arc::new((id.clone(), line)));
                    }
                }
            });
            *conn = Some(mux);
        }
        self.outputs.watchers.fetch_add(1, Ordering::SeqCst);
        Ok(Watching { web: self.clone(), rx: self.outputs.tx.0.subscribe() })
    }
}
