//! What watching agents costs, everything counted: a private tmux server started inside a cgroup
//! of its own (cgroup v2; without one, the CPU of the server's and the daemon's process trees is
//! summed from `/proc`, and the report says so), the dashboard (`paneherd ui`) in its first pane,
//! the daemon it starts, and N agents in panes beside it — quiet, or printing a line a second
//! (`bash`'s `read -t` as the clock: an agent starts no process per line). After a settling
//! pause it measures one window and prints:
//!
//! - CPU seconds per component (tmux server, dashboard, daemon, pane helpers, agents) and for
//!   the whole cgroup; processes started (the kernel's counter);
//! - memory (PSS) per process of each kind;
//! - that no line was lost (every agent's log holds its lines in order);
//! - a task's exit → its row shown finished on the dashboard, and a key → the next frame,
//!   each beside the `capture-pane` floor (how long one look at the screen takes).
//!
//! `cargo bench --bench activity`. `PANEHERD_BENCH_AGENTS` (default `20,100`),
//! `PANEHERD_BENCH_MODES` (`quiet,active`), `PANEHERD_BENCH_SECS` (window, 60) and
//! `PANEHERD_BENCH_SETTLE` (10) change the runs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use paneherd::client::Client;
use paneherd::core::task::{Task, TaskSpec, TaskStatus, TmuxOrigin};
use paneherd::paths::Paths;
use paneherd::proto::{ListFilter, Request, ask};

const BIN: &str = env!("CARGO_BIN_EXE_paneherd");
const WIDTH: u16 = 200;
const HEIGHT: u16 = 50;

/// The agents: `ticker` prints `line N` every `{prompt}` seconds without starting a process.
const CONFIG: &str = r#"
[concurrency]
default = 0
[tmux]
close_after_secs = 0
[agents.ticker]
command = ["bash", "-c", "exec {{fd}}<> <(:); i=0; while :; do i=$((i+1)); echo \"line $i\"; read -t \"$0\" -u $fd; done", "{prompt}"]
"#;

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Where the CPU of the run is counted.
enum Meter {
    /// A cgroup v2 directory holding every process of the run.
    Cgroup(PathBuf),
    /// No writable cgroup: process trees from `/proc`.
    Proc,
}

impl Meter {
    fn new(tag: &str) -> Meter {
        for root in ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"] {
            let is_v2 = Path::new(root).join("cgroup.procs").exists()
                && Path::new(root).join("cgroup.controllers").exists();
            let dir = Path::new(root).join(format!("paneherd-bench-{}-{tag}", std::process::id()));
            if is_v2 && std::fs::create_dir(&dir).is_ok() {
                return Meter::Cgroup(dir);
            }
        }
        Meter::Proc
    }

    fn describe(&self) -> String {
        match self {
            Meter::Cgroup(d) => format!("cgroup v2 {}", d.display()),
            Meter::Proc => "no writable cgroup v2: /proc process trees".into(),
        }
    }

    /// A command run inside the cgroup (its children stay there).
    fn wrap(&self, argv: &[String]) -> Command {
        match self {
            Meter::Cgroup(d) => {
                let mut c = Command::new("sh");
                c.arg("-c")
                    .arg("echo $$ > \"$0\" && exec \"$@\"")
                    .arg(d.join("cgroup.procs"))
                    .args(argv);
                c
            }
            Meter::Proc => {
                let mut c = Command::new(&argv[0]);
                c.args(&argv[1..]);
                c
            }
        }
    }

    /// CPU seconds used so far by the whole cgroup.
    fn total(&self) -> Option<f64> {
        let Meter::Cgroup(d) = self else { return None };
        let stat = std::fs::read_to_string(d.join("cpu.stat")).ok()?;
        let usec: f64 = stat.lines().find_map(|l| l.strip_prefix("usage_usec "))?.parse().ok()?;
        Some(usec / 1e6)
    }

    /// The processes of the run.
    fn pids(&self, roots: &[u32]) -> Vec<u32> {
        match self {
            Meter::Cgroup(d) => std::fs::read_to_string(d.join("cgroup.procs"))
                .unwrap_or_default()
                .lines()
                .filter_map(|l| l.trim().parse().ok())
                .collect(),
            Meter::Proc => descendants(roots),
        }
    }
}

