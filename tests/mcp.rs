//! The real binary as an MCP server over stdio, driven by rmcp's client: initialize, tools/list,
//! task → background_output (block) → result, the completion notification, background_cancel,
//! delegation_list, delegation_read, and the error cases.

#![allow(clippy::unwrap_used, clippy::expect_used, deprecated)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Env, config_with};
use rmcp::model::{CallToolRequestParams, CallToolResult, LoggingMessageNotificationParam};
use rmcp::service::{NotificationContext, RoleClient, RunningService};
use rmcp::transport::TokioChildProcess;
use rmcp::{ClientHandler, ServiceExt};
use serde_json::json;

#[derive(Clone, Default)]
struct Recorder {
    logs: Arc<Mutex<Vec<String>>>,
}

impl ClientHandler for Recorder {
    async fn on_logging_message(
        &self,
        params: LoggingMessageNotificationParam,
        _cx: NotificationContext<RoleClient>,
    ) {
        self.logs.lock().unwrap().push(params.data.to_string());
    }
}

async fn start(env: &Env) -> (RunningService<RoleClient, Recorder>, Recorder) {
    let mut cmd = tokio::process::Command::from(env.cmd(&["mcp"]));
    cmd.current_dir(env.path());
    let transport = TokioChildProcess::new(cmd).unwrap();
    let rec = Recorder::default();
    let client = rec.clone().serve(transport).await.unwrap();
    (client, rec)
}

fn args(v: serde_json::Value) -> CallToolRequestParams {
    let obj = v.as_object().unwrap();
    let name = obj["name"].as_str().unwrap().to_string();
    CallToolRequestParams::new(name).with_arguments(obj["arguments"].as_object().unwrap().clone())
}

