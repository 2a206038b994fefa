//! Desktop notifications through a real D-Bus: each test starts a private `dbus-daemon` on a
//! socket in its temp dir, serves a recording `org.freedesktop.Notifications` on it (zbus), and
//! points the paneherd daemon at it. Only that bus is killed afterwards.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Env, config_with};
use zbus::OwnedVariant as OwnedValue;

#[derive(Debug, Clone)]
struct Call {
    app: String,
    summary: String,
    body: String,
    actions: Vec<String>,
    urgency: Option<u8>,
    category: Option<String>,
    icon: String,
    expire_timeout: i32,
}

#[derive(Clone, Default)]
struct Recorder {
    calls: Arc<Mutex<Vec<Call>>>,
    /// Advertise `body-markup`, as dunst and most servers do.
    markup: bool,
}

#[zbus::interface(name = "org.freedesktop.Notifications")]
impl Recorder {
    #[allow(clippy::too_many_arguments)]
    fn notify(
        &self,
        app_name: String,
        _replaces_id: u32,
        app_icon: String,
        summary: String,
        body: String,
        actions: Vec<String>,
        hints: HashMap<String, OwnedValue>,
        expire_timeout: i32,
    ) -> u32 {
        let urgency = hints.get("urgency").and_then(|v| u8::try_from(v).ok());
        let category =
            hints.get("category").and_then(|v| String::try_from(v.try_clone().ok()?).ok());
        let mut calls = self.calls.lock().unwrap();
        calls.push(Call {
            app: app_name,
            summary,
            body,
            actions,
            urgency,
            category,
            icon: app_icon,
            expire_timeout,
        });
        calls.len() as u32
    }
    fn get_capabilities(&self) -> Vec<String> {
        let mut caps = vec!["body".to_string(), "actions".into()];
        if self.markup {
            caps.push("body-markup".into());
        }
        caps
    }
    fn get_server_information(&self) -> (String, String, String, String) {
        ("recorder".into(), "paneherd tests".into(), "1".into(), "1.2".into())
    }
    fn close_notification(&self, _id: u32) {}
}

struct Bus {
    child: Child,
    address: String,
}

impl Bus {
    /// A private session bus with no service directories, so that nothing (no desktop
    /// notification daemon of the machine's) is ever activated on it.
    fn start(env: &Env) -> Bus {
        let path = env.path().join("bus");
        let config = env.path().join("bus.conf");
        std::fs::write(
            &config,
            format!(
                r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={}</listen>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"#,
                path.display()
            ),
        )
        .unwrap();
        let mut child = Command::new("dbus-daemon")
            .args(["--nofork", "--print-address=1"])
            .arg(format!("--config-file={}", config.display()))
            .stdout(Stdio::piped())
            .spawn()
            .expect("dbus-daemon");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        Bus { child, address: line.trim().to_string() }
    }

    async fn serve(&self) -> (zbus::Connection, Recorder) {
        self.serve_with(Recorder::default()).await
    }

    async fn serve_with(&self, rec: Recorder) -> (zbus::Connection, Recorder) {
        let conn = zbus::connection::Builder::address(self.address.as_str())
            .name("org.freedesktop.Notifications")
            .serve_at("/org/freedesktop/Notifications", rec.clone())
            .build()
            .await
            .unwrap();
        (conn, rec)
    }
}

impl Drop for Bus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn run(env: &Env, bus: &Bus, args: &[&str]) -> std::process::Output {
    env.cmd(args).env("DBUS_SESSION_BUS_ADDRESS", &bus.address).output().unwrap()
}

