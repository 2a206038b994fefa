//! System benchmarks of the core engine, run against the real binary and socket, each compared
//! with its target (and, for throughput, with a baseline measured in the same run):
//!
//! 1. 500 `true` tasks through the `shell` agent at concurrency 8, all finished and persisted,
//!    vs `xargs -P8 -n1 sh -c true` on the same 500 (target ≤ 1.5×).
//! 2. `paneherd list --json` with 10,000 tasks in the history: median wall time of the whole
//!    command (target ≤ 20 ms); daemon RSS with that history (target ≤ 60 MB).
//! 3. From a child's exit to the persisted record and the event on a subscription, over 200
//!    tasks (target p99 ≤ 20 ms).
//! 4. Fairness: `paneherd list --json` (2,400 tasks in the history) while 32 clients submit 500
//!    tasks at once, against the same command idle: p50 during ≤ 5× p50 idle; `paneherd
//!    --version` measured alike, for the machine's own slowdown under that load.
//!
//! `PANEHERD_BENCH_ONLY=throughput` or `=fairness` runs only those.
//!
//! `cargo bench --bench engine` prints a table; the figures go into the README.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use paneherd::client::Client;
use paneherd::core::task::{Outcome, Task, TaskSpec, TaskStatus};
use paneherd::core::timefmt;
use paneherd::paths::Paths;
use paneherd::proto::{Event, ListFilter, Request, WaitData, ask};
use paneherd::store::Store;

const BIN: &str = env!("CARGO_BIN_EXE_paneherd");

struct Bench {
    _dir: tempfile::TempDir,
    paths: Paths,
}

/// Probe directories, removed when the benches are done (removing them at once would slow the
/// file creations that follow, see README).
static PROBES: std::sync::Mutex<Vec<tempfile::TempDir>> = std::sync::Mutex::new(Vec::new());

/// Microseconds to create one empty file in a fresh directory under `parent`.
fn create_cost_us(parent: &Path) -> f64 {
    let Ok(dir) = tempfile::tempdir_in(parent) else {
        return f64::INFINITY;
    };
    let t0 = Instant::now();
    for i in 0..200 {
        if std::fs::File::create(dir.path().join(format!("f{i}"))).is_err() {
            return f64::INFINITY;
        }
    }
    let us = t0.elapsed().as_secs_f64() * 1e6 / 200.0;
    if let Ok(mut p) = PROBES.lock() {
        p.push(dir);
    }
    us
}

/// Where the benches keep their data: cargo's scratch dir or the system temp dir, whichever
/// creates files faster right now. On an ext4 without a journal (this project's machines) a
/// directory whose block group saw many deletions recently creates files 10–20× slower.
fn scratch() -> &'static Path {
    static CHOSEN: std::sync::OnceLock<(PathBuf, f64)> = std::sync::OnceLock::new();
    &CHOSEN
        .get_or_init(|| {
            let candidates = [PathBuf::from(env!("CARGO_TARGET_TMPDIR")), std::env::temp_dir()];
            let best = candidates
                .into_iter()
                .map(|c| {
                    let cost = create_cost_us(&c);
                    (c, cost)
                })
                .min_by(|a, b| a.1.total_cmp(&b.1))
                .expect("candidates");
            println!("data under {} (creating a file there: {:.0} µs)", best.0.display(), best.1);
            best
        })
        .0
}

impl Bench {
    fn new(config: &str) -> Bench {
        let dir = tempfile::tempdir_in(scratch()).expect("tempdir");
        let paths = Paths {
            config: dir.path().join("config.toml"),
            data: dir.path().join("data"),
            runtime: dir.path().join("rt"),
        };
        std::fs::write(&paths.config, config).expect("config");
        Bench { _dir: dir, paths }
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.args(args)
            .env("PANEHERD_CONFIG", &self.paths.config)
            .env("PANEHERD_DATA_DIR", &self.paths.data)
            .env("PANEHERD_RUNTIME_DIR", &self.paths.runtime);
        c
    }

