//! Results you can trust (issue 19), each part as a user or an attacker on the same machine
//! meets it, with the real binary, a private daemon, and — where a part needs them — a private
//! tmux server, a small tmpfs (a full disk), another uid (nobody) and the official MCP Python
//! SDK.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::tmux::Tmux;
use common::{BIN, Env, ci_tools, config_with};
use serde_json::Value;

fn is_root() -> bool {
    nix::unistd::getuid().is_root()
}

/// The daemon's resident memory, in MB.
fn rss_mb(pid: i32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

/// A connection to the test's daemon that has said hello.
fn hello(env: &Env) -> (UnixStream, BufReader<UnixStream>) {
    let s = UnixStream::connect(env.runtime().join("daemon.sock")).unwrap();
    let mut w = s.try_clone().unwrap();
    w.write_all(b"{\"hello\":{\"protocol\":1,\"client\":\"test\"}}\n").unwrap();
    let mut r = BufReader::new(s);
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    assert!(line.contains("welcome"), "{line}");
    (w, r)
}

fn result_of(env: &Env, id: &str) -> String {
    env.task(id)["result"].as_str().unwrap_or("").to_string()
}

/// `paneherd run ARGS --wait --json`: the ended task, with its result.
fn ran(env: &Env, args: &[&str]) -> Value {
    let mut a = vec!["run", "--wait", "--json"];
    a.extend_from_slice(args);
    let out = env.run(&a);
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{e}: {text}{}", String::from_utf8_lossy(&out.stderr)))
}

// ---- Part 1: results exact ----------------------------------------------------------------

#[test]
fn results_keep_tabs_and_the_final_state_of_rewritten_lines() {
    let env = Env::new(&config_with(""));
    let printed = r"printf 'col1\tcol2\n\tindented\nprogress 10%%\rprogress 100%%\n\033[32mgreen\033[0m\tend\n'";
    let t = ran(&env, &["--agent", "shell", "--", printed]);
    let want = "col1\tcol2\n\tindented\nprogress 100%\ngreen\tend";
    assert_eq!(t["result"], want);
    let id = t["id"].as_str().unwrap();
    // `output` prints the same text.
    let shown = env.ok(&["output", id]);
    assert!(shown.contains(want), "{shown:?}");
    // And the MCP tools (the official Python SDK reading background_output).
    let python = ci_tools().join("py/bin/python");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/mcp_env.py");
    let mut mcp = Command::new(&python);
    mcp.arg(&script).args(["inherit", BIN, "shell", printed]);
    env.apply(&mut mcp);
    let out = mcp.output().unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{said}{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_str(said.lines().last().unwrap()).unwrap();
    assert!(v["text"].as_str().unwrap().contains(want), "{v}");
    env.stop_daemon();
}

// ---- Part 2: never someone else's daemon ------------------------------------------------

/// A stand-in for another user's daemon: listens on `sock` and writes every byte it receives
/// (and a line per connection) to `record`.
fn fake_daemon(sock: &Path, record: &Path, as_nobody: bool) -> Fake {
    let script = r#"
import socket, sys, os
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[1]); s.listen(8)
open(sys.argv[2] + ".ready", "w").close()
while True:
    c, _ = s.accept()
    with open(sys.argv[2], "ab") as f:
        f.write(b"<connection>")
        c.settimeout(2)
        try:
            while True:
                b = c.recv(4096)
                if not b: break
                f.write(b)
        except Exception:
            pass
        f.write(b"<closed>")
    c.close()
"#;
    let mut cmd = if as_nobody {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/python3"]);
        c.args(["-c", script]);
        c
    } else {
        let mut c = Command::new("python3");
        c.args(["-c", script]);
        c
    };
    let child = cmd.arg(sock).arg(record).spawn().unwrap();
    let ready = record.with_extension("ready");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !ready.exists() {
        assert!(Instant::now() < deadline, "the fake daemon did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    Fake(child)
}

/// The fake daemon's process, stopped when dropped.
struct Fake(std::process::Child);

impl Drop for Fake {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_socket_of_another_user_gets_nothing() {
    if !is_root() {
        eprintln!("skipped: needs root to make files of another uid");
        return;
    }
    let env = Env::new(&config_with(""));
    let secret = "OPENAI_API_KEY=sk-must-not-leak";

    // 1. Another user made the runtime dir (and its socket).
    let rt = env.path().join("theirs");
    std::fs::create_dir(&rt).unwrap();
    std::fs::set_permissions(&rt, std::fs::Permissions::from_mode(0o700)).unwrap();
    let record = env.path().join("received-1");
    let fake = fake_daemon(&rt.join("daemon.sock"), &record, false);
    nix::unistd::chown(&rt, Some(65534.into()), Some(65534.into())).unwrap();
    nix::unistd::chown(&rt.join("daemon.sock"), Some(65534.into()), None).unwrap();
    let out = env
        .cmd(&["run", "--agent", "shell", "--", "echo hi"])
        .env("PANEHERD_RUNTIME_DIR", &rt)
        .env("OPENAI_API_KEY", "sk-must-not-leak")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(
        err.contains("belongs to uid 65534") && err.contains(&rt.display().to_string()),
        "{err}"
    );
    assert!(!record.exists(), "the fake was not even connected to");
    drop(fake);

    // 2. The dir and socket look like ours, but the process listening is another user's.
    let rt = env.path().join("looks-ours");
    std::fs::create_dir(&rt).unwrap();
    std::fs::set_permissions(&rt, std::fs::Permissions::from_mode(0o700)).unwrap();
    let theirs = env.path().join("nobody-dir");
    std::fs::create_dir(&theirs).unwrap();
    nix::unistd::chown(&theirs, Some(65534.into()), Some(65534.into())).unwrap();
    std::fs::set_permissions(env.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let record = theirs.join("received-2");
    let fake = fake_daemon(&theirs.join("daemon.sock"), &record, true);
    std::fs::rename(theirs.join("daemon.sock"), rt.join("daemon.sock")).unwrap();
    nix::unistd::chown(&rt.join("daemon.sock"), Some(0.into()), Some(0.into())).unwrap();
    std::fs::set_permissions(rt.join("daemon.sock"), std::fs::Permissions::from_mode(0o600))
        .unwrap();
    let out = env
        .cmd(&["run", "--agent", "shell", "--", "echo hi"])
        .env("PANEHERD_RUNTIME_DIR", &rt)
        .env("OPENAI_API_KEY", "sk-must-not-leak")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("runs as uid 65534"), "{err}");
    assert!(!err.contains("  "), "one sentence, no gaps: {err}");
    // The fake notes the end of each connection: wait for it rather than for a time, which a
    // loaded machine can outlast.
    let deadline = Instant::now() + Duration::from_secs(20);
    let got = loop {
        let got = std::fs::read(&record).unwrap_or_default();
        if got.ends_with(b"<closed>") || Instant::now() > deadline {
            break got;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(
        String::from_utf8_lossy(&got),
        "<connection><closed>",
        "connected, but sent nothing"
    );
    assert!(!String::from_utf8_lossy(&got).contains(secret));
    drop(fake);

    // 3. A socket others may use is refused as well.
    let rt = env.path().join("open");
    std::fs::create_dir(&rt).unwrap();
    std::fs::set_permissions(&rt, std::fs::Permissions::from_mode(0o700)).unwrap();
    let record = env.path().join("received-3");
    let fake = fake_daemon(&rt.join("daemon.sock"), &record, false);
    std::fs::set_permissions(rt.join("daemon.sock"), std::fs::Permissions::from_mode(0o666))
        .unwrap();
    let out = env.cmd(&["list"]).env("PANEHERD_RUNTIME_DIR", &rt).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("mode is 666"), "{err}");
    assert!(!record.exists());
    drop(fake);
}

// ---- Part 3: the user's daemon from anywhere --------------------------------------------

/// A user's desktop session: no PANEHERD_* variables, the XDG runtime dir, HOME in the test.
struct Desktop {
    env: Env,
    xdg: PathBuf,
}

impl Desktop {
    fn new() -> Desktop {
        let env = Env::new("");
        let xdg = env.path().join("xdg");
        std::fs::create_dir(&xdg).unwrap();
        std::fs::set_permissions(&xdg, std::fs::Permissions::from_mode(0o700)).unwrap();
        Desktop { env, xdg }
    }

    fn home(&self) -> PathBuf {
        self.env.path().join("home")
    }

    fn shell(&self, args: &[&str]) -> std::process::Output {
        Command::new(BIN)
            .args(args)
            .env_clear()
            .env("HOME", self.home())
            .env("PATH", std::env::var("PATH").unwrap())
            .env("XDG_RUNTIME_DIR", &self.xdg)
            .current_dir(self.env.path())
            .output()
            .unwrap()
    }
}

impl Drop for Desktop {
    fn drop(&mut self) {
        let _ = self.shell(&["daemon", "stop"]);
    }
}

#[test]
fn a_trimmed_mcp_host_reaches_the_users_own_daemon() {
    let desk = Desktop::new();
    let out = desk.shell(&["run", "--agent", "shell", "--", "echo from-the-shell"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let shell_task = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(desk.xdg.join("paneherd/daemon.sock").exists());

    // The MCP server as the official SDK starts it by default: HOME and PATH, no XDG dir.
    let python = ci_tools().join("py/bin/python");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/mcp_env.py");
    let out = Command::new(&python)
        .arg(&script)
        .args(["trimmed", BIN, "shell", "echo from-mcp"])
        .env_clear()
        .env("HOME", desk.home())
        .env("PATH", std::env::var("PATH").unwrap())
        .current_dir(desk.env.path())
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{said}{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_str(said.lines().last().unwrap()).unwrap();
    assert!(v["text"].as_str().unwrap().contains("from-mcp"), "{v}");
    let mcp_task = v["id"].as_str().unwrap();

    // One daemon: the shell lists the MCP's task, and a trimmed `list` sees the shell's.
    let listed = desk.shell(&["list", "--json"]);
    let all: Value = serde_json::from_slice(&listed.stdout).unwrap();
    let ids: Vec<&str> =
        all.as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap()).collect();
    assert!(ids.contains(&mcp_task) && ids.contains(&shell_task.as_str()), "{ids:?}");
    let trimmed = Command::new(BIN)
        .args(["list", "--json"])
        .env_clear()
        .env("HOME", desk.home())
        .env("PATH", std::env::var("PATH").unwrap())
        .output()
        .unwrap();
    assert!(trimmed.status.success(), "{}", String::from_utf8_lossy(&trimmed.stderr));
    let again: Value = serde_json::from_slice(&trimmed.stdout).unwrap();
    assert_eq!(again.as_array().unwrap().len(), 2);
}

// ---- Part 4: private files --------------------------------------------------------------

fn modes_under(dir: &Path, out: &mut Vec<(PathBuf, u32, bool)>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let meta = std::fs::symlink_metadata(e.path()).unwrap();
        out.push((e.path(), meta.permissions().mode() & 0o777, meta.is_dir()));
        if meta.is_dir() {
            modes_under(&e.path(), out);
        }
    }
}

#[test]
fn the_data_dir_and_every_file_in_it_are_private() {
    let env = Env::new(&config_with(""));
    let t = ran(&env, &["--agent", "shell", "--", "echo secret result"]);
    assert_eq!(t["result"], "secret result");
    let mut all = vec![(env.data(), std::fs::metadata(env.data()).unwrap().mode() & 0o777, true)];
    modes_under(&env.data(), &mut all);
    assert!(all.len() > 5, "{all:?}");
    for (path, mode, dir) in &all {
        let want = if *dir { 0o700 } else { 0o600 };
        assert_eq!(*mode, want, "{} is {mode:o}", path.display());
    }
    env.stop_daemon();

    // A data dir of an older paneherd (0755 and 0644): made private at the next start.
    for (path, _, dir) in &all {
        let old = if *dir { 0o755 } else { 0o644 };
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(old)).unwrap();
    }
    env.ok(&["list"]);
    for (path, _, dir) in &all {
        if path.ends_with("paneherd.log") || !path.exists() {
            continue;
        }
        let mode = std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, if *dir { 0o700 } else { 0o600 }, "{}", path.display());
    }
    let log = std::fs::read_to_string(env.data().join("logs/paneherd.log")).unwrap();
    assert_eq!(log.matches("made it and its files private").count(), 1, "{log}");
    env.stop_daemon();
}

// ---- Part 5: an end while the daemon is down ---------------------------------------------

fn kill9(env: &Env) {
    let pid = env.daemon_pid().expect("a daemon");
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL)
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while common::pid_alive(i64::from(pid)) {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn pane_agents_that_end_while_no_daemon_runs_keep_their_results() {
    let env = Env::new(&config_with("[tmux]\nclose_after_secs = 0\n[concurrency]\ndefault = 0\n"));
    let tmux = Tmux::start(&env, 200, 50, "sh", &[]);
    let n = 8;
    let ids: Vec<String> = (0..n)
        .map(|i| {
            tmux.run_from(&env, &["--agent", "shell", "--", &format!("sleep 1; echo result {i}")])
        })
        .collect();
    for id in &ids {
        env.wait_status(id, "running", Duration::from_secs(15));
        env.wait_recorded(id, "running");
    }
    kill9(&env);
    // The agents end while no daemon runs; the next one comes 4 s later.
    std::thread::sleep(Duration::from_secs(4));
    env.ok(&["list"]);
    for (i, id) in ids.iter().enumerate() {
        let t = env.wait_status(id, "completed", Duration::from_secs(15));
        assert_eq!(t["exit_code"], 0, "{t:#}");
        assert_eq!(result_of(&env, id), format!("result {i}"));
    }
    // Every pane closes: only the shell's is left.
    let deadline = Instant::now() + Duration::from_secs(10);
    while tmux.panes().len() > 1 {
        assert!(Instant::now() < deadline, "panes left open: {:?}", tmux.panes());
        std::thread::sleep(Duration::from_millis(100));
    }
    // While no daemon runs, an agent goes on printing (its wrapper does not hold it up), and
    // one whose pane is closed meanwhile still has its end recorded from what was written.
    let marker = env.path().join("agent-finished");
    let busy = tmux.run_from(
        &env,
        &["--agent", "shell", "--", &format!("sleep 1; seq 1 200000; touch {}", marker.display())],
    );
    let quick = tmux.run_from(&env, &["--agent", "shell", "--", "sleep 1; echo IMPORTANT RESULT"]);
    env.wait_status(&busy, "running", Duration::from_secs(15));
    env.wait_status(&quick, "running", Duration::from_secs(15));
    env.wait_recorded(&busy, "running");
    env.wait_recorded(&quick, "running");
    kill9(&env);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !marker.exists() {
        assert!(Instant::now() < deadline, "the agent was held up while no daemon ran");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(1500));
    let pane = env.task(&quick)["pane_id"].as_str().unwrap().to_string();
    tmux.run(&["kill-pane", "-t", &pane]);
    env.ok(&["list"]);
    env.wait_status(&busy, "completed", Duration::from_secs(15));
    assert!(result_of(&env, &busy).ends_with("200000"));
    let t = env.wait_status(&quick, "completed", Duration::from_secs(15));
    assert_eq!(result_of(&env, &quick), "IMPORTANT RESULT", "{t:#}");
    // And a running one is re-adopted as before (its agent still runs across the restart).
    let long = tmux.run_from(&env, &["--agent", "shell", "--", "sleep 3; echo survived"]);
    env.wait_status(&long, "running", Duration::from_secs(15));
    env.wait_recorded(&long, "running");
    kill9(&env);
    env.ok(&["list"]);
    env.wait_status(&long, "completed", Duration::from_secs(15));
    assert_eq!(result_of(&env, &long), "survived");
    env.stop_daemon();
}

/// A task the daemon started but had not yet recorded as started when it was killed (its
/// record still says pending; its log was made) is never run a second time: the next daemon
/// records it as lost with what it printed, and stops what of it still runs.
#[test]
fn a_task_started_moments_before_a_crash_is_not_run_twice() {
    // One at a time: the task waits behind another, and stays pending when the daemon stops.
    let env = Env::new(&config_with("[concurrency]\ndefault = 1\n"));
    let first = env.submit(&["--agent", "shell", "--", "sleep 30"]);
    env.wait_status(&first, "running", Duration::from_secs(10));
    let id = env.submit(&["--agent", "shell", "--", "echo RAN-AGAIN"]);
    assert_eq!(env.task(&id)["status"], "pending");
    let log = PathBuf::from(env.task(&id)["log_path"].as_str().unwrap());
    env.stop_daemon();
    assert!(!log.exists(), "a pending task has no log yet");
    // What the killed daemon left: a pending record, the log its process began, and the
    // process itself (its environment names the task), in a group of its own.
    std::fs::write(&log, "half of the work\n").unwrap();
    let mut orphan = Command::new("setsid");
    orphan.args(["sleep", "300"]).env("PANEHERD_TASK_ID", &id);
    let mut orphan = orphan.spawn().unwrap();
    env.ok(&["list"]);
    let t = env.wait_status(&id, "error", Duration::from_secs(15));
    let reason = t["reason"].as_str().unwrap_or("");
    assert!(reason.starts_with("lost: the daemon stopped while it was starting it"), "{t:#}");
    assert!(reason.contains(&format!("paneherd retry {id}")), "{reason}");
    assert_eq!(result_of(&env, &id), "half of the work");
    let deadline = Instant::now() + Duration::from_secs(10);
    while orphan.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "the process left running was not stopped");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(500));
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!text.contains("RAN-AGAIN"), "it ran a second time: {text}");
    env.stop_daemon();
}

// ---- Part 6: a full disk -----------------------------------------------------------------

/// A data dir on a tmpfs of `size` (unmounted when dropped); `None` where mounting is not
/// allowed.
struct SmallDisk {
    at: PathBuf,
}

impl SmallDisk {
    fn mount(at: &Path, size: &str) -> Option<SmallDisk> {
        std::fs::create_dir_all(at).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size},mode=0700"), "tmpfs"])
            .arg(at)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| SmallDisk { at: at.to_path_buf() })
    }

    fn fill(&self) -> PathBuf {
        let filler = self.at.join("filler");
        let _ = Command::new("dd")
            .args(["if=/dev/zero", "bs=64k"])
            .arg(format!("of={}", filler.display()))
            .stderr(Stdio::null())
            .status();
        filler
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.at).status();
    }
}

