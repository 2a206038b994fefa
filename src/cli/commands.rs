//! What each command does: talk to the daemon, print, and choose the exit code.

use std::io::{IsTerminal, Read, Write};
use std::time::Duration;

use clap::CommandFactory;

use super::out::{self, CmdResult, Fail, usage};
use super::{Cli, Command, ConfigCmd, DaemonCmd, exit, render};
use crate::client::{Client, ClientError};
use crate::config::{Config, DEFAULT_TOML};
use crate::core::task::{Task, TaskSpec, TaskStatus};
use crate::core::timefmt;
use crate::paths::Paths;
use crate::proto::{ListFilter, OutputData, Request, StatusData, WaitData};

pub fn dispatch(cli: Cli) -> i32 {
    let paths = Paths::from_env();
    if cli.version {
        return match version(&paths) {
            Ok(code) => code,
            Err(f) => f.code,
        };
    }
    let command = match cli.command {
        Some(c) => c,
        None if std::io::stdout().is_terminal() && std::io::stdin().is_terminal() => Command::Ui,
        None => Command::List(super::ListArgs { status: vec![], limit: None, json: false }),
    };
    let result = match command {
        Command::Daemon(d) => match d.command.unwrap_or(DaemonCmd::Run { detach: false }) {
            DaemonCmd::Run { detach } => match crate::daemon::run(paths, detach) {
                Ok(()) => Ok(exit::OK),
                Err(e) => Err(Fail { code: exit::DAEMON, message: format!("{e:#}") }),
            },
            DaemonCmd::Status { json } => block_on(daemon_status(&paths, json)),
            DaemonCmd::Stop => block_on(daemon_stop(&paths)),
        },
        Command::Config(c) => config_cmd(&paths, c),
        Command::Layouts => layouts(&paths),
        Command::Signal { kind, text, task } => block_on(async move {
            let task =
                task.or_else(|| std::env::var("PANEHERD_TASK_ID").ok()).ok_or_else(|| {
                    usage("no task: run inside a task (PANEHERD_TASK_ID) or give --task")
                })?;
            let mut c = Client::connect(&paths, true).await?;
            let t: Task = c.request(Request::Signal { task_id: task, kind, text }).await?;
            outln!(
                "{} {}",
                t.id,
                if t.needs_input.is_some() { "needs input" } else { t.status.as_str() }
            );
            Ok(exit::OK)
        }),
        Command::Continue { id, prompt, wait, timeout, json } => block_on(async move {
            let timeout = timeout_ms(timeout)?;
            let mut c = Client::connect(&paths, true).await?;
            let task: Task = c.request(Request::Continue { id, prompt, earlier: None }).await?;
            finish_submit(&mut c, task, wait, timeout, json).await
        }),
        Command::Mcp => match crate::mcp::run(paths) {
            Ok(()) => Ok(exit::OK),
            Err(e) => Err(Fail { code: exit::DAEMON, message: format!("{e:#}") }),
        },
        Command::Notify(super::NotifyCmd::Test) => block_on(notify_test(paths.clone())),
        Command::Ui => match crate::tui::run(paths, tmux_origin()) {
            Ok(()) => Ok(exit::OK),
            Err(e) => Err(Fail { code: exit::DAEMON, message: format!("{e:#}") }),
        },
        Command::Completions { shell } => {
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "paneherd", &mut script);
            out::bytes(&script).map(|()| exit::OK).map_err(Fail::from)
        }
        Command::PaneRun { socket, task } => Ok(crate::runner::pane::run_wrapper(&socket, &task)),
        // Run by tmux's hook: silent, and 0 whatever happens (tmux would cover the user's pane
        // with a failure), also when the daemon has gone.
        Command::TmuxResized { socket, tmux, window } => {
            let _ = block_on(async move {
                let mut c = Client::connect_socket(&socket).await?;
                c.request_raw(Request::TmuxResized { socket: tmux, window }).await?;
                Ok(exit::OK)
            });
            Ok(exit::OK)
        }
        Command::Focus { id } => block_on(async move {
            let mut c = Client::connect(&paths, true).await?;
            let t: Task = c.request(Request::Focus { id }).await?;
            outln!("{} is in pane {}", t.id, t.pane_id.as_deref().unwrap_or("?"));
            Ok(exit::OK)
        }),
        Command::DemoAgent { task, prompt } => Ok(crate::demo_agent::run(task.as_deref(), &prompt)),
        Command::Run(a) => block_on(run(&paths, a)),
        Command::List(a) => block_on(list(&paths, a)),
        Command::Output(a) => block_on(output(&paths, a)),
        Command::Wait(a) => block_on(wait(&paths, a)),
        Command::Cancel(a) => block_on(cancel(&paths, a)),
        Command::Retry(a) => block_on(retry(&paths, a)),
        Command::Demo(a) => super::demo::run(&paths, a),
    };
    match result {
        Ok(code) => code,
        Err(f) => {
            if !f.message.is_empty() {
                errln!("paneherd: {}", f.message);
            }
            f.code
        }
    }
}

