//! `paneherd demo`: the product itself, with nothing to install. Simulated agents (the `demo`
//! agent) work in tmux panes beside the dashboard — in the user's window inside tmux, in a
//! session of their own (attached, and gone again after `q`) outside it — a few wait for a
//! slot of the demo's limit, one fails, and a notification says when they end. `q` cancels
//! what is still running, closes the demo's panes and leaves the terminal as it was, then says
//! what to try next with commands that work as written.

use std::io::IsTerminal;

use super::exit;
use super::out::tmux_origin;
use super::out::{CmdResult, Fail};
use crate::client::Client;
use crate::core::task::{Task, TaskSpec, TaskStatus, TmuxOrigin};
use crate::core::timefmt;
use crate::paths::Paths;
use crate::proto::{ListFilter, Request, ask};

/// The tmux session the demo makes when it starts outside tmux.
const SESSION: &str = "paneherd-demo";

/// What the simulated agents pretend to do: (prompt, seconds, fails).
const WORK: [(&str, u32, bool); 8] = [
    ("Explore the auth code and list every login flow", 9, false),
    ("Run the test suite and summarise the failures", 6, false),
    ("Research PKCE and how our OAuth client should use it", 7, true),
    ("Find dead code in src/ and propose removals", 11, false),
    ("Review the last commit for security problems", 8, false),
    ("Draft release notes from the git log", 5, false),
    ("Benchmark the JSON parser against the baseline", 10, false),
    ("Check the docs for broken links", 6, false),
];

/// Runs the demo; see the module's doc.
pub fn run(paths: &Paths, a: super::args::DemoArgs) -> CmdResult {
    let exe = crate::paths::front_exe();
    let terminal = std::io::stdout().is_terminal() && std::io::stdin().is_terminal();
    if !a.headless
        && !a.in_session
        && terminal
        && std::env::var_os("TMUX").is_none()
        && let Some(code) = in_new_session(paths, &a, &exe)?
    {
        return Ok(code);
    }
    let origin = if a.headless { None } else { tmux_origin() };
    let since = timefmt::now();
    let ids = on_runtime(submit(paths, a.count, origin.clone()))?;
    if terminal {
        crate::tui::run(paths.clone(), origin.clone())
            .map_err(|e| Fail { code: exit::DAEMON, message: format!("{e:#}") })?;
    } else {
        // Not on a terminal (a script): wait for the tasks instead of showing the dashboard.
        on_runtime(async {
            let mut c = Client::connect(paths, true).await?;
            let _: crate::proto::WaitData =
                c.ask(ask::Wait { ids: ids.clone(), all: false, timeout_ms: None }).await?;
            Ok(())
        })?;
    }
    on_runtime(finish(paths, since, ids.clone()))?;
    if !a.in_session {
        // Inside a session of its own, the summary is printed by the process that made it,
        // on the user's terminal once the session is gone.
        summary(paths, since, &exe)?;
    }
    Ok(exit::OK)
}

/// Runs `f` to completion on a runtime of its own (the dashboard runs its own in between).
fn on_runtime<T>(f: impl std::future::Future<Output = Result<T, Fail>>) -> Result<T, Fail> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| {
        Fail { code: exit::DAEMON, message: format!("cannot start async runtime: {e}") }
    })?;
    rt.block_on(f)
}

/// Outside tmux: runs the demo in a tmux session of its own and attaches to it; when the user
/// quits, the session is gone and the summary is printed here. `None` when there is no tmux.
fn in_new_session(
    paths: &Paths,
    a: &super::args::DemoArgs,
    exe: &std::path::Path,
) -> Result<Option<i32>, Fail> {
    let since = timefmt::now();
    let count = a.count.to_string();
    let argv =
        [exe.as_os_str(), "demo".as_ref(), "--in-session".as_ref(), "-n".as_ref(), count.as_ref()];
    let env = [
        ("PANEHERD_CONFIG", paths.config.as_path()),
        ("PANEHERD_DATA_DIR", paths.data.as_path()),
        ("PANEHERD_RUNTIME_DIR", paths.runtime.as_path()),
    ];
    match crate::tmux::adapter::attach_new_session(SESSION, &env, &argv) {
        Ok(s) if s.success() => {
            summary(paths, since, exe)?;
            Ok(Some(exit::OK))
        }
        Ok(s) => Err(Fail {
            code: exit::DAEMON,
            message: format!(
                "tmux could not run the demo ({s}); is a session named {SESSION:?} already \
                 open? (`tmux attach -t {SESSION}`), or try `paneherd demo --headless`"
            ),
        }),
        // No tmux: the dashboard alone, agents headless.
        Err(_) => Ok(None),
    }
}

/// Submits the demo's tasks; returns their ids.
async fn submit(
    paths: &Paths,
    count: usize,
    origin: Option<TmuxOrigin>,
) -> Result<Vec<String>, Fail> {
    let mut c = Client::connect(paths, true).await?;
    let mut ids = Vec::new();
    let fixed_secs = std::env::var("PANEHERD_DEMO_SECS").ok();
    let base_env: Vec<(String, String)> = crate::paths::client_env();
    for i in 0..count {
        let (prompt, secs, fails) = WORK[i % WORK.len()];
        let mut env: std::collections::BTreeMap<String, String> =
            base_env.iter().cloned().collect();
        env.insert("PANEHERD_DEMO_SECS".into(), fixed_secs.clone().unwrap_or(secs.to_string()));
        env.insert("PANEHERD_DEMO_FAIL".into(), if fails { "1" } else { "0" }.into());
        let spec = TaskSpec {
            prompt: prompt.into(),
            agent: Some("demo".into()),
            client_cwd: std::env::current_dir().ok(),
            env: Some(env),
            tmux: origin.clone(),
            ..Default::default()
        };
        let t: Task = c.ask(ask::Submit { spec: Box::new(spec) }).await?;
        ids.push(t.id);
    }
    Ok(ids)
}

