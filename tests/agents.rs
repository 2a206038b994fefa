//! Agents that talk back: `paneherd signal` from inside a task (needs input, working, done),
//! idle detection for agents that never exit, and `continue` (resuming the agent's session, or
//! carrying the earlier prompt and result).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::{BIN, Env, config_with, fixture};
use serde_json::Value;

fn poll(env: &Env, id: &str, what: &str, f: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let t = env.task(id);
        if f(&t) {
            return t;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}: {t:#}");
        std::thread::sleep(Duration::from_millis(30));
    }
}

#[test]
fn signals_move_a_task_to_needs_input_and_back_and_done_completes_it() {
    let env = Env::new(&config_with(&format!(
        "[agents.hooked]\ncommand = [\"{}\", \"{{prompt}}\"]\n",
        fixture("hooked-agent").display()
    )));
    let id = env.submit(&["--agent", "hooked", BIN]);
    let t = poll(&env, &id, "needs input", |t| !t["needs_input"].is_null());
    assert_eq!(t["needs_input"], "Allow edit of src/main.rs?");
    assert_eq!(t["status"], "running");
    let out = env.ok(&["list"]);
    assert!(out.contains("? needs input"), "{out}");
    poll(&env, &id, "working again", |t| t["needs_input"].is_null() && t["status"] == "running");
    let t = poll(&env, &id, "done", |t| t["status"] == "completed");
    assert!(t["result"].as_str().unwrap().contains("working again"));
    assert!(
        !common::pid_alive(t["pid"].as_i64().unwrap()),
        "the agent that stayed open was stopped"
    );
    // Outside a task: a usage error.
    let out = env.run(&["signal", "waiting", "?"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn an_idle_agent_that_never_exits_is_completed() {
    let env = Env::new(&config_with(
        "[agents.chatty]\ncommand = [\"sh\", \"-c\", \"echo hello; sleep 1000\", \"{prompt}\"]\nidle_secs = 1\n",
    ));
    let id = env.submit(&["--agent", "chatty", "x"]);
    let t = poll(&env, &id, "completed by idleness", |t| t["status"] == "completed");
    assert_eq!(t["result"], "hello");
}

#[test]
fn continue_resumes_the_agents_session_or_carries_the_earlier_result() {
    let agent = fixture("session-agent").display().to_string();
    let env = Env::new(&config_with(&format!(
        "[agents.sess]\ncommand = [\"{agent}\", \"{{prompt}}\"]\ncontinue_command = [\"{agent}\", \"--resume\", \"{{session}}\", \"{{prompt}}\"]\nsession_pattern = 'session: (\\S+)'\n\n[agents.plain]\ncommand = [\"{agent}\", \"{{prompt}}\"]\n"
    )));
    let out = env.ok(&["run", "--agent", "sess", "--wait", "--json", "first question"]);
    let first: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(first["session"], "sess-1234", "captured by session_pattern");
    let id = first["id"].as_str().unwrap();
    let out = env.ok(&["continue", id, "and then?", "--wait", "--json"]);
    let next: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(next["result"], "resumed sess-1234: and then?");
    assert_eq!(next["parent"], id);
    assert!(next["title"].as_str().unwrap().ends_with("(continued)"));

    // An agent without continue_command: a new task carrying the earlier prompt and result.
    let out = env.ok(&["run", "--agent", "plain", "--wait", "--json", "original ask"]);
    let plain: Value = serde_json::from_str(&out).unwrap();
    let out = env.ok(&["continue", plain["id"].as_str().unwrap(), "follow up", "--json"]);
    let next: Value = serde_json::from_str(&out).unwrap();
    let prompt = next["prompt"].as_str().unwrap();
    assert!(prompt.starts_with("follow up\n"), "{prompt}");
    assert!(prompt.contains("Its prompt was:\noriginal ask"), "{prompt}");
    assert!(prompt.contains("answer to: original ask"), "{prompt}");
    let out = env.run(&["continue", "no-such", "x"]);
    assert_eq!(out.status.code(), Some(2));
    // `-`: the follow-up from standard input, as `run -`.
    let mut child = env
        .cmd(&["continue", id, "-", "--wait", "--json"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        child.stdin.take().unwrap().write_all(b"from stdin").unwrap();
    }
    let out = child.wait_with_output().unwrap();
    let next: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(next["result"], "resumed sess-1234: from stdin");
}

#[test]
fn continue_never_runs_a_shell_tasks_output_as_a_command() {
    let env = Env::new(&config_with(""));
    let marker = env.path().join("ran");
    // The output of this task is itself a command line that would leave a marker if run.
    let cmd = format!("echo 'touch {}'", marker.display());
    let out = env.ok(&["run", "--agent", "shell", "--wait", "--json", &cmd]);
    let first: Value = serde_json::from_str(&out).unwrap();
    let out = env.run(&["continue", first["id"].as_str().unwrap(), "and again"]);
    assert_eq!(out.status.code(), Some(2), "refused");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no conversation to continue"), "{err}");
    assert!(err.contains("paneherd retry"), "{err}");
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(!marker.exists(), "the earlier output was not run");
    assert_eq!(env.list().len(), 1, "no task was created");
}

#[test]
fn an_agent_that_exits_0_after_a_failure_is_recorded_as_an_error() {
    let env = Env::new(&config_with(
        "[agents.quietfail]\ncommand = [\"sh\", \"-c\", \"echo 'Thinking...'; echo 'litellm.AuthenticationError: Missing Anthropic API Key'; echo 'Please set it'\", \"{prompt}\"]\nerror_patterns = ['^litellm\\.[A-Za-z]+Error\\b']\n",
    ));
    let out = env.run(&["run", "--agent", "quietfail", "--wait", "--json", "x"]);
    assert_eq!(out.status.code(), Some(1), "the wait reports a failed task");
    let t: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(t["status"], "error");
    assert_eq!(t["exit_code"], 0);
    assert_eq!(t["reason"], "litellm.AuthenticationError: Missing Anthropic API Key");
}

#[test]
fn a_session_id_made_by_paneherd_lets_continue_resume_it() {
    let args = fixture("echo-args").display().to_string();
    let env = Env::new(&config_with(&format!(
        "[agents.own]\ncommand = [\"{args}\", \"--session-id\", \"{{session_id}}\", \"--\", \"{{prompt}}\"]\ncontinue_command = [\"{args}\", \"--resume\", \"{{session}}\", \"--\", \"{{prompt}}\"]\n"
    )));
    let args_out = env.path().join("args.bin");
    let read_args = || -> Vec<String> {
        std::fs::read(&args_out)
            .unwrap()
            .split(|b| *b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect()
    };
    let out = env
        .cmd(&["run", "--agent", "own", "--wait", "--json", "--", "-v is broken"])
        .env("ARGS_OUT", &args_out)
        .output()
        .unwrap();
    let first: Value = serde_json::from_slice(&out.stdout).unwrap();
    let session = first["session"].as_str().unwrap().to_string();
    assert_eq!(session.len(), 36, "a UUID: {session}");
    assert_eq!(read_args(), vec!["--session-id", &session, "--", "-v is broken"]);
    let out = env
        .cmd(&["continue", first["id"].as_str().unwrap(), "and then?", "--wait", "--json"])
        .env("ARGS_OUT", &args_out)
        .output()
        .unwrap();
    let next: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(read_args(), vec!["--resume", &session, "--", "and then?"]);
    assert_eq!(next["session"], session.as_str(), "still the same session");
}

#[test]
fn an_agent_that_continues_by_directory_needs_no_session() {
    let args = fixture("echo-args").display().to_string();
    let env = Env::new(&config_with(&format!(
        "[agents.bydir]\ncommand = [\"{args}\", \"--message={{prompt}}\"]\ncontinue_command = [\"{args}\", \"--restore-chat-history\", \"--message={{prompt}}\"]\n"
    )));
    let args_out = env.path().join("args.bin");
    let out = env
        .cmd(&["run", "--agent", "bydir", "--wait", "--json", "first"])
        .env("ARGS_OUT", &args_out)
        .output()
        .unwrap();
    let first: Value = serde_json::from_slice(&out.stdout).unwrap();
    env.cmd(&["continue", first["id"].as_str().unwrap(), "second", "--wait"])
        .env("ARGS_OUT", &args_out)
        .output()
        .unwrap();
    let got = std::fs::read(&args_out).unwrap();
    assert_eq!(got, b"--restore-chat-history\0--message=second\0");
}

/// An agent that reads its prompt on standard input (`stdin = "{prompt}"`) gets it byte for
/// byte — quotes, tabs, a leading `-`, no trailing newline added — and may get one longer than
/// an argument can hold; its input then ends.
#[test]
fn a_prompt_on_standard_input_arrives_byte_for_byte() {
    let out = "stdin.bin";
    let env = Env::new(&config_with(&format!(
        "[agents.reader]\ncommand = [\"sh\", \"-c\", \"cat > {out}; echo read it\"]\nstdin = \"{{prompt}}\"\n"
    )));
    let prompt = "-v Fix the \"parse\" fn\tnow\n  and 'this' $(too) \\\\ ünï";
    let t = ran(&env, prompt);
    assert_eq!(t["status"], "completed", "{t:#}");
    assert_eq!(t["result"], "read it");
    assert_eq!(std::fs::read(env.path().join(out)).unwrap(), prompt.as_bytes());
    // 200 KiB: more than an argument may hold (128 KiB), fine on standard input.
    let long = "word ".repeat(40 * 1024);
    let t = ran(&env, &long);
    assert_eq!(t["status"], "completed", "{t:#}");
    assert_eq!(std::fs::read(env.path().join(out)).unwrap(), long.as_bytes());
}

/// `paneherd run --agent reader -` with the prompt on paneherd's own standard input.
fn ran(env: &Env, prompt: &str) -> Value {
    use std::io::Write;
    let mut child = env
        .cmd(&["run", "--agent", "reader", "--wait", "--json", "-"])
        .current_dir(env.path())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(prompt.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}
