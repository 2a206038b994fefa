//! `paneherd mcp`: an MCP server over stdio (rmcp) so that AI agents delegate work with the
//! tool names of the background-task systems paneherd replaces: `task`, `background_output`,
//! `background_cancel`, `delegation_list`, `delegation_read`. A client of the daemon like the
//! CLI; logs go to stderr only (stdout is the protocol).

mod tasks;

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use std::sync::atomic::{AtomicU8, Ordering};

use rmcp::handler::server::tool::ToolCallContext;
use rmcp::handler::server::wrapper::Parameters;
#[allow(deprecated)]
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, CancelTaskParams, ContentBlock,
    CreateTaskResult, CustomNotification, GetTaskParams, GetTaskResult, Implementation,
    LoggingLevel, LoggingMessageNotificationParam, ServerCapabilities, ServerConfig,
    ServerNotification, SetLevelRequestParams, UpdateTaskParams,
};
use rmcp::schemars::{self, JsonSchema};
use rmcp::service::{Peer, RequestContext, RoleServer};
use rmcp::{ErrorData as McpError, ServerHandler, ServiceExt, tool, tool_handler, tool_router};
use serde::Deserialize;

use crate::client::{Client, ClientError};
use crate::core::task::{Task, TaskSpec, TaskStatus};
use crate::core::timefmt;
use crate::paths::Paths;
use crate::proto::{Event, ListFilter, OutputData, ask};

/// Most a `background_output` block may wait (ms).
const MAX_BLOCK_MS: u64 = 600_000;

