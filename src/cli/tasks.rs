//! The task commands: `run`, `list`, `output`, `wait`, `cancel`, `retry` (and what `continue`
//! shares with them): talk to the daemon, print for people or as JSON, choose the exit code.

use std::io::{IsTerminal, Read, Write};

use super::exit;
use super::out::{self, CmdResult, Fail, usage};
use super::out::{code_for, print_json, timeout_ms, tmux_origin};
use super::render;
use crate::client::{Blocking, Client, ClientError};
use crate::core::task::{Task, TaskSpec, TaskStatus};
use crate::core::timefmt;
use crate::paths::Paths;
use crate::proto::{ListFilter, OutputData, Request, WaitData, ask};

pub(super) fn run(paths: &Paths, mut a: super::args::RunArgs) -> CmdResult {
    let prompt = if reads_stdin(&a.prompt) { read_stdin()? } else { std::mem::take(&mut a.prompt) };
    if let Some(host) = a.host.take() {
        return run_there(paths, host, prompt, a);
    }
    let cwd = match a.cwd {
        Some(c) => Some(
            std::fs::canonicalize(&c).map_err(|e| usage(format!("--cwd {}: {e}", c.display())))?,
        ),
        None => None,
    };
    // Where the task runs unless --cwd says: here. A directory removed under the shell (`cd`
    // still shows it) is refused, not run in `/`.
    let here = match (&cwd, std::env::current_dir()) {
        (_, Ok(d)) => Some(d),
        (Some(_), Err(_)) => None,
        (None, Err(e)) => {
            return Err(usage(format!(
                "the current directory is gone ({e}): cd to another, or give --cwd"
            )));
        }
    };
    // Checked here, where the user is: outside a repository, an unknown base or branch is a
    // usage error (exit 2), not a task that fails later.
    let worktree = match &a.worktree {
        None => None,
        Some(attach) => {
            let dir = cwd.clone().or_else(|| here.clone()).unwrap_or_default();
            let attach = (!attach.is_empty()).then_some(attach.as_str());
            Some(
                crate::worktree::request_for(&dir, attach, a.base.as_deref(), a.branch.as_deref())
                    .map_err(|e| usage(e.to_string()))?,
            )
        }
    };
    let spec = TaskSpec {
        worktree,
        prompt,
        agent: a.agent,
        category: a.category,
        model: a.model,
        title: a.title,
        skills: a.skills,
        cwd,
        client_cwd: here,
        env: Some(crate::paths::client_env()),
        // Run by a task's own agent: that task delegates it.
        parent: std::env::var("PANEHERD_TASK_ID").ok().filter(|v| !v.is_empty()),
        tmux: tmux_origin(),
        resume: None,
        delegator: crate::delegator::current(),
        host: None,
        id: None,
        sandbox: a.sandbox,
    };
    let timeout = timeout_ms(a.timeout)?;
    let mut c = Blocking::connect(paths, true)?;
    let task: Task = c.ask(ask::Submit { spec: Box::new(spec) })?;
    finish_submit(&mut c, task, a.wait, timeout, a.json)
}

/// `run --host`: a task for another host, whose directory and repository are there — nothing
/// of this machine (directory, environment, repository) is looked at or sent.
fn run_there(paths: &Paths, host: String, prompt: String, a: super::args::RunArgs) -> CmdResult {
    if let Some(c) = a.cwd.as_ref().filter(|c| !c.is_absolute()) {
        return Err(usage(format!(
            "--cwd {}: with --host, a directory there, named from its root",
            c.display()
        )));
    }
    let worktree = a.worktree.map(|attach| crate::core::task::WorktreeRequest {
        attach: !attach.is_empty(),
        branch: if attach.is_empty() { a.branch.clone() } else { Some(attach) },
        base: a.base.clone(),
        reuse: None,
    });
    let spec = TaskSpec {
        worktree,
        prompt,
        agent: a.agent,
        category: a.category,
        model: a.model,
        title: a.title,
        skills: a.skills,
        cwd: a.cwd,
        parent: std::env::var("PANEHERD_TASK_ID").ok().filter(|v| !v.is_empty()),
        delegator: crate::delegator::current(),
        host: Some(host),
        sandbox: a.sandbox,
        ..Default::default()
    };
    let timeout = timeout_ms(a.timeout)?;
    let mut c = Blocking::connect(paths, true)?;
    let task: Task = c.ask(ask::Submit { spec: Box::new(spec) })?;
    finish_submit(&mut c, task, a.wait, timeout, a.json)
}

