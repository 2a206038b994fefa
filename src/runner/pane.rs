//! The two small programs that run inside tmux for a pane task (hidden subcommands of this
//! binary). `pane-run` is the pane's process: it asks the daemon what to run, runs it on the
//! pane's terminal (so interactive agents work), and reports the exit status the moment the
//! agent ends. `pane-log` receives the pane's output from `pipe-pane`, appends it to the task's
//! log, and tells the daemon there was output (a few times a second at most).

use std::io::{Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::client::Client;
use crate::proto::{PaneLaunch, Request};

/// How often a wrapper tries the daemon again when it is away (restarting).
const RETRY: Duration = Duration::from_millis(250);

async fn connect(socket: &Path) -> Result<Client> {
    loop {
        match Client::connect_socket(socket).await {
            Ok(c) => return Ok(c),
            Err(e) => {
                tracing::debug!(error = %e, "daemon not reachable yet");
                tokio::time::sleep(RETRY).await;
            }
        }
    }
}

/// `paneherd pane-run`: runs task `task_id`'s agent in this pane. Returns the exit code.
pub fn run_wrapper(socket: &Path, task_id: &str) -> i32 {
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("paneherd: {e}");
            return 1;
        }
    };
    match rt.block_on(wrapper(socket, task_id)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("paneherd: {e:#}");
            // Keep the pane (and the message) until the daemon closes it.
            std::thread::sleep(Duration::from_secs(3600));
            1
        }
    }
}

async fn wrapper(socket: &Path, task_id: &str) -> Result<i32> {
    let mut client = connect(socket).await?;
    let launch: PaneLaunch = client
        .request(Request::PaneAttach { task_id: task_id.to_string() })
        .await
        .context("the daemon did not hand over the task")?;
    let program = launch.argv.first().context("empty command")?;
    let mut cmd = std::process::Command::new(program);
    cmd.args(&launch.argv[1..]).current_dir(&launch.cwd);
    if launch.clear_env {
        cmd.env_clear();
    }
    cmd.envs(launch.env.iter().map(|(k, v)| (k, v)));
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            let hint = if e.kind() == std::io::ErrorKind::NotFound {
                " (is it installed and on PATH?)"
            } else {
                ""
            };
            println!("paneherd: cannot start {program:?}: {e}{hint}");
            let req =
                Request::PaneExited { task_id: task_id.to_string(), code: Some(127), signal: None };
            let _ = client.request_raw(req).await;
            loop {
                tokio::time::sleep(Duration::from_secs(3600)).await;
            }
        }
    };
    let wait = tokio::task::spawn_blocking(move || child.wait());
    tokio::pin!(wait);
    let status = loop {
        tokio::select! {
            s = &mut wait => break s,
            ev = client.next_event() => {
                if !matches!(ev, Ok(Some(_))) {
                    // The daemon went away (a restart): report in to the next one, which
                    // re-adopts this task.
                    client = connect(socket).await?;
                    let _ = client.request_raw(Request::PaneAttach { task_id: task_id.to_string() }).await;
                }
            }
        }
    };
    use std::os::unix::process::ExitStatusExt;
    let (code, signal) = match status {
        Ok(Ok(s)) => (s.code(), s.signal()),
        _ => (None, None),
    };
    // Tell the daemon, through a restart if need be.
    loop {
        let req = Request::PaneExited { task_id: task_id.to_string(), code, signal };
        match client.request_raw(req).await {
            Ok(_) => break,
            Err(_) => {
                tokio::time::sleep(RETRY).await;
                client = connect(socket).await?;
                // A new daemon re-adopts the task when it hears from us.
                let _ =
                    client.request_raw(Request::PaneAttach { task_id: task_id.to_string() }).await;
            }
        }
    }
    let how = match (code, signal) {
        (Some(0), _) => "completed".to_string(),
        (Some(c), _) => format!("exit code {c}"),
        (None, Some(s)) => format!("signal {s}"),
        _ => "ended".into(),
    };
    println!("\n\x1b[2m── paneherd: task {task_id} {how} ──\x1b[0m");
    let _ = std::io::stdout().flush();
    // The daemon closes the pane when it is time; until then, keep it (and its output) on screen.
    loop {
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
}

/// `paneherd pane-log`: appends standard input to `log` and reports output to the daemon.
pub fn run_log_copier(socket: &Path, task_id: &str, log: &Path) -> i32 {
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(_) => return 1,
    };
    let mut file = match std::fs::OpenOptions::new().create(true).append(true).open(log) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("paneherd: cannot open {}: {e}", log.display());
            return 1;
        }
    };
    let mut client = rt.block_on(Client::connect_socket(socket)).ok();
    let mut stdin = std::io::stdin().lock();
    let mut buf = vec![0u8; 64 * 1024];
    let mut pending: u64 = 0;
    let mut last = Instant::now() - Duration::from_secs(1);
    loop {
        let n = match stdin.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let _ = file.write_all(&buf[..n]);
        pending += n as u64;
        if last.elapsed() >= Duration::from_millis(200) {
            if let Some(c) = client.as_mut() {
                let req = Request::PaneOutput { task_id: task_id.to_string(), bytes: pending };
                if rt.block_on(c.request_raw(req)).is_err() {
                    client = rt.block_on(Client::connect_socket(socket)).ok();
                }
            } else {
                client = rt.block_on(Client::connect_socket(socket)).ok();
            }
            pending = 0;
            last = Instant::now();
        }
    }
    0
}
