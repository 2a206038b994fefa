//! Results that reach the agent that delegated them. A stand-in for Claude Code's process
//! (`tests/python/fake_claude.py`, run as a file named `claude`) starts `paneherd mcp` and
//! `paneherd hook claude` as its children, as Claude Code does, with hook input as Claude Code
//! writes it; a second such process is another agent.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{BIN, Env, config_with};
use serde_json::Value;

fn fake_claude(env: &Env) -> std::path::PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/fake_claude.py");
    let dir = env.path().join("agent-bin");
    std::fs::create_dir_all(&dir).unwrap();
    let exe = dir.join("claude");
    std::fs::copy(&src, &exe).unwrap();
    exe
}

fn run_agent(env: &Env, scenario: &str) -> Value {
    run_agent_with(env, scenario, &[])
}

/// The stand-in run with `args` of Claude Code's own after the scenario (`-p`).
fn run_agent_with(env: &Env, scenario: &str, args: &[&str]) -> Value {
    // Run by the interpreter (as `node …/claude` runs Claude Code): a file just written is not
    // exec'd while another test's fork may still hold it open for writing.
    let mut cmd = Command::new("python3");
    cmd.arg(fake_claude(env))
        .arg(BIN)
        .arg(scenario)
        .args(args)
        .current_dir(env.path())
        .env_remove("PANEHERD_DELEGATOR");
    env.apply(&mut cmd);
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "the fake agent failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn ids(inbox: &Value) -> Vec<String> {
    inbox["tasks"].as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap().into()).collect()
}

#[test]
fn ends_reach_the_agent_that_delegated_them_once_and_no_other() {
    let env = Env::new(&config_with(""));
    let seen = run_agent(&env, "delegate");
    let me = format!("claude@{}.", seen["pid"]);

    // The MCP server, the Bash tool's `paneherd run` and the hooks, all children of the one
    // agent process, name the same delegator.
    for key in ["first", "second", "third", "fourth"] {
        let t = env.task(seen[key].as_str().unwrap());
        let d = t["delegator"]["id"].as_str().unwrap_or_default().to_string();
        assert!(d.starts_with(&me), "{key}: delegator {d:?}, agent {me}");
        assert_eq!(t["delegator"]["agent"], "claude");
        // The session id Claude Code passes its hooks, once a hook has run.
        assert_eq!(t["delegator"]["session"], "4f0c9a52-8c59-4a4e-9b8a-3c2d1e0f9a77", "{key}");
    }

    // The async-rewake hook: exit 2, the notice on stderr, when the task ends.
    let woken = &seen["woken"];
    assert_eq!(woken["code"], 2, "{woken}");
    let first = seen["first"].as_str().unwrap();
    let notice = woken["stderr"].as_str().unwrap();
    assert!(
        notice.starts_with(&format!("[BACKGROUND TASK RESULT READY] {first} — alpha (completed,")),
        "{notice}"
    );
    assert!(notice.contains(&format!("background_output(task_id=\"{first}\")")), "{notice}");
    assert!(notice.contains("[ALL BACKGROUND TASKS COMPLETE]"), "{notice}");
    // Read by the agent through background_output first: the hook stays silent.
    assert_eq!(seen["read_first"]["code"], 0, "{}", seen["read_first"]);
    assert_eq!(seen["read_first"]["stderr"], "");

    // Another agent sees none of this one's ends; this one sees its two untold ones.
    assert_eq!(ids(&seen["other"]["inbox"]), Vec::<String>::new(), "{}", seen["other"]);
    let (third, fourth) = (seen["third"].as_str().unwrap(), seen["fourth"].as_str().unwrap());
    assert_eq!(ids(&seen["mine"]), vec![third.to_string(), fourth.to_string()]);

    // The next prompt gets them as context, once; then nothing.
    let context = &seen["context"];
    assert_eq!(context["code"], 0, "{context}");
    let out: Value = serde_json::from_str(context["stdout"].as_str().unwrap()).unwrap();
    assert_eq!(out["hookSpecificOutput"]["hookEventName"], "UserPromptSubmit");
    let text = out["hookSpecificOutput"]["additionalContext"].as_str().unwrap();
    assert!(text.contains(&format!("[BACKGROUND TASK RESULT READY] {third}")), "{text}");
    assert!(text.contains(&format!("[BACKGROUND TASK RESULT READY] {fourth}")), "{text}");
    assert_eq!(seen["again"]["code"], 0);
    assert_eq!(seen["again"]["stdout"], "", "told once");

    // Every end was told exactly once.
    for key in ["first", "second", "third", "fourth"] {
        assert_eq!(env.task(seen[key].as_str().unwrap())["delivered"], true, "{key}");
    }
    env.stop_daemon();
}