#[test]
fn a_full_disk_is_never_a_completion() {
    let env = Env::new(&config_with(""));
    let Some(disk) = SmallDisk::mount(&env.data(), "4m") else {
        eprintln!("skipped: mounting a tmpfs is not allowed here");
        return;
    };
    // 1. Output that does not fit: an error that says so, not "completed" with nothing.
    let t = ran(&env, &["--agent", "shell", "--", "head -c 10000000 /dev/zero | tr '\\0' x; echo"]);
    let id = t["id"].as_str().unwrap().to_string();
    assert_eq!(t["status"], "error", "{t:#}");
    let reason = t["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("disk full: output after ") && reason.contains("bytes was not kept"),
        "{reason}"
    );
    assert_eq!(t["summary"].as_str(), Some(reason), "the notice says so");
    std::fs::remove_file(env.data().join(format!("tasks/{id}.log"))).unwrap();

    // 2. No room for a record: the submission is refused and nothing runs.
    let filler = disk.fill();
    let marker = env.path().join("it-ran");
    let out = env.run(&["run", "--agent", "shell", "--", &format!("touch {}", marker.display())]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("not started") && err.contains("No space left"), "{err}");
    std::thread::sleep(Duration::from_millis(500));
    assert!(!marker.exists(), "a task that could not be recorded ran");
    assert_eq!(env.list().len(), 1, "and it is not in the history");

    // 3. Space again: the same daemon goes on.
    std::fs::remove_file(filler).unwrap();
    let t = ran(&env, &["--agent", "shell", "--", "echo room again"]);
    assert_eq!(t["result"], "room again");
    env.stop_daemon();
    drop(disk);
}

