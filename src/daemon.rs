//! The daemon: one per data dir. Holds the lock, listens on the socket, and runs the engine
//! (`crate::engine`) in the hub's loop with its components around it: connections (clients in),
//! the store writer, the process runner, the pane manager, the timers, the notifier and the
//! config watcher. Shuts down in order on SIGTERM / SIGINT / `shutdown`.

pub mod capacity;
pub mod config_watch;
pub mod connection;
pub mod hosts;
pub mod hub;
pub mod listing;
pub mod notifier;
pub mod pane_jobs;
pub mod panes;
pub mod requests;
pub mod timers;

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::time::Duration;

use crate::engine::KILL_GRACE;

use anyhow::{Context, Result, bail};
use nix::fcntl::{Flock, FlockArg};
use tokio::net::UnixListener;
use tokio::signal::unix::{SignalKind, signal};

use crate::config::Config;
use crate::core::timefmt;
use crate::engine::{Engine, Input, Setup, World};
use crate::paths::Paths;
use crate::store::{Store, Writer};

/// Holds `<data>/daemon.lock` for the daemon's life; its content is the daemon's pid.
pub struct DaemonLock {
    _lock: Flock<File>,
}

impl DaemonLock {
    pub fn acquire(paths: &Paths) -> Result<DaemonLock> {
        crate::paths::private_dir(&paths.data)
            .with_context(|| format!("cannot create data dir {}", paths.data.display()))?;
        let path = paths.daemon_lock();
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        // A daemon killed a moment ago may still hold the lock while its threads go: wait
        // for it, but not for a daemon that is alive.
        let deadline = std::time::Instant::now() + Duration::from_secs(3);
        let mut file = file;
        let mut lock = loop {
            match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
                Ok(l) => break l,
                Err((mut f, _)) => {
                    let mut text = String::new();
                    let _ = f.rewind();
                    let _ = f.read_to_string(&mut text);
                    let pid = text.trim().to_string();
                    let listens = std::fs::read_to_string(paths.daemon_runtime())
                        .map(|d| std::path::Path::new(d.trim()).join("daemon.sock"))
                        .unwrap_or_else(|_| paths.socket());
                    if std::time::Instant::now() >= deadline || holder_alive(&pid) {
                        bail!(
                            "another paneherd daemon (pid {pid}) already serves {}; it listens on \
                             {}, not on {} (set PANEHERD_RUNTIME_DIR={} to use it, or stop it \
                             with `kill {pid}` and try again)",
                            paths.data.display(),
                            listens.display(),
                            paths.socket().display(),
                            listens.parent().unwrap_or(&paths.runtime).display()
                        );
                    }
                    std::thread::sleep(Duration::from_millis(20));
                    file = f;
                }
            }
        };
        // The pid and the runtime dir are for people and clients; a full disk that keeps them
        // from being written does not keep the daemon from starting.
        if let Err(e) = lock
            .set_len(0)
            .and_then(|()| lock.rewind().map(|_| ()))
            .and_then(|()| writeln!(lock, "{}", std::process::id()))
        {
            eprintln!("paneherd: cannot write the daemon's pid into {}: {e}", path.display());
        }
        // Where clients find this daemon, whatever their environment (`Paths::from_env`).
        let runtime = std::fs::canonicalize(&paths.runtime).unwrap_or(paths.runtime.clone());
        let record = paths.daemon_runtime();
        let tmp = record.with_extension("tmp");
        let written = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .and_then(|mut f| writeln!(f, "{}", runtime.display()))
            .and_then(|()| std::fs::rename(&tmp, &record));
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            eprintln!("paneherd: cannot write {}: {e}", record.display());
        }
        Ok(DaemonLock { _lock: lock })
    }
}

/// Whether the process named in a lock file runs (a zombie, exiting, does not).
fn holder_alive(pid: &str) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => !s.rsplit(')').next().unwrap_or("").trim_start().starts_with('Z'),
        Err(_) => false,
    }
}