/// An optional argument is written the portable way: its own type, left out of `required`
/// (not `"type": ["string", "null"]` with `"default": null`, which strict validators and some
/// hosts refuse); leaving it out means the default.
fn portable_optionals(schema: &mut schemars::Schema) {
    let Some(props) = schema.get_mut("properties").and_then(|p| p.as_object_mut()) else {
        return;
    };
    for prop in props.values_mut().filter_map(|p| p.as_object_mut()) {
        if let Some(serde_json::Value::Array(types)) = prop.get("type") {
            let kept: Vec<serde_json::Value> =
                types.iter().filter(|t| t.as_str() != Some("null")).cloned().collect();
            if kept.len() == 1 {
                prop.insert("type".into(), kept[0].clone());
            }
        }
        if prop.get("default") == Some(&serde_json::Value::Null) {
            prop.remove("default");
        }
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(transform = portable_optionals)]
pub struct TaskArgs {
    /// What the agent should do.
    pub prompt: String,
    /// A category from the config (quick, deep, research, …). Give this or `subagent_type`.
    #[serde(default)]
    pub category: Option<String>,
    /// An agent name from the config (shell, claude, opencode, …). Give this or `category`.
    #[serde(default)]
    pub subagent_type: Option<String>,
    /// A short title.
    #[serde(default)]
    pub description: Option<String>,
    /// Skills to load.
    #[serde(default)]
    pub load_skills: Vec<String>,
    /// Run in the background (default) and be told when it ends; false waits for the result.
    #[serde(default)]
    pub run_in_background: Option<bool>,
    /// Continue this earlier task (its agent resumes its session when it can).
    #[serde(default)]
    pub task_id: Option<String>,
    /// "worktree": run in a git worktree of its own, on a branch named after the task, so that
    /// parallel agents that write code do not trample each other ("none", the default: here).
    #[serde(default)]
    pub isolation: Option<String>,
    /// With isolation "worktree": branch from this commit or ref (default: what is checked out).
    #[serde(default)]
    pub base: Option<String>,
    /// With isolation "worktree": the new branch's name (default: the task's id).
    #[serde(default)]
    pub branch: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(transform = portable_optionals)]
pub struct OutputArgs {
    pub task_id: String,
    /// Wait for the task to end (up to `timeout` ms).
    #[serde(default)]
    pub block: bool,
    /// Milliseconds to wait when blocking (default 60000, at most 600000).
    #[serde(default)]
    pub timeout: Option<u64>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(transform = portable_optionals)]
pub struct CancelArgs {
    #[serde(default)]
    pub task_id: Option<String>,
    /// Cancel every pending and running task.
    #[serde(default)]
    pub all: bool,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(transform = portable_optionals)]
pub struct ListArgs {
    /// Every project's tasks, not only this project's.
    #[serde(default)]
    pub all_projects: bool,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(transform = portable_optionals)]
pub struct ReadArgs {
    pub id: String,
}

/// The MCP server of one session.
#[derive(Clone)]
pub struct PaneherdMcp {
    paths: Paths,
    cwd: PathBuf,
    /// The agent this server serves (its parent process), who delegates its tasks.
    delegator: Option<crate::core::task::Delegator>,
    /// Tasks submitted through this session (their ends are announced to the client).
    mine: Arc<Mutex<HashSet<String>>>,
    peer: Arc<Mutex<Option<Peer<RoleServer>>>>,
    /// The least severe log level the client wants (`logging/setLevel`), as `LoggingLevel as u8`.
    log_level: Arc<AtomicU8>,
    /// Push ends as Claude Code channel events (`paneherd mcp --channel`).
    channel: bool,
}

fn tool_error(msg: impl Into<String>) -> McpError {
    McpError::invalid_params(msg.into(), None)
}

fn client_error(e: ClientError) -> McpError {
    match e {
        ClientError::Daemon(b) => tool_error(b.message),
        e => McpError::internal_error(e.to_string(), None),
    }
}

/// Whether paneherd's Claude Code hooks are installed where a Claude Code in `cwd` reads them
/// (the user's `~/.claude/settings.json`, or the project's `.claude/settings.json` or
/// `settings.local.json` in `cwd` or a directory above it): they wake the session at a task's
/// end.
fn claude_hooks_wake(cwd: &std::path::Path) -> bool {
    let mut files = vec![];
    if let Some(home) = std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        files.push(PathBuf::from(home).join(".claude/settings.json"));
    }
    if let Some(dir) = std::env::var_os("CLAUDE_CONFIG_DIR").filter(|h| !h.is_empty()) {
        files.push(PathBuf::from(dir).join("settings.json"));
    }
    for dir in cwd.ancestors() {
        files.push(dir.join(".claude/settings.json"));
        files.push(dir.join(".claude/settings.local.json"));
    }
    files.iter().any(|f| {
        std::fs::read_to_string(f)
            .is_ok_and(|t| t.contains("hook claude") && t.contains("asyncRewake"))
    })
}

/// Why a call's arguments are refused when it names arguments the tool does not take: each
/// unknown name, and the accepted ones.
fn unknown_arguments(
    tool: &rmcp::model::Tool,
    args: Option<&serde_json::Map<String, serde_json::Value>>,
) -> Option<String> {
    let props = tool.input_schema.get("properties").and_then(|p| p.as_object());
    let accepted: Vec<&str> =
        props.map(|p| p.keys().map(String::as_str).collect()).unwrap_or_default();
    let unknown: Vec<&str> =
        args?.keys().map(String::as_str).filter(|k| !accepted.contains(k)).collect();
    if unknown.is_empty() {
        return None;
    }
    let list = |v: &[&str]| v.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ");
    Some(format!(
        "{} does not take {} {}; it takes {}",
        tool.name,
        if unknown.len() == 1 { "the argument" } else { "the arguments" },
        list(&unknown),
        list(&accepted)
    ))
}

fn text(s: String) -> Result<CallToolResult, McpError> {
    Ok(CallToolResult::success(vec![ContentBlock::text(s)]))
}

fn duration(t: &Task) -> String {
    t.run_ms(timefmt::now()).map(timefmt::human_duration).unwrap_or_else(|| "-".into())
}

/// The "Task Result" block of a finished task.
fn result_block(t: &Task, result: &str) -> String {
    let how = t.how_it_ended();
    format!(
        "Task Result\n\nTask ID: {}\nDescription: {}\nStatus: {how}\nDuration: {}\n\n---\n\n{}",
        t.id,
        t.title,
        duration(t),
        if result.trim().is_empty() { "(no output)" } else { result }
    )
}

