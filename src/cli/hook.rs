//! `paneherd hook claude`: one command for every Claude Code hook, reading the hook's JSON input
//! on stdin (fields as in Claude Code's hooks reference: `hook_event_name`, `session_id`,
//! `tool_name`, `tool_input`, `tool_response`, `message`, `notification_type`).
//!
//! For the agent that delegates (any Claude Code session):
//! - `PostToolUse` of paneherd's MCP `task` tool, or of a Bash command that ran `paneherd run`,
//!   installed with `"asyncRewake": true`: waits (blocked on the socket) for that task to end,
//!   then exits 2 with the notice on stderr, which wakes the session — unless the end was told
//!   already (the agent read the result with `background_output`): then exit 0, silently.
//! - `UserPromptSubmit`, `SessionStart`: ends not yet told, as `additionalContext`, once.
//!
//! For a task's own Claude Code (`PANEHERD_TASK_ID` set): `Notification` → `signal waiting`,
//! `UserPromptSubmit` → `signal working`, `Stop` → `signal done`.

use std::io::Read;
use std::path::Path;

use serde_json::Value;

use super::exit;
use super::out::{CmdResult, Fail};
use crate::client::Client;
use crate::core::task::Task;
use crate::core::timefmt;
use crate::paths::Paths;
use crate::proto::{InboxData, Request, ask};

/// Exit code with which an async-rewake hook wakes the session.
const WAKE: i32 = 2;

fn field<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("")
}

/// Whether a tool call submitted a paneherd task in the background.
pub fn submits_task(input: &Value) -> bool {
    let tool = field(input, "tool_name");
    if let Some(rest) = tool.strip_prefix("mcp__") {
        // `mcp__<server>__task` (the server named as the user added it).
        return rest.rsplit_once("__").is_some_and(|(_, t)| t == "task")
            && input.pointer("/tool_input/run_in_background").and_then(Value::as_bool)
                != Some(false);
    }
    if tool == "Bash" {
        let cmd = input.pointer("/tool_input/command").and_then(Value::as_str).unwrap_or("");
        return cmd.contains("paneherd run") && !cmd.contains("--wait");
    }
    false
}