/// After the user quit: the demo's tasks still going — and those made from them during the
/// demo (a retry or a follow-up from the dashboard) — are cancelled and their panes closed.
async fn finish(paths: &Paths, since: timefmt::Timestamp, ids: Vec<String>) -> Result<(), Fail> {
    let mut c = Client::connect(paths, true).await?;
    let filter = ListFilter { since: Some(since), ..Default::default() };
    let made: Vec<Task> = c.ask(ask::List { filter }).await?;
    let ours = descendants(&ids, &made);
    let open: Vec<String> = made
        .iter()
        .filter(|t| ours.contains(&t.id) && !t.status.is_terminal())
        .map(|t| t.id.clone())
        .collect();
    if !open.is_empty() {
        let _: Vec<Task> = c.ask(ask::Cancel { ids: open, all: false }).await?;
    }
    c.request_raw(Request::ClosePanes { ids: ours.into_iter().collect() }).await?;
    Ok(())
}

/// The demo's tasks and every task made from one of them (its `parent`), however deep.
fn descendants(ids: &[String], made: &[Task]) -> std::collections::BTreeSet<String> {
    let mut ours: std::collections::BTreeSet<String> = ids.iter().cloned().collect();
    loop {
        let more: Vec<String> = made
            .iter()
            .filter(|t| !ours.contains(&t.id))
            .filter(|t| t.parent.as_ref().is_some_and(|p| ours.contains(p)))
            .map(|t| t.id.clone())
            .collect();
        if more.is_empty() {
            return ours;
        }
        ours.extend(more);
    }
}

/// What happened, and what to try next — with this binary's real path, so that every command
/// works as written (also after `cargo run`).
fn summary(paths: &Paths, since: timefmt::Timestamp, exe: &std::path::Path) -> CmdResult {
    let tasks: Vec<Task> = on_runtime(async {
        let mut c = Client::connect(paths, true).await?;
        let filter = ListFilter { since: Some(since), ..Default::default() };
        let tasks: Vec<Task> = c.ask(ask::List { filter }).await?;
        Ok(tasks.into_iter().filter(|t| t.agent == "demo").collect())
    })?;
    let exe = &shortest(exe);
    let count = |s: TaskStatus| tasks.iter().filter(|t| t.status == s).count();
    let mut parts = vec![];
    for s in TaskStatus::ALL.iter().filter(|s| s.is_terminal()) {
        let n = count(*s);
        if n > 0 {
            parts.push(format!("{n} {s}"));
        }
    }
    let exe = exe.display().to_string();
    let exe = if exe.contains(' ') { format!("'{exe}'") } else { exe };
    outln!("paneherd demo: {} tasks — {}.", tasks.len(), parts.join(", "));
    outln!("Every task and its result stay on disk. Try:");
    let mut tries = vec![];
    if let Some(t) = tasks.iter().find(|t| t.status == TaskStatus::Completed) {
        tries.push((format!("{exe} output {}", t.id), "a result"));
    }
    tries.push((format!("{exe} list"), "every task"));
    tries.push((format!("{exe} run --agent demo \"your idea\""), "one more"));
    tries.push((exe.clone(), "the dashboard"));
    // What each is, then the command: the commands can be long (a path), and every line
    // stays within 80 columns where it can.
    let w = tries.iter().map(|(_, what)| what.chars().count()).max().unwrap_or(0);
    for (cmd, what) in tries {
        outln!("  {what:w$}  {cmd}");
    }
    Ok(exit::OK)
}

/// The shortest way to name `exe` that runs it from here: `paneherd` when that is it on the
/// `PATH`, a path relative to this directory when it is below it (`cargo run`), else as is.
fn shortest(exe: &std::path::Path) -> std::path::PathBuf {
    let same = |a: &std::path::Path| {
        std::fs::canonicalize(a)
            .ok()
            .zip(std::fs::canonicalize(exe).ok())
            .is_some_and(|(x, y)| x == y)
    };
    if let Some(name) = exe.file_name()
        && let Ok(found) = which::which(name)
        && same(&found)
    {
        return std::path::PathBuf::from(name);
    }
    match std::env::current_dir()
        .ok()
        .and_then(|d| exe.strip_prefix(d).ok().map(|p| p.to_path_buf()))
    {
        Some(rel) if rel.components().count() > 1 => rel,
        _ => exe.to_path_buf(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(id: &str, parent: Option<&str>) -> Task {
        let mut t = Task::pending(id, "demo", "p", "/".into(), "/x.log".into(), timefmt::now());
        t.parent = parent.map(str::to_string);
        t
    }

    #[test]
    fn what_was_made_from_the_demos_tasks_is_the_demos_too() {
        let made = vec![
            task("d1", None),
            task("d2", None),
            task("r1", Some("d1")),
            task("r2", Some("r1")),
            task("other", None),
            task("child-of-other", Some("other")),
        ];
        let ours = descendants(&["d1".into(), "d2".into()], &made);
        assert_eq!(ours.into_iter().collect::<Vec<_>>(), ["d1", "d2", "r1", "r2"]);
    }
}
