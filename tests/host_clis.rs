//! The real agent CLIs (pinned, installed by `.ci/tools`) as delegating hosts: each is set up
//! by `paneherd install` alone, pointed at a scripted model on 127.0.0.1 that calls paneherd's
//! tools, and run the way a user runs it — from an environment with no `PANEHERD_*` variables,
//! whose daemon is the user's own.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

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
    let codex_home = desk.home().join(".codex");
    std::fs::create_dir_all(&codex_home).unwrap();
    std::fs::write(
        codex_home.join("config.toml"),
        format!(
            "model = \"scripted\"\nmodel_provider = \"scripted\"\n\n[model_providers.scripted]\nname = \"scripted\"\nbase_url = \"http://127.0.0.1:{}/v1\"\nwire_api = \"responses\"\n",
            model.port
        ),
    )
    .unwrap();
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
    let codex_home = desk.home().join(".codex");
    std::fs::create_dir_all(&codex_home).unwrap();
    std::fs::write(
        codex_home.join("config.toml"),
        format!(
            "model = \"scripted\"\nmodel_provider = \"scripted\"\n\n[model_providers.scripted]\nname = \"scripted\"\nbase_url = \"http://127.0.0.1:{}/v1\"\nwire_api = \"responses\"\n",
            model.port
        ),
    )
    .unwrap();
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

/// The user's OpenCode settings: a provider that is the scripted model.
fn opencode_provider(desk: &Desk, model: &Model) {
    let dir = desk.home().join(".config/opencode");
    std::fs::create_dir_all(&dir).unwrap();
    let config = json!({
        "$schema": "https://opencode.ai/config.json",
        "provider": {"scripted": {
            "npm": "@ai-sdk/openai-compatible",
            "name": "Scripted",
            "options": {"baseURL": format!("http://127.0.0.1:{}/v1", model.port), "apiKey": "none"},
            "models": {"m": {"name": "m"}}
        }},
        "model": "scripted/m"
    });
    std::fs::write(dir.join("opencode.json"), config.to_string()).unwrap();
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
    opencode_provider(&desk, &model);
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
    opencode_provider(&desk, &model);
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