fn version(paths: &Paths) -> CmdResult {
    outln!("paneherd {}", env!("CARGO_PKG_VERSION"));
    outln!("config:  {}", paths.config.display());
    outln!("data:    {}", paths.data.display());
    outln!("runtime: {}", paths.runtime.display());
    Ok(exit::OK)
}

pub(super) fn block_on<F: std::future::Future<Output = CmdResult>>(f: F) -> CmdResult {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| {
        Fail { code: exit::DAEMON, message: format!("cannot start async runtime: {e}") }
    })?;
    rt.block_on(f)
}

/// The submitter's tmux pane, when it runs inside tmux.
pub(super) fn tmux_origin() -> Option<crate::core::task::TmuxOrigin> {
    let socket = crate::tmux::adapter::socket_from_env(&std::env::var("TMUX").ok()?)?;
    let pane = std::env::var("TMUX_PANE").ok().filter(|p| p.starts_with('%'))?;
    Some(crate::core::task::TmuxOrigin { socket, pane })
}

fn print_json<T: serde::Serialize>(v: &T) -> Result<(), Fail> {
    let s =
        serde_json::to_string_pretty(v).map_err(|e| Fail { code: 1, message: e.to_string() })?;
    outln!("{s}");
    Ok(())
}

fn timeout_ms(secs: Option<f64>) -> Result<Option<u64>, Fail> {
    match secs {
        None => Ok(None),
        Some(s) if s.is_finite() && s >= 0.0 => Ok(Some((s * 1000.0) as u64)),
        Some(s) => Err(usage(format!("--timeout {s}: give a number of seconds, 0 or more"))),
    }
}

/// Exit code for tasks that were waited for.
fn code_for(tasks: &[Task], timed_out: bool) -> i32 {
    if timed_out {
        exit::TIMEOUT
    } else if tasks.iter().all(|t| t.status == TaskStatus::Completed) {
        exit::OK
    } else {
        exit::TASK_FAILED
    }
}

async fn run(paths: &Paths, a: super::RunArgs) -> CmdResult {
    let prompt = if a.prompt == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| usage(format!("cannot read the prompt from stdin: {e}")))?;
        s
    } else {
        a.prompt
    };
    let cwd = match a.cwd {
        Some(c) => Some(
            std::fs::canonicalize(&c).map_err(|e| usage(format!("--cwd {}: {e}", c.display())))?,
        ),
        None => None,
    };
    let spec = TaskSpec {
        prompt,
        agent: a.agent,
        category: a.category,
        model: a.model,
        title: a.title,
        skills: a.skills,
        cwd,
        client_cwd: std::env::current_dir().ok(),
        env: Some(std::env::vars().collect()),
        parent: None,
        tmux: tmux_origin(),
        resume: None,
    };
    let timeout = timeout_ms(a.timeout)?;
    let mut c = Client::connect(paths, true).await?;
    let task: Task = c.request(Request::Submit { spec: Box::new(spec) }).await?;
    finish_submit(&mut c, task, a.wait, timeout, a.json).await
}

async fn finish_submit(
    c: &mut Client,
    task: Task,
    wait: bool,
    timeout: Option<u64>,
    json: bool,
) -> CmdResult {
    if !wait {
        if json {
            print_json(&task)?;
        } else {
            outln!("{}", task.id);
            if std::io::stderr().is_terminal() {
                let state =
                    if task.status == TaskStatus::Running { "started" } else { "submitted" };
                errln!(
                    "{state}: {} — `paneherd output {} --wait` for its result",
                    task.title,
                    task.id
                );
            }
        }
        return Ok(exit::OK);
    }
    let out: OutputData = c
        .request(Request::Output {
            id: task.id.clone(),
            wait: true,
            timeout_ms: timeout,
            full: false,
        })
        .await?;
    print_output(&out, json)?;
    Ok(code_for(std::slice::from_ref(&out.task), out.timed_out))
}