#[test]
fn an_end_not_yet_told_survives_a_killed_daemon_and_is_told_once() {
    let env = Env::new(&config_with(""));
    let mut run = env.cmd(&["run", "--agent", "shell", "echo kept"]);
    run.env("PANEHERD_DELEGATOR", "claude@4242.1");
    let out = run.output().unwrap();
    let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    env.wait_status(&id, "completed", Duration::from_secs(10));
    let pid = env.daemon_pid().unwrap();
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL)
        .unwrap();
    // Gone for good before the next command (else it may reach the dying daemon's socket).
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while common::pid_alive(pid.into()) && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let inbox = |ack: bool| -> Value {
        let mut c = env.cmd(&["inbox", "--json"]);
        if ack {
            c.arg("--ack");
        }
        c.env("PANEHERD_DELEGATOR", "claude@4242.1");
        let out = c.output().unwrap();
        assert!(out.status.success(), "inbox: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    // A new daemon (started by the command) still holds it; told once, then gone.
    assert_eq!(ids(&inbox(false)), vec![id.clone()]);
    assert_eq!(ids(&inbox(true)), vec![id.clone()]);
    assert_eq!(ids(&inbox(false)), Vec::<String>::new());
    env.stop_daemon();
}

/// Codex's `notify` program, as `paneherd install codex` sets it: Codex appends the payload (the
/// fields of its config reference's `agent-turn-complete` notification) as the last argument.
#[test]
fn a_tasks_own_codex_reports_its_finished_turn_through_notify() {
    let env = Env::new(&config_with(""));
    let id = env.submit(&["--agent", "shell", "--", "sleep 60"]);
    env.wait_status(&id, "running", Duration::from_secs(10));
    let payload = serde_json::json!({
        "type": "agent-turn-complete",
        "thread-id": "0199a213-81c0-7800-8aa1-bbab2a035a53",
        "turn-id": "12345",
        "cwd": env.path(),
        "input-messages": ["Rename `foo` to `bar` and update the callsites."],
        "last-assistant-message": "Rename complete and verified `cargo build` succeeds."
    })
    .to_string();
    // Outside a task: nothing, silently.
    let out = env.cmd(&["hook", "codex", &payload]).output().unwrap();
    assert!(out.status.success() && out.stdout.is_empty() && out.stderr.is_empty());
    assert_eq!(env.task(&id)["status"], "running");
    // Another kind of notification: nothing.
    let mut other = env.cmd(&["hook", "codex", r#"{"type":"approval-requested"}"#]);
    assert!(other.env("PANEHERD_TASK_ID", &id).status().unwrap().success());
    assert_eq!(env.task(&id)["status"], "running");
    // As the task's own Codex runs it: with the task's id and token in its environment (a
    // process that has only the id is not the task's).
    let mut forged = env.cmd(&["hook", "codex", &payload]);
    assert!(forged.env("PANEHERD_TASK_ID", &id).status().unwrap().success(), "silent");
    assert_eq!(env.task(&id)["status"], "running", "no token, no signal");
    let mut hook = env.cmd(&["hook", "codex", &payload]);
    hook.env("PANEHERD_TASK_ID", &id).env("PANEHERD_TASK_TOKEN", env.task_token(&id));
    let out = hook.output().unwrap();
    assert!(out.status.success() && out.stdout.is_empty(), "{out:?}");
    let t = env.wait_status(&id, "completed", Duration::from_secs(10));
    assert_eq!(t["session"], "0199a213-81c0-7800-8aa1-bbab2a035a53");
}

/// A tool call that submitted nothing (most Bash calls) costs the hook no daemon: it is not
/// started, nor talked to.
#[test]
fn a_bash_call_that_submits_nothing_starts_no_daemon() {
    use std::io::Write;
    let env = Env::new(&config_with(""));
    let input = serde_json::json!({
        "session_id": "4f0c9a52-8c59-4a4e-9b8a-3c2d1e0f9a77",
        "transcript_path": "/tmp/t.jsonl",
        "cwd": env.path(),
        "hook_event_name": "PostToolUse",
        "tool_name": "Bash",
        "tool_input": { "command": "ls -la" },
        "tool_response": { "stdout": "total 0\n", "stderr": "", "interrupted": false }
    });
    let mut hook = env.cmd(&["hook", "claude"]);
    hook.env("PANEHERD_DELEGATOR", "claude@4242.1")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped());
    let mut child = hook.spawn().unwrap();
    child.stdin.take().unwrap().write_all(input.to_string().as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success() && out.stdout.is_empty(), "{out:?}");
    assert_eq!(env.daemon_pid(), None, "no daemon was started for it");
}

#[test]
fn a_person_reading_the_inbox_is_told_of_every_task_still_at_work() {
    let env = Env::new(&config_with(""));
    let run = |prompt: &str| {
        let out = env
            .cmd(&["run", "--agent", "shell", prompt])
            .env("PANEHERD_DELEGATOR", "tester")
            .output()
            .unwrap();
        assert!(out.status.success());
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let quick = run("echo a");
    let slow = run("sleep 15");
    env.wait_status(&quick, "completed", Duration::from_secs(10));
    env.wait_status(&slow, "running", Duration::from_secs(10));
    // Everyone's ends (`--all`, as a person reads them): the agent's task still at work counts.
    let v: Value = serde_json::from_str(&env.ok(&["inbox", "--all", "--json"])).unwrap();
    assert_eq!(v["in_progress"], 1, "{v}");
    let notice = v["notice"].as_str().unwrap_or_default();
    assert!(!notice.contains("ALL BACKGROUND TASKS COMPLETE"), "{notice}");
    env.ok(&["cancel", &slow]);
}

#[test]
fn in_print_mode_the_hook_lets_claude_exit_and_the_end_waits_in_the_inbox() {
    let env = Env::new(&config_with(""));
    let seen = run_agent_with(&env, "print", &["-p"]);
    assert_eq!(seen["hook"]["code"], 0, "{}", seen["hook"]);
    assert!(seen["hook_secs"].as_f64().unwrap() < 2.0, "the hook waited: {seen}");
    let id = seen["task"].as_str().unwrap();
    let t = env.wait_status(id, "completed", Duration::from_secs(10));
    assert_eq!(t["delivered"], false, "nobody was told");
    // Still there for the agent (resumed: see the session test), or a person.
    let v: Value = serde_json::from_str(&env.ok(&["inbox", "--all", "--json"])).unwrap();
    assert_eq!(ids(&v), vec![id.to_string()]);
}

#[test]
fn results_the_agent_waited_for_itself_are_not_told_again() {
    let env = Env::new(&config_with(""));
    let seen = run_agent(&env, "foreground");
    assert!(seen["waited_out"].as_str().unwrap().contains("waited"), "{seen}");
    assert!(seen["read_out"].as_str().unwrap().contains("read"), "{seen}");
    assert_eq!(ids(&seen["mine"]), Vec::<String>::new(), "{seen}");
    assert_eq!(env.task(seen["read"].as_str().unwrap())["delivered"], true);
    // A person reading a result does not tell the agent.
    let mut run = env.cmd(&["run", "--agent", "shell", "echo theirs"]);
    let out = run.env("PANEHERD_DELEGATOR", "claude@4242.1").output().unwrap();
    let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    env.ok(&["output", &id, "--wait"]);
    assert_eq!(env.task(&id)["delivered"], false);
}

/// `claude --continue` is a new process in the same session: the ends its earlier process
/// delegated are told to it (matched by the session id the hooks pass), and to no other session.
#[test]
fn a_resumed_session_is_told_the_ends_of_its_earlier_process() {
    use std::io::Write;
    let env = Env::new(&config_with(""));
    let hook = |delegator: &str, session: &str, event: &str| -> std::process::Output {
        let input = serde_json::json!({
            "session_id": session,
            "transcript_path": format!("/tmp/{session}.jsonl"),
            "cwd": env.path(),
            "hook_event_name": event,
            "source": "resume",
        });
        let mut c = env.cmd(&["hook", "claude"]);
        c.env("PANEHERD_DELEGATOR", delegator)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped());
        let mut child = c.spawn().unwrap();
        child.stdin.take().unwrap().write_all(input.to_string().as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    };
    let session = "9a1f6b3e-0c2d-4e5f-8a7b-6c5d4e3f2a1b";
    let mut run = env.cmd(&["run", "--agent", "shell", "sleep 1; echo for the session"]);
    let out = run.env("PANEHERD_DELEGATOR", "claude@1111.1").output().unwrap();
    let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(hook("claude@1111.1", session, "SessionStart").status.success());
    env.wait_status(&id, "completed", Duration::from_secs(10));
    // The first process quit; another session starts: not its end.
    let other = hook("claude@3333.1", "0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0", "SessionStart");
    assert!(other.stdout.is_empty(), "{}", String::from_utf8_lossy(&other.stdout));
    // The same session resumed by a new process: told, once.
    let resumed = hook("claude@2222.1", session, "SessionStart");
    let text = String::from_utf8_lossy(&resumed.stdout);
    assert!(text.contains(&format!("[BACKGROUND TASK RESULT READY] {id}")), "{text}");
    assert_eq!(env.task(&id)["delivered"], true);
    let again = hook("claude@2222.1", session, "UserPromptSubmit");
    assert!(again.stdout.is_empty(), "told once");
}
