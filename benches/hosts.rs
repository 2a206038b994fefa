//! Tasks on a host over loopback SSH (the tests' private sshd, `tests/common/sshd.rs`, logging
//! in a second local user): from a host's task's exit to `paneherd wait` returning here
//! (target p50 ≤ 100 ms; a task of this machine measured the same way beside it), 100 tasks
//! started there against 100 here (target ≤ 2×), and what an idle connected host costs each
//! side (target ≤ 0.05 CPU s a minute). `cargo bench --bench hosts` (`PANEHERD_BENCH_ROUNDS`,
//! default 20; `PANEHERD_BENCH_IDLE_SECS`, default 60).

#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

#[path = "../tests/common/sshd.rs"]
mod sshd;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_paneherd");

pub fn pid_alive(pid: i64) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

struct Local {
    dir: tempfile::TempDir,
}

impl Local {
    fn paneherd(&self, args: &[&str]) -> String {
        let d = self.dir.path();
        let out = Command::new(BIN)
            .args(args)
            .env("PANEHERD_DATA_DIR", d.join("data"))
            .env("PANEHERD_RUNTIME_DIR", d.join("rt"))
            .env("PANEHERD_CONFIG", d.join("config.toml"))
            .env("HOME", d.join("home"))
            .env_remove("TMUX")
            .env("DBUS_SESSION_BUS_ADDRESS", format!("unix:path={}", d.join("no-bus").display()))
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn list(&self) -> Vec<Value> {
        serde_json::from_str::<Value>(&self.paneherd(&["list", "--json"]))
            .unwrap()
            .as_array()
            .unwrap()
            .clone()
    }

    fn daemon_pid(&self) -> i32 {
        std::fs::read_to_string(self.dir.path().join("data/daemon.lock"))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }
}

fn now_ns() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos()
}

/// From the task's own last word (the time it printed just before it exited) to `wait`
/// returning here, in ms.
fn exit_to_wait(l: &Local, host: Option<&str>) -> f64 {
    let mut args = vec!["run", "--agent", "shell"];
    if let Some(h) = host {
        args.extend(["--host", h]);
    }
    args.extend(["--", "sleep 0.3; date +%s%N"]);
    let id = l.paneherd(&args).trim().to_string();
    l.paneherd(&["wait", &id]);
    let back = now_ns();
    let out: Value = serde_json::from_str(&l.paneherd(&["output", &id, "--json"])).unwrap();
    let ended: u128 =
        out["result"].as_str().unwrap().trim().lines().last().unwrap().parse().unwrap();
    (back.saturating_sub(ended)) as f64 / 1e6
}

fn p50(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Seconds from the first of `n` submissions to all of them running.
fn start_many(l: &Local, n: usize, host: Option<&str>) -> f64 {
    let t = Instant::now();
    let mut ids = vec![];
    for _ in 0..n {
        let mut args = vec!["run", "--agent", "shell"];
        if let Some(h) = host {
            args.extend(["--host", h]);
        }
        args.extend(["--", "sleep 30"]);
        ids.push(l.paneherd(&args).trim().to_string());
    }
    loop {
        let list = l.list();
        let running = list
            .iter()
            .filter(|t| t["status"] == "running" && ids.iter().any(|i| t["id"] == i.as_str()))
            .count();
        if running == n {
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(120), "only {running} of {n} running");
        std::thread::sleep(Duration::from_millis(10));
    }
    let took = t.elapsed().as_secs_f64();
    l.paneherd(&["cancel", "--all"]);
    took
}

/// CPU seconds (user + system) a process has used.
fn cpu_secs(pid: i32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return 0.0 };
    let Some((_, rest)) = stat.rsplit_once(") ") else { return 0.0 };
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f[11].parse::<f64>().unwrap_or(0.0) + f[12].parse::<f64>().unwrap_or(0.0);
    ticks / 100.0
}