fn print_output(out: &OutputData, json: bool) -> Result<(), Fail> {
    if json {
        let mut v = serde_json::to_value(&out.task).map_err(|e| usage(e.to_string()))?;
        if let Some(obj) = v.as_object_mut() {
            obj.insert("result".into(), out.result.clone().into());
            obj.insert("tail".into(), out.tail.clone().into());
            obj.insert("timed_out".into(), out.timed_out.into());
        }
        return print_json(&v);
    }
    out!(
        "{}",
        render::output(&out.task, out.result.as_deref(), out.tail.as_deref(), timefmt::now())
    );
    if out.timed_out {
        outln!(
            "\n(timed out waiting; the task goes on — `paneherd output {} --wait` again)",
            out.task.id
        );
    }
    Ok(())
}

async fn list(paths: &Paths, a: super::ListArgs) -> CmdResult {
    let mut c = Client::connect(paths, true).await?;
    let filter = ListFilter { status: a.status, since: None, limit: a.limit };
    if a.json {
        let mut out = std::io::BufWriter::with_capacity(256 * 1024, std::io::stdout().lock());
        match c.request_to(Request::List { filter }, &mut out).await {
            Err(ClientError::Output(_)) => return Err(out::Closed.into()),
            r => r?,
        }
        out.write_all(b"\n").and_then(|()| out.flush()).map_err(|_| out::Closed)?;
        return Ok(exit::OK);
    }
    let tasks: Vec<Task> = c.request(Request::List { filter }).await?;
    out!("{}", render::task_table(&tasks, timefmt::now()));
    Ok(exit::OK)
}

async fn output(paths: &Paths, a: super::OutputArgs) -> CmdResult {
    let timeout = timeout_ms(a.timeout)?;
    let mut c = Client::connect(paths, true).await?;
    let out: OutputData = c
        .request(Request::Output { id: a.id, wait: a.wait, timeout_ms: timeout, full: false })
        .await?;
    print_output(&out, a.json)?;
    if out.timed_out {
        return Ok(exit::TIMEOUT);
    }
    Ok(if a.wait { code_for(std::slice::from_ref(&out.task), false) } else { exit::OK })
}

/// The ids of `wait` and `cancel`: some ids, or `--all`.
fn ids_or_all(ids: &[String], all: bool) -> Result<(), Fail> {
    match (ids.is_empty(), all) {
        (true, false) => Err(usage("give task ids, or --all")),
        (false, true) => Err(usage("give task ids or --all, not both")),
        _ => Ok(()),
    }
}

async fn wait(paths: &Paths, a: super::WaitArgs) -> CmdResult {
    ids_or_all(&a.ids, a.all)?;
    let timeout = timeout_ms(a.timeout)?;
    let mut c = Client::connect(paths, true).await?;
    let w: WaitData =
        c.request(Request::Wait { ids: a.ids, all: a.all, timeout_ms: timeout }).await?;
    if a.json {
        print_json(&w)?;
    } else if w.tasks.is_empty() {
        outln!("Nothing to wait for: no task is pending or running.");
    } else {
        out!("{}", render::task_table(&w.tasks, timefmt::now()));
        if w.timed_out {
            outln!("(timed out waiting)");
        }
    }
    Ok(code_for(&w.tasks, w.timed_out))
}

async fn cancel(paths: &Paths, a: super::CancelArgs) -> CmdResult {
    ids_or_all(&a.ids, a.all)?;
    let mut c = Client::connect(paths, true).await?;
    // Which had ended already, to say so rather than list them as if just cancelled.
    let mut ended = vec![];
    for id in &a.ids {
        let t: Option<Task> = c.request(Request::Get { id: id.clone() }).await?;
        if let Some(t) = t.filter(|t| t.status.is_terminal()) {
            ended.push(t);
        }
    }
    let ids: Vec<String> =
        a.ids.into_iter().filter(|i| !ended.iter().any(|t| t.id.starts_with(i.as_str()))).collect();
    let tasks: Vec<Task> = if ids.is_empty() && !a.all {
        vec![]
    } else {
        c.request(Request::Cancel { ids, all: a.all }).await?
    };
    if a.json {
        let all: Vec<&Task> = tasks.iter().chain(ended.iter()).collect();
        print_json(&all)?;
        return Ok(exit::OK);
    }
    for t in &ended {
        outln!("{} had already ended ({}); nothing to cancel.", t.id, t.status);
    }
    if !tasks.is_empty() {
        out!("{}", render::task_table(&tasks, timefmt::now()));
    } else if ended.is_empty() {
        outln!("Nothing to cancel: no task is pending or running.");
    }
    Ok(exit::OK)
}