// ---- Part 7: file descriptors ------------------------------------------------------------

#[test]
fn connections_past_the_cap_are_refused_at_once_and_tasks_go_on() {
    let env = Env::new(&config_with(""));
    // A daemon with 256 descriptors, started by hand as a user might under a low limit.
    let mut daemon = Command::new("prlimit");
    daemon.args(["--nofile=256:256", BIN, "daemon", "run"]);
    env.apply(&mut daemon);
    let mut daemon = daemon.stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let sock = env.runtime().join("daemon.sock");
    let deadline = Instant::now() + Duration::from_secs(10);
    while UnixStream::connect(&sock).is_err() {
        assert!(Instant::now() < deadline, "the daemon did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut open = vec![];
    let mut refused = 0;
    for _ in 0..300 {
        let s = UnixStream::connect(&sock).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        let mut w = s.try_clone().unwrap();
        // A refused connection may be closed before the hello is written: what it was told
        // is still there to read.
        let _ = w.write_all(b"{\"hello\":{\"protocol\":1,\"client\":\"test\"}}\n");
        let mut r = BufReader::new(s);
        let mut line = String::new();
        let t0 = Instant::now();
        r.read_line(&mut line).unwrap();
        if line.contains("welcome") {
            open.push((w, r));
        } else {
            assert!(line.contains("\"busy\"") && line.contains("connections open"), "{line}");
            assert!(t0.elapsed() < Duration::from_secs(1), "refused at once");
            refused += 1;
        }
    }
    assert_eq!(open.len(), 128, "half of 256 descriptors");
    assert_eq!(refused, 300 - 128);
    // A client meanwhile is told why (exit 3), not left hanging.
    let out = env.run(&["list"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("connections open"));
    drop(open);
    std::thread::sleep(Duration::from_millis(300));
    let t = ran(&env, &["--agent", "shell", "--", "echo still fine"]);
    assert_eq!(t["result"], "still fine");
    env.stop_daemon();
    let _ = daemon.wait();
}

// ---- Part 8: bounded memory ---------------------------------------------------------------

#[test]
fn a_client_that_never_reads_does_not_grow_the_daemon() {
    let env = Env::new(&config_with("[concurrency]\ndefault = 0\n"));
    for i in 0..100 {
        env.submit(&["--agent", "shell", "--", &format!("echo task {i} {}", "x".repeat(500))]);
    }
    env.ok(&["wait", "--all"]);
    let pid = env.daemon_pid().unwrap();
    let before = rss_mb(pid);
    let (mut w, _r) = hello(&env);
    w.set_write_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut sent = 0;
    for i in 0..5000 {
        let line = format!("{{\"req\":{},\"type\":\"list\"}}\n", i + 1);
        if w.write_all(line.as_bytes()).is_err() {
            break; // the daemon stopped reading: backpressure
        }
        sent += 1;
    }
    std::thread::sleep(Duration::from_millis(500));
    let after = rss_mb(pid);
    assert!(after - before < 30.0, "{before:.1} MB → {after:.1} MB after {sent} unread lists");
    assert!(sent < 5000, "the daemon stopped reading a client that does not read");
    // Others are served meanwhile.
    env.ok(&["list"]);
    env.stop_daemon();
}

#[test]
fn a_gigabyte_of_output_costs_the_daemon_little_memory() {
    let env = Env::new(&config_with(""));
    env.ok(&["list"]);
    let pid = env.daemon_pid().unwrap();
    let id = env.submit(&["--agent", "shell", "--", "yes 0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXY | head -c 1000000000; echo the-end"]);
    let mut peak: f64 = 0.0;
    loop {
        peak = peak.max(rss_mb(pid));
        let st = env.task(&id);
        if st["status"] != "running" && st["status"] != "pending" {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    for _ in 0..10 {
        peak = peak.max(rss_mb(pid));
        std::thread::sleep(Duration::from_millis(20));
    }
    let t = env.task(&id);
    assert_eq!(t["status"], "completed", "{t:#}");
    let r = t["result"].as_str().unwrap();
    assert!(r.ends_with("the-end") && r.len() <= 256 * 1024 + 100, "{}", r.len());
    assert!(peak < 100.0, "daemon RSS peaked at {peak:.1} MB");
    std::fs::remove_file(t["log_path"].as_str().unwrap()).unwrap();
    env.stop_daemon();
}

// ---- Part 9: the submitter's environment ----------------------------------------------------

#[test]
fn every_task_runs_in_its_submitters_environment() {
    let env = Env::new(&config_with("[concurrency]\ndefault = 1\n"));
    // The daemon is started from a shell with a secret of its own.
    let out = env.cmd(&["list"]).env("DAEMON_SECRET", "daemon-only").output().unwrap();
    assert!(out.status.success());
    let show = "echo \"who=${WHO:-none} secret=${DAEMON_SECRET:-none}\"";
    let t = ran(&env, &["--agent", "shell", "--", show]);
    assert_eq!(t["result"], "who=none secret=none");
    let id = t["id"].as_str().unwrap();
    // Retried from a client with WHO set: the retrying client's environment.
    let out = env.cmd(&["retry", id, "--wait", "--json"]).env("WHO", "retrier").output().unwrap();
    let retried: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(retried["result"], "who=retrier secret=none");
    // A pending task started by the next daemon still has its submitter's.
    let busy = env.submit(&["--agent", "shell", "--", "sleep 30"]);
    env.wait_status(&busy, "running", Duration::from_secs(10));
    env.wait_recorded(&busy, "running");
    let out =
        env.cmd(&["run", "--agent", "shell", "--", show]).env("WHO", "waiter").output().unwrap();
    let waiting = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert_eq!(env.task(&waiting)["status"], "pending");
    let journal = env.data().join("tasks/secrets.jsonl");
    assert_eq!(std::fs::metadata(&journal).unwrap().mode() & 0o777, 0o600);
    assert!(std::fs::read_to_string(&journal).unwrap().contains("waiter"));
    kill9(&env);
    let out = env.cmd(&["list"]).env("DAEMON_SECRET", "daemon-only").output().unwrap();
    assert!(out.status.success());
    env.wait_status(&waiting, "completed", Duration::from_secs(15));
    assert_eq!(result_of(&env, &waiting), "who=waiter secret=none");
    // Once it has served, it is not kept.
    let kept = std::fs::read_to_string(&journal).unwrap_or_default();
    assert!(!kept.contains("waiter"), "{kept}");
    // An MCP server's task: the server's environment (its host's).
    let python = ci_tools().join("py/bin/python");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/mcp_env.py");
    let mut mcp = Command::new(&python);
    mcp.arg(&script).args(["inherit", BIN, "shell", show]);
    env.apply(&mut mcp);
    let out = mcp.env("WHO", "mcp-host").output().unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{said}{}", String::from_utf8_lossy(&out.stderr));
    assert!(said.contains("who=mcp-host secret=none"), "{said}");
    env.stop_daemon();
}

// ---- Part 10: only a task's own wrapper ----------------------------------------------------

#[test]
fn pane_reports_from_anyone_but_the_tasks_wrapper_are_refused() {
    let env = Env::new(&config_with("[tmux]\nclose_after_secs = 0\n"));
    let headless = env.submit(&["--agent", "shell", "--", "sleep 2; echo real-end"]);
    env.wait_status(&headless, "running", Duration::from_secs(10));
    let (mut w, mut r) = hello(&env);
    let forged =
        format!("{{\"req\":1,\"type\":\"pane_exited\",\"task_id\":\"{headless}\",\"code\":0}}\n");
    w.write_all(forged.as_bytes()).unwrap();
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    assert!(line.contains("\"ok\":false") && line.contains("pane wrapper"), "{line}");
    let attach = format!(
        "{{\"req\":2,\"type\":\"pane_attach\",\"task_id\":\"{headless}\",\"token\":\"guess\"}}\n"
    );
    w.write_all(attach.as_bytes()).unwrap();
    line.clear();
    r.read_line(&mut line).unwrap();
    assert!(line.contains("\"ok\":false") && line.contains("token"), "{line}");
    let t = env.wait_status(&headless, "completed", Duration::from_secs(10));
    assert_eq!(result_of(&env, &headless), "real-end", "{t:#}");

    // A pane task: a wrong token is refused too; its own wrapper still reports.
    let tmux = Tmux::start(&env, 160, 45, "sh", &[]);
    let pane = tmux.run_from(&env, &["--agent", "shell", "--", "sleep 2; echo from-the-pane"]);
    env.wait_status(&pane, "running", Duration::from_secs(10));
    let attach = format!(
        "{{\"req\":3,\"type\":\"pane_attach\",\"task_id\":\"{pane}\",\"token\":\"guess\"}}\n"
    );
    w.write_all(attach.as_bytes()).unwrap();
    line.clear();
    r.read_line(&mut line).unwrap();
    assert!(line.contains("\"ok\":false"), "{line}");
    let forged = format!("{{\"type\":\"pane_output\",\"task_id\":\"{pane}\",\"bytes\":5}}\n");
    w.write_all(forged.as_bytes()).unwrap();
    // Its token is on no command line (`ps` shows those to every user): a file the wrapper
    // read and removed.
    let wrapper = tmux.run(&[
        "display-message",
        "-p",
        "-t",
        env.task(&pane)["pane_id"].as_str().unwrap(),
        "#{pane_pid}",
    ]);
    let cmdline = std::fs::read(format!("/proc/{}/cmdline", wrapper.trim())).unwrap();
    let args: Vec<String> =
        cmdline.split(|b| *b == 0).map(|a| String::from_utf8_lossy(a).into_owned()).collect();
    let file = args.iter().skip_while(|a| *a != "--token-file").nth(1).expect("a token file");
    assert!(!Path::new(file).exists(), "read and removed");
    assert!(!args.iter().any(|a| a == "--token"));
    // Signals come from inside the task: from outside, even with its id, they are refused.
    let out = env.run(&["signal", "done", "--task", &pane]);
    assert_ne!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stderr).contains("come from inside it"));
    let signal =
        format!("{{\"req\":4,\"type\":\"signal\",\"task_id\":\"{pane}\",\"kind\":\"done\"}}\n");
    w.write_all(signal.as_bytes()).unwrap();
    line.clear();
    r.read_line(&mut line).unwrap();
    assert!(line.contains("\"ok\":false"), "{line}");
    env.wait_status(&pane, "completed", Duration::from_secs(10));
    assert_eq!(result_of(&env, &pane), "from-the-pane");
    env.stop_daemon();
}

// ---- Part 11: worktrees run nothing of the repository's ------------------------------------

#[test]
fn making_a_worktree_runs_no_hook_and_follows_no_link_out() {
    let env = Env::new(&config_with(""));
    let repo = env.path().join("repo");
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .arg("-C")
            .arg(&repo)
            .args(args)
            .env("GIT_CONFIG_GLOBAL", env.path().join("gitconfig"))
            .env("HOME", env.path().join("home"))
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    std::fs::create_dir(&repo).unwrap();
    git(&["init", "-q", "-b", "main"]);
    git(&["config", "user.email", "t@example.com"]);
    git(&["config", "user.name", "T"]);
    std::fs::write(repo.join("a.txt"), "a\n").unwrap();
    git(&["add", "a.txt"]);
    git(&["commit", "-q", "-m", "one"]);
    let hook_marker = env.path().join("hook-ran");
    let fsmonitor_marker = env.path().join("fsmonitor-ran");
    let hook = repo.join(".git/hooks/post-checkout");
    std::fs::write(&hook, format!("#!/bin/sh\ntouch {}\n", hook_marker.display())).unwrap();
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
    let monitor = env.path().join("monitor.sh");
    std::fs::write(&monitor, format!("#!/bin/sh\ntouch {}\n", fsmonitor_marker.display())).unwrap();
    std::fs::set_permissions(&monitor, std::fs::Permissions::from_mode(0o755)).unwrap();
    git(&["config", "core.fsmonitor", monitor.to_str().unwrap()]);
    // .worktreeinclude: a real ignored file, and a link to a file outside the repository.
    let outside = env.path().join("outside-secret");
    std::fs::write(&outside, "not the repository's\n").unwrap();
    std::fs::write(repo.join(".gitignore"), ".env\nlinked\n").unwrap();
    std::fs::write(repo.join(".worktreeinclude"), ".env\nlinked\n").unwrap();
    std::fs::write(repo.join(".env"), "KEY=1\n").unwrap();
    std::os::unix::fs::symlink(&outside, repo.join("linked")).unwrap();
    let out = env
        .cmd(&["run", "--agent", "shell", "--worktree", "--wait", "--json", "--", "ls -a"])
        .current_dir(&repo)
        .env("GIT_CONFIG_GLOBAL", env.path().join("gitconfig"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let t: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(t["status"], "completed", "{t:#}");
    let tree = PathBuf::from(t["worktree"].as_str().unwrap());
    assert!(tree.join(".env").is_file(), "the ignored file is copied");
    assert!(!tree.join("linked").exists(), "the link out is not followed");
    assert!(t["worktree_note"].as_str().unwrap_or("").contains("linked"), "{t:#}");
    assert!(!hook_marker.exists(), "post-checkout ran");
    assert!(!fsmonitor_marker.exists(), "core.fsmonitor ran");
    // Nor does looking at what it did, or taking it back: no external diff, no signing.
    let ext_marker = env.path().join("ext-diff-ran");
    let ext = env.path().join("ext.sh");
    std::fs::write(&ext, format!("#!/bin/sh\ntouch {}\n", ext_marker.display())).unwrap();
    std::fs::set_permissions(&ext, std::fs::Permissions::from_mode(0o755)).unwrap();
    git(&["config", "diff.external", ext.to_str().unwrap()]);
    git(&["config", "commit.gpgSign", "true"]);
    git(&["config", "gpg.program", ext.to_str().unwrap()]);
    let id = t["id"].as_str().unwrap();
    let in_repo = |args: &[&str]| {
        env.cmd(args)
            .current_dir(&repo)
            .env("GIT_CONFIG_GLOBAL", env.path().join("gitconfig"))
            .output()
            .unwrap()
    };
    std::fs::write(tree.join("new.txt"), "new\n").unwrap();
    let diff = in_repo(&["diff", id]);
    assert!(String::from_utf8_lossy(&diff.stdout).contains("new.txt"), "{diff:?}");
    let merged = in_repo(&["merge", id]);
    assert!(merged.status.success(), "{}", String::from_utf8_lossy(&merged.stderr));
    assert!(!ext_marker.exists(), "the repository's diff.external or gpg.program ran");
    env.stop_daemon();
}

#[test]
fn no_worktree_is_made_where_others_may_write() {
    let env = Env::new(&config_with(""));
    let shared = env.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    let repo = shared.join("proj");
    std::fs::create_dir(&repo).unwrap();
    let git = |args: &[&str]| {
        let ok = Command::new("git")
            .arg("-C")
            .arg(&repo)
            .args(args)
            .env("GIT_CONFIG_GLOBAL", env.path().join("gitconfig"))
            .env("HOME", env.path().join("home"))
            .status()
            .unwrap()
            .success();
        assert!(ok);
    };
    git(&["init", "-q", "-b", "main"]);
    git(&[
        "-c",
        "user.email=t@e",
        "-c",
        "user.name=T",
        "commit",
        "-q",
        "--allow-empty",
        "-m",
        "one",
    ]);
    // Where its worktrees go (`../proj.paneherd`), made by someone who lets everyone write.
    let theirs = shared.join("proj.paneherd");
    std::fs::create_dir(&theirs).unwrap();
    std::fs::set_permissions(&theirs, std::fs::Permissions::from_mode(0o777)).unwrap();
    let out = env
        .cmd(&["run", "--agent", "shell", "--worktree", "--wait", "--json", "--", "true"])
        .current_dir(&repo)
        .env("GIT_CONFIG_GLOBAL", env.path().join("gitconfig"))
        .output()
        .unwrap();
    let t: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(t["status"], "error", "{t:#}");
    assert!(t["reason"].as_str().unwrap().contains("others may write to"), "{t:#}");
    assert_eq!(std::fs::read_dir(&theirs).unwrap().count(), 0, "nothing made in it");
    env.stop_daemon();
}

// ---- Part 12: prompts at the edges ---------------------------------------------------------

#[test]
fn prompts_too_long_for_an_argument_are_refused_and_a_dash_after_the_separator_is_a_prompt() {
    let env =
        Env::new(&config_with("[agents.flagged]\ncommand = [\"echo\", \"--prompt={prompt}\"]\n"));
    // Through standard input: no program, paneherd included, can take it as an argument.
    let big = "y".repeat(200 * 1024);
    let mut child = env
        .cmd(&["run", "--agent", "shell", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(big.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("204800 bytes") && err.contains("131071"), "{err}");
    assert!(env.list().is_empty());
    // What the agent's template puts around the prompt counts too.
    let around = "y".repeat(131_071 - 4);
    let mut child = env
        .cmd(&["run", "--agent", "flagged", "-"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(around.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("\"flagged\"'s argument 131076 bytes"), "{err}");
    // `--` then `-`: the prompt is "-", standard input is not read.
    let mut child = env
        .cmd(&["run", "--agent", "args", "--", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"from stdin").unwrap();
    let out = child.wait_with_output().unwrap();
    let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert_eq!(env.task(&id)["prompt"], "-");
    // Without `--`, `-` still reads the prompt from standard input.
    let mut child = env
        .cmd(&["run", "--agent", "args", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"from stdin").unwrap();
    let out = child.wait_with_output().unwrap();
    let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert_eq!(env.task(&id)["prompt"], "from stdin");
    env.stop_daemon();
}

// ---- Part 13: the Claude hook's exit codes and its reconnect -------------------------------

fn hook(env: &Env, input: &str) -> std::process::Child {
    let mut c = env.cmd(&["hook", "claude"]);
    let mut child =
        c.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    child
}

#[test]
fn the_claude_hook_fails_softly_on_bad_input_and_outlives_a_daemon_crash() {
    let env = Env::new(&config_with("[tmux]\nclose_after_secs = 0\n"));
    for bad in ["", "not json", "[]", "{\"session_id\":\"s\"}"] {
        let out = hook(&env, bad).wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{bad:?}: {err}");
        assert!(err.contains("hook claude:"), "{err}");
    }
    // A hook waiting on a pane task whose daemon is killed: the next daemon re-adopts the
    // task, and the hook still tells its end.
    let tmux = Tmux::start(&env, 160, 45, "sh", &[]);
    let id = tmux.run_from(&env, &["--agent", "shell", "--", "sleep 2; echo told"]);
    env.wait_status(&id, "running", Duration::from_secs(10));
    let input = serde_json::json!({
        "hook_event_name": "PostToolUse",
        "session_id": "s1",
        "tool_name": "Bash",
        "tool_input": { "command": "paneherd run --agent shell 'sleep 2; echo told'" },
        "tool_response": { "stdout": format!("{id}\n"), "stderr": "" }
    });
    let waiting = hook(&env, &input.to_string());
    std::thread::sleep(Duration::from_millis(500));
    env.wait_recorded(&id, "running");
    kill9(&env);
    let out = waiting.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "the wake-up code: {err}");
    assert!(err.contains(&id) && err.contains("[BACKGROUND TASK RESULT READY]"), "{err}");
    assert_eq!(result_of(&env, &id), "told");
    env.stop_daemon();
}