/// The "Task Status" table of an unfinished task.
fn status_table(t: &Task, tail: Option<&str>) -> String {
    let mut s = format!(
        "Task Status\n\n| Task ID | Description | Status | Agent | Running for | Last output |\n|---|---|---|---|---|---|\n| {} | {} | {} | {} | {} | {} |\n",
        t.id,
        t.title,
        if t.needs_input.is_some() { "needs input".to_string() } else { t.status.to_string() },
        t.agent,
        duration(t),
        t.last_output_at
            .map(|l| format!(
                "{} ago",
                timefmt::human_duration((timefmt::now() - l).num_milliseconds())
            ))
            .unwrap_or_else(|| "-".into())
    );
    if let Some(q) = &t.needs_input {
        s.push_str(&format!("\nThe agent asks: {q}\n"));
    }
    if let Some(tail) = tail.filter(|t| !t.trim().is_empty()) {
        s.push_str(&format!("\nLatest output:\n{tail}\n"));
    }
    s
}

/// The project a directory belongs to: its git root, else the directory itself.
pub fn project_of(dir: &std::path::Path) -> PathBuf {
    let mut d = Some(dir);
    while let Some(p) = d {
        if p.join(".git").exists() {
            return p.to_path_buf();
        }
        d = p.parent();
    }
    dir.to_path_buf()
}

#[tool_router]
impl PaneherdMcp {
    pub fn new(paths: Paths, channel: bool) -> PaneherdMcp {
        PaneherdMcp {
            paths,
            cwd: std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/")),
            delegator: crate::delegator::current(),
            mine: Default::default(),
            peer: Default::default(),
            log_level: Default::default(),
            channel,
        }
    }

    /// Submits (or continues) a task for the `task` tool; it counts as this session's.
    async fn submit(&self, a: TaskArgs) -> Result<(Client, Task), McpError> {
        if a.prompt.trim().is_empty() {
            return Err(tool_error("prompt is empty"));
        }
        if a.category.is_some() && a.subagent_type.is_some() {
            return Err(tool_error("give either category or subagent_type, not both"));
        }
        let worktree = match a.isolation.as_deref() {
            None | Some("none") => {
                if a.base.is_some() || a.branch.is_some() {
                    return Err(tool_error("base and branch go with isolation: \"worktree\""));
                }
                None
            }
            Some("worktree") => Some(
                crate::worktree::request_for(
                    &self.cwd,
                    None,
                    a.base.as_deref(),
                    a.branch.as_deref(),
                )
                .map_err(|e| tool_error(e.to_string()))?,
            ),
            Some(other) => {
                return Err(tool_error(format!(
                    "isolation {other:?} is not known (\"worktree\" or \"none\")"
                )));
            }
        };
        let mut c = self.client().await?;
        let t: Task = if let Some(earlier) = a.task_id {
            let env = Some(crate::paths::client_env());
            c.ask(ask::Continue { id: earlier, prompt: a.prompt, earlier: None, env })
                .await
                .map_err(client_error)?
        } else {
            let spec = TaskSpec {
                prompt: a.prompt,
                agent: a.subagent_type,
                category: a.category,
                title: a.description,
                skills: a.load_skills,
                client_cwd: Some(self.cwd.clone()),
                // The task runs in this server's environment (its host's), not the daemon's.
                env: Some(crate::paths::client_env()),
                parent: std::env::var("PANEHERD_TASK_ID").ok().filter(|v| !v.is_empty()),
                delegator: self.delegator.clone(),
                worktree,
                // In its host's tmux pane, the task gets a pane beside it, as from the CLI.
                tmux: self.tmux_origin(),
                ..Default::default()
            };
            c.ask(ask::Submit { spec: Box::new(spec) }).await.map_err(client_error)?
        };
        self.mine.lock().map_err(|_| McpError::internal_error("lock", None))?.insert(t.id.clone());
        Ok((c, t))
    }