/// Words of a tool's response that may be task ids (`adjective-animal`).
pub fn id_candidates(response: &Value) -> Vec<String> {
    let text = match response {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let mut out: Vec<String> = vec![];
    for w in text.split(|c: char| !(c.is_ascii_lowercase() || c == '-')) {
        let w = w.trim_matches('-');
        let parts: Vec<&str> = w.split('-').collect();
        if parts.len() == 2 && parts.iter().all(|p| p.len() >= 2) && !out.iter().any(|o| o == w) {
            out.push(w.to_string());
        }
    }
    out
}

/// Exit code of a hook that could not do its work: Claude Code shows the message and goes on
/// (2 would block the tool call, and is this hook's wake-up code).
const HOOK_FAILED: i32 = 1;

/// Reads the hook's input: a JSON object with `hook_event_name`, or why not (exit 1: Claude
/// Code's non-blocking error).
fn hook_input(raw: &str) -> Result<Value, Fail> {
    let fail = |message: String| Fail { code: HOOK_FAILED, message };
    if raw.trim().is_empty() {
        return Err(fail(
            "hook claude: no hook input on stdin (Claude Code sends a JSON object; run \
             from its hooks, see `paneherd install claude`)"
                .into(),
        ));
    }
    let input: Value = serde_json::from_str(raw)
        .map_err(|e| fail(format!("hook claude: the input on stdin is not JSON: {e}")))?;
    if !input.is_object() || !input.get("hook_event_name").is_some_and(Value::is_string) {
        return Err(fail(
            "hook claude: the input is not a Claude Code hook's (a JSON object with a \
             string `hook_event_name`)"
                .into(),
        ));
    }
    Ok(input)
}

pub fn claude(paths: &Paths) -> CmdResult {
    let mut raw = String::new();
    std::io::stdin().read_to_string(&mut raw).map_err(|e| Fail {
        code: HOOK_FAILED,
        message: format!("hook claude: cannot read the hook input: {e}"),
    })?;
    let input = hook_input(&raw)?;
    super::out::block_on(handle(paths, &input))
}

async fn handle(paths: &Paths, input: &Value) -> CmdResult {
    let event = field(input, "hook_event_name");
    let own_task = std::env::var("PANEHERD_TASK_ID").ok().filter(|v| !v.is_empty());
    if let Some(task) = &own_task {
        let signal = match event {
            "Notification" => Some(("waiting", Some(field(input, "message").to_string()))),
            "UserPromptSubmit" => Some(("working", None)),
            "Stop" => Some(("done", None)),
            _ => None,
        };
        if let Some((kind, text)) = signal {
            let mut c = Client::connect(paths, true).await?;
            let token = std::env::var("PANEHERD_TASK_TOKEN").ok();
            let req = Request::Signal { task_id: task.clone(), kind: kind.into(), text, token };
            c.request_raw(req).await?;
        }
    }
    // The delegating session's id, on its tasks (its process names the delegator): only from
    // the events that talk to the daemon anyway — not from every Bash call.
    let talks = match event {
        "PostToolUse" => submits_task(input),
        "UserPromptSubmit" | "SessionStart" => true,
        _ => false,
    };
    let session = field(input, "session_id");
    if talks
        && !session.is_empty()
        && let Some(me) = crate::delegator::current()
    {
        let mut c = Client::connect(paths, true).await?;
        let req = Request::DelegatorSession { delegator: me.id, session: session.to_string() };
        c.request_raw(req).await?;
    }
    match event {
        "PostToolUse" if submits_task(input) => wake_when_done(paths, input).await,
        "UserPromptSubmit" | "SessionStart" => add_context(paths, event).await,
        _ => Ok(exit::OK),
    }
}

/// `paneherd hook codex PAYLOAD`, Codex's `notify` program: for a task's own Codex, a finished
/// turn records the session (its thread id, for `continue`) and ends the task as done. Always
/// exits 0, silently: Codex shows nothing of it, and a failure must not disturb it.
pub fn codex(paths: &Paths, payload: Option<&str>) -> i32 {
    let Some(task) = std::env::var("PANEHERD_TASK_ID").ok().filter(|v| !v.is_empty()) else {
        return exit::OK;
    };
    let Some(v) = payload.and_then(|p| serde_json::from_str::<Value>(p).ok()) else {
        return exit::OK;
    };
    if field(&v, "type") != "agent-turn-complete" {
        return exit::OK;
    }
    let thread = field(&v, "thread-id").to_string();
    let token = std::env::var("PANEHERD_TASK_TOKEN").ok();
    let sent = super::out::block_on(async {
        let mut c = Client::connect(paths, true).await?;
        if !thread.is_empty() {
            let req = Request::Signal {
                task_id: task.clone(),
                kind: "session".into(),
                text: Some(thread),
                token: token.clone(),
            };
            c.request_raw(req).await?;
        }
        let done = Request::Signal { task_id: task, kind: "done".into(), text: None, token };
        c.request_raw(done).await?;
        Ok(exit::OK)
    });
    if let Err(e) = sent {
        tracing::warn!("hook codex: {}", e.message);
    }
    exit::OK
}

/// How many times in a row a waiting hook may fail to reach a daemon before it gives up.
const RECONNECTS: u32 = 40;

/// Whether a failed request means the daemon went away (it crashed, or is restarting) rather
/// than an answer.
fn daemon_gone(e: &crate::client::ClientError) -> bool {
    use crate::client::ClientError;
    e.is_dropped() || matches!(e, ClientError::Io(_) | ClientError::Unreachable(_))
}

/// Waits for the task the tool call submitted to end. A daemon that goes away meanwhile (a
/// crash) is reconnected to, or a new one started, which takes the task over: the end is still
/// told. Returns the connection to the daemon that saw the end.
async fn wait_for(paths: &Paths, mut c: Client, id: &str) -> Result<Client, Fail> {
    let mut failures = 0;
    loop {
        match c.ask(ask::Wait { ids: vec![id.to_string()], all: false, timeout_ms: None }).await {
            Ok(w) if !w.timed_out => return Ok(c),
            Ok(_) => {}
            Err(e) if daemon_gone(&e) => loop {
                failures += 1;
                if failures > RECONNECTS {
                    return Err(e.into());
                }
                let backoff = std::time::Duration::from_millis(50 * u64::from(failures.min(10)));
                tokio::time::sleep(backoff).await;
                match Client::connect(paths, true).await {
                    Ok(next) => {
                        c = next;
                        break;
                    }
                    Err(e) if daemon_gone(&e) || e.is_dropped() => continue,
                    Err(e) => return Err(e.into()),
                }
            },
            Err(e) => return Err(e.into()),
        }
    }
}

async fn wake_when_done(paths: &Paths, input: &Value) -> CmdResult {
    let me = crate::delegator::current().map(|d| d.id);
    // `claude -p` waits for its async hooks before it exits: a hook that waited for the task
    // would hold a script's `out=$(claude -p …)` until the task ends, then tell a session that
    // is gone. It returns at once; the end stays in the inbox, told to whoever resumes.
    if me.as_deref().is_some_and(|d| crate::delegator::in_print_mode(Path::new("/proc"), d)) {
        return Ok(exit::OK);
    }
    let mut c = Client::connect(paths, true).await?;
    // The task the call made: an id in its response that names a task of this agent's.
    let response = input.get("tool_response").cloned().unwrap_or(Value::Null);
    let mut task: Option<Task> = None;
    for cand in id_candidates(&response) {
        let t: Option<Task> = c.ask(ask::Get { id: cand }).await.unwrap_or(None);
        if let Some(t) =
            t.filter(|t| me.is_none() || t.delegator.as_ref().map(|d| &d.id) == me.as_ref())
        {
            task = Some(t);
            break;
        }
    }
    let Some(task) = task else { return Ok(exit::OK) };
    let mut c = wait_for(paths, c, &task.id).await?;
    let told: InboxData = c.ask(ask::Deliver { ids: vec![task.id.clone()], notice: true }).await?;
    if told.tasks.is_empty() {
        // Told already (the agent read the result): nothing to wake it for.
        return Ok(exit::OK);
    }
    eprint!("{}", crate::notify::notice::for_agent(&told.tasks, told.in_progress, timefmt::now()));
    Ok(WAKE)
}

/// Ends not yet told to this agent, as the hook's `additionalContext`.
async fn add_context(paths: &Paths, event: &str) -> CmdResult {
    let Some(me) = crate::delegator::current() else { return Ok(exit::OK) };
    let mut c = Client::connect(paths, true).await?;
    let data: InboxData = c.ask(ask::Inbox { delegator: Some(me.id), ack: true }).await?;
    if data.tasks.is_empty() {
        return Ok(exit::OK);
    }
    let context = crate::notify::notice::for_agent(&data.tasks, data.in_progress, timefmt::now());
    let out = serde_json::json!({
        "hookSpecificOutput": { "hookEventName": event, "additionalContext": context }
    });
    outln!("{out}");
    Ok(exit::OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_that_is_not_a_hooks_is_a_non_blocking_error() {
        for bad in
            ["", "  \n", "not json", "[1,2]", "{\"session_id\":\"x\"}", "{\"hook_event_name\":3}"]
        {
            let e = hook_input(bad).unwrap_err();
            assert_eq!(e.code, HOOK_FAILED, "{bad:?}");
            assert!(e.message.starts_with("hook claude: "), "{}", e.message);
        }
        assert!(hook_input("{\"hook_event_name\":\"Stop\"}").is_ok());
    }

    #[test]
    fn which_tool_calls_submit_tasks_and_where_their_ids_are() {
        let mcp = serde_json::json!({
            "hook_event_name": "PostToolUse",
            "tool_name": "mcp__paneherd__task",
            "tool_input": { "prompt": "x", "subagent_type": "shell" },
            "tool_response": [{ "type": "text", "text": "Task brave-otter started in the background (shell: x)." }]
        });
        assert!(submits_task(&mcp));
        assert_eq!(id_candidates(&mcp["tool_response"]), vec!["brave-otter"]);
        let fg = serde_json::json!({ "tool_name": "mcp__ph__task", "tool_input": { "run_in_background": false } });
        assert!(!submits_task(&fg), "a foreground task returned its result already");
        let other = serde_json::json!({ "tool_name": "mcp__paneherd__background_output" });
        assert!(!submits_task(&other));
        let bash = serde_json::json!({
            "tool_name": "Bash",
            "tool_input": { "command": "paneherd run --agent shell 'make test'" },
            "tool_response": { "stdout": "calm-heron\n", "stderr": "", "interrupted": false }
        });
        assert!(submits_task(&bash));
        assert!(id_candidates(&bash["tool_response"]).contains(&"calm-heron".to_string()));
        let waits = serde_json::json!({ "tool_name": "Bash", "tool_input": { "command": "paneherd run --wait x" } });
        assert!(!submits_task(&waits));
    }
}