async fn retry(paths: &Paths, a: super::RetryArgs) -> CmdResult {
    let timeout = timeout_ms(a.timeout)?;
    let mut c = Client::connect(paths, true).await?;
    let task: Task = c.request(Request::Retry { id: a.id }).await?;
    finish_submit(&mut c, task, a.wait, timeout, a.json).await
}

async fn daemon_status(paths: &Paths, json: bool) -> CmdResult {
    let mut c = Client::connect(paths, false).await?;
    let s: StatusData = c.request(Request::Status).await?;
    if json {
        print_json(&s)?;
        return Ok(exit::OK);
    }
    outln!("paneherd daemon {} (pid {})", s.version, s.pid);
    outln!("  socket     {}", s.socket.display());
    outln!("  data       {}", s.data_dir.display());
    outln!(
        "  config     {}",
        s.config.map(|p| p.display().to_string()).unwrap_or_else(|| "(embedded defaults)".into())
    );
    if let Some(e) = &s.config_error {
        outln!("  config     NOT RELOADED, the last good config stays in force:");
        for l in e.lines() {
            outln!("               {l}");
        }
    }
    outln!("  uptime     {}", timefmt::human_duration(s.uptime_ms));
    let counts: Vec<String> = s.counts.iter().map(|(st, n)| format!("{n} {st}")).collect();
    outln!("  tasks      {}", counts.join(", "));
    for g in &s.groups {
        let limit = if g.limit == 0 { "∞".to_string() } else { g.limit.to_string() };
        outln!("  limit      {} {}/{} ({} queued)", g.key, g.running, limit, g.queued);
    }
    for p in &s.panes {
        let note = match (&p.fallback, p.visible) {
            (_, 0) => " (window too small to show any beside it)".to_string(),
            (Some(how), _) => format!(" ({how}, to fit the window)"),
            (None, _) => String::new(),
        };
        outln!(
            "  panes      beside {} ({}): {} shown, {} waiting in paneherd-agents{note}",
            p.main_pane,
            p.socket.display(),
            p.visible,
            p.hidden
        );
    }
    if !s.notifications.is_empty() {
        outln!("  notify     {}", s.notifications);
    }
    for p in &s.store_problems {
        outln!("  skipped    {p}");
    }
    Ok(exit::OK)
}

async fn daemon_stop(paths: &Paths) -> CmdResult {
    let mut c = Client::connect(paths, false).await?;
    let pid = c.welcome.pid;
    match c.request_raw(Request::Shutdown).await {
        // The daemon may close the connection before its reply gets out: it is going anyway.
        Ok(_) | Err(ClientError::Unreachable(_)) | Err(ClientError::Io(_)) => {}
        Err(e) => return Err(e.into()),
    }
    // The daemon closes every connection when it exits.
    let gone = tokio::time::timeout(Duration::from_secs(15), async {
        while let Ok(Some(_)) = c.next_event().await {}
    })
    .await;
    // Its lock is released when the process has exited.
    let released =
        gone.is_ok() && wait_lock_free(&paths.daemon_lock(), Duration::from_secs(5)).await;
    if !released {
        return Err(Fail {
            code: exit::DAEMON,
            message: format!("daemon {pid} did not stop within 15 s"),
        });
    }
    outln!("daemon {pid} stopped");
    Ok(exit::OK)
}

/// `notify test`: the daemon sends a sample through its own bus (the one real notifications
/// use) and says which way it went; exit 1 when nothing was delivered.
async fn notify_test(paths: Paths) -> CmdResult {
    let mut c = Client::connect(&paths, true).await?;
    let d: crate::proto::NotifyTestData =
        c.request(Request::NotifyTest { tmux: tmux_origin() }).await?;
    let took = d.took_ms;
    match d.route.as_str() {
        "desktop" => outln!(
            "desktop: sent to the notification server{} ({took} ms)",
            d.server.map(|s| format!(" {s}")).unwrap_or_default()
        ),
        "tmux" => {
            outln!("tmux: shown as a tmux message with a bell, because {} ({took} ms)", d.why)
        }
        _ => outln!("none: {} ({took} ms)", d.why),
    }
    if d.route != "desktop" && crate::notify::deliver::probe().await.is_ok() {
        outln!(
            "Your shell reaches a notification server the daemon does not: restart the daemon \
             from here (`paneherd daemon stop`; the next command starts it with this session)."
        );
    }
    Ok(if d.route == "none" { exit::TASK_FAILED } else { exit::OK })
}