    /// The tmux pane of this server's host: from this process's environment, else from the
    /// delegating agent's (a host may start its MCP servers without `$TMUX`).
    fn tmux_origin(&self) -> Option<crate::core::task::TmuxOrigin> {
        crate::tmux::adapter::origin_from_env().or_else(|| {
            let d = self.delegator.as_ref()?;
            let pid = crate::delegator::live_pid(std::path::Path::new("/proc"), &d.id)?;
            crate::tmux::adapter::origin_of_process(pid)
        })
    }

    /// The task and, once it has ended, its result block (reading it tells it: delivered).
    async fn task_state(&self, id: &str) -> Result<(Task, Option<String>), McpError> {
        let mut c = self.client().await?;
        let t: Option<Task> = c.ask(ask::Get { id: id.to_string() }).await.map_err(client_error)?;
        let Some(t) = t.filter(|t| t.id == id) else {
            return Err(tool_error(format!("no task {id:?}")));
        };
        if !t.status.is_terminal() {
            return Ok((t, None));
        }
        let o: OutputData = c
            .ask(ask::Output {
                id: t.id.clone(),
                wait: false,
                timeout_ms: None,
                full: false,
                deliver: true,
            })
            .await
            .map_err(client_error)?;
        let block = result_block(&o.task, o.result.as_deref().unwrap_or(""));
        Ok((o.task, Some(block)))
    }

    async fn client(&self) -> Result<Client, McpError> {
        Client::connect(&self.paths, true).await.map_err(client_error)
    }