/// Whether a prompt argument says "read it from standard input": `-`, unless it came after
/// `--` (then it is the prompt `-` itself, as every other argument after `--` is taken as it
/// is).
fn reads_stdin(prompt: &str) -> bool {
    prompt == "-" && !dash_after_separator(std::env::args_os().skip(1))
}

/// Whether a `-` argument follows a `--` argument.
fn dash_after_separator(args: impl Iterator<Item = std::ffi::OsString>) -> bool {
    let mut separated = false;
    for a in args {
        if separated && a == "-" {
            return true;
        }
        separated |= a == "--";
    }
    false
}

/// A prompt given as `-`: standard input, whole.
fn read_stdin() -> Result<String, Fail> {
    let mut s = String::new();
    std::io::stdin()
        .read_to_string(&mut s)
        .map_err(|e| usage(format!("cannot read the prompt from stdin: {e}")))?;
    Ok(s)
}

pub(super) fn finish_submit(
    c: &mut Blocking,
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
    if std::io::stderr().is_terminal() {
        // Said before the wait: a Ctrl-C leaves the task running, and its id is then known.
        errln!("{}: {} — waiting for its end (Ctrl-C leaves it running)", task.id, task.title);
    }
    let out: OutputData = c
        .ask(ask::Output {
            id: task.id.clone(),
            wait: true,
            timeout_ms: timeout,
            full: false,
            deliver: read_by_its_delegator(&task, crate::delegator::current().as_ref()),
        })
        .map_err(cut_short)?;
    print_output(&out, json)?;
    Ok(code_for(std::slice::from_ref(&out.task), out.timed_out))
}

/// Whether this command runs under the agent that delegated `task` (`me`, its Bash tool): the
/// result it prints is then told, and not told again as a notice.
fn read_by_its_delegator(task: &Task, me: Option<&crate::core::task::Delegator>) -> bool {
    match (&task.delegator, me) {
        (Some(d), Some(me)) => d.id == me.id,
        _ => false,
    }
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

pub(super) fn list(paths: &Paths, a: super::args::ListArgs) -> CmdResult {
    let mut c = Blocking::connect(paths, true)?;
    let statuses: Vec<String> = a.status.iter().map(|s| s.to_string()).collect();
    let filter = ListFilter {
        status: a.status,
        since: a.since,
        limit: a.limit,
        agent: a.agent,
        category: a.category,
        text: a.grep,
    };
    if a.json {
        let mut out = std::io::BufWriter::with_capacity(256 * 1024, std::io::stdout().lock());
        match c.request_to(Request::List { filter }, &mut out) {
            Err(ClientError::Output(e)) => return Err(out::Closed(e).into()),
            r => r?,
        }
        out.write_all(b"\n").and_then(|()| out.flush()).map_err(out::Closed)?;
        return Ok(exit::OK);
    }
    let narrowed = !filter.is_empty();
    let tasks: Vec<Task> = c.ask(ask::List { filter })?;
    if tasks.is_empty() && narrowed && statuses.is_empty() {
        outln!("No task matches.");
    } else if tasks.is_empty() && !statuses.is_empty() {
        // There may be others: say which were asked for.
        outln!("No {} tasks.", statuses.join(" or "));
    } else if tasks.is_empty() && a.limit == Some(0) {
        outln!("No tasks listed (--limit 0).");
    } else {
        out!("{}", render::task_table(&tasks, timefmt::now()));
    }
    Ok(exit::OK)
}

pub(super) fn output(paths: &Paths, a: super::args::OutputArgs) -> CmdResult {
    if a.follow {
        return follow(paths, &a.id);
    }
    let timeout = timeout_ms(a.timeout)?;
    let mut c = Blocking::connect(paths, true)?;
    // Read by the agent that delegated it, the result is told (only an agent's command asks).
    let deliver = match crate::delegator::current() {
        Some(me) => {
            let task: Option<Task> = c.ask(ask::Get { id: a.id.clone() })?;
            task.is_some_and(|t| read_by_its_delegator(&t, Some(&me)))
        }
        None => false,
    };
    let out: OutputData = c
        .ask(ask::Output { id: a.id, wait: a.wait, timeout_ms: timeout, full: false, deliver })
        .map_err(cut_short)?;
    print_output(&out, a.json)?;
    if out.timed_out {
        return Ok(exit::TIMEOUT);
    }
    Ok(if a.wait { code_for(std::slice::from_ref(&out.task), false) } else { exit::OK })
}

/// `output --follow`: the task's output as it comes — what is in its log, then more each time
/// the daemon says it printed (no polling) — until it ends; its exit code then says how.
fn follow(paths: &Paths, id: &str) -> CmdResult {
    use crate::proto::Event;
    let mut c = Blocking::connect(paths, true)?;
    // Subscribed before the first look: nothing printed in between is missed.
    c.subscribe()?;
    let task: Option<Task> = c.ask(ask::Get { id: id.to_string() })?;
    let Some(task) = task else { return Err(usage(format!("no task {id}"))) };
    // Its log is on its host: followed there.
    if let Some(host) = &task.host
        && !task.status.is_terminal()
    {
        return super::hosts::forward(paths, host, &["output", &task.id, "--follow"]);
    }
    let mut log = Tail { path: task.log_path.clone(), at: 0 };
    log.copy()?;
    if task.status.is_terminal() {
        return Ok(code_for(std::slice::from_ref(&task), false));
    }
    loop {
        match c.next_event().map_err(cut_short)? {
            Some(Event::Output { id: ref which, .. }) if *which == task.id => log.copy()?,
            Some(Event::Lagged { .. }) => log.copy()?,
            Some(Event::TaskChanged { task: t }) if t.id == task.id && t.status.is_terminal() => {
                log.copy()?;
                return Ok(code_for(std::slice::from_ref(&*t), false));
            }
            Some(_) => {}
            None => return Err(cut_short(ClientError::Unreachable("closed".into()))),
        }
    }
}

/// Where `output --follow` is in a task's log.
struct Tail {
    path: std::path::PathBuf,
    at: u64,
}

impl Tail {
    /// Copies what the log holds past `at` to standard output, as it is (a terminal shows it
    /// as the agent's own would).
    fn copy(&mut self) -> Result<(), Fail> {
        use std::io::{Seek, SeekFrom};
        let mut f = match std::fs::File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(usage(format!("cannot read {}: {e}", self.path.display()))),
        };
        f.seek(SeekFrom::Start(self.at))
            .map_err(|e| usage(format!("cannot read {}: {e}", self.path.display())))?;
        let mut out = std::io::stdout().lock();
        let n = std::io::copy(&mut f, &mut out).map_err(out::Closed)?;
        out.flush().map_err(out::Closed)?;
        self.at += n;
        Ok(())
    }
}

