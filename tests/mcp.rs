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
