//! Pane benchmarks, against a private tmux server and the real binary:
//!
//! 1. From a pane agent's exit to its terminal state persisted and announced, 100 tasks
//!    (target p99 ≤ 50 ms; the peers poll every 0.5–3 s).
//! 2. 16 agents submitted at once into one window: time until all 16 run in panes
//!    (target ≤ 1 s).
//! 3. 20 quiet running pane agents for 60 s: the daemon's CPU time (target ≤ 0.3 s).
//!    `PANEHERD_BENCH_QUIET_SECS` shortens the wait.
//!
//! `cargo bench --bench panes`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use paneherd::client::Client;
use paneherd::core::task::{Task, TaskSpec, TaskStatus, TmuxOrigin};
use paneherd::paths::Paths;
use paneherd::proto::{Event, Request, ask};

const BIN: &str = env!("CARGO_BIN_EXE_paneherd");

struct Setup {
    dir: tempfile::TempDir,
    paths: Paths,
    sock: PathBuf,
}

impl Setup {
    fn new(w: u16, h: u16) -> Setup {
        let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
        let paths = Paths {
            config: dir.path().join("config.toml"),
            data: dir.path().join("data"),
            runtime: dir.path().join("rt"),
        };
        std::fs::write(&paths.config, "[concurrency]\ndefault = 0\n[tmux]\nclose_after_secs = 0\n")
            .unwrap();
        let sock = dir.path().join("tmux.sock");
        let ok = Command::new("tmux")
            .arg("-S")
            .arg(&sock)
            .args([
                "-f",
                "/dev/null",
                "new-session",
                "-d",
                "-x",
                &w.to_string(),
                "-y",
                &h.to_string(),
                "sh",
            ])
            .status()
            .unwrap()
            .success();
        assert!(ok);
        let s = Setup { dir, paths, sock };
        let ok = s.cmd(&["list"]).stdout(Stdio::null()).status().unwrap().success();
        assert!(ok, "daemon did not start");
        s
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.args(args)
            .env("PANEHERD_CONFIG", &self.paths.config)
            .env("PANEHERD_DATA_DIR", &self.paths.data)
            .env("PANEHERD_RUNTIME_DIR", &self.paths.runtime);
        c
    }

    fn spec(&self, prompt: &str) -> TaskSpec {
        TaskSpec {
            prompt: prompt.into(),
            agent: Some("shell".into()),
            client_cwd: Some(self.dir.path().to_path_buf()),
            tmux: Some(TmuxOrigin { socket: self.sock.clone(), pane: "%0".into() }),
            ..Default::default()
        }
    }

    fn daemon_pid(&self) -> u32 {
        std::fs::read_to_string(self.paths.daemon_lock()).unwrap().trim().parse().unwrap()
    }

    fn tmux_panes(&self) -> usize {
        let out = Command::new("tmux")
            .arg("-S")
            .arg(&self.sock)
            .args(["list-panes", "-a"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).lines().count()
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        let _ = self.cmd(&["cancel", "--all"]).stdout(Stdio::null()).stderr(Stdio::null()).status();
        let _ = self.cmd(&["daemon", "stop"]).stdout(Stdio::null()).stderr(Stdio::null()).status();
        let _ = Command::new("tmux").arg("-S").arg(&self.sock).arg("kill-server").status();
    }
}

fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0)
        + f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0.0);
    ticks / 100.0
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    sorted[(((sorted.len() - 1) as f64) * p).round() as usize]
}

async fn exit_latency() -> (f64, f64, f64) {
    let s = Setup::new(240, 60);
    let mut c = Client::connect(&s.paths, false).await.unwrap();
    let mut ev = Client::connect(&s.paths, false).await.unwrap();
    ev.subscribe().await.unwrap();
    let mut lat = vec![];
    let stamp = s.dir.path().join("stamp");
    for _ in 0..100 {
        // The agent writes the time to a file and exits at once.
        let prompt = format!("date +%s%N > {}", stamp.display());
        let t: Task = c.ask(ask::Submit { spec: Box::new(s.spec(&prompt)) }).await.unwrap();
        let got = loop {
            match ev.next_event().await.unwrap() {
                Some(Event::TaskChanged { task })
                    if task.id == t.id && task.status.is_terminal() =>
                {
                    assert_eq!(task.status, TaskStatus::Completed);
                    assert!(task.pane_id.is_some(), "ran in a pane");
                    break SystemTime::now();
                }
                Some(_) => {}
                None => panic!("daemon went away"),
            }
        };
        let exit_ns: f64 = std::fs::read_to_string(&stamp).unwrap().trim().parse().unwrap();
        let got_ns = got.duration_since(UNIX_EPOCH).unwrap().as_nanos() as f64;
        lat.push((got_ns - exit_ns) / 1e6);
    }
    lat.sort_by(|a, b| a.total_cmp(b));
    (pct(&lat, 0.5), pct(&lat, 0.99), lat[lat.len() - 1])
}

