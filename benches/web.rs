//! The web view's costs: the daemon's extra CPU while browsers watch 100 tasks that keep
//! changing (each prints a line a second, and a short task starts about every 0.2 s), with no
//! page open against 1 and 5 pages and one with a running task's detail open, each phase against
//! the no-page phases around it (target ≤ 0.1 CPU s a minute per browser); and the
//! first paint of the list of those tasks in a headless chromium over loopback, from the
//! navigation's start to the list shown (target ≤ 200 ms).
//!
//! `cargo bench --bench web` prints a table (`PANEHERD_BENCH_SECS`, default 30 a phase); the
//! figures go into the README.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/env.rs"]
mod env;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// CPU seconds `pid` has used (user + system).
fn cpu(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = after.split(' ').collect();
    let ticks: f64 = f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap();
    ticks / 100.0
}

/// CPU seconds a minute of `pids` over `secs`, while `load` keeps the tasks changing.
fn per_minute(pids: &[u32], secs: u64) -> Vec<f64> {
    let before: Vec<f64> = pids.iter().map(|p| cpu(*p)).collect();
    std::thread::sleep(Duration::from_secs(secs));
    pids.iter().zip(before).map(|(p, b)| (cpu(*p) - b) * 60.0 / secs as f64).collect()
}

fn main() {
    let secs: u64 =
        std::env::var("PANEHERD_BENCH_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(30);
    let env = env::Env::new("[concurrency]\ndefault = 0\n");
    // Printing through every phase (five of them, and the paint).
    let long = (secs * 6 + 30).to_string();
    for _ in 0..100 {
        env.ok(
            "",
            &[
                "run",
                "--agent",
                "shell",
                "--",
                &format!("for i in $(seq {long}); do echo line $i; sleep 1; done"),
            ],
        );
    }
    let daemon = env.daemon_pid();
    // Short tasks starting and ending through every phase.
    let churn_env = env.dir.path().to_path_buf();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop2 = stop.clone();
    let churn = std::thread::spawn(move || {
        while !stop2.load(std::sync::atomic::Ordering::Relaxed) {
            let _ = env::command(&churn_env, "", &["run", "--agent", "shell", "--", "sleep 0.2"])
                .output();
            std::thread::sleep(Duration::from_millis(secs * 10));
        }
    });
    std::thread::sleep(Duration::from_secs(2));
    // Phases with no page between those with pages, each against the mean of the two around
    // it: the tasks the churn adds meanwhile weigh on both alike.
    let none1 = per_minute(&[daemon], secs)[0];
    let (web, url) = start_web(&env);
    let mut one = streams(&url, "/api/events", 1);
    std::thread::sleep(Duration::from_secs(1));
    let with1 = per_minute(&[daemon, web.id()], secs);
    stop_all(one.drain(..).chain([web]));
    let none2 = per_minute(&[daemon], secs)[0];
    let (web, url) = start_web(&env);
    let mut five = streams(&url, "/api/events", 5);
    std::thread::sleep(Duration::from_secs(1));
    let with5 = per_minute(&[daemon, web.id()], secs);
    stop_all(five.drain(..));
    let none3 = per_minute(&[daemon], secs)[0];
    // A page with a running task's detail open: the list's events and that task's output.
    let list = env.ok("", &["list", "--json"]);
    let tasks: serde_json::Value = serde_json::from_str(&list).unwrap();
    let running = tasks
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["status"] == "running" && t["prompt"].as_str().unwrap().contains("seq"))
        .map(|t| t["id"].as_str().unwrap().to_string())
        .unwrap();
    let mut detail = streams(&url, "/api/events", 1);
    detail.extend(streams(&url, &format!("/api/tasks/{running}/output"), 1));
    std::thread::sleep(Duration::from_secs(1));
    let watching = per_minute(&[daemon, web.id()], secs);
    stop_all(detail.drain(..));
    let none4 = per_minute(&[daemon], secs)[0];
    // First paint of the list, in chromium: the navigation's start → the list shown.
    let paint = first_paint(&url);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = churn.join();
    stop_all([web]);
    let n = env.ok("", &["list", "--json"]);
    let count = serde_json::from_str::<serde_json::Value>(&n).unwrap().as_array().unwrap().len();
    let extra = |with: f64, a: f64, b: f64| with - (a + b) / 2.0;
    let (e1, e5, ew) = (
        extra(with1[0], none1, none2),
        extra(with5[0], none2, none3),
        extra(watching[0], none3, none4),
    );
    println!("{count} tasks at the end; {secs} s a phase");
    println!("| measure | value |");
    println!("|---|---|");
    println!(
        "| daemon CPU, no page open | {none1:.3} / {none2:.3} / {none3:.3} / {none4:.3} s/min |"
    );
    println!(
        "| daemon CPU, 1 page (its event stream) | {:.3} s/min: **+{e1:.3}** (paneherd web {:.3}) |",
        with1[0], with1[1]
    );
    println!(
        "| daemon CPU, 5 pages | {:.3} s/min: +{e5:.3} for 5, {:.3} each (paneherd web {:.3}) |",
        with5[0],
        e5 / 5.0,
        with5[1]
    );
    println!(
        "| daemon CPU, 1 page with a running task's detail open | {:.3} s/min: +{ew:.3} (paneherd web {:.3}) |",
        watching[0], watching[1]
    );
    println!("| target | ≤ 0.1 s/min per browser |");
    match paint {
        Some(ms) => println!(
            "| first paint of the list ({count} tasks), chromium | {ms:.0} ms (target ≤ 200) |"
        ),
        None => println!("| first paint | skipped: no chromium |"),
    }
}