    #[tool(
        title = "Delegate a task",
        annotations(
            title = "Delegate a task",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = true
        ),
        description = "Hand off a task to a background agent. Give `category` or `subagent_type` (an agent name). In the background (the default) it returns the task id at once: do not poll, you will be told when it ends; read the result with background_output or delegation_read."
    )]
    async fn task(&self, Parameters(a): Parameters<TaskArgs>) -> Result<CallToolResult, McpError> {
        let background = a.run_in_background.unwrap_or(true);
        let (mut c, t) = self.submit(a).await?;
        if background {
            return text(format!(
                "Task {} started in the background ({}: {}).\nDo not poll: you will be notified when it ends. Then read its result with background_output(task_id=\"{}\").",
                t.id, t.agent, t.title, t.id
            ));
        }
        let o: OutputData = c
            .ask(ask::Output {
                id: t.id.clone(),
                wait: true,
                timeout_ms: None,
                full: false,
                deliver: true,
            })
            .await
            .map_err(client_error)?;
        text(result_block(&o.task, o.result.as_deref().unwrap_or("")))
    }

    #[tool(
        title = "A task's result",
        annotations(title = "A task's result", read_only_hint = true, open_world_hint = false),
        description = "The result of a background task when it has ended, else its status. With block=true, waits up to `timeout` ms (default 60000, max 600000) for it to end."
    )]
    async fn background_output(
        &self,
        Parameters(a): Parameters<OutputArgs>,
    ) -> Result<CallToolResult, McpError> {
        let timeout = a.timeout.unwrap_or(60_000);
        if timeout > MAX_BLOCK_MS {
            return Err(tool_error(format!(
                "timeout {timeout} ms is out of range (0 to {MAX_BLOCK_MS})"
            )));
        }
        let mut c = self.client().await?;
        let o: OutputData = c
            .ask(ask::Output {
                id: a.task_id,
                wait: a.block,
                timeout_ms: Some(timeout),
                full: false,
                deliver: true,
            })
            .await
            .map_err(client_error)?;
        if o.task.status.is_terminal() {
            return text(result_block(&o.task, o.result.as_deref().unwrap_or("")));
        }
        let mut s = status_table(&o.task, o.tail.as_deref());
        if o.timed_out {
            s.push_str(&format!("\nTimed out waiting after {timeout} ms; the task goes on.\n"));
        }
        text(s)
    }

    #[tool(
        title = "Cancel tasks",
        annotations(
            title = "Cancel tasks",
            read_only_hint = false,
            destructive_hint = true,
            idempotent_hint = true,
            open_world_hint = false
        ),
        description = "Cancel a task (`task_id`) or every pending and running task (`all: true`)."
    )]
    async fn background_cancel(
        &self,
        Parameters(a): Parameters<CancelArgs>,
    ) -> Result<CallToolResult, McpError> {
        let (ids, all) = match (a.task_id, a.all) {
            (Some(_), true) => return Err(tool_error("give task_id or all, not both")),
            (None, false) => return Err(tool_error("give task_id, or all: true")),
            (Some(id), false) => (vec![id], false),
            (None, true) => (vec![], true),
        };
        let mut c = self.client().await?;
        let tasks: Vec<Task> = c.ask(ask::Cancel { ids, all }).await.map_err(client_error)?;
        if tasks.is_empty() {
            return text("Nothing to cancel.".into());
        }
        let mut s = String::from("| Task ID | Description | Status |\n|---|---|---|\n");
        for t in &tasks {
            s.push_str(&format!("| {} | {} | {} |\n", t.id, t.title, t.status));
        }
        s.push_str(
            "\nContinue Instructions: to run one again, call task with the same prompt (or `paneherd retry ID`).\n",
        );
        text(s)
    }

    #[tool(
        title = "This project's tasks",
        annotations(
            title = "This project's tasks",
            read_only_hint = true,
            open_world_hint = false
        ),
        description = "Every task of this project (newest first) with title, status and a one-line summary, to find earlier work instead of redoing it."
    )]
    async fn delegation_list(
        &self,
        Parameters(a): Parameters<ListArgs>,
    ) -> Result<CallToolResult, McpError> {
        let mut c = self.client().await?;
        let tasks: Vec<Task> =
            c.ask(ask::List { filter: ListFilter::default() }).await.map_err(client_error)?;
        let here = project_of(&self.cwd);
        let mut s = String::from("| ID | Title | Status | Summary |\n|---|---|---|---|\n");
        let mut n = 0;
        for t in tasks.iter().filter(|t| a.all_projects || project_of(&t.cwd) == here) {
            let summary = t.summary.clone().unwrap_or_default().replace('|', "/");
            s.push_str(&format!(
                "| {} | {} | {} | {} |\n",
                t.id,
                t.title.replace('|', "/"),
                t.status,
                summary
            ));
            n += 1;
        }
        if n == 0 {
            return text(format!("No tasks yet in {}.", here.display()));
        }
        text(s)
    }

    #[tool(
        title = "A task's persisted result",
        annotations(
            title = "A task's persisted result",
            read_only_hint = true,
            open_world_hint = false
        ),
        description = "The persisted result of a task: at once for an ended task (however long ago), else waits for it to end (bounded by its own time limit)."
    )]
    async fn delegation_read(
        &self,
        Parameters(a): Parameters<ReadArgs>,
    ) -> Result<CallToolResult, McpError> {
        let mut c = self.client().await?;
        let o: OutputData = c
            .ask(ask::Output { id: a.id, wait: true, timeout_ms: None, full: false, deliver: true })
            .await
            .map_err(client_error)?;
        text(result_block(&o.task, o.result.as_deref().unwrap_or("")))
    }
}

#[tool_handler]
impl ServerHandler for PaneherdMcp {
    fn get_info(&self) -> ServerConfig {
        #[allow(deprecated)]
        let mut caps =
            ServerCapabilities::builder().enable_tools().enable_logging().enable_tasks().build();
        if self.channel {
            caps.experimental
                .get_or_insert_with(Default::default)
                .insert("claude/channel".into(), Default::default());
        }
        ServerConfig::new(caps)
            .with_server_info(
                Implementation::new("paneherd", env!("CARGO_PKG_VERSION"))
                    .with_title("paneherd — background agent tasks")
                    .with_description(
                        "Runs agent tasks in the background (in tmux panes when it can), under \
                         concurrency limits, and keeps every result.",
                    ),
            )
            .with_instructions(
                "paneherd runs tasks in the background (in tmux panes when it can). Use `task` to \
                 hand off work, then carry on: when a task ends you get a notification; read it with \
                 background_output or delegation_read. delegation_list shows earlier work of this \
                 project.",
            )
    }