fn text(r: &CallToolResult) -> String {
    r.content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_delegate_through_mcp() {
    let env = Env::new(&config_with(""));
    let (client, rec) = start(&env).await;
    let info = client.peer_info().unwrap();
    let server = info.server_info.as_ref().unwrap();
    assert_eq!(server.name, "paneherd");
    assert_eq!(server.version, env!("CARGO_PKG_VERSION"));
    assert!(server.title.as_deref().is_some_and(|t| t.starts_with("paneherd")), "{server:?}");
    client
        .peer()
        .set_level(rmcp::model::SetLevelRequestParams::new(rmcp::model::LoggingLevel::Info))
        .await
        .expect("logging/setLevel is answered");
    let listed = client.list_all_tools().await.unwrap();
    let tools: Vec<String> = listed.iter().map(|t| t.name.to_string()).collect();
    for t in
        ["task", "background_output", "background_cancel", "delegation_list", "delegation_read"]
    {
        assert!(tools.contains(&t.to_string()), "{t} missing from {tools:?}");
    }
    // Hosts decide what to ask before a call by the annotations (as the host sees them: JSON).
    let hints = |name: &str| {
        let t = listed.iter().find(|t| t.name == name).unwrap();
        let v = serde_json::to_value(t).unwrap();
        assert!(v["title"].as_str().is_some_and(|s| !s.is_empty()), "{name} has a title: {v}");
        v["annotations"].clone()
    };
    for read in ["background_output", "delegation_list", "delegation_read"] {
        assert_eq!(hints(read)["readOnlyHint"], true, "{read}");
    }
    assert_eq!(hints("background_cancel")["destructiveHint"], true);
    assert_eq!(hints("background_cancel")["readOnlyHint"], false);
    assert_eq!(hints("task")["readOnlyHint"], false);
    assert_eq!(hints("task")["destructiveHint"], false, "starting a task only adds");

    // task in the background → an id at once, and the advice not to poll.
    let r = client
        .call_tool(args(json!({"name": "task", "arguments": {"prompt": "3 0.1 0", "subagent_type": "fake", "description": "count to three"}})))
        .await
        .unwrap();
    let out = text(&r);
    assert!(out.contains("Do not poll"), "{out}");
    let id = out.split_whitespace().nth(1).unwrap().to_string();

    // background_output with block → the result.
    let r = client
        .call_tool(args(json!({"name": "background_output", "arguments": {"task_id": id, "block": true, "timeout": 20000}})))
        .await
        .unwrap();
    let out = text(&r);
    assert!(out.starts_with("Task Result"), "{out}");
    assert!(
        out.contains(&format!("Task ID: {id}")) && out.contains("Description: count to three"),
        "{out}"
    );
    assert!(out.contains("fake agent line 3 of 3"), "{out}");

    // The client was told, without polling.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let logs = rec.logs.lock().unwrap().clone();
        if let Some(l) = logs.iter().find(|l| l.contains(&id)) {
            assert!(l.contains("[BACKGROUND TASK RESULT READY]"), "{l}");
            break;
        }
        assert!(Instant::now() < deadline, "no completion notification: {logs:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // A running one: status table, a block that times out, then cancel all.
    let r = client
        .call_tool(args(
            json!({"name": "task", "arguments": {"prompt": "1000 0.1 0", "subagent_type": "fake"}}),
        ))
        .await
        .unwrap();
    let long = text(&r).split_whitespace().nth(1).unwrap().to_string();
    let r = client
        .call_tool(args(json!({"name": "background_output", "arguments": {"task_id": long, "block": true, "timeout": 300}})))
        .await
        .unwrap();
    let out = text(&r);
    assert!(
        out.starts_with("Task Status") && out.contains("Timed out waiting after 300 ms"),
        "{out}"
    );
    let r = client
        .call_tool(args(json!({"name": "background_cancel", "arguments": {"all": true}})))
        .await
        .unwrap();
    let out = text(&r);
    assert!(
        out.contains(&format!("| {long} |"))
            && out.contains("cancelled")
            && out.contains("Continue Instructions"),
        "{out}"
    );

    // delegation_list: this project's tasks with title, status, summary.
    let r =
        client.call_tool(args(json!({"name": "delegation_list", "arguments": {}}))).await.unwrap();
    let out = text(&r);
    assert!(
        out.contains(&id) && out.contains("count to three") && out.contains("completed"),
        "{out}"
    );
    assert!(out.contains("fake agent line 1 of 3"), "summary shown: {out}");

    // delegation_read: the persisted result of an ended task, at once.
    let t0 = Instant::now();
    let r = client
        // Any unique prefix: all but its last letter (six letters might be another's too).
        .call_tool(args(
            json!({"name": "delegation_read", "arguments": {"id": &id[..id.len() - 1]}}),
        ))
        .await
        .unwrap();
    assert!(text(&r).contains("fake agent line 2 of 3"));
    assert!(t0.elapsed() < Duration::from_secs(2));

    // Bad arguments, whether they do not decode or paneherd refuses them: results with
    // isError, which the model reads; the server goes on.
    for (call, words) in [
        (
            json!({"name": "task", "arguments": {"prompt": "x", "category": "quick", "subagent_type": "fake"}}),
            "not both",
        ),
        (
            json!({"name": "task", "arguments": {"prompt": "x", "subagent_type": "nope"}}),
            "unknown agent",
        ),
        (
            json!({"name": "task", "arguments": {"prompt": "  ", "subagent_type": "fake"}}),
            "prompt is empty",
        ),
        (
            json!({"name": "background_output", "arguments": {"task_id": id, "timeout": 600001}}),
            "out of range",
        ),
        (
            json!({"name": "background_output", "arguments": {"task_id": "no-such-task"}}),
            "no task with id",
        ),
        (json!({"name": "background_cancel", "arguments": {}}), "give task_id"),
        (json!({"name": "task", "arguments": {"prompt": 5}}), "invalid type"),
        (json!({"name": "delegation_read", "arguments": {}}), "missing field `id`"),
    ] {
        let r =
            client.call_tool(args(call.clone())).await.unwrap_or_else(|e| panic!("{call}: {e}"));
        assert_eq!(r.is_error, Some(true), "{call}: {r:?}");
        assert!(text(&r).contains(words), "{call}: {}", text(&r));
    }
    let e = client
        .call_tool(args(json!({"name": "no_such_tool", "arguments": {}})))
        .await
        .expect_err("an unknown tool is a protocol error");
    assert!(e.to_string().contains("no tool"), "{e}");
    let r =
        client.call_tool(args(json!({"name": "delegation_list", "arguments": {}}))).await.unwrap();
    assert!(text(&r).contains(&id), "still serving");
    client.cancel().await.unwrap();
}

/// JSON-RPC lines to `paneherd mcp` as a client that declares the tasks extension; the
/// replies by id.
fn raw_session(
    env: &Env,
    lines: &[serde_json::Value],
) -> std::collections::HashMap<u64, serde_json::Value> {
    raw_session_as(env, "raw", lines)
}

/// The same as client `client` (its `clientInfo.name`).
fn raw_session_as(
    env: &Env,
    client: &str,
    lines: &[serde_json::Value],
) -> std::collections::HashMap<u64, serde_json::Value> {
    use std::io::{BufRead, Write};
    let mut child = env
        .cmd(&["mcp"])
        .current_dir(env.path())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {"protocolVersion": "2025-11-25", "capabilities": {"extensions": {"io.modelcontextprotocol/tasks": {}}}, "clientInfo": {"name": client, "version": "1"}}});
    writeln!(stdin, "{init}").unwrap();
    writeln!(stdin, "{}", json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
        .unwrap();
    for l in lines {
        writeln!(stdin, "{l}").unwrap();
    }
    let want = lines.len() + 1;
    let mut replies = std::collections::HashMap::new();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    while replies.len() < want {
        line.clear();
        if out.read_line(&mut line).unwrap() == 0 {
            break;
        }
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        if let Some(id) = v["id"].as_u64() {
            replies.insert(id, v);
        }
    }
    drop(stdin);
    let _ = child.wait();
    replies
}

#[test]
fn unknown_arguments_and_missing_task_ids_are_refused_by_name() {
    let env = Env::new(&config_with(""));
    let call = |id: u64, name: &str, arguments: serde_json::Value| json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": name, "arguments": arguments}});
    let r = raw_session(
        &env,
        &[
            call(1, "task", json!({"prompt": "echo hi", "subagentType": "shell", "bogus": 1})),
            call(2, "background_output", json!({"task_id": "x", "blocking": true})),
            json!({"jsonrpc": "2.0", "id": 3, "method": "tasks/get", "params": {}}),
            json!({"jsonrpc": "2.0", "id": 4, "method": "tasks/get", "params": {"taskId": null}}),
            json!({"jsonrpc": "2.0", "id": 5, "method": "tasks/cancel", "params": {}}),
            json!({"jsonrpc": "2.0", "id": 6, "method": "no/such", "params": {}}),
        ],
    );
    let refused = &r[&1]["result"];
    assert_eq!(refused["isError"], true, "{refused}");
    let msg = refused["content"][0]["text"].as_str().unwrap();
    assert!(msg.contains("`subagentType`") && msg.contains("`bogus`"), "{msg}");
    assert!(
        msg.contains("`subagent_type`") && msg.contains("`prompt`"),
        "names the accepted: {msg}"
    );
    assert!(env.list().is_empty(), "no task started: {:?}", env.list());
    let msg = r[&2]["result"]["content"][0]["text"].as_str().unwrap();
    assert!(msg.contains("`blocking`") && msg.contains("`block`"), "{msg}");
    for id in [3, 4, 5] {
        assert_eq!(r[&id]["error"]["code"], -32602, "{}", r[&id]);
        assert!(r[&id]["error"]["message"].as_str().unwrap().contains("taskId"), "{}", r[&id]);
    }
    assert_eq!(r[&6]["error"]["code"], -32601, "{}", r[&6]);
}

#[test]
fn the_inspectors_strict_check_finds_nothing_to_report() {
    let env = Env::new(&config_with(""));
    let inspector = common::ci_tools().join("agents/bin/mcp-inspector");
    let mut cmd = std::process::Command::new(inspector);
    cmd.args(["--cli", "--strict", "--method", "tools/list"]);
    for (k, v) in [
        ("PANEHERD_DATA_DIR", env.data()),
        ("PANEHERD_RUNTIME_DIR", env.runtime()),
        ("PANEHERD_CONFIG", env.config()),
    ] {
        cmd.arg("-e").arg(format!("{k}={}", v.display()));
    }
    let out = cmd.args([common::BIN, "mcp"]).current_dir(env.path()).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains("Warning") && !stderr.contains("Error"), "{stderr}");
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(listed["tools"].as_array().unwrap().len(), 5, "{listed}");
}

