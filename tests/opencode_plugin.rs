//! paneherd's OpenCode plugin (`assets/opencode/paneherd.js`), loaded by node as OpenCode loads
//! it, with a stub of the SDK client (`tests/js/opencode_plugin.mjs`): one notice per ended task
//! of its session, into that session; a task's own OpenCode reports its state.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::Command;

use common::{BIN, Env, config_with};
use serde_json::Value;

fn node(env: &Env, scenario: &str, task: Option<&str>) -> Value {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut cmd = Command::new("node");
    cmd.arg(root.join("tests/js/opencode_plugin.mjs"))
        .arg(root.join("assets/opencode/paneherd.js"))
        .arg(scenario)
        .current_dir(env.path())
        .env("PANEHERD_BIN", BIN)
        .env_remove("PANEHERD_DELEGATOR")
        .env_remove("PANEHERD_TASK_ID");
    env.apply(&mut cmd);
    // As inside the task: its id and token in the environment.
    if let Some(t) = task {
        cmd.env("PANEHERD_TASK_ID", t).env("PANEHERD_TASK_TOKEN", env.task_token(t));
    }
    let out = cmd.output().expect("node (Node.js 20 or newer) runs the plugin");
    assert!(
        out.status.success(),
        "node failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn each_ended_task_is_told_once_to_the_session_that_delegated_it() {
    let env = Env::new(&config_with(""));
    let seen = node(&env, "delegate", None);
    let id = |k: &str| seen["ids"][k].as_str().unwrap().to_string();
    let posted = seen["posted"].as_array().unwrap();
    let told = |task: &str| -> Vec<&Value> {
        posted
            .iter()
            .filter(|p| {
                p["body"]["parts"][0]["text"]
                    .as_str()
                    .unwrap()
                    .contains(&format!("[BACKGROUND TASK RESULT READY] {task} "))
            })
            .collect()
    };
    for (task, session) in [("a1", "ses_A"), ("a2", "ses_A"), ("b1", "ses_B"), ("quick", "ses_A")] {
        let t = told(&id(task));
        assert_eq!(t.len(), 1, "{task} told once: {posted:#?}");
        assert_eq!(t[0]["path"]["id"], session, "{task} told to its own session");
        assert_eq!(t[0]["body"]["parts"][0]["type"], "text");
    }
    assert!(told(&id("other")).is_empty(), "a task the session did not submit is not told to it");
    assert_eq!(posted.len(), 4, "{posted:#?}");
    // While others of the session run, the notice is only added (noReply); the session's last
    // end wakes the model.
    assert_eq!(told(&id("a2"))[0]["body"]["noReply"], false, "a2 ends last in A");
    assert_eq!(told(&id("b1"))[0]["body"]["noReply"], false, "b1 is B's only task");
    assert_eq!(told(&id("a1"))[0]["body"]["noReply"], true, "a2 still ran when a1 ended");

    // Told means told: the inbox keeps only the end nobody here was told.
    let inbox: Value = serde_json::from_str(&env.ok(&["inbox", "--all", "--json"])).unwrap();
    let left: Vec<&str> =
        inbox["tasks"].as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap()).collect();
    assert_eq!(left, vec![id("other").as_str()]);
}

#[test]
fn a_tasks_own_opencode_reports_its_state() {
    let env = Env::new(&config_with(""));
    let id = env.submit(&["--agent", "shell", "--", "sleep 60"]);
    env.wait_status(&id, "running", std::time::Duration::from_secs(10));
    let seen = node(&env, "own", Some(&id));
    let step = |i: usize| &seen[i]["task"];
    assert_eq!(
        step(0)["session"],
        "ses_main",
        "the main session's id is recorded, not a subagent's"
    );
    assert_eq!(step(1)["needs_input"], "OpenCode asks permission: Run rm -rf build");
    assert!(step(2)["needs_input"].is_null(), "busy again: working");
    assert_eq!(step(3)["status"], "running", "a subagent's idle does not end the task");
    assert_ne!(step(4)["status"], "running", "the main session's idle ends it: {seen:#}");
}

/// The real OpenCode (the pinned npm release) loads the plugin `paneherd install opencode`
/// wrote, and its events reach it as the plugin reads them: a session OpenCode creates while it
/// runs as a task is recorded on that task.
#[test]
fn real_opencode_loads_the_installed_plugin() {
    let opencode = common::ci_tools().join("agents/bin/opencode");
    let env = Env::new(&config_with(""));
    let home = env.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let ok = |c: &mut Command| {
        env.apply(c);
        c.env("HOME", &home).env("XDG_CONFIG_HOME", home.join(".config"));
        let out = c.output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    ok(Command::new(BIN).args(["install", "opencode"]));
    let id = env.submit(&["--agent", "shell", "--", "sleep 60"]);
    env.wait_status(&id, "running", std::time::Duration::from_secs(10));

    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut serve = Command::new(&opencode);
    serve
        .args(["serve", "--port", &port.to_string()])
        .env("PANEHERD_TASK_ID", &id)
        .env("PANEHERD_TASK_TOKEN", env.task_token(&id));
    env.apply(&mut serve);
    serve
        .env("HOME", &home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut server = serve.spawn().unwrap();
    // Ready once it lists its sessions (a request that makes nothing); then one session is
    // made, with one request: a `POST /session` given up on while OpenCode was still starting
    // would make a session all the same, and a second one would then not be the first.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !http(port, "GET", "/session", 5).is_some_and(|v| v.is_array()) {
        assert!(std::time::Instant::now() < deadline, "opencode serve did not answer");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let session = http(port, "POST", "/session", 60).expect("POST /session");
    assert!(session["id"].is_string(), "{session}");
    let sid = session["id"].as_str().unwrap().to_string();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while env.task(&id)["session"] != sid.as_str() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let _ = server.kill();
    let _ = server.wait();
    assert_eq!(env.task(&id)["session"], sid.as_str(), "the plugin reported the session");
}

/// `METHOD PATH` to OpenCode's server, with an empty JSON body for a POST (HTTP/1.1 by hand:
/// no client needed on the machine); the JSON it answered within `wait` seconds.
fn http(port: u16, method: &str, path: &str, wait: u64) -> Option<Value> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(wait))).ok()?;
    let body = if method == "POST" { "{}" } else { "" };
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).ok()?;
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw);
    let body = text.split_once("\r\n\r\n")?.1;
    // The body may come chunked: the JSON is between its first `{`/`[` and last `}`/`]`.
    let start = body.find(['{', '['])?;
    let end = body.rfind(['}', ']'])?;
    serde_json::from_str(&body[start..=end]).ok()
}
