//! The MCP tasks extension (SEP-2663) against rmcp's client declaring it: `task` answers with a
//! task handle bound to the paneherd task, `tasks/get` reports working then completed with the
//! result, `tasks/cancel` cancels the paneherd task; a client without the extension keeps the
//! plain result. And `paneherd mcp --channel`: ends pushed as Claude Code channel events.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Env, config_with};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CancelTaskParams, ClientCapabilities, ClientConfig,
    CustomNotification, GetTaskParams, Implementation, TaskPayload, TaskStatus,
};
use rmcp::service::{NotificationContext, RoleClient, RunningService};
use rmcp::transport::TokioChildProcess;
use rmcp::{ClientHandler, ServiceExt};
use serde_json::json;

#[derive(Clone, Default)]
struct Client {
    tasks: bool,
    custom: Arc<Mutex<Vec<CustomNotification>>>,
}

impl ClientHandler for Client {
    fn get_info(&self) -> ClientConfig {
        let caps = if self.tasks {
            ClientCapabilities::builder().enable_tasks().build()
        } else {
            ClientCapabilities::default()
        };
        ClientConfig::new(caps, Implementation::new("tasks-test", "1"))
    }

    async fn on_custom_notification(
        &self,
        n: CustomNotification,
        _cx: NotificationContext<RoleClient>,
    ) {
        self.custom.lock().unwrap().push(n);
    }
}

async fn start(env: &Env, client: Client, args: &[&str]) -> RunningService<RoleClient, Client> {
    let mut cmd = tokio::process::Command::from(env.cmd(args));
    cmd.current_dir(env.path()).env_remove("PANEHERD_DELEGATOR");
    client.serve(TokioChildProcess::new(cmd).unwrap()).await.unwrap()
}

fn call(prompt: &str) -> CallToolRequestParams {
    CallToolRequestParams::new("task").with_arguments(
        json!({ "prompt": prompt, "subagent_type": "shell" }).as_object().unwrap().clone(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_with_the_tasks_extension_gets_a_task_bound_to_paneherds() {
    let env = Env::new(&config_with(""));
    let c = start(&env, Client { tasks: true, ..Default::default() }, &["mcp"]).await;
    let caps = &c.peer_info().unwrap().capabilities;
    assert!(caps.supports_tasks(), "the server declares the extension: {caps:?}");

    let CallToolResponse::Task(created) =
        c.peer().call_tool_once(call("sleep 1; echo built it")).await.unwrap()
    else {
        panic!("a task handle, not a result");
    };
    let id = created.task.task_id.clone();
    assert_eq!(created.task.status, TaskStatus::Working);
    // The handle's id is the paneherd task's (queued or already started).
    let status = env.task(&id)["status"].as_str().unwrap().to_string();
    assert!(status == "pending" || status == "running", "{status}");

    let first = c.peer().get_task(GetTaskParams::new(&id)).await.unwrap();
    assert_eq!(first.task.status(), TaskStatus::Working);
    let deadline = Instant::now() + Duration::from_secs(20);
    let done = loop {
        let r = c.peer().get_task(GetTaskParams::new(&id)).await.unwrap();
        if r.task.status().is_terminal() || Instant::now() > deadline {
            break r;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(done.task.status(), TaskStatus::Completed);
    let TaskPayload::Completed { result } = &done.task.payload else { panic!("{done:?}") };
    assert_eq!(result["isError"], false);
    let text = result["content"][0]["text"].as_str().unwrap();
    assert!(text.contains("built it"), "the task's result: {text}");
    assert_eq!(env.task(&id)["delivered"], true, "reading it through tasks/get tells it");

    // tasks/cancel cancels the paneherd task; cancelling it again is refused (it has ended).
    let CallToolResponse::Task(long) = c.peer().call_tool_once(call("sleep 60")).await.unwrap()
    else {
        panic!("a task handle");
    };
    let long = long.task.task_id;
    env.wait_status(&long, "running", Duration::from_secs(10));
    c.peer().cancel_task(CancelTaskParams::new(&long)).await.unwrap();
    env.wait_status(&long, "cancelled", Duration::from_secs(10));
    let r = c.peer().get_task(GetTaskParams::new(&long)).await.unwrap();
    assert_eq!(r.task.status(), TaskStatus::Cancelled);
    assert!(c.peer().cancel_task(CancelTaskParams::new(&long)).await.is_err());
    assert!(c.peer().get_task(GetTaskParams::new("no-such-task")).await.is_err());
    c.cancel().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_without_the_extension_keeps_the_plain_result() {
    let env = Env::new(&config_with(""));
    let c = start(&env, Client::default(), &["mcp"]).await;
    let CallToolResponse::Complete(r) = c.peer().call_tool_once(call("echo hi")).await.unwrap()
    else {
        panic!("no task handle for a client that did not declare the extension");
    };
    let text = r.content[0].as_text().unwrap().text.clone();
    assert!(text.contains("started in the background"), "{text}");
    assert!(c.peer().get_task(GetTaskParams::new("x")).await.is_err(), "tasks/get is refused");
    c.cancel().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_channel_ends_are_pushed_as_claude_code_channel_events() {
    let env = Env::new(&config_with(""));
    let rec = Client::default();
    let c = start(&env, rec.clone(), &["mcp", "--channel"]).await;
    let caps = &c.peer_info().unwrap().capabilities;
    assert!(caps.experimental.as_ref().is_some_and(|e| e.contains_key("claude/channel")));
    let r = c.peer().call_tool_once(call("echo pushed")).await.unwrap();
    assert!(matches!(r, CallToolResponse::Complete(_)));
    let deadline = Instant::now() + Duration::from_secs(15);
    while rec.custom.lock().unwrap().is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let got = rec.custom.lock().unwrap().clone();
    assert_eq!(got.len(), 1, "one event per end: {got:?}");
    assert_eq!(got[0].method, "notifications/claude/channel");
    let p = got[0].params.clone().unwrap();
    assert!(p["content"].as_str().unwrap().starts_with("[BACKGROUND TASK RESULT READY] "), "{p}");
    let id = p["meta"]["task_id"].as_str().unwrap();
    assert_eq!(p["meta"]["status"], "completed");
    assert_eq!(env.task(id)["delivered"], true);
    c.cancel().await.unwrap();

    // Without --channel, no such event and no such capability.
    let rec = Client::default();
    let c = start(&env, rec.clone(), &["mcp"]).await;
    assert!(c.peer_info().unwrap().capabilities.experimental.is_none());
    let _ = c.peer().call_tool_once(call("echo quiet")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(rec.custom.lock().unwrap().is_empty());
    c.cancel().await.unwrap();
}
