//! The MCP tasks extension (SEP-2663, `io.modelcontextprotocol/tasks`) over paneherd's own
//! tasks: for a client that declares it, `task` answers with an MCP task whose id is the
//! paneherd task's, and `tasks/get` / `tasks/cancel` read and cancel that task. Nothing is kept
//! in the MCP server: the daemon's record is the task's state, so a handle outlives the server
//! process that gave it.

use rmcp::model::{
    CallToolResult, ContentBlock, DetailedTask, InputRequests, JsonObject, Task as McpTask,
    TaskPayload, TaskStatus as McpStatus,
};

use crate::core::task::{Task, TaskStatus};
use crate::core::timefmt;

/// How often a client polling `tasks/get` should ask (ms). paneherd's tasks take minutes; the
/// end is also told through the other channels (hooks, plugin, notice).
pub const POLL_MS: u64 = 2_000;

/// The task's metadata as MCP shows it (no TTL: paneherd keeps every task on disk).
pub fn handle(t: &Task) -> McpTask {
    let updated = t.finished_at.or(t.started_at).unwrap_or(t.created_at);
    let mut m = McpTask::new(
        t.id.clone(),
        status(t),
        timefmt::format(&t.created_at),
        timefmt::format(&updated),
    )
    .with_poll_interval_ms(POLL_MS)
    .with_status_message(message(t));
    m.ttl_ms = None;
    m
}

/// `working` (pending or running), `input_required` (needs input in its pane), `completed`
/// (completed, or ended in error: a tool result with `isError`), `failed` (interrupted: the
/// daemon went away under it), `cancelled`.
pub fn status(t: &Task) -> McpStatus {
    match t.status {
        TaskStatus::Pending | TaskStatus::Running if t.needs_input.is_some() => {
            McpStatus::InputRequired
        }
        TaskStatus::Pending | TaskStatus::Running => McpStatus::Working,
        TaskStatus::Completed | TaskStatus::Error => McpStatus::Completed,
        TaskStatus::Interrupted => McpStatus::Failed,
        TaskStatus::Cancelled => McpStatus::Cancelled,
    }
}

fn message(t: &Task) -> String {
    match (t.status, &t.needs_input) {
        (_, Some(q)) if !t.status.is_terminal() => {
            format!("needs input in its pane (`paneherd focus {}`): {q}", t.id)
        }
        (TaskStatus::Pending, _) => "pending: waits for a free slot".into(),
        (TaskStatus::Running, _) => format!("running ({})", t.agent),
        (s, _) => match &t.reason {
            Some(r) => format!("{s}: {r}"),
            None => s.to_string(),
        },
    }
}

/// The task with its payload: for an ended task, the tool result `task` would have returned in
/// the foreground (`result_block`, already rendered by the caller).
pub fn detailed(t: &Task, result_block: Option<String>) -> DetailedTask {
    let payload = match status(t) {
        McpStatus::Working => TaskPayload::Working,
        // The question is answered in the task's pane, not through the client: no requests.
        McpStatus::InputRequired => {
            TaskPayload::InputRequired { input_requests: InputRequests::new() }
        }
        McpStatus::Completed => {
            let content = vec![ContentBlock::text(result_block.unwrap_or_default())];
            let r = if t.status == TaskStatus::Error {
                CallToolResult::error(content)
            } else {
                CallToolResult::success(content)
            };
            TaskPayload::Completed { result: object(&r) }
        }
        McpStatus::Cancelled => TaskPayload::Cancelled,
        _ => {
            let mut e = JsonObject::new();
            e.insert("code".into(), (-32603).into());
            e.insert("message".into(), message(t).into());
            TaskPayload::Failed { error: e }
        }
    };
    DetailedTask::new(handle(t), payload)
}

fn object(r: &CallToolResult) -> JsonObject {
    match serde_json::to_value(r) {
        Ok(serde_json::Value::Object(o)) => o,
        _ => JsonObject::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(status: TaskStatus) -> Task {
        let mut t: Task = serde_json::from_value(serde_json::json!({
            "id": "bold-otter", "title": "t", "status": "running", "agent": "shell",
            "prompt": "p", "cwd": "/", "created_at": "2026-12-01T00:00:00Z",
            "log_path": "/x.log", "limit_group": "shell"
        }))
        .unwrap();
        t.status = status;
        t
    }

    #[test]
    fn paneherd_states_map_to_the_extensions_states() {
        assert_eq!(status(&task(TaskStatus::Pending)), McpStatus::Working);
        let mut asks = task(TaskStatus::Running);
        asks.needs_input = Some("Proceed?".into());
        assert_eq!(status(&asks), McpStatus::InputRequired);
        assert!(handle(&asks).status_message.unwrap().contains("Proceed?"));
        assert_eq!(status(&task(TaskStatus::Cancelled)), McpStatus::Cancelled);
        assert_eq!(status(&task(TaskStatus::Interrupted)), McpStatus::Failed);
        let d = detailed(&task(TaskStatus::Error), Some("boom".into()));
        let TaskPayload::Completed { result } = d.payload else { panic!("an error is a result") };
        assert_eq!(result["isError"], true);
        assert_eq!(result["content"][0]["text"], "boom");
        assert_eq!(handle(&task(TaskStatus::Running)).task_id, "bold-otter");
    }
}