fn layouts(paths: &Paths) -> CmdResult {
    let loaded = Config::load(&paths.config).map_err(|e| usage(format!("config error: {e}")))?;
    let c = &loaded.config;
    let active = c.tmux.layout.as_ref().map(|l| l.get_ref().as_str()).unwrap_or("main-vertical");
    let w = c.presets.0.keys().map(|k| k.len()).max().unwrap_or(0).max(6);
    outln!("  {:w$}  {:<15}  DESCRIPTION", "PRESET", "LAYOUT");
    for (name, p) in &c.presets.0 {
        let mark = if name == active { "*" } else { " " };
        let from = match &p.path {
            Some(path) => format!("  ({})", path.display()),
            None => String::new(),
        };
        outln!("{mark} {name:w$}  {:<15}  {}{from}", p.file.layout.name(), p.file.description);
    }
    let s = c.tmux_settings();
    let g = s.geometry;
    outln!(
        "\nin force: {} — main pane {} % (≥ {} cols), agent panes ≥ {}×{}, close after {}",
        g.kind.name(),
        g.main_pane_size,
        g.main_pane_min_width,
        g.agent_pane_min_width,
        g.agent_pane_min_height,
        match s.close_after {
            crate::tmux::presets::CloseAfter::Secs(n) => format!("{n} s"),
            crate::tmux::presets::CloseAfter::Keep => "never (keep)".into(),
        }
    );
    Ok(exit::OK)
}

async fn wait_lock_free(path: &std::path::Path, within: Duration) -> bool {
    use nix::fcntl::{Flock, FlockArg};
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let Ok(f) = std::fs::File::open(path) else {
            return true;
        };
        if Flock::lock(f, FlockArg::LockSharedNonblock).is_ok() {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn config_cmd(paths: &Paths, c: ConfigCmd) -> CmdResult {
    match c {
        ConfigCmd::Default => {
            out!("{DEFAULT_TOML}");
            Ok(exit::OK)
        }
        ConfigCmd::Path => {
            outln!("{}", paths.config.display());
            Ok(exit::OK)
        }
        ConfigCmd::Check => {
            let checked = Config::load(&paths.config);
            let daemon = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map(|rt| rt.block_on(daemon_config_state(paths)))
                .unwrap_or_default();
            match checked {
                Ok(l) => {
                    let src = match &l.user_file {
                        Some(p) => p.display().to_string(),
                        None => format!("{} (absent: embedded defaults)", paths.config.display()),
                    };
                    outln!(
                        "ok: {src}: {} agents, {} categories",
                        l.config.agents.len(),
                        l.config.categories.len()
                    );
                    for (name, a) in &l.config.agents {
                        if a.prompt_may_read_as_option() {
                            outln!(
                                "warning: agents.{name}.command: a prompt that begins with '-' \
                                 may be read as an option; put \"--\" before \"{{prompt}}\" \
                                 (or use the program's --flag={{prompt}})"
                            );
                        }
                    }
                    outln!("{daemon}");
                    Ok(exit::OK)
                }
                Err(e) => {
                    errln!("paneherd: config error: {e}");
                    outln!("{daemon}");
                    Ok(exit::USAGE)
                }
            }
        }
    }
}

/// Whether the running daemon uses the config file's current content, in a sentence.
async fn daemon_config_state(paths: &Paths) -> String {
    let now = crate::config::digest(&paths.config);
    let status = match Client::connect(paths, false).await {
        Ok(mut c) => c.request::<StatusData>(Request::Status).await,
        Err(_) => return "No daemon is running; the next one will use this file.".into(),
    };
    let s = match status {
        Ok(s) => s,
        Err(e) => return format!("The running daemon did not say which config it uses: {e}"),
    };
    let pid = s.pid;
    match (&s.config_error, s.config_digest) {
        (Some(e), _) => format!(
            "The running daemon (pid {pid}) refused this content and runs on the last good \
             config:\n  {e}"
        ),
        (None, Some(d)) if d == now => format!("The running daemon (pid {pid}) uses this content."),
        _ => format!(
            "The running daemon (pid {pid}) has not read this content yet (it reloads within a \
             moment of a change; `paneherd daemon status` says when it has)."
        ),
    }
}