/// A wait that the daemon's going cut short: what became of the tasks, and what to do.
fn cut_short(e: ClientError) -> Fail {
    if !e.is_dropped() {
        return e.into();
    }
    Fail {
        code: exit::DAEMON,
        message: "the daemon stopped before the wait was over (stopped, or it went away): tasks \
                  not yet started stay queued for the next daemon; `paneherd list` starts one \
                  and shows them"
            .into(),
    }
}

/// The ids of `wait` and `cancel`: some ids, or `--all`.
fn ids_or_all(ids: &[String], all: bool) -> Result<(), Fail> {
    match (ids.is_empty(), all) {
        (true, false) => Err(usage("give task ids, or --all")),
        (false, true) => Err(usage("give task ids or --all, not both")),
        _ => Ok(()),
    }
}

pub(super) fn wait(paths: &Paths, a: super::args::WaitArgs) -> CmdResult {
    ids_or_all(&a.ids, a.all)?;
    let timeout = timeout_ms(a.timeout)?;
    let mut c = Blocking::connect(paths, true)?;
    let w: WaitData =
        c.ask(ask::Wait { ids: a.ids, all: a.all, timeout_ms: timeout }).map_err(cut_short)?;
    if a.json {
        print_json(&w)?;
    } else if w.tasks.is_empty() {
        outln!("Nothing to wait for: no task is pending or running.");
    } else {
        out!("{}", render::task_table(&w.tasks, timefmt::now()));
        if w.timed_out {
            outln!("(timed out waiting; the tasks go on — `paneherd wait` again)");
        }
    }
    Ok(code_for(&w.tasks, w.timed_out))
}

pub(super) fn inbox(paths: &Paths, a: super::args::InboxArgs) -> CmdResult {
    let delegator =
        if a.all || !a.ids.is_empty() { None } else { crate::delegator::current().map(|d| d.id) };
    let mut c = Blocking::connect(paths, true)?;
    // The ids given, whole (any unique prefix names a task; an unknown one is an error).
    let mut ids = Vec::with_capacity(a.ids.len());
    for id in &a.ids {
        let t: Option<Task> = c.ask(ask::Get { id: id.clone() })?;
        ids.push(t.map_or_else(|| id.clone(), |t| t.id));
    }
    let data: crate::proto::InboxData = match (ids.is_empty(), a.ack) {
        (true, _) => c.ask(ask::Inbox { delegator: delegator.clone(), ack: a.ack })?,
        (false, true) => c.ask(ask::Deliver { ids: ids.clone(), notice: true })?,
        (false, false) => {
            let mut d: crate::proto::InboxData =
                c.ask(ask::Inbox { delegator: None, ack: false })?;
            d.tasks.retain(|t| ids.contains(&t.id));
            d
        }
    };
    let notice = (!data.tasks.is_empty())
        .then(|| crate::notify::notice::for_agent(&data.tasks, data.in_progress, timefmt::now()));
    if a.json {
        print_json(&serde_json::json!({
            "tasks": data.tasks,
            "in_progress": data.in_progress,
            "notice": notice,
        }))?;
    } else if data.tasks.is_empty() {
        outln!("Nothing new: no ended task waits to be told.");
    } else if delegator.is_some() || !ids.is_empty() {
        out!("{}", notice.unwrap_or_default());
    } else {
        out!("{}", render::task_table(&data.tasks, timefmt::now()));
    }
    Ok(exit::OK)
}