impl Drop for Meter {
    fn drop(&mut self) {
        if let Meter::Cgroup(d) = self {
            let _ = std::fs::write(d.join("cgroup.kill"), "1");
            for _ in 0..50 {
                if std::fs::remove_dir(d.as_path()).is_ok() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.rsplit_once(')')?.1;
    Some(after.split_whitespace().map(str::to_string).collect())
}

/// `pid`'s CPU seconds, its reaped children's included.
fn cpu_of(pid: u32) -> f64 {
    let Some(f) = stat_fields(pid) else { return 0.0 };
    // After the name: state(0) ppid(1) … utime(11) stime(12) cutime(13) cstime(14).
    (11..=14).filter_map(|i| f.get(i)?.parse::<f64>().ok()).sum::<f64>() / 100.0
}

fn descendants(roots: &[u32]) -> Vec<u32> {
    let mut parent: Vec<(u32, u32)> = vec![];
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        if let Some(f) = stat_fields(pid)
            && let Some(ppid) = f.get(1).and_then(|p| p.parse().ok())
        {
            parent.push((pid, ppid));
        }
    }
    let mut out: Vec<u32> = roots.to_vec();
    let mut i = 0;
    while i < out.len() {
        let p = out[i];
        out.extend(parent.iter().filter(|(_, pp)| *pp == p).map(|(c, _)| *c));
        i += 1;
    }
    out
}

/// What a process of the run is.
fn kind(pid: u32) -> &'static str {
    let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let args: Vec<String> =
        cmd.split(|b| *b == 0).map(|a| String::from_utf8_lossy(a).into_owned()).collect();
    let prog = args.first().map(|a| a.rsplit('/').next().unwrap_or(a)).unwrap_or("");
    let has = |w: &str| args.iter().any(|a| a == w);
    if prog == "tmux" {
        "tmux server"
    } else if prog == "paneherd-pane" || (prog.starts_with("paneherd") && has("pane-run")) {
        "pane helpers"
    } else if prog.starts_with("paneherd") && has("daemon") {
        "daemon"
    } else if prog.starts_with("paneherd") && has("ui") {
        "dashboard"
    } else if prog == "sh" && args.iter().any(|a| a.contains("cgroup.procs")) {
        "tmux server"
    } else {
        "agents"
    }
}

fn pss_kb(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("Pss:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn processes_started() -> u64 {
    let s = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    s.lines().find_map(|l| l.strip_prefix("processes ")).and_then(|v| v.parse().ok()).unwrap_or(0)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() { f64::NAN } else { v[v.len() / 2] }
}

struct Run {
    dir: tempfile::TempDir,
    paths: Paths,
    sock: PathBuf,
    meter: Meter,
    tmux_pid: u32,
}

impl Run {
    fn start(tag: &str) -> Run {
        let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
        let paths = Paths {
            config: dir.path().join("config.toml"),
            data: dir.path().join("data"),
            runtime: dir.path().join("rt"),
        };
        std::fs::write(&paths.config, CONFIG).unwrap();
        let sock = dir.path().join("tmux.sock");
        let meter = Meter::new(tag);
        let mut argv: Vec<String> = vec!["tmux".into(), "-S".into()];
        argv.push(sock.display().to_string());
        for a in ["-f", "/dev/null", "new-session", "-d", "-x"] {
            argv.push(a.into());
        }
        argv.push(WIDTH.to_string());
        argv.push("-y".into());
        argv.push(HEIGHT.to_string());
        for (k, v) in [
            ("PANEHERD_CONFIG", &paths.config),
            ("PANEHERD_DATA_DIR", &paths.data),
            ("PANEHERD_RUNTIME_DIR", &paths.runtime),
            ("HOME", &dir.path().to_path_buf()),
        ] {
            argv.push("-e".into());
            argv.push(format!("{k}={}", v.display()));
        }
        argv.push(format!("exec {BIN} ui"));
        let ok = meter.wrap(&argv).env_remove("TMUX").status().unwrap().success();
        assert!(ok, "tmux did not start");
        let mut run = Run { dir, paths, sock, meter, tmux_pid: 0 };
        run.tmux_pid = run.tmux(&["display-message", "-p", "#{pid}"]).trim().parse().unwrap();
        // The dashboard starts the daemon; wait for both.
        let deadline = Instant::now() + Duration::from_secs(20);
        while !run.screen().contains("Pending") {
            assert!(Instant::now() < deadline, "the dashboard did not show: {}", run.screen());
            std::thread::sleep(Duration::from_millis(50));
        }
        run
    }

    fn tmux(&self, args: &[&str]) -> String {
        let out = Command::new("tmux").arg("-S").arg(&self.sock).args(args).output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The dashboard's screen.
    fn screen(&self) -> String {
        self.tmux(&["capture-pane", "-p", "-t", "%0"])
    }

    fn daemon_pid(&self) -> u32 {
        std::fs::read_to_string(self.paths.daemon_lock())
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0)
    }

    fn spec(&self, agent: &str, prompt: &str) -> TaskSpec {
        TaskSpec {
            prompt: prompt.into(),
            agent: Some(agent.into()),
            client_cwd: Some(self.dir.path().to_path_buf()),
            tmux: Some(TmuxOrigin { socket: self.sock.clone(), pane: "%0".into() }),
            ..Default::default()
        }
    }

    async fn running(&self, c: &mut Client) -> usize {
        let filter = ListFilter { status: vec![TaskStatus::Running], ..Default::default() };
        let tasks: Vec<Task> = c.ask(ask::List { filter }).await.unwrap();
        tasks.len()
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        let quiet = |c: &mut Command| {
            let _ = c.stdout(Stdio::null()).stderr(Stdio::null()).status();
        };
        let cmd = |args: &[&str]| {
            let mut c = Command::new(BIN);
            c.args(args)
                .env("PANEHERD_CONFIG", &self.paths.config)
                .env("PANEHERD_DATA_DIR", &self.paths.data)
                .env("PANEHERD_RUNTIME_DIR", &self.paths.runtime);
            c
        };
        quiet(&mut cmd(&["cancel", "--all"]));
        quiet(&mut cmd(&["daemon", "stop"]));
        quiet(Command::new("tmux").arg("-S").arg(&self.sock).arg("kill-server"));
    }
}

/// One window's figures.
struct Figures {
    cpu: BTreeMap<&'static str, f64>,
    whole: Option<f64>,
    started: u64,
    pss: BTreeMap<&'static str, (u64, usize)>,
    lines_ok: bool,
    exit_ms: f64,
    key_ms: f64,
    floor_ms: f64,
    /// Overflow windows, and the smallest pane in them.
    overflow: (usize, Option<(u16, u16)>),
}

async fn measure(n: usize, active: bool, secs: u64, settle: u64) -> (Figures, String) {
    let run = Run::start(&format!("{n}-{active}"));
    let mut c = Client::connect(&run.paths, false).await.unwrap();
    let interval = if active { "1" } else { "100000" };
    let reqs = (0..n).map(|_| Request::Submit { spec: Box::new(run.spec("ticker", interval)) });
    for r in c.request_many(reqs.collect()).await.unwrap() {
        r.unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while run.running(&mut c).await < n {
        assert!(Instant::now() < deadline, "the agents did not all start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(settle)).await;

    // The window.
    let roots = [run.tmux_pid, run.daemon_pid()];
    let before: BTreeMap<u32, f64> =
        run.meter.pids(&roots).into_iter().map(|p| (p, cpu_of(p))).collect();
    let whole_before = run.meter.total();
    let started_before = processes_started();
    tokio::time::sleep(Duration::from_secs(secs)).await;
    let started = processes_started() - started_before;
    let whole = run.meter.total().zip(whole_before).map(|(a, b)| a - b);
    let mut cpu: BTreeMap<&'static str, f64> = BTreeMap::new();
    let mut pss: BTreeMap<&'static str, (u64, usize)> = BTreeMap::new();
    for p in run.meter.pids(&roots) {
        let k = kind(p);
        let used = cpu_of(p) - before.get(&p).copied().unwrap_or(0.0);
        *cpu.entry(k).or_default() += used;
        let e = pss.entry(k).or_default();
        e.0 += pss_kb(p);
        e.1 += 1;
    }

    // The overflow windows and their smallest pane.
    let mut windows = std::collections::BTreeSet::new();
    let mut smallest: Option<(u16, u16)> = None;
    for l in run
        .tmux(&["list-panes", "-a", "-F", "#{window_name}\t#{pane_width}\t#{pane_height}"])
        .lines()
    {
        let f: Vec<&str> = l.split('\t').collect();
        if f.len() == 3 && f[0].starts_with("paneherd-agents") {
            windows.insert(f[0].to_string());
            let (w, h): (u16, u16) = (f[1].parse().unwrap_or(0), f[2].parse().unwrap_or(0));
            smallest = Some(smallest.map_or((w, h), |(a, b)| (a.min(w), b.min(h))));
        }
    }

    // Every line in the logs, in order.
    let tasks: Vec<Task> = c.ask(ask::List { filter: ListFilter::default() }).await.unwrap();
    let mut lines_ok = true;
    for t in tasks.iter().filter(|t| t.agent == "ticker") {
        let log = std::fs::read_to_string(run.paths.tasks_dir().join(format!("{}.log", t.id)))
            .unwrap_or_default();
        let got: Vec<&str> = log.lines().collect();
        let want: Vec<String> = (1..=got.len()).map(|i| format!("line {i}")).collect();
        if got.is_empty() || got.iter().zip(&want).any(|(g, w)| g.trim_end() != w) {
            lines_ok = false;
        }
    }

    // One look at the screen: the floor of the latencies below.
    let floor_ms = median(
        (0..20)
            .map(|_| {
                let t = Instant::now();
                run.screen();
                t.elapsed().as_secs_f64() * 1000.0
            })
            .collect(),
    );
    // A key → the next frame: the selection (`›`) moves.
    let marker = |screen: &str| screen.lines().position(|l| l.contains('›'));
    let mut keys = vec![];
    for i in 0..10 {
        let before = marker(&run.screen());
        let key = if i % 2 == 0 { "j" } else { "k" };
        let t = Instant::now();
        run.tmux(&["send-keys", "-t", "%0", key]);
        while marker(&run.screen()) == before && t.elapsed() < Duration::from_secs(2) {}
        keys.push(t.elapsed().as_secs_f64() * 1000.0);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // A task's exit → its row shown finished (the list filtered to it, so that it is in view
    // however many agents run).
    let mut exits = vec![];
    for i in 0..5 {
        let fifo = run.dir.path().join(format!("go-{i}"));
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        let prompt = format!("read x < {}", fifo.display());
        let t: Task =
            c.ask(ask::Submit { spec: Box::new(run.spec("shell", &prompt)) }).await.unwrap();
        run.tmux(&["send-keys", "-t", "%0", "/"]);
        run.tmux(&["send-keys", "-t", "%0", "-l", &t.id]);
        run.tmux(&["send-keys", "-t", "%0", "Enter"]);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !run.screen().lines().any(|l| l.contains(&t.id) && l.contains("running")) {
            assert!(Instant::now() < deadline, "probe {} not shown running", t.id);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let start = Instant::now();
        std::fs::OpenOptions::new().write(true).open(&fifo).unwrap().write_all(b"\n").unwrap();
        while !run.screen().lines().any(|l| l.contains(&t.id) && l.contains("completed")) {
            assert!(start.elapsed() < Duration::from_secs(10), "probe {} not shown ended", t.id);
        }
        exits.push(start.elapsed().as_secs_f64() * 1000.0);
        run.tmux(&["send-keys", "-t", "%0", "Escape"]);
    }
    let how = run.meter.describe();
    let f = Figures {
        cpu,
        whole,
        started,
        pss,
        lines_ok,
        exit_ms: median(exits),
        key_ms: median(keys),
        floor_ms,
        overflow: (windows.len(), smallest),
    };
    (f, how)
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    if Command::new("tmux").arg("-V").output().is_err()
        || Command::new("bash").arg("-c").arg(":").status().is_err()
    {
        println!("activity bench: needs tmux and bash");
        return;
    }
    let counts: Vec<usize> = std::env::var("PANEHERD_BENCH_AGENTS")
        .unwrap_or_else(|_| "20,100".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let modes = std::env::var("PANEHERD_BENCH_MODES").unwrap_or_else(|_| "quiet,active".into());
    let secs = env_num("PANEHERD_BENCH_SECS", 60);
    let settle = env_num("PANEHERD_BENCH_SETTLE", 10);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    for n in counts {
        for mode in modes.split(',').map(str::trim) {
            let active = mode == "active";
            let (f, how) = rt.block_on(measure(n, active, secs, settle));
            let ours: f64 = ["dashboard", "daemon", "pane helpers"]
                .iter()
                .map(|k| f.cpu.get(k).copied().unwrap_or(0.0))
                .sum();
            println!(
                "\n{n} agents, {}, {secs} s window after {settle} s ({how}, {WIDTH}×{HEIGHT}):",
                if active { "each printing a line a second" } else { "quiet" }
            );
            match f.whole {
                Some(w) => println!("  whole cgroup CPU {w:.2} s"),
                None => {
                    println!("  whole run CPU {:.2} s (process trees)", f.cpu.values().sum::<f64>())
                }
            }
            for (k, v) in &f.cpu {
                println!("  {k:<13} CPU {v:.2} s");
            }
            println!(
                "  paneherd's own (dashboard + daemon + helpers) {ours:.2} s = {:.2} % of one core",
                ours / secs as f64 * 100.0
            );
            println!(
                "  processes started {} ({:.0} per minute)",
                f.started,
                f.started as f64 * 60.0 / secs as f64
            );
            for (k, (kb, count)) in &f.pss {
                println!(
                    "  PSS {k:<13} {count:>3} × {:.2} MB",
                    *kb as f64 / 1024.0 / (*count).max(1) as f64
                );
            }
            println!(
                "  every line in the logs, in order: {}",
                if f.lines_ok { "yes" } else { "NO" }
            );
            match f.overflow {
                (n, Some((w, h))) if n > 0 => {
                    println!("  overflow windows: {n}, smallest pane {w}×{h}")
                }
                _ => println!("  overflow windows: none"),
            }
            println!(
                "  exit → shown on the dashboard: median {:.1} ms; key → frame: median {:.1} ms (one capture-pane: {:.1} ms)",
                f.exit_ms, f.key_ms, f.floor_ms
            );
        }
    }
}
