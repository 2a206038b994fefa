//! From a delegated task's end to the model request that carries its notice, for the real
//! Claude Code and OpenCode (pinned, from `.ci/tools`), each run interactively in a private
//! tmux against a scripted model on 127.0.0.1 (Anthropic Messages / chat completions; target
//! p50 ≤ 500 ms). One session each, rounds of: the user asks, the model calls paneherd's `task`
//! (a 1 s shell task) and ends its turn, the session idles, the task ends, paneherd's hook
//! (Claude Code) or plugin (OpenCode) wakes it. `cargo bench --bench wake`
//! (`PANEHERD_BENCH_ROUNDS`, default 10).

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/common/hosts.rs"]
mod hosts;
#[path = "../tests/common/model.rs"]
mod model;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_paneherd");

fn tools() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = root.join("target/ci-tools");
    let ok = Command::new("bash").arg(root.join(".ci/tools")).arg(&dir).status().unwrap();
    assert!(ok.success(), ".ci/tools could not install the pinned CLIs");
    dir.join("agents/bin")
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("wake bench: run with `cargo bench --bench wake`");
        return;
    }
    let rounds: usize =
        std::env::var("PANEHERD_BENCH_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(10);
    let bin = tools();
    for host in ["claude", "opencode"] {
        bench(host, rounds, &bin);
    }
}

fn bench(host: &str, rounds: usize, bin: &Path) {
    let dir = tempfile::Builder::new().prefix("paneherd-wake").tempdir().unwrap();
    let d = dir.path();
    for sub in ["home", "xdg", "project"] {
        std::fs::create_dir_all(d.join(sub)).unwrap();
    }
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(d.join("xdg"), std::fs::Permissions::from_mode(0o700)).unwrap();
    let m = model::Model::start_plan(
        d,
        if host == "claude" { "anthropic" } else { "chat" },
        json!({"cycle": {"tool": "task", "args": {"prompt": "sleep 1; echo done", "subagent_type": "shell"}, "say": "ok"}}),
    );
    let paneherd = |args: &[&str]| {
        let out = Command::new(BIN)
            .args(args)
            .current_dir(d.join("project"))
            .env_clear()
            .env("HOME", d.join("home"))
            .env("XDG_RUNTIME_DIR", d.join("xdg"))
            .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    paneherd(&["install", host]);
    if host == "opencode" {
        hosts::opencode_provider(&d.join("home"), m.port);
    } else {
        hosts::claude_first_run_done(&d.join("home"), &d.join("project"));
    }
    paneherd(&["list"]);
    run_rounds(host, rounds, bin, d, &m, &paneherd);
}

fn run_rounds(
    host: &str,
    rounds: usize,
    bin: &Path,
    d: &Path,
    m: &model::Model,
    paneherd: &dyn Fn(&[&str]) -> String,
) {
    let sock = d.join("tmux.sock");
    let tmux = |args: &[&str]| {
        let out = Command::new("tmux").arg("-S").arg(&sock).args(args).output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    tmux(&["-f", "/dev/null", "new-session", "-d", "-x", "160", "-y", "45", "-s", "b", "sh"]);
    std::thread::sleep(Duration::from_millis(500));
    let program = if host == "claude" {
        format!(
            "ANTHROPIC_BASE_URL=http://127.0.0.1:{} ANTHROPIC_API_KEY={} claude --allowedTools mcp__paneherd__task",
            m.port,
            hosts::CLAUDE_KEY
        )
    } else {
        "opencode --model scripted/m".to_string()
    };
    let start = format!(
        "cd {} && exec env -i HOME={} XDG_RUNTIME_DIR={} PATH={}:/usr/bin:/bin TERM=xterm-256color {program}",
        d.join("project").display(),
        d.join("home").display(),
        d.join("xdg").display(),
        bin.display(),
    );
    tmux(&["send-keys", "-t", "%0", "-l", &start]);
    tmux(&["send-keys", "-t", "%0", "Enter"]);
    let deadline = Instant::now() + Duration::from_secs(60);
    let ready = if host == "claude" { "❯" } else { "Ask anything" };
    while !tmux(&["capture-pane", "-p", "-t", "%0"]).contains(ready) {
        assert!(Instant::now() < deadline, "{host} did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_secs(1));
    let notices = || -> Vec<f64> {
        m.requests()
            .iter()
            .filter(|r| {
                r["body"]["messages"]
                    .as_array()
                    .and_then(|a| a.last())
                    .is_some_and(|l| l.to_string().contains("[BACKGROUND TASK RESULT READY]"))
            })
            .map(|r| r["t"].as_f64().unwrap())
            .collect()
    };
    let mut lat = vec![];
    for i in 0..rounds {
        tmux(&["send-keys", "-t", "%0", "-l", &format!("round {i}: delegate it")]);
        std::thread::sleep(Duration::from_millis(200));
        tmux(&["send-keys", "-t", "%0", "Enter"]);
        let deadline = Instant::now() + Duration::from_secs(60);
        while notices().len() <= i {
            assert!(Instant::now() < deadline, "round {i}: never woken");
            std::thread::sleep(Duration::from_millis(50));
        }
        // The task of this round: the newest.
        let tasks: Vec<Value> = serde_json::from_str(&paneherd(&["list", "--json"])).unwrap();
        let end = chrono::DateTime::parse_from_rfc3339(tasks[0]["finished_at"].as_str().unwrap())
            .unwrap();
        let end = end.timestamp_millis() as f64 / 1000.0;
        lat.push((notices()[i] - end) * 1000.0);
        std::thread::sleep(Duration::from_secs(2));
    }
    tmux(&["kill-server"]);
    paneherd(&["daemon", "stop"]);
    let wakes = notices().len();
    lat.sort_by(|a, b| a.total_cmp(b));
    let p50 = lat[lat.len() / 2];
    println!(
        "{host} wake ({rounds} rounds, one session): end → model request with the notice p50 {p50:.0} ms, max {:.0} ms (target p50 ≤ 500 ms) {}; {wakes} wakes for {rounds} ends",
        lat[lat.len() - 1],
        if p50 <= 500.0 && wakes == rounds { "MET" } else { "MISSED" }
    );
}