/// `paneherd events`: the daemon's event stream, a line per event, until the daemon stops (the
/// ends of the tasks it stops on the way included). Exit 0 when it said it was stopping, 3 when
/// it went away unannounced.
pub(super) async fn events(paths: &Paths, json: bool, no_output: bool) -> CmdResult {
    let mut c = Client::connect(paths, true).await?;
    match no_output {
        true => c.subscribe_no_output().await?,
        false => c.subscribe().await?,
    }
    let mut stopping = false;
    loop {
        let ev = match c.next_event().await {
            Ok(Some(ev)) => ev,
            Ok(None) => break,
            // A stopping daemon may drop the connection rather than close it.
            Err(_) if stopping => break,
            Err(e) => return Err(e.into()),
        };
        stopping |= matches!(ev, crate::proto::Event::DaemonStopping);
        if json {
            let line = serde_json::to_string(&ev)
                .map_err(|e| Fail { code: exit::DAEMON, message: format!("event: {e}") })?;
            outln!("{line}");
        } else {
            outln!("{}", render::event_line(&ev));
        }
    }
    if stopping {
        return Ok(exit::OK);
    }
    Err(Fail {
        code: exit::DAEMON,
        message: "the daemon went away without stopping (killed, or it crashed): the next \
                  command starts another"
            .into(),
    })
}

pub(super) fn cancel(paths: &Paths, a: super::args::CancelArgs) -> CmdResult {
    ids_or_all(&a.ids, a.all)?;
    let mut c = Blocking::connect(paths, true)?;
    // Which had ended already, to say so rather than list them as if just cancelled.
    let mut ended = vec![];
    for id in &a.ids {
        let t: Option<Task> = c.ask(ask::Get { id: id.clone() })?;
        if let Some(t) = t.filter(|t| t.status.is_terminal()) {
            ended.push(t);
        }
    }
    let ids: Vec<String> =
        a.ids.into_iter().filter(|i| !ended.iter().any(|t| t.id.starts_with(i.as_str()))).collect();
    let tasks: Vec<Task> =
        if ids.is_empty() && !a.all { vec![] } else { c.ask(ask::Cancel { ids, all: a.all })? };
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

pub(super) fn retry(paths: &Paths, a: super::args::RetryArgs) -> CmdResult {
    let timeout = timeout_ms(a.timeout)?;
    let mut c = Blocking::connect(paths, true)?;
    let task: Task = c.ask(ask::Retry { id: a.id, env: Some(crate::paths::client_env()) })?;
    finish_submit(&mut c, task, a.wait, timeout, a.json)
}

/// `paneherd continue`: the task's agent resumed with a new prompt, as a new task.
pub(super) fn continue_task(
    paths: &Paths,
    id: String,
    prompt: String,
    wait: bool,
    timeout: Option<f64>,
    json: bool,
) -> CmdResult {
    let timeout = timeout_ms(timeout)?;
    // `-`: the follow-up from standard input, as `run -` reads its prompt.
    let prompt = if reads_stdin(&prompt) { read_stdin()? } else { prompt };
    let mut c = Blocking::connect(paths, true)?;
    let task: Task =
        c.ask(ask::Continue { id, prompt, earlier: None, env: Some(crate::paths::client_env()) })?;
    finish_submit(&mut c, task, wait, timeout, json)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dash_after_the_separator_is_the_prompt_itself() {
        let args = |v: &[&str]| v.iter().map(std::ffi::OsString::from).collect::<Vec<_>>();
        assert!(!dash_after_separator(args(&["run", "-"]).into_iter()));
        assert!(!dash_after_separator(args(&["run", "--agent", "shell", "-"]).into_iter()));
        assert!(dash_after_separator(args(&["run", "--agent", "shell", "--", "-"]).into_iter()));
        assert!(dash_after_separator(args(&["continue", "abc-de", "--", "-"]).into_iter()));
    }
}