async fn spawn_16() -> f64 {
    let s = Setup::new(240, 60);
    let mut c = Client::connect(&s.paths, false).await.unwrap();
    let mut ev = Client::connect(&s.paths, false).await.unwrap();
    ev.subscribe().await.unwrap();
    let t0 = Instant::now();
    let reqs = (0..16).map(|_| Request::Submit { spec: Box::new(s.spec("sleep 30")) }).collect();
    let replies = c.request_many(reqs).await.unwrap();
    assert!(replies.iter().all(|r| r.is_ok()));
    let mut running = std::collections::HashSet::new();
    while running.len() < 16 {
        if let Some(Event::TaskChanged { task }) = ev.next_event().await.unwrap()
            && task.status == TaskStatus::Running
        {
            running.insert(task.id.clone());
        }
    }
    let dt = t0.elapsed().as_secs_f64();
    assert_eq!(s.tmux_panes(), 17, "16 agent panes and the main pane");
    dt
}

async fn quiet_cpu(secs: u64) -> f64 {
    let s = Setup::new(240, 60);
    let mut c = Client::connect(&s.paths, false).await.unwrap();
    let reqs = (0..20).map(|_| Request::Submit { spec: Box::new(s.spec("sleep 3600")) }).collect();
    c.request_many(reqs).await.unwrap();
    while s.tmux_panes() < 21 {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let pid = s.daemon_pid();
    let before = cpu_secs(pid);
    tokio::time::sleep(Duration::from_secs(secs)).await;
    cpu_secs(pid) - before
}

/// The dashboard idle with 20 quiet running agents: its CPU time over `secs`.
async fn dashboard_idle_cpu(secs: u64) -> f64 {
    let s = Setup::new(200, 50);
    let ui = Command::new("tmux")
        .arg("-S")
        .arg(&s.sock)
        .args(["new-window", "-d", "-P", "-F", "#{pane_pid}"])
        .arg("-e")
        .arg(format!("PANEHERD_CONFIG={}", s.paths.config.display()))
        .arg("-e")
        .arg(format!("PANEHERD_DATA_DIR={}", s.paths.data.display()))
        .arg("-e")
        .arg(format!("PANEHERD_RUNTIME_DIR={}", s.paths.runtime.display()))
        .arg(format!("exec {BIN} ui"))
        .output()
        .unwrap();
    let pid: u32 = String::from_utf8_lossy(&ui.stdout).trim().parse().unwrap();
    let mut c = Client::connect(&s.paths, false).await.unwrap();
    let reqs = (0..20).map(|_| Request::Submit { spec: Box::new(s.spec("sleep 3600")) }).collect();
    c.request_many(reqs).await.unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = cpu_secs(pid);
    tokio::time::sleep(Duration::from_secs(secs)).await;
    cpu_secs(pid) - before
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    if Command::new("tmux").arg("-V").output().is_err() {
        println!("panes bench: tmux is not installed");
        return;
    }
    let _ = Path::new(BIN);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let (p50, p99, max) = exit_latency().await;
        let ok = if p99 <= 50.0 { "ok" } else { "MISSED" };
        println!("pane exit → persisted + event, 100 tasks: p50 {p50:.1} ms, p99 {p99:.1} ms (target ≤ 50) {ok}, max {max:.1} ms");
        let dt = spawn_16().await;
        let ok = if dt <= 1.0 { "ok" } else { "MISSED" };
        println!("16 agents into panes: all running after {:.0} ms (target ≤ 1000) {ok}", dt * 1000.0);
        let secs: u64 = std::env::var("PANEHERD_BENCH_QUIET_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(60);
        let cpu = quiet_cpu(secs).await;
        let ok = if cpu <= 0.3 * secs as f64 / 60.0 { "ok" } else { "MISSED" };
        println!("20 quiet pane agents for {secs} s: daemon CPU {cpu:.2} s (target ≤ 0.3 s per 60 s) {ok}");
        let cpu = dashboard_idle_cpu(secs).await;
        let ok = if cpu <= 0.2 * secs as f64 / 60.0 { "ok" } else { "MISSED" };
        println!("dashboard idle with 20 quiet agents for {secs} s: its CPU {cpu:.2} s (target ≤ 0.2 s per 60 s) {ok}");
    });
}