    fn start_daemon(&self) {
        let ok = self.cmd(&["list"]).stdout(Stdio::null()).status().expect("list").success();
        assert!(ok, "daemon did not start");
    }

    fn daemon_pid(&self) -> u32 {
        let s = std::fs::read_to_string(self.paths.daemon_lock()).expect("lock");
        s.trim().parse().expect("pid")
    }

    async fn client(&self) -> Client {
        // The bench process is not the paneherd binary: start the daemon through the binary.
        self.start_daemon();
        Client::connect(&self.paths, false).await.expect("connect")
    }
}

impl Drop for Bench {
    fn drop(&mut self) {
        let _ = self.cmd(&["daemon", "stop"]).stdout(Stdio::null()).stderr(Stdio::null()).status();
    }
}

fn spec(prompt: &str) -> TaskSpec {
    TaskSpec {
        prompt: prompt.into(),
        agent: Some("shell".into()),
        client_cwd: Some("/".into()),
        ..Default::default()
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn rss_mb(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

fn verdict(ok: bool) -> &'static str {
    if ok { "ok" } else { "MISSED" }
}

/// Lets the previous measurement's after-effects (writeback, exiting processes) settle.
async fn quiet() {
    let _ = Command::new("sync").status();
    tokio::time::sleep(Duration::from_millis(1500)).await;
}

/// `xargs -P8 -n1 sh -c true` over 500 lines: the baseline, in seconds.
fn xargs_baseline() -> f64 {
    use std::io::Write;
    let input: String = (0..500).map(|_| "true\n").collect();
    let t0 = Instant::now();
    let mut xargs = Command::new("xargs")
        .args(["-P8", "-n1", "sh", "-c"])
        .stdin(Stdio::piped())
        .spawn()
        .expect("xargs");
    xargs.stdin.take().expect("stdin").write_all(input.as_bytes()).expect("write");
    assert!(xargs.wait().expect("xargs").success());
    t0.elapsed().as_secs_f64()
}

/// 500 `true` tasks submitted one by one through the socket, until all have ended and are
/// persisted: (paneherd seconds, xargs seconds) for one round.
async fn throughput(keep: &mut Vec<Bench>, xargs_first: bool) -> (f64, f64) {
    let mut base = if xargs_first { xargs_baseline() } else { 0.0 };
    quiet().await;
    let b = Bench::new("[concurrency]\ndefault = 8\n");
    let mut c = b.client().await;
    let t0 = Instant::now();
    // All 500 sent at once, as xargs reads its 500 lines at once.
    let submits = (0..500).map(|_| Request::Submit { spec: Box::new(spec("true")) }).collect();
    let replies = c.request_many(submits).await.expect("submit");
    assert!(replies.iter().all(|r| r.is_ok()));
    let w: WaitData =
        c.ask(ask::Wait { ids: vec![], all: true, timeout_ms: Some(120_000) }).await.expect("wait");
    let ours = t0.elapsed().as_secs_f64();
    assert!(!w.timed_out);
    let tasks: Vec<Task> = c.ask(ask::List { filter: ListFilter::default() }).await.expect("list");
    assert_eq!(tasks.len(), 500);
    assert!(tasks.iter().all(|t| t.status == TaskStatus::Completed));
    let files = std::fs::read_dir(b.paths.tasks_dir()).expect("dir").filter(|e| {
        e.as_ref().map(|e| e.path().extension().is_some_and(|x| x == "md")).unwrap_or(false)
    });
    assert_eq!(files.count(), 500, "every task persisted");
    // Deleting its files now would slow the next round's file creation (see README).
    keep.push(b);
    if !xargs_first {
        quiet().await;
        base = xargs_baseline();
    }
    (ours, base)
}

/// Tiny tasks through the CLI: 200 `paneherd run --agent shell true`, eight at a time by
/// `xargs -P8` (one process per task, as a script would), then `paneherd wait --all`; against
/// `xargs -P8` running the same 200 `sh -c true` itself. (paneherd seconds, xargs seconds).
async fn tiny_cli(keep: &mut Vec<Bench>, xargs_first: bool) -> (f64, f64) {
    let baseline = || {
        let t0 = Instant::now();
        let ok = Command::new("sh")
            .arg("-c")
            .arg("seq 200 | xargs -P8 -I{} sh -c true")
            .status()
            .expect("xargs")
            .success();
        assert!(ok);
        t0.elapsed().as_secs_f64()
    };
    quiet().await;
    let mut base = if xargs_first { baseline() } else { 0.0 };
    quiet().await;
    let b = Bench::new("[concurrency]\ndefault = 8\n");
    b.start_daemon();
    let env = |c: &mut Command| {
        c.env("PANEHERD_CONFIG", &b.paths.config)
            .env("PANEHERD_DATA_DIR", &b.paths.data)
            .env("PANEHERD_RUNTIME_DIR", &b.paths.runtime);
    };
    let t0 = Instant::now();
    let mut x = Command::new("sh");
    x.arg("-c")
        .arg(format!(
            "seq 200 | xargs -P8 -I{{}} {BIN} run --agent shell true >/dev/null && {BIN} wait --all >/dev/null"
        ));
    env(&mut x);
    assert!(x.status().expect("xargs").success());
    let ours = t0.elapsed().as_secs_f64();
    let mut c = Client::connect(&b.paths, false).await.expect("connect");
    let tasks: Vec<Task> = c.ask(ask::List { filter: ListFilter::default() }).await.expect("list");
    assert_eq!(tasks.len(), 200);
    assert!(tasks.iter().all(|t| t.status == TaskStatus::Completed));
    keep.push(b);
    if !xargs_first {
        quiet().await;
        base = baseline();
    }
    (ours, base)
}

/// A delegated task's end → `paneherd hook claude` (the async-rewake PostToolUse hook that was
/// waiting for it) has exited with the notice, 50 tasks: (p50, p99, max) in ms.
async fn hook_latency() -> (f64, f64, f64) {
    use std::io::Write;
    let b = Bench::new("[concurrency]\ndefault = 8\n");
    let mut c = b.client().await;
    let stamp = b.paths.data.join("stamp");
    let delegator = paneherd::core::task::Delegator {
        id: "claude@1.1".into(),
        agent: "claude".into(),
        session: None,
    };
    let mut lat = vec![];
    for _ in 0..50 {
        let spec = TaskSpec {
            delegator: Some(delegator.clone()),
            ..spec(&format!("sleep 0.2; date +%s%N > {}", stamp.display()))
        };
        let t: Task = c.ask(ask::Submit { spec: Box::new(spec) }).await.expect("submit");
        let input = serde_json::json!({
            "session_id": "s", "transcript_path": "/t", "cwd": "/", "permission_mode": "default",
            "hook_event_name": "PostToolUse", "tool_name": "Bash",
            "tool_input": { "command": "paneherd run --agent shell x" },
            "tool_response": { "stdout": format!("{}\n", t.id), "stderr": "", "interrupted": false },
            "tool_use_id": "toolu_1"
        });
        let mut hook = b.cmd(&["hook", "claude"]);
        hook.env("PANEHERD_DELEGATOR", &delegator.id)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = hook.spawn().expect("hook");
        child.stdin.take().expect("stdin").write_all(input.to_string().as_bytes()).expect("input");
        let out = child.wait_with_output().expect("hook");
        let exited = SystemTime::now();
        assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
        let end_ns: f64 =
            std::fs::read_to_string(&stamp).expect("stamp").trim().parse().expect("ns");
        let exit_ns = exited.duration_since(UNIX_EPOCH).expect("time").as_nanos() as f64;
        lat.push((exit_ns - end_ns) / 1e6);
    }
    lat.sort_by(|a, b| a.total_cmp(b));
    (percentile(&lat, 0.5), percentile(&lat, 0.99), lat[lat.len() - 1])
}

fn synth_history(data: &Path, n: usize) {
    let store = Store::open(&data.join("tasks")).expect("store");
    let base = timefmt::now();
    for i in 0..n {
        let id = format!("hist-task-{i:05}");
        let created = base - chrono::Duration::seconds((n - i) as i64);
        let prompt = format!("Find every use of function_{i} in src/ and explain what it is for.");
        let mut t = Task::pending(
            &id,
            "claude",
            &prompt,
            PathBuf::from("/home/user/project"),
            store.log_path(&id),
            created,
        );
        t.title = format!("historical task number {i}");
        t.category = Some("quick".into());
        t.model = Some("anthropic/claude-haiku-4-5".into());
        t.start(1000 + i as u32, created).expect("start");
        t.finish(Outcome::Completed, created + chrono::Duration::seconds(5)).expect("finish");
        t.summary = Some(format!("function_{i} is used in 3 places: parsing, validation, output"));
        store.save(&t, Some("function is used in 3 places\n- a\n- b\n- c"), false).expect("save");
    }
}

async fn list_10k() -> (f64, f64, f64) {
    let b = Bench::new("");
    synth_history(&b.paths.data, 10_000);
    let t0 = Instant::now();
    b.start_daemon();
    let load = t0.elapsed().as_secs_f64();
    let mut times = Vec::new();
    for i in 0..40 {
        let t0 = Instant::now();
        let out = b.cmd(&["list", "--json"]).output().expect("list");
        let dt = t0.elapsed().as_secs_f64() * 1000.0;
        assert!(out.status.success());
        if i == 0 {
            let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
            assert_eq!(v.as_array().map(|a| a.len()), Some(10_000));
        } else {
            times.push(dt);
        }
    }
    times.sort_by(|a, b| a.total_cmp(b));
    (percentile(&times, 0.5), rss_mb(b.daemon_pid()), load)
}

/// Wall times in ms of `args` run back to back, `n` times or (with `until`) until it is set.
fn timed_runs(
    b: &Bench,
    args: &[&str],
    n: usize,
    until: Option<&std::sync::atomic::AtomicBool>,
) -> Vec<f64> {
    let mut times = vec![];
    while times.len() < n || until.is_some_and(|u| !u.load(std::sync::atomic::Ordering::SeqCst)) {
        let t0 = Instant::now();
        let ok = b.cmd(args).stdout(Stdio::null()).status().expect("run").success();
        assert!(ok, "{args:?} failed");
        times.push(t0.elapsed().as_secs_f64() * 1000.0);
        if until.is_none() && times.len() >= n {
            break;
        }
    }
    times.sort_by(|a, b| a.total_cmp(b));
    times
}

/// One request answered on a connection of its own, in ms: `list` whole (its reply read to the
/// end), without the cost of starting a process.
fn list_request(b: &Bench) -> f64 {
    let t0 = Instant::now();
    let mut c = paneherd::client::Blocking::connect(&b.paths, false).expect("connect");
    let mut sink = std::io::sink();
    c.request_to(Request::List { filter: ListFilter::default() }, &mut sink).expect("list");
    t0.elapsed().as_secs_f64() * 1000.0
}

/// Medians (ms) of one fairness round.
struct Fair {
    list_idle: f64,
    list_busy: f64,
    request_idle: f64,
    request_busy: f64,
    version_idle: f64,
    version_busy: f64,
    samples: usize,
}

/// `list --json`, the `list` request alone and `--version`, idle and during a 500-task burst
/// from 32 clients (p50 of each). The clients are 32 connections that each submit 16 tasks as
/// fast as the daemon answers (a script's `xargs -P32 paneherd run` is gentler: it starts a
/// process per task).
fn fairness(history: usize) -> Fair {
    let b = Bench::new("[concurrency]\ndefault = 8\n");
    synth_history(&b.paths.data, history);
    b.start_daemon();
    let list = ["list", "--json"];
    let median = |mut v: Vec<f64>| {
        v.sort_by(|a, b| a.total_cmp(b));
        percentile(&v, 0.5)
    };
    let (mut li, mut ri, mut vi) = (vec![], vec![], vec![]);
    for _ in 0..20 {
        li.extend(timed_runs(&b, &list, 1, None));
        ri.push(list_request(&b));
        vi.extend(timed_runs(&b, &["--version"], 1, None));
    }
    let done = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let clients: Vec<_> = (0..32)
        .map(|_| {
            let paths = b.paths.clone();
            let done = done.clone();
            std::thread::spawn(move || {
                let mut c = paneherd::client::Blocking::connect(&paths, false).expect("connect");
                for _ in 0..16 {
                    let _: Task =
                        c.ask(ask::Submit { spec: Box::new(spec("true")) }).expect("submit");
                }
                done.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            })
        })
        .collect();
    // Measured while the burst lasts, the three taking turns.
    let (mut lb, mut rb, mut vb) = (vec![], vec![], vec![]);
    while done.load(std::sync::atomic::Ordering::SeqCst) < 32 {
        lb.extend(timed_runs(&b, &list, 1, None));
        rb.push(list_request(&b));
        vb.extend(timed_runs(&b, &["--version"], 1, None));
    }
    for c in clients {
        c.join().expect("client");
    }
    let ok = b.cmd(&["wait", "--all"]).stdout(Stdio::null()).status().expect("wait").success();
    assert!(ok);
    Fair {
        samples: lb.len(),
        list_idle: median(li),
        list_busy: median(lb),
        request_idle: median(ri),
        request_busy: median(rb),
        version_idle: median(vi),
        version_busy: median(vb),
    }
}

async fn completion_latency() -> (f64, f64, f64) {
    let b = Bench::new("");
    let mut c = b.client().await;
    let mut events = Client::connect(&b.paths, false).await.expect("connect");
    events.subscribe().await.expect("subscribe");
    let mut lat = Vec::new();
    for _ in 0..200 {
        // The child prints the time and exits at once.
        let t: Task =
            c.ask(ask::Submit { spec: Box::new(spec("exec date +%s%N")) }).await.expect("submit");
        let received = loop {
            match events.next_event().await.expect("event") {
                Some(Event::TaskChanged { task })
                    if task.id == t.id && task.status.is_terminal() =>
                {
                    break SystemTime::now();
                }
                Some(_) => {}
                None => panic!("daemon went away"),
            }
        };
        let recv_ns = received.duration_since(UNIX_EPOCH).expect("time").as_nanos() as f64;
        // Persisted before the event: the file already says completed.
        let text =
            std::fs::read_to_string(b.paths.tasks_dir().join(format!("{}.md", t.id))).expect("md");
        assert!(text.contains("status = \"completed\""));
        let log = std::fs::read_to_string(&t.log_path).expect("log");
        let exit_ns: f64 = log.trim().parse().expect("timestamp");
        lat.push((recv_ns - exit_ns) / 1e6);
    }
    lat.sort_by(|a, b| a.total_cmp(b));
    (percentile(&lat, 0.5), percentile(&lat, 0.99), lat[lat.len() - 1])
}

fn report_fairness() {
    let history: usize =
        std::env::var("PANEHERD_BENCH_HISTORY").ok().and_then(|v| v.parse().ok()).unwrap_or(2_400);
    // Nine rounds, each a new daemon with the same history: the median round of each figure.
    let rounds: Vec<Fair> = (0..9).map(|_| fairness(history)).collect();
    let mid = |f: &dyn Fn(&Fair) -> f64| {
        let mut v: Vec<f64> = rounds.iter().map(f).collect();
        v.sort_by(|a, b| a.total_cmp(b));
        v[v.len() / 2]
    };
    let list = mid(&|r| r.list_busy / r.list_idle);
    let request = mid(&|r| r.request_busy / r.request_idle);
    let version = mid(&|r| r.version_busy / r.version_idle);
    let mut each: Vec<f64> = rounds.iter().map(|r| r.list_busy / r.list_idle).collect();
    each.sort_by(|a, b| a.total_cmp(b));
    let each: Vec<String> = each.iter().map(|r| format!("{r:.1}")).collect();
    println!(
        "fairness ({history} tasks in the history, a 500-task burst from 32 clients, median of 9 rounds): `list --json` p50 {:.1} → {:.1} ms, ratio {list:.1}× (target ≤ 5×) {}; the list request alone {:.2} → {:.2} ms ({request:.1}×); `--version` {:.1} → {:.1} ms ({version:.1}×: the machine's own slowdown); {} lists per burst; rounds {}",
        mid(&|r| r.list_idle),
        mid(&|r| r.list_busy),
        verdict(list <= 5.0),
        mid(&|r| r.request_idle),
        mid(&|r| r.request_busy),
        mid(&|r| r.version_idle),
        mid(&|r| r.version_busy),
        mid(&|r| r.samples as f64),
        each.join(" ")
    );
}

fn main() {
    // `cargo test --benches` runs this with --bench absent; do the work only under `cargo bench`.
    if !std::env::args().any(|a| a == "--bench") {
        println!("engine bench: run with `cargo bench --bench engine`");
        return;
    }
    if std::env::var("PANEHERD_BENCH_ONLY").as_deref() == Ok("fairness") {
        report_fairness();
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    rt.block_on(async {
        let mut keep = Vec::new();
        let mut rounds = Vec::new();
        // Five rounds, alternating which side runs first, each measurement on a settled system.
        for round in 0..5 {
            rounds.push(throughput(&mut keep, round % 2 == 1).await);
        }
        rounds.sort_by(|a, b| (a.0 / a.1).total_cmp(&(b.0 / b.1)));
        let (ours, base) = rounds[2];
        let ratio = ours / base;
        let ratios: Vec<String> = rounds.iter().map(|(o, b)| format!("{:.2}", o / b)).collect();
        println!(
            "throughput  500 × true @8 (median of 5 rounds): paneherd {:.0} ms, xargs -P8 {:.0} ms, ratio {:.2}× (target ≤ 1.5×) {}; rounds {}",
            ours * 1000.0,
            base * 1000.0,
            ratio,
            verdict(ratio <= 1.5),
            ratios.join(" ")
        );
        // Five rounds, alternating which side runs first, each on a settled system.
        let mut tiny: Vec<(f64, f64)> = vec![];
        for round in 0..5 {
            tiny.push(tiny_cli(&mut keep, round % 2 == 1).await);
        }
        tiny.sort_by(|a, b| (a.0 / a.1).total_cmp(&(b.0 / b.1)));
        let (ours, base) = tiny[2];
        let ratios: Vec<String> = tiny.iter().map(|(o, b)| format!("{:.1}", o / b)).collect();
        println!(
            "tiny tasks through the CLI, 200 × `paneherd run` by xargs -P8 + wait --all (median of 5 rounds): paneherd {:.0} ms, xargs -P8 sh -c true {:.0} ms, ratio {:.1}× (target ≤ 3×) {}; rounds {}",
            ours * 1000.0,
            base * 1000.0,
            ours / base,
            verdict(ours / base <= 3.0),
            ratios.join(" ")
        );
        if std::env::var("PANEHERD_BENCH_ONLY").as_deref() == Ok("throughput") {
            return;
        }
        let (p50, p99, max) = hook_latency().await;
        println!(
            "delegated task's end → the waiting Claude Code hook exited with the notice, 50 tasks: p50 {p50:.1} ms, p99 {p99:.1} ms (target ≤ 50) {}, max {max:.1} ms",
            verdict(p99 <= 50.0)
        );
        let (p50, p99, max) = completion_latency().await;
        let (median, rss, load) = list_10k().await;
        println!(
            "list --json 10k tasks: median {median:.1} ms (target ≤ 20) {}; daemon RSS {rss:.1} MB (target ≤ 60) {}; history load {:.0} ms",
            verdict(median <= 20.0),
            verdict(rss <= 60.0),
            load * 1000.0
        );
        println!(
            "completion exit → persisted + event, 200 tasks: p50 {p50:.2} ms, p99 {p99:.2} ms (target ≤ 20) {}, max {max:.2} ms",
            verdict(p99 <= 20.0)
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    });
    report_fairness();
    if let Ok(mut p) = PROBES.lock() {
        p.clear();
    }
}
