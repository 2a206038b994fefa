//! The real agent CLIs (pinned, installed by `.ci/tools`) as delegating hosts: each is set up
//! by `paneherd install` alone, pointed at a scripted model on 127.0.0.1 that calls paneherd's
//! tools, and run the way a user runs it — from an environment with no `PANEHERD_*` variables,
//! whose daemon is the user's own.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::hosts::{CLAUDE_KEY, claude_first_run_done, codex_provider, opencode_provider};
use common::model::Model;
use common::{BIN, ci_tools};
use serde_json::{Value, json};

/// A user's machine in a temp dir: HOME, a desktop session's runtime dir, a project.
struct Desk {
    dir: tempfile::TempDir,
}

impl Desk {
    fn new() -> Desk {
        let dir = tempfile::Builder::new().prefix("paneherd-host").tempdir().unwrap();
        for d in ["home", "xdg", "project"] {
            std::fs::create_dir_all(dir.path().join(d)).unwrap();
        }
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path().join("xdg"), std::fs::Permissions::from_mode(0o700))
            .unwrap();
        let git = Command::new("git")
            .args(["init", "-q"])
            .current_dir(dir.path().join("project"))
            .env("HOME", dir.path().join("home"))
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .status()
            .unwrap();
        assert!(git.success());
        Desk { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn home(&self) -> PathBuf {
        self.path().join("home")
    }

    /// `program` as the user's desktop starts it: only what a login gives (no `PANEHERD_*`).
    fn cmd(&self, program: &Path, args: &[&str]) -> Command {
        let tools = ci_tools().join("agents/bin");
        let mut c = Command::new(program);
        c.args(args)
            .current_dir(self.path().join("project"))
            .env_clear()
            .env("HOME", self.home())
            .env("XDG_RUNTIME_DIR", self.path().join("xdg"))
            .env("PATH", format!("{}:/usr/local/bin:/usr/bin:/bin", tools.display()))
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("TERM", "xterm-256color")
            .env("CODEX_HOME", self.home().join(".codex"));
        c
    }

    fn paneherd(&self, args: &[&str]) -> String {
        let out = self.cmd(Path::new(BIN), args).output().unwrap();
        assert!(out.status.success(), "paneherd {args:?}: {}", text(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The user's own task list, as their shell sees it.
    fn list(&self) -> Vec<Value> {
        serde_json::from_str(&self.paneherd(&["list", "--json"])).unwrap()
    }
}

impl Drop for Desk {
    fn drop(&mut self) {
        let _ = self.cmd(Path::new(BIN), &["daemon", "stop"]).output();
    }
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// The texts of the tool results the model was sent, over all requests (the last request
/// holds them all).
fn tool_results(requests: &[Value]) -> Vec<String> {
    let Some(last) = requests.iter().rev().find(|r| r["body"]["input"].is_array()) else {
        return vec![];
    };
    last["body"]["input"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["type"] == "function_call_output")
        .map(|i| match &i["output"] {
            Value::String(s) => s.clone(),
            Value::Array(parts) => parts.iter().filter_map(|p| p["text"].as_str()).collect(),
            v => v.to_string(),
        })
        .collect()
}

#[test]
fn codex_delegates_out_of_the_box_after_install() {
    let desk = Desk::new();
    let model = Model::start(
        desk.path(),
        "responses",
        json!([
            {"tool": "task", "args": {"prompt": "printf 'from\\tcodex\\n'", "subagent_type": "shell", "description": "codex's errand"}},
            {"tool": "background_output", "args": {"task_id": "{task_id}", "block": true}},
            {"say": "ANSWER: {last_output}"}
        ]),
    );
    // The user's Codex settings: their model provider (here the scripted one).
    codex_provider(&desk.home(), model.port);
    desk.paneherd(&["install", "codex"]);
    // The user's daemon, started from their shell.
    desk.paneherd(&["list"]);

    let codex = ci_tools().join("agents/bin/codex");
    let out = desk
        .cmd(&codex, &["exec", "--skip-git-repo-check", "hand this off to paneherd"])
        .output()
        .unwrap();
    let said = text(&out);
    assert!(out.status.success(), "codex exec: {said}");
    let results = tool_results(&model.requests());
    assert!(
        !results.iter().any(|r| r.contains("requires approval")),
        "Codex refused paneherd's tools: {results:#?}"
    );
    assert_eq!(results.len(), 2, "task, then background_output: {results:#?}\n{said}");
    assert!(results[0].contains("started in the background"), "{}", results[0]);
    assert!(results[1].contains("Status: completed"), "{}", results[1]);
    assert!(results[1].contains("from\tcodex"), "the exact result: {}", results[1]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("ANSWER:") && stdout.contains("from\tcodex"), "{said}");

    // The task is the user's: in their own list, from their shell.
    let tasks = desk.list();
    assert_eq!(tasks.len(), 1, "{tasks:#?}");
    assert_eq!(tasks[0]["title"], "codex's errand");
    assert_eq!(tasks[0]["status"], "completed");
    let id = tasks[0]["id"].as_str().unwrap();
    let t: Value = serde_json::from_str(&desk.paneherd(&["output", id, "--json"])).unwrap();
    assert_eq!(t["result"], "from\tcodex");
}

#[test]
fn a_codex_tasks_result_is_its_answer_not_its_transcript() {
    let desk = Desk::new();
    let model = Model::start(
        desk.path(),
        "responses",
        json!([{"say": "The parser fails on empty input.\nFix: check the length first."}]),
    );
    codex_provider(&desk.home(), model.port);
    let out = desk.paneherd(&[
        "run",
        "--agent",
        "codex",
        "--wait",
        "--json",
        "--",
        "why does the parser fail?",
    ]);
    let t: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(t["status"], "completed", "{t:#}");
    assert_eq!(t["result"], "The parser fails on empty input.\nFix: check the length first.");
    let summary = t["summary"].as_str().unwrap();
    assert!(summary.starts_with("The parser fails on empty input."), "{summary}");
    // The transcript (banner, session id, the answer) stays in the log; the session is found.
    let log = std::fs::read_to_string(t["log_path"].as_str().unwrap()).unwrap();
    assert!(log.contains("OpenAI Codex") && log.contains("session id:"), "{log}");
    assert!(t["session"].as_str().is_some_and(|s| s.len() == 36), "{t:#}");
    assert_eq!(model.requests().len(), 1);
}

/// The user messages of the requests that offered tools (the session's own turns).
fn user_messages(requests: &[Value]) -> Vec<String> {
    requests
        .iter()
        .filter(|r| r["body"]["tools"].as_array().is_some_and(|t| !t.is_empty()))
        .flat_map(|r| r["body"]["messages"].as_array().cloned().unwrap_or_default())
        .filter(|m| m["role"] == "user")
        .map(|m| match &m["content"] {
            Value::String(s) => s.clone(),
            Value::Array(parts) => parts.iter().filter_map(|p| p["text"].as_str()).collect(),
            v => v.to_string(),
        })
        .collect()
}

#[test]
fn an_opencode_task_gets_its_prompt_as_written_and_its_result_is_the_answer() {
    let desk = Desk::new();
    let model =
        Model::start(desk.path(), "chat", json!([{"say": "The parse fn drops the last token."}]));
    opencode_provider(&desk.home(), model.port);
    let prompt = "Fix the \"parse\" fn\n-v and 'quotes' \\ too";
    let out = desk.paneherd(&[
        "run",
        "--agent",
        "opencode",
        "--model",
        "scripted/m",
        "--wait",
        "--json",
        "--",
        prompt,
    ]);
    let t: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(t["status"], "completed", "{t:#}");
    let asked = user_messages(&model.requests());
    assert!(!asked.is_empty(), "{:#?}", model.requests());
    assert!(
        asked.iter().all(|m| m == prompt),
        "the prompt reached the model as written: {asked:#?}"
    );
    assert_eq!(t["result"], "The parse fn drops the last token.", "{t:#}");
    assert_eq!(t["summary"], "The parse fn drops the last token.");
    // Its session is looked up after the end (`opencode session list`, by the task's title).
    let id = t["id"].as_str().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let t: Value = serde_json::from_str(&desk.paneherd(&["output", id, "--json"])).unwrap();
        if t["session"].as_str().is_some_and(|s| s.starts_with("ses_")) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no session found: {t:#}");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

#[test]
fn opencode_delegates_after_install_and_gets_the_exact_result() {
    let desk = Desk::new();
    let model = Model::start(
        desk.path(),
        "chat",
        json!([
            {"tool": "task", "args": {"prompt": "printf 'from\\topencode\\n'", "subagent_type": "shell", "description": "opencode's errand"}},
            {"tool": "background_output", "args": {"task_id": "{task_id}", "block": true}},
            {"say": "ANSWER: {last_output}"}
        ]),
    );
    opencode_provider(&desk.home(), model.port);
    desk.paneherd(&["install", "opencode"]);
    desk.paneherd(&["list"]);
    let opencode = ci_tools().join("agents/bin/opencode");
    let mut child = desk
        .cmd(&opencode, &["run", "--model", "scripted/m"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        child.stdin.take().unwrap().write_all(b"hand this off to paneherd").unwrap();
    }
    let out = child.wait_with_output().unwrap();
    let said = text(&out);
    assert!(out.status.success(), "opencode run: {said}");
    let requests = model.requests();
    let results: Vec<String> = requests
        .iter()
        .rev()
        .find_map(|r| r["body"]["messages"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter(|m| m["role"] == "tool")
        .map(|m| match &m["content"] {
            Value::String(s) => s.clone(),
            v => v.to_string(),
        })
        .collect();
    assert_eq!(results.len(), 2, "task, then background_output: {results:#?}\n{said}");
    assert!(results[0].contains("started in the background"), "{}", results[0]);
    assert!(results[1].contains("from\topencode"), "the exact result: {}", results[1]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("ANSWER:"), "{said}");
    let tasks = desk.list();
    assert_eq!(tasks.len(), 1, "{tasks:#?}");
    assert_eq!(tasks[0]["title"], "opencode's errand");
    assert_eq!(tasks[0]["status"], "completed");
}

/// Claude Code set up by `paneherd install claude`, as a user who has been through its first
/// run.
fn claude_ready(desk: &Desk) {
    desk.paneherd(&["install", "claude"]);
    claude_first_run_done(&desk.home(), &desk.path().join("project"));
}

/// Requests that carry paneherd's notice of an end.
fn notices(requests: &[Value]) -> Vec<f64> {
    requests
        .iter()
        .filter(|r| r["body"]["messages"].to_string().contains("[BACKGROUND TASK RESULT READY]"))
        .map(|r| r["t"].as_f64().unwrap())
        .collect()
}

fn finished_at(t: &Value) -> f64 {
    let s = t["finished_at"].as_str().unwrap();
    let at = chrono::DateTime::parse_from_rfc3339(s).unwrap();
    at.timestamp_millis() as f64 / 1000.0
}

/// The headline, for real: Claude Code 2.1.332 in a tmux pane delegates through MCP, goes idle,
/// and is woken once when the task ends — by paneherd's hook, not a second time by its own
/// tasks-extension notice.
#[test]
fn claude_code_is_woken_once_when_its_task_ends() {
    let desk = Desk::new();
    let model = Model::start(
        desk.path(),
        "anthropic",
        json!([
            {"tool": "task", "args": {"prompt": "sleep 2; echo done-it", "subagent_type": "shell", "description": "wake me"}},
            {"say": "Delegated; I will wait."}
        ]),
    );
    claude_ready(&desk);
    desk.paneherd(&["list"]);
    let sock = desk.path().join("tmux.sock");
    let tmux = |args: &[&str]| {
        let out = Command::new("tmux").arg("-S").arg(&sock).args(args).output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    tmux(&["-f", "/dev/null", "new-session", "-d", "-x", "160", "-y", "45", "-s", "main", "sh"]);
    let until = |what: &str, secs: u64, f: &dyn Fn(&str) -> bool| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        loop {
            let s = tmux(&["capture-pane", "-p", "-t", "%0"]);
            if f(&s) {
                return;
            }
            assert!(std::time::Instant::now() < deadline, "no {what}:\n{s}");
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    };
    until("shell", 10, &|s| common::tmux::prompt_back(s));
    let tools = ci_tools().join("agents/bin");
    let start = format!(
        "cd {} && exec env -i HOME={} XDG_RUNTIME_DIR={} PATH={}:/usr/bin:/bin TERM=xterm-256color GIT_CONFIG_GLOBAL=/dev/null ANTHROPIC_BASE_URL=http://127.0.0.1:{} ANTHROPIC_API_KEY={CLAUDE_KEY} claude --allowedTools mcp__paneherd__task,mcp__paneherd__background_output",
        desk.path().join("project").display(),
        desk.home().display(),
        desk.path().join("xdg").display(),
        tools.display(),
        model.port
    );
    tmux(&["send-keys", "-t", "%0", "-l", &start]);
    tmux(&["send-keys", "-t", "%0", "Enter"]);
    until("Claude Code's prompt", 60, &|s| s.contains("Claude Code v2.1.332") && s.contains('❯'));
    std::thread::sleep(std::time::Duration::from_millis(500));
    tmux(&["send-keys", "-t", "%0", "-l", "delegate it please"]);
    std::thread::sleep(std::time::Duration::from_millis(300));
    tmux(&["send-keys", "-t", "%0", "Enter"]);
    // The task ends some 2 s later; the session was idle by then.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while notices(&model.requests()).is_empty() {
        assert!(std::time::Instant::now() < deadline, "never woken: {:#?}", model.requests().len());
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    // Claude Code's own notice would come a second or more after the hook's.
    std::thread::sleep(std::time::Duration::from_secs(4));
    let requests = model.requests();
    let woken = notices(&requests);
    assert_eq!(woken.len(), 1, "one wake per end");
    // Nor any turn after it: Claude Code's own notice of the MCP task would be one.
    let after: Vec<&Value> =
        requests.iter().filter(|r| r["t"].as_f64().unwrap() > woken[0]).collect();
    assert!(after.is_empty(), "turns after the wake: {after:#?}");
    let tasks = desk.list();
    assert_eq!(tasks.len(), 1, "{tasks:#?}");
    assert_eq!(tasks[0]["status"], "completed");
    assert_eq!(tasks[0]["delivered"], true);
    let latency = woken[0] - finished_at(&tasks[0]);
    eprintln!("end → model request with the notice: {:.0} ms", latency * 1000.0);
    assert!(latency > 0.0 && latency < 5.0, "{latency}");
    tmux(&["kill-server"]);
}

/// `claude -p` is not held up by the hook waiting for a task it delegated: it exits when its
/// turn ends, and the end waits in the inbox.
#[test]
fn claude_p_exits_at_once_and_the_end_waits_in_the_inbox() {
    let desk = Desk::new();
    let model = Model::start(
        desk.path(),
        "anthropic",
        json!([
            {"tool": "task", "args": {"prompt": "sleep 4; echo later", "subagent_type": "shell", "description": "later"}},
            {"say": "Delegated."}
        ]),
    );
    claude_ready(&desk);
    desk.paneherd(&["list"]);
    let claude = ci_tools().join("agents/bin/claude");
    let t0 = std::time::Instant::now();
    let out = desk
        .cmd(&claude, &["-p", "--allowedTools", "mcp__paneherd__task", "--", "delegate it"])
        .env("ANTHROPIC_BASE_URL", format!("http://127.0.0.1:{}", model.port))
        .env("ANTHROPIC_API_KEY", CLAUDE_KEY)
        .output()
        .unwrap();
    let took = t0.elapsed();
    assert!(out.status.success(), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Delegated."), "{}", text(&out));
    let tasks = desk.list();
    assert_eq!(tasks.len(), 1, "{tasks:#?}");
    assert!(took < std::time::Duration::from_secs(4), "claude -p waited for the task: {took:?}");
    let id = tasks[0]["id"].as_str().unwrap();
    let wait = desk.cmd(Path::new(BIN), &["wait", id]).output().unwrap();
    assert!(wait.status.success(), "{}", text(&wait));
    let v: Value = serde_json::from_str(&desk.paneherd(&["inbox", "--all", "--json"])).unwrap();
    let left: Vec<&str> =
        v["tasks"].as_array().unwrap().iter().filter_map(|t| t["id"].as_str()).collect();
    assert_eq!(left, vec![id], "the end waits, untold");
}