fn submit(env: &Env, bus: &Bus, args: &[&str]) -> String {
    let mut a = vec!["run"];
    a.extend_from_slice(args);
    let out = run(env, bus, &a);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

async fn calls_after(rec: &Recorder, n: usize, within: Duration) -> Vec<Call> {
    let deadline = Instant::now() + within;
    loop {
        let calls = rec.calls.lock().unwrap().clone();
        if calls.len() >= n {
            return calls;
        }
        assert!(Instant::now() < deadline, "only {} notifications: {calls:#?}", calls.len());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn task_ends_become_desktop_notifications_and_bursts_are_merged() {
    let env = Env::new(&config_with("[notify]\ncoalesce_ms = 800\n"));
    let bus = Bus::start(&env);
    let (_conn, rec) = bus.serve().await;

    let ok = submit(&env, &bus, &["--agent", "fake", "--title", "find auth code", "2 0.05 0"]);
    let calls = calls_after(&rec, 1, Duration::from_secs(10)).await;
    let c = &calls[0];
    assert_eq!(c.app, "paneherd");
    assert!(c.summary.starts_with("✓ find auth code — completed in "), "{c:?}");
    assert!(c.body.contains("fake") && c.body.contains(&ok), "{c:?}");
    assert!(c.body.contains("fake agent line 1 of 2"), "the summary is in the body: {c:?}");
    assert_eq!(c.urgency, Some(1), "normal");
    assert_eq!(c.expire_timeout, 8000, "the configured timeout");
    assert_eq!(c.category.as_deref(), Some("transfer.complete"));
    assert_eq!(c.actions, vec!["default".to_string(), "Show".to_string()]);
    assert!(c.icon.ends_with("icon.png"), "{c:?}");

    tokio::time::sleep(Duration::from_millis(900)).await;
    let bad = submit(&env, &bus, &["--agent", "fake", "--title", "flaky", "1 0 3"]);
    let calls = calls_after(&rec, 2, Duration::from_secs(10)).await;
    let c = &calls[1];
    assert_eq!(c.summary, "✗ flaky — error (exit 3)");
    assert!(c.body.contains(&bad));
    assert_eq!(c.urgency, Some(2), "critical");
    assert_eq!(c.expire_timeout, 0, "an error stays until it is read");
    assert_eq!(c.category.as_deref(), Some("transfer.error"));

    // A burst: ten tasks that end together make one notification.
    tokio::time::sleep(Duration::from_millis(900)).await;
    let gate = env.path().join("go");
    let wait = format!("while [ ! -f {} ]; do sleep 0.01; done", gate.display());
    for _ in 0..10 {
        submit(&env, &bus, &["--agent", "shell", &wait]);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    std::fs::write(&gate, "").unwrap();
    let calls = calls_after(&rec, 3, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let calls_now = rec.calls.lock().unwrap().clone();
    assert_eq!(calls_now.len(), 3, "one notification for the burst: {calls_now:#?}");
    assert_eq!(calls[2].summary, "10 tasks finished: 10 ✓");
    assert_eq!(calls[2].body.lines().count(), 9, "8 tasks and '… and 2 more'");

    // And every later burst too, not only the first of the daemon's life.
    for round in 0..2 {
        let gate = env.path().join(format!("go{round}"));
        let wait = format!("while [ ! -f {} ]; do sleep 0.01; done", gate.display());
        for _ in 0..10 {
            submit(&env, &bus, &["--agent", "shell", &wait]);
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        std::fs::write(&gate, "").unwrap();
        let calls = calls_after(&rec, 4 + round, Duration::from_secs(10)).await;
        tokio::time::sleep(Duration::from_millis(1200)).await;
        let calls_now = rec.calls.lock().unwrap().clone();
        assert_eq!(calls_now.len(), 4 + round, "burst {round}: one notification: {calls_now:#?}");
        assert_eq!(calls[3 + round].summary, "10 tasks finished: 10 ✓");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn markup_in_output_is_escaped_for_a_server_that_reads_markup() {
    let env = Env::new(&config_with(""));
    let bus = Bus::start(&env);
    let (_conn, rec) = bus.serve_with(Recorder { markup: true, ..Default::default() }).await;
    let out = run(
        &env,
        &bus,
        &[
            "run",
            "--agent",
            "shell",
            "--title",
            "<b>t</b> & co",
            "--wait",
            "echo '<i>Vec<String></i> & friends fixed'",
        ],
    );
    assert!(out.status.success());
    let calls = calls_after(&rec, 1, Duration::from_secs(10)).await;
    let c = &calls[0];
    assert!(
        c.body.contains("&lt;i&gt;Vec&lt;String&gt;&lt;/i&gt; &amp; friends fixed"),
        "the body is escaped: {c:?}"
    );
    assert!(
        c.summary.starts_with("✓ <b>t</b> & co — completed"),
        "the summary is plain text: {c:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_test_reports_the_daemons_bus_not_the_callers() {
    let env = Env::new(&config_with(""));
    let bus = Bus::start(&env);
    let (_conn, rec) = bus.serve().await;
    // The daemon starts from a client without a session bus (e.g. an agent's MCP server).
    env.ok(&["list"]);
    let status = env.ok(&["daemon", "status"]);
    assert!(status.contains("notify     no desktop notifications"), "{status}");
    // A shell that has a bus asks for a test: the daemon's view is what counts.
    let out = run(&env, &bus, &["notify", "test"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("none: "), "{text}");
    assert!(text.contains("restart the daemon"), "{text}");
    assert_eq!(out.status.code(), Some(1), "nothing was delivered");
    assert!(rec.calls.lock().unwrap().is_empty());
    // Restarted from that shell, the daemon reaches the server.
    env.ok(&["daemon", "stop"]);
    let out = run(&env, &bus, &["notify", "test"]);
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("desktop: sent"), "{out:?}");
    assert_eq!(out.status.code(), Some(0));
    let status =
        String::from_utf8_lossy(&run(&env, &bus, &["daemon", "status"]).stdout).to_string();
    assert!(status.contains("notify     desktop (recorder 1)"), "{status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_notification_server_tasks_still_complete_and_the_fallback_is_logged() {
    let env = Env::new(&config_with(""));
    let bus = Bus::start(&env); // a bus, but nobody serves notifications on it
    let t0 = Instant::now();
    let out = run(&env, &bus, &["run", "--agent", "fake", "--wait", "1 0 0"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(t0.elapsed() < Duration::from_secs(5), "nothing hangs");
    let log = env.data().join("logs/paneherd.log");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.contains("could not notify") {
            assert!(text.contains("no desktop notification"), "{text}");
            break;
        }
        assert!(Instant::now() < deadline, "no fallback logged:\n{text}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // `notify test` says which way it went and why, at once.
    let t0 = Instant::now();
    let out = run(&env, &bus, &["notify", "test"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("none: no desktop notification ("), "{text}");
    assert!(t0.elapsed() < Duration::from_secs(2), "the error comes back quickly");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_test_uses_the_desktop_when_there_is_a_server() {
    let env = Env::new(&config_with(""));
    let bus = Bus::start(&env);
    let (_conn, rec) = bus.serve().await;
    let out = run(&env, &bus, &["notify", "test"]);
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("desktop: sent"), "{out:?}");
    let calls = calls_after(&rec, 1, Duration::from_secs(5)).await;
    assert!(calls[0].summary.contains("paneherd test"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_on_finish_hook_runs_without_a_shell() {
    let out_file = tempfile::NamedTempFile::new().unwrap();
    let env = Env::new(&config_with(&format!(
        "[notify]\nenabled = false\non_finish = [\"{}\", \"{{id}}\", \"{{status}}\", \"{{title}}\"]\n",
        common::fixture("echo-args").display()
    )));
    let bus = Bus::start(&env);
    let id = {
        let out = env
            .cmd(&["run", "--agent", "fake", "--title", "$(touch x); t", "--wait", "1 0 0"])
            .env("DBUS_SESSION_BUS_ADDRESS", &bus.address)
            .env("ARGS_OUT", out_file.path())
            .output()
            .unwrap();
        serde_json::from_str::<serde_json::Value>(&String::from_utf8_lossy(
            &run(&env, &bus, &["list", "--json"]).stdout,
        ))
        .unwrap()[0]["id"]
            .as_str()
            .unwrap()
            .to_string()
            + if out.status.success() { "" } else { "?" }
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let got = std::fs::read(out_file.path()).unwrap_or_default();
        if !got.is_empty() {
            let args: Vec<&[u8]> = got.split(|b| *b == 0).filter(|a| !a.is_empty()).collect();
            assert_eq!(args, vec![id.as_bytes(), b"completed", b"$(touch x); t"]);
            break;
        }
        assert!(Instant::now() < deadline, "the hook did not run");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A git repository with one commit, for worktree tasks (the test's own HOME and git config).
fn repo(env: &Env) -> std::path::PathBuf {
    let repo = env.path().join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    let git = |args: &[&str]| {
        let ok = Command::new("git")
            .arg("-C")
            .arg(&repo)
            .args(args)
            .env("HOME", env.path().join("home"))
            .env("GIT_CONFIG_GLOBAL", env.path().join("gitconfig"))
            .status()
            .unwrap()
            .success();
        assert!(ok, "git {args:?}");
    };
    git(&["init", "-q", "-b", "main"]);
    git(&["config", "user.email", "t@example.com"]);
    git(&["config", "user.name", "T"]);
    std::fs::write(repo.join("a.txt"), "a\n").unwrap();
    git(&["add", "a.txt"]);
    git(&["commit", "-q", "-m", "one"]);
    repo
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_end_is_told_once_whatever_becomes_of_its_worktree() {
    let env = Env::new(&config_with("[notify]\ncoalesce_ms = 100\n"));
    let bus = Bus::start(&env);
    let (_conn, rec) = bus.serve().await;
    let repo = repo(&env);
    let in_repo = |args: &[&str]| {
        env.cmd(args)
            .current_dir(&repo)
            .env("DBUS_SESSION_BUS_ADDRESS", &bus.address)
            .env("GIT_CONFIG_GLOBAL", env.path().join("gitconfig"))
            .output()
            .unwrap()
    };
    let out = in_repo(&["run", "--agent", "shell", "--worktree", "--", "echo b > b.txt"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    env.wait_status(&id, "completed", Duration::from_secs(15));
    calls_after(&rec, 1, Duration::from_secs(10)).await;
    // A discard, then a merge of what is left (refused): each notes on the task what became of
    // its worktree; neither is an end.
    let out = in_repo(&["discard", "--force", &id]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(env.task(&id)["worktree_note"].as_str().is_some_and(|n| n.starts_with("discarded")));
    in_repo(&["merge", &id]);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let calls = rec.calls.lock().unwrap().clone();
    assert_eq!(calls.len(), 1, "one notification for one end: {calls:#?}");
    env.stop_daemon();
}