/// `paneherd web` on a free port, and its URL.
fn start_web(env: &env::Env) -> (Child, String) {
    let mut web: Child =
        env.cmd("", &["web", "--listen", "127.0.0.1:0"]).stdout(Stdio::piped()).spawn().unwrap();
    let mut line = String::new();
    BufReader::new(web.stdout.take().unwrap()).read_line(&mut line).unwrap();
    (web, line.trim().to_string())
}

/// `n` event streams of `path` (curl, as a page holds them).
fn streams(url: &str, path: &str, n: usize) -> Vec<Child> {
    let (base, token) = url.split_once("/?token=").unwrap();
    (0..n)
        .map(|_| {
            Command::new("curl")
                .args([
                    "-sN",
                    "-H",
                    &format!("Authorization: Bearer {token}"),
                    &format!("{base}{path}"),
                ])
                .stdout(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect()
}

/// Stops these processes.
fn stop_all(children: impl IntoIterator<Item = Child>) {
    for mut c in children {
        let _ = c.kill();
        let _ = c.wait();
    }
}

/// Milliseconds from the navigation's start to the list shown, median of 5 loads.
fn first_paint(url: &str) -> Option<f64> {
    let profile = tempfile::tempdir().unwrap();
    let mut chromium = Command::new("chromium")
        .args([
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--remote-debugging-port=0",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("about:blank")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let file = profile.path().join("DevToolsActivePort");
    let deadline = Instant::now() + Duration::from_secs(30);
    let port = loop {
        if let Some(p) =
            std::fs::read_to_string(&file).ok().and_then(|s| s.lines().next()?.parse::<u16>().ok())
        {
            break p;
        }
        assert!(Instant::now() < deadline, "chromium did not start");
        std::thread::sleep(Duration::from_millis(50));
    };
    let base = url.split("/?token=").next().unwrap();
    let shown = "performance.getEntriesByName('list-shown')[0]?.startTime";
    let mut steps = vec![serde_json::json!({"goto": url}), serde_json::json!({"wait": shown})];
    for _ in 0..5 {
        steps.push(serde_json::json!({"goto": format!("{base}/")}));
        steps.push(serde_json::json!({"wait": shown}));
    }
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/cdp.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(port.to_string())
        .arg(serde_json::Value::Array(steps).to_string())
        .output()
        .unwrap();
    let _ = chromium.kill();
    let _ = chromium.wait();
    let mut times: Vec<f64> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .skip(2)
        .filter_map(|l| l.parse::<f64>().ok())
        .collect();
    times.sort_by(f64::total_cmp);
    times.get(times.len() / 2).copied()
}