/// Every process whose parent chain leads to `root` (and `root`).
fn tree(root: i32) -> Vec<i32> {
    let mut all = vec![root];
    let mut i = 0;
    while i < all.len() {
        let parent = all[i];
        for e in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else { continue };
            let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else { continue };
            let Some((_, rest)) = stat.rsplit_once(") ") else { continue };
            let ppid: i32 =
                rest.split_whitespace().nth(1).and_then(|p| p.parse().ok()).unwrap_or(0);
            if ppid == parent && !all.contains(&pid) {
                all.push(pid);
            }
        }
        i += 1;
    }
    all
}

/// The sshd session processes serving `user` (theirs and their children: dial).
fn sessions_of(user: &str) -> Vec<i32> {
    let mut out = vec![];
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else { continue };
        let Ok(cmd) = std::fs::read(e.path().join("cmdline")) else { continue };
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        if cmd.starts_with(&format!("sshd: {user}")) {
            out.push(pid);
        }
    }
    out
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("hosts bench: run with `cargo bench --bench hosts`");
        return;
    }
    let rounds: usize =
        std::env::var("PANEHERD_BENCH_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(20);
    let idle: u64 =
        std::env::var("PANEHERD_BENCH_IDLE_SECS").ok().and_then(|v| v.parse().ok()).unwrap_or(60);
    let built = Path::new(BIN).parent().unwrap().to_path_buf();
    let Some(sshd) = sshd::Sshd::start(&[&built]) else { return };
    let l =
        Local { dir: tempfile::Builder::new().prefix("paneherd-bench-hosts").tempdir().unwrap() };
    std::fs::create_dir_all(l.dir.path().join("home")).unwrap();
    std::fs::write(
        l.dir.path().join("config.toml"),
        format!("[concurrency]\ndefault = 0\n\n{}", sshd.host_toml()),
    )
    .unwrap();
    // The host's own limits apply there too: none, for the bench.
    std::fs::write(sshd.home.join("config.toml"), "[concurrency]\ndefault = 0\n").unwrap();
    // Connected, and each side's daemon warm.
    exit_to_wait(&l, Some("box"));
    exit_to_wait(&l, None);

    let there: Vec<f64> = (0..rounds).map(|_| exit_to_wait(&l, Some("box"))).collect();
    let here: Vec<f64> = (0..rounds).map(|_| exit_to_wait(&l, None)).collect();
    println!(
        "exit → wait returns: host p50 {:.0} ms (max {:.0}), this machine p50 {:.0} ms (max {:.0}); {rounds} rounds each; target host p50 ≤ 100 ms",
        p50(there.clone()),
        there.iter().cloned().fold(0.0, f64::max),
        p50(here.clone()),
        here.iter().cloned().fold(0.0, f64::max),
    );

    let local = start_many(&l, 100, None);
    let remote = start_many(&l, 100, Some("box"));
    println!(
        "100 tasks running: host {remote:.2} s, this machine {local:.2} s ({:.2}×; target ≤ 2×)",
        remote / local
    );
    std::thread::sleep(Duration::from_secs(3));

    // Idle: nothing runs, the link stays up.
    let here_pids = tree(l.daemon_pid());
    let mut there_pids = sessions_of(&sshd.user).into_iter().flat_map(tree).collect::<Vec<_>>();
    if let Some(d) = sshd.remote_daemon() {
        there_pids.push(d);
    }
    there_pids.sort_unstable();
    there_pids.dedup();
    let sum = |p: &[i32]| p.iter().map(|p| cpu_secs(*p)).sum::<f64>();
    let (h0, t0) = (sum(&here_pids), sum(&there_pids));
    std::thread::sleep(Duration::from_secs(idle));
    let per_min = |d: f64| d * 60.0 / idle as f64;
    println!(
        "idle connected host, CPU s a minute: this side {:.3} (daemon and ssh, {} processes), there {:.3} (sshd session, dial, daemon, {} processes); target ≤ 0.05 each",
        per_min(sum(&here_pids) - h0),
        here_pids.len(),
        per_min(sum(&there_pids) - t0),
        there_pids.len(),
    );
    let _ = Command::new(BIN)
        .args(["daemon", "stop"])
        .env("PANEHERD_DATA_DIR", l.dir.path().join("data"))
        .env("PANEHERD_RUNTIME_DIR", l.dir.path().join("rt"))
        .env("PANEHERD_CONFIG", l.dir.path().join("config.toml"))
        .status();
}