/// Claude Code declares the tasks extension too; with paneherd's hooks installed it is woken by
/// the hook at a task's end, so it gets the plain result (no task handle: its own notice would
/// wake it a second time). Without the hooks, the task handle is its only wake.
#[test]
fn claude_code_with_the_hooks_gets_no_task_handle_to_be_woken_twice_by() {
    let env = Env::new(&config_with(""));
    let call = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "task", "arguments": {"prompt": "echo hi", "subagent_type": "shell"}}});
    let before = raw_session_as(&env, "claude-code", std::slice::from_ref(&call));
    assert_eq!(before[&1]["result"]["resultType"], "task", "no hooks: a handle: {}", before[&1]);
    env.ok(&["install", "claude"]);
    let after = raw_session_as(&env, "claude-code", std::slice::from_ref(&call));
    let r = &after[&1]["result"];
    assert!(r.get("resultType").is_none() && r.get("taskId").is_none(), "{r}");
    let text = r["content"][0]["text"].as_str().unwrap();
    assert!(text.contains("started in the background") && text.contains("Do not poll"), "{text}");
    // Another host that declares tasks keeps its handles.
    let other = raw_session_as(&env, "some-host", std::slice::from_ref(&call));
    assert_eq!(other[&1]["result"]["resultType"], "task", "{}", other[&1]);
}