    /// Every tool's input error (arguments that do not decode, values paneherd refuses, an
    /// unknown id) comes back as a result with `isError: true`, so that the model reads it and
    /// corrects itself; only a call of an unknown tool is a protocol error.
    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let router = Self::tool_router();
        let Some(tool) = router.get(&request.name) else {
            return Err(McpError::invalid_params(format!("no tool {:?}", request.name), None));
        };
        // An argument the tool does not take (a misspelled `subagentType`) is said, not
        // ignored: ignored, the task would start with the defaults.
        if let Some(msg) = unknown_arguments(tool, request.arguments.as_ref()) {
            return Ok(CallToolResult::error(vec![ContentBlock::text(msg)]).into());
        }
        // A client that declares the tasks extension gets a background `task` as an MCP task
        // — but not a Claude Code whose paneherd hooks wake it at the end: it would be woken
        // twice (by the hook, then by its own notice when `tasks/get` says completed).
        let claude = self.delegator.as_ref().is_some_and(|d| d.agent == "claude")
            || context.peer.peer_info().is_some_and(|i| i.client_info.name == "claude-code");
        if request.name == "task"
            && context.client_capabilities().is_some_and(|c| c.supports_tasks())
            && !(claude && claude_hooks_wake(&self.cwd))
        {
            let args = serde_json::Value::Object(request.arguments.clone().unwrap_or_default());
            match serde_json::from_value::<TaskArgs>(args) {
                Ok(a) if a.run_in_background != Some(false) => {
                    return Ok(match self.submit(a).await {
                        Ok((_, t)) => CreateTaskResult::new(tasks::handle(&t)).into(),
                        Err(e) => CallToolResult::error(vec![ContentBlock::text(e.message)]).into(),
                    });
                }
                // In the foreground, or arguments the router reports on: as before.
                _ => {}
            }
        }
        match router.call(ToolCallContext::new(self, request, context)).await {
            Ok(r) => Ok(r),
            Err(e) => {
                Ok(CallToolResult::error(vec![ContentBlock::text(e.message.to_string())]).into())
            }
        }
    }

    /// A `tasks/*` request whose params do not decode (a missing or null `taskId`) reaches here
    /// as an unknown method: it is known, its params are wrong (-32602).
    async fn on_custom_request(
        &self,
        request: rmcp::model::CustomRequest,
        _context: RequestContext<RoleServer>,
    ) -> Result<rmcp::model::CustomResult, McpError> {
        let method = request.method.as_str();
        if matches!(method, "tasks/get" | "tasks/cancel" | "tasks/result" | "tasks/update") {
            return Err(McpError::invalid_params(
                format!("{method} needs `taskId`: a task id (a string) from the task's handle"),
                None,
            ));
        }
        Err(McpError::new(
            rmcp::model::ErrorCode::METHOD_NOT_FOUND,
            format!("no method {method:?}"),
            None,
        ))
    }

    /// `tasks/get`: the paneherd task's state; once ended, its result (which tells it).
    async fn get_task(
        &self,
        request: GetTaskParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<GetTaskResult, McpError> {
        let (t, block) = self.task_state(&request.task_id).await?;
        Ok(GetTaskResult::new(tasks::detailed(&t, block)))
    }

    /// `tasks/cancel`: cancels the paneherd task (refused once it has ended).
    async fn cancel_task(
        &self,
        request: CancelTaskParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        let (t, _) = self.task_state(&request.task_id).await?;
        if t.status.is_terminal() {
            return Err(tool_error(format!("task {} has already ended ({})", t.id, t.status)));
        }
        let mut c = self.client().await?;
        let _: Vec<Task> =
            c.ask(ask::Cancel { ids: vec![t.id], all: false }).await.map_err(client_error)?;
        Ok(())
    }

    /// `tasks/update`: paneherd asks nothing through the client (a task that needs input asks
    /// in its pane), so there is never an outstanding request to answer; accepted and ignored,
    /// as the extension says of unknown keys.
    async fn update_task(
        &self,
        request: UpdateTaskParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        self.task_state(&request.task_id).await.map(|_| ())
    }

    #[allow(deprecated)]
    async fn set_level(
        &self,
        request: SetLevelRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        self.log_level.store(request.level as u8, Ordering::Relaxed);
        Ok(())
    }
}