/// Starts logging to `<data>/logs/paneherd.log` (filter from `PANEHERD_LOG`, default info).
pub fn init_logging(paths: &Paths) -> Option<tracing_appender::non_blocking::WorkerGuard> {
    let dir = paths.log_dir();
    crate::paths::private_dir(&dir).ok()?;
    // Made private before the appender opens it (it would make it 0644).
    crate::paths::append_private(&dir.join("paneherd.log")).ok()?;
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
    match crate::paths::tighten_data_dir(&paths.data) {
        Ok(0) => {}
        Ok(n) => tracing::warn!(
            changed = n,
            dir = %paths.data.display(),
            "the data dir was readable by others: made it and its files private (0700/0600)"
        ),
        Err(e) => tracing::warn!(error = %e, "cannot make the data dir private"),
    }
    let loaded = Config::load(&paths.config).map_err(|e| anyhow::anyhow!("{e}"))?;
    // One thread: the daemon's work is many small messages, which a single thread passes on
    // without waking another (blocking file work goes to tokio's blocking pool, the store's
    // writes to its own thread).
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .event_interval(EVENT_INTERVAL)
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(serve(paths, loaded))
}

/// How many tasks the loop's thread runs before it looks for new I/O (tokio's default is 61):
/// during a burst of submissions the run queue is never empty, and a read that arrives (a
/// `list`) is noticed only at the next look.
const EVENT_INTERVAL: u32 = 8;

/// The real world the engine lives in: random ids, the file system, `PATH`.
#[derive(Default)]
struct RealWorld {
    /// The last program found, and when: a task is looked up when it is submitted and again
    /// when it starts, most often in the same moment; one search of the `PATH` serves both.
    found: std::cell::RefCell<Option<Found>>,
}

struct Found {
    at: std::time::Instant,
    program: String,
    path: Option<String>,
    cwd: std::path::PathBuf,
    exe: std::path::PathBuf,
}

/// How long a program found on the `PATH` is taken as still there without looking again.
const FOUND_FOR: std::time::Duration = std::time::Duration::from_millis(100);

impl World for RealWorld {
    fn task_id(&mut self, taken: &dyn Fn(&str) -> bool) -> String {
        crate::core::ids::fresh_id(taken)
    }
    fn session_id(&mut self) -> String {
        uuid::Uuid::new_v4().to_string()
    }
    fn secret(&mut self) -> String {
        uuid::Uuid::new_v4().simple().to_string()
    }
    fn is_dir(&self, path: &std::path::Path) -> bool {
        path.is_dir()
    }
    fn exists(&self, path: &std::path::Path) -> bool {
        path.exists()
    }
    fn find_program(
        &self,
        program: &str,
        path: Option<&str>,
        cwd: &std::path::Path,
    ) -> Result<std::path::PathBuf, crate::core::launch::LocateError> {
        let now = std::time::Instant::now();
        if let Some(f) = self.found.borrow().as_ref()
            && now.duration_since(f.at) < FOUND_FOR
            && f.program == program
            && f.path.as_deref() == path
            && f.cwd == cwd
        {
            return Ok(f.exe.clone());
        }
        let exe = crate::runner::locate(program, path, cwd)?;
        *self.found.borrow_mut() = Some(Found {
            at: now,
            program: program.to_string(),
            path: path.map(str::to_string),
            cwd: cwd.to_path_buf(),
            exe: exe.clone(),
        });
        Ok(exe)
    }
}

