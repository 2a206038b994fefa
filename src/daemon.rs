//! The daemon: one per data dir. Holds the lock, listens on the socket, serves clients, and
//! shuts down in order on SIGTERM / SIGINT / `shutdown`.

pub mod config_watch;
pub mod connection;
pub mod engine;
pub mod panes;
pub mod supervisor;

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use nix::fcntl::{Flock, FlockArg};
use tokio::net::UnixListener;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;

use crate::config::Config;
use crate::paths::Paths;

pub use engine::Engine;

/// Holds `<data>/daemon.lock` for the daemon's life; its content is the daemon's pid.
pub struct DaemonLock {
    _lock: Flock<File>,
}

impl DaemonLock {
    pub fn acquire(paths: &Paths) -> Result<DaemonLock> {
        std::fs::create_dir_all(&paths.data)
            .with_context(|| format!("cannot create data dir {}", paths.data.display()))?;
        let path = paths.daemon_lock();
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        let mut lock = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(l) => l,
            Err((mut f, _)) => {
                let mut pid = String::new();
                let _ = f.read_to_string(&mut pid);
                bail!(
                    "another paneherd daemon (pid {}) already serves {}",
                    pid.trim(),
                    paths.data.display()
                );
            }
        };
        lock.set_len(0)?;
        lock.rewind()?;
        writeln!(lock, "{}", std::process::id())?;
        Ok(DaemonLock { _lock: lock })
    }
}

/// Starts logging to `<data>/logs/paneherd.log` (filter from `PANEHERD_LOG`, default info).
pub fn init_logging(paths: &Paths) -> Option<tracing_appender::non_blocking::WorkerGuard> {
    let dir = paths.log_dir();
    std::fs::create_dir_all(&dir).ok()?;
    let appender = tracing_appender::rolling::never(&dir, "paneherd.log");
    let (writer, guard) = tracing_appender::non_blocking(appender);
    let filter = tracing_subscriber::EnvFilter::try_from_env("PANEHERD_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(false)
        .try_init()
        .ok()?;
    Some(guard)
}

/// Runs the daemon until it is told to stop. `detach`: leave the starter's session first.
pub fn run(paths: Paths, detach: bool) -> Result<()> {
    if detach {
        let _ = nix::unistd::setsid();
    }
    paths.secure_runtime_dir()?;
    let _lock = DaemonLock::acquire(&paths)?;
    let _guard = init_logging(&paths);
    let loaded = Config::load(&paths.config).map_err(|e| anyhow::anyhow!("{e}"))?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(serve(paths, loaded))
}

async fn serve(paths: Paths, loaded: crate::config::Loaded) -> Result<()> {
    let engine = Engine::new(paths.clone(), loaded)?;
    let sock = paths.socket();
    // We hold the daemon lock, so a socket file here belongs to a daemon that died.
    if sock.exists() {
        std::fs::remove_file(&sock)
            .with_context(|| format!("cannot remove stale socket {}", sock.display()))?;
    }
    let listener = UnixListener::bind(&sock)
        .with_context(|| format!("cannot listen on {}", sock.display()))?;
    std::fs::set_permissions(&sock, std::fs::Permissions::from_mode(0o600))
        .with_context(|| format!("cannot restrict {}", sock.display()))?;
    tracing::info!(pid = std::process::id(), socket = %sock.display(), "daemon started");

    // Start what was queued before a restart.
    engine.adopt_panes().await;
    tokio::spawn(crate::notify::service::run(engine.clone()));
    config_watch::spawn(engine.clone(), paths.config.clone());
    engine.kick();

    let (shutdown_tx, mut shutdown_rx) = mpsc::channel::<()>(4);
    let mut term = signal(SignalKind::terminate()).context("cannot watch SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot watch SIGINT")?;
    let mut hup = signal(SignalKind::hangup()).context("cannot watch SIGHUP")?;
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    tokio::spawn(connection::serve(engine.clone(), stream, shutdown_tx.clone()));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            _ = term.recv() => { tracing::info!("SIGTERM"); break; }
            _ = int.recv() => { tracing::info!("SIGINT"); break; }
            _ = hup.recv() => { tracing::info!("SIGHUP ignored"); }
            _ = shutdown_rx.recv() => { tracing::info!("shutdown requested"); break; }
        }
    }
    drop(listener);
    let _ = std::fs::remove_file(&sock);
    let n = engine.begin_shutdown();
    if n > 0 {
        tracing::info!(running = n, "stopping running tasks");
        let deadline =
            tokio::time::Instant::now() + supervisor::KILL_GRACE + Duration::from_secs(3);
        let mut rx = engine.subscribe();
        while engine.running_count() > 0 {
            if tokio::time::timeout_at(deadline, rx.recv()).await.is_err() {
                tracing::warn!("tasks still running at shutdown");
                break;
            }
        }
    }
    engine.panes.shutdown().await;
    engine.flush().await;
    tracing::info!("daemon stopped");
    Ok(())
}