/// Tells the client when tasks it submitted end (an MCP logging notification; MCP has
/// deprecated logging in favour of nothing yet, and clients still surface it).
#[allow(deprecated)]
async fn announce(server: PaneherdMcp) {
    let Ok(mut c) = Client::connect(&server.paths, true).await else { return };
    if c.subscribe_no_output().await.is_err() {
        return;
    }
    while let Ok(Some(ev)) = c.next_event().await {
        let Event::TaskChanged { task } = ev else { continue };
        if !task.status.is_terminal() {
            continue;
        }
        let mine = server.mine.lock().map(|m| m.contains(&task.id)).unwrap_or(false);
        let delegated = server
            .delegator
            .as_ref()
            .is_some_and(|me| task.delegator.as_ref().is_some_and(|d| d.id == me.id));
        let peer = server.peer.lock().ok().and_then(|p| p.clone());
        let Some(peer) = peer else { continue };
        if server.channel && (mine || delegated) {
            channel_event(&server.paths, &peer, &task).await;
        }
        if !mine {
            continue;
        }
        if (LoggingLevel::Notice as u8) < server.log_level.load(Ordering::Relaxed) {
            continue;
        }
        let tag = match task.status {
            TaskStatus::Completed => "BACKGROUND TASK RESULT READY",
            TaskStatus::Error => "BACKGROUND TASK ERROR",
            TaskStatus::Cancelled => "BACKGROUND TASK CANCELLED",
            _ => "BACKGROUND TASK INTERRUPTED",
        };
        let data = serde_json::json!(format!(
            "[{tag}] {} — {} ({}). Read it with background_output(task_id=\"{}\").",
            task.id,
            task.title,
            duration(&task),
            task.id
        ));
        let _ = peer
            .notify_logging_message(
                LoggingMessageNotificationParam::new(LoggingLevel::Notice, data)
                    .with_logger("paneherd"),
            )
            .await;
    }
}

/// Pushes a task's end into a Claude Code session as a channel event (told once, like every
/// other way of telling: not when the agent has read it already).
async fn channel_event(paths: &Paths, peer: &Peer<RoleServer>, task: &Task) {
    let Ok(mut c) = Client::connect(paths, true).await else { return };
    let told: Result<crate::proto::InboxData, _> =
        c.ask(ask::Deliver { ids: vec![task.id.clone()], notice: true }).await;
    let Ok(told) = told else { return };
    if told.tasks.is_empty() {
        return;
    }
    let content = crate::notify::notice::for_agent(&told.tasks, told.in_progress, timefmt::now());
    let params = serde_json::json!({
        "content": content,
        "meta": { "task_id": task.id, "status": task.status.as_str() },
    });
    let n = CustomNotification::new("notifications/claude/channel", Some(params));
    if let Err(e) = peer.send_notification(ServerNotification::CustomNotification(n)).await {
        tracing::warn!("channel event for {}: {e}", task.id);
    }
}

/// Serves MCP on stdin/stdout until the client closes it.
pub fn run(paths: Paths, channel: bool) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    rt.block_on(async {
        let server = PaneherdMcp::new(paths, channel);
        let running = server.clone().serve(rmcp::transport::stdio()).await?;
        if let Ok(mut p) = server.peer.lock() {
            *p = Some(running.peer().clone());
        }
        tokio::spawn(announce(server));
        running.waiting().await?;
        let _ = Duration::from_secs(0);
        Ok(())
    })
}