async fn serve(paths: Paths, loaded: crate::config::Loaded) -> Result<()> {
    let store = Store::open(&paths.tasks_dir())?;
    let history = store.load_all()?;
    for p in &history.problems {
        tracing::warn!(problem = %p, "skipping unreadable task file");
    }
    // What `{paneherd}` in agents' commands runs: the program users run.
    // The open-file limit decides how many connections and tasks the daemon takes at once.
    let open_files = capacity::raise_open_files();
    let connections = capacity::connection_cap(open_files);
    let setup = Setup {
        max_tasks: Some(capacity::task_cap(open_files, connections)),
        exe: crate::paths::front_exe(),
        tasks_dir: paths.tasks_dir(),
        socket: paths.socket(),
        pid: std::process::id(),
        data_dir: paths.data.clone(),
        started_at: timefmt::now(),
        path: std::env::var("PATH").ok(),
        home: std::env::var_os("HOME").map(std::path::PathBuf::from),
        user: (nix::unistd::getuid().as_raw(), nix::unistd::getgid().as_raw()),
        confinement: std::sync::Arc::new(crate::core::launch::Unconfined),
    };
    let config = std::sync::Arc::new(loaded.config.clone());
    let (engine, first) =
        Engine::new(setup, Box::new(RealWorld::default()), loaded, history, timefmt::now());
    let (hub, inbox, config_tx) = hub::channel(store.clone(), config, paths.runtime.clone());
    let (stopped_tx, mut stopped) = tokio::sync::watch::channel(false);
    // tmux's hooks and the pane fallback run internal commands: the whole program, directly
    // (the small `paneherd` would only exec it).
    let internal = crate::paths::internal_exe();
    let to_loop = {
        let (hub, store) = (hub.clone(), hub.store.clone());
        pane_jobs::Reporter { send: std::sync::Arc::new(move |i| hub.input(i)), store }
    };
    let panes = pane_jobs::start(to_loop, internal, paths.socket());
    let fire = hub.clone();
    let components = hub::Components {
        writer: Writer::start(store)?,
        place: Box::new(crate::runner::place::Local::default()),
        panes: panes.clone(),
        timers: timers::Timers::start(move |i| fire.input(i)),
        notify_test: notifier::start(hub.clone(), paths.data.clone()),
        hosts: {
            let h = hub.clone();
            hosts::Hosts::new(paths.runtime.clone(), hub.hosts.clone(), move |i| h.input(i))
        },
        stopped: stopped_tx,
    };
    let writer = components.writer.clone();
    tokio::spawn(hub::run(engine, first, hub.clone(), inbox, config_tx, components));
    config_watch::spawn(hub.clone(), paths.config.clone());

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

    let gate = capacity::Gate::new(connections);
    let welcome = std::sync::Arc::new(crate::proto::Welcome {
        protocol: crate::proto::PROTOCOL_VERSION,
        version: env!("CARGO_PKG_VERSION").into(),
        pid: std::process::id(),
        data_dir: Some(std::fs::canonicalize(&paths.data).unwrap_or(paths.data.clone())),
        home: std::env::var_os("HOME").map(std::path::PathBuf::from),
    });
    let mut term = signal(SignalKind::terminate()).context("cannot watch SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot watch SIGINT")?;
    let mut hup = signal(SignalKind::hangup()).context("cannot watch SIGHUP")?;
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => match gate.enter() {
                    Some(ticket) => {
                        let (hub, welcome) = (hub.clone(), welcome.clone());
                        tokio::spawn(async move {
                            connection::serve(hub, stream, &welcome).await;
                            drop(ticket);
                        });
                    }
                    None => {
                        tokio::spawn(connection::refuse_busy(stream, gate.cap()));
                    }
                },
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            _ = term.recv() => { tracing::info!("SIGTERM"); break; }
            _ = int.recv() => { tracing::info!("SIGINT"); break; }
            _ = hup.recv() => { tracing::info!("SIGHUP ignored"); }
            _ = stopped.changed() => { tracing::info!("shutdown requested"); break; }
        }
    }
    drop(listener);
    let _ = std::fs::remove_file(&sock);
    // Stop what runs (recorded as cancelled); what waits stays queued on disk.
    hub.input(Input::Shutdown);
    let deadline = KILL_GRACE + Duration::from_secs(3);
    if tokio::time::timeout(deadline, async {
        while !*stopped.borrow() {
            if stopped.changed().await.is_err() {
                break;
            }
        }
    })
    .await
    .is_err()
    {
        tracing::warn!("tasks still running at shutdown");
    }
    let (done, gone) = tokio::sync::oneshot::channel();
    let _ = panes.send(pane_jobs::Job::Shutdown { done });
    let _ = tokio::time::timeout(Duration::from_secs(5), gone).await;
    if let Err(e) = writer.barrier().await {
        tracing::error!(error = %e, "cannot flush the task files");
    }
    tracing::info!("daemon stopped");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_program_found_is_found_again_only_on_the_same_path() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        for dir in [a.path(), b.path()] {
            let exe = dir.join("tool");
            std::fs::write(&exe, "#!/bin/sh\n").unwrap();
            std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let world = RealWorld::default();
        let cwd = std::path::Path::new("/");
        let pa = a.path().to_str().unwrap();
        let pb = b.path().to_str().unwrap();
        assert_eq!(world.find_program("tool", Some(pa), cwd).unwrap(), a.path().join("tool"));
        assert_eq!(world.find_program("tool", Some(pb), cwd).unwrap(), b.path().join("tool"));
        assert!(world.find_program("other", Some(pb), cwd).is_err());
        // Gone since: the last answer served only the same question, moments later.
        std::fs::remove_file(b.path().join("tool")).unwrap();
        assert_eq!(world.find_program("tool", Some(pb), cwd).unwrap(), b.path().join("tool"));
        std::thread::sleep(FOUND_FOR);
        assert!(world.find_program("tool", Some(pb), cwd).is_err());
    }
}
