//! `paneherd diff|merge|discard|worktrees`: a task's git worktree from the command line. git
//! runs here, in the client ([`crate::worktree`]); what became of a worktree is recorded on its
//! task (`worktree_note`) through the daemon.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::exit;
use super::out::print_json;
use super::out::{CmdResult, Fail, usage};
use crate::client::Client;
use crate::core::task::Task;
use crate::paths::Paths;
use crate::proto::{ListFilter, ask};
use crate::worktree::{self, ops, state};

async fn task_with_worktree(
    c: &mut Client,
    id: &str,
) -> Result<(Task, PathBuf, PathBuf, String), Fail> {
    let t: Option<Task> = c.ask(ask::Get { id: id.to_string() }).await?;
    let t = t.ok_or_else(|| usage(format!("no task {id:?}")))?;
    // A host's worktree is there (its paths are not this machine's): never looked at here.
    if let Some(host) = &t.host {
        return Err(usage(format!("task {} runs on host {host}: its worktree is there", t.id)));
    }
    match (t.worktree.clone(), t.repo.clone(), t.branch.clone()) {
        (Some(w), Some(r), Some(b)) => Ok((t, w, r, b)),
        _ => Err(usage(format!(
            "task {} has no worktree (run with --worktree for one{})",
            t.id,
            if t.worktree_request.is_some() { "; it has not started yet" } else { "" }
        ))),
    }
}

/// The host a task runs on, if another: its worktree commands then run there.
async fn host_of(c: &mut Client, id: &str) -> Result<Option<String>, Fail> {
    let t: Option<Task> = c.ask(ask::Get { id: id.to_string() }).await?;
    Ok(t.and_then(|t| t.host))
}

/// `merge` or `discard` of a host's task, run there; what it did (its `ID: …` line) noted on
/// the task here too, as there.
async fn noted_there(
    c: &mut Client,
    paths: &Paths,
    host: &str,
    id: &str,
    args: &[&str],
) -> CmdResult {
    let (code, said) = super::hosts::forward_keeping(paths, host, args)?;
    let t: Option<Task> = c.ask(ask::Get { id: id.to_string() }).await?;
    if let Some(t) = t
        && let Some(note) = said.lines().find_map(|l| l.strip_prefix(&format!("{}: ", t.id)))
    {
        note_it(c, &t.id, note).await;
    }
    Ok(code)
}

fn failed(message: impl Into<String>) -> Fail {
    Fail { code: exit::TASK_FAILED, message: message.into() }
}

/// `paneherd diff ID [--stat]`: what the task changed against its base.
pub(super) async fn diff(paths: &Paths, id: &str, stat: bool) -> CmdResult {
    let mut c = Client::connect(paths, true).await?;
    if let Some(host) = host_of(&mut c, id).await? {
        let mut args = vec!["diff", id];
        if stat {
            args.push("--stat");
        }
        return super::hosts::forward(paths, &host, &args);
    }
    let (t, wt, repo, branch) = task_with_worktree(&mut c, id).await?;
    let base = t.base.clone().unwrap_or_default();
    let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let out = state::task_diff(&wt, &repo, &base, &branch, stat, color)
        .map_err(|e| failed(e.to_string()))?;
    super::out::bytes(out.as_bytes())?;
    Ok(exit::OK)
}

fn refuse_running(t: &Task, what: &str) -> Result<(), Fail> {
    if t.status.is_terminal() {
        return Ok(());
    }
    Err(usage(format!(
        "{} is {}: wait for it to end (or cancel it) before you {what} its worktree",
        t.id, t.status
    )))
}

/// The task's worktree as `ops` takes it.
fn tree_of<'a>(t: &'a Task, wt: &'a Path, repo: &'a Path, branch: &'a str) -> ops::Tree<'a> {
    ops::Tree {
        task_id: &t.id,
        title: &t.title,
        repo,
        path: wt,
        branch,
        attached: t.worktree_request.as_ref().is_some_and(|r| r.attach),
    }
}

/// `paneherd merge ID [--squash | --rebase]`.
pub(super) async fn merge(paths: &Paths, id: &str, how: ops::How) -> CmdResult {
    let mut c = Client::connect(paths, true).await?;
    if let Some(host) = host_of(&mut c, id).await? {
        let mut args = vec!["merge", id];
        match how {
            ops::How::Merge => {}
            ops::How::Squash => args.push("--squash"),
            ops::How::Rebase => args.push("--rebase"),
        }
        return noted_there(&mut c, paths, &host, id, &args).await;
    }
    let (t, wt, repo, branch) = task_with_worktree(&mut c, id).await?;
    refuse_running(&t, "merge")?;
    let tree = tree_of(&t, &wt, &repo, &branch);
    match ops::merge(&tree, how) {
        Ok(m) => {
            let note = m.note(how, &branch);
            note_it(&mut c, &t.id, &note).await;
            if m.committed_pending {
                outln!("committed the worktree's uncommitted work on {branch} first");
            }
            outln!("{}: {note}", t.id);
            Ok(exit::OK)
        }
        Err(e @ ops::Refused::Conflict { .. }) => {
            note_it(&mut c, &t.id, &e.to_string()).await;
            Err(failed(e.to_string()))
        }
        // Refused (it would lose work, a dirty checkout, git would not start): exit 1, as a
        // conflict does.
        Err(e) => Err(failed(e.to_string())),
    }
}

/// `paneherd discard ID [--force] [--delete-branch]`.
pub(super) async fn discard(paths: &Paths, id: &str, opt: ops::Discard) -> CmdResult {
    let mut c = Client::connect(paths, true).await?;
    if let Some(host) = host_of(&mut c, id).await? {
        let mut args = vec!["discard", id];
        if opt.force {
            args.push("--force");
        }
        if opt.delete_branch {
            args.push("--delete-branch");
        }
        return noted_there(&mut c, paths, &host, id, &args).await;
    }
    let (t, wt, repo, branch) = task_with_worktree(&mut c, id).await?;
    refuse_running(&t, "discard")?;
    let tree = tree_of(&t, &wt, &repo, &branch);
    let done = ops::discard(&tree, opt).map_err(|e| failed(e.to_string()))?;
    note_it(&mut c, &t.id, &format!("discarded: {done}")).await;
    outln!("{}: {done}", t.id);
    Ok(exit::OK)
}

async fn note_it(c: &mut Client, id: &str, note: &str) {
    let r: Result<Task, _> =
        c.ask(ask::WorktreeNote { id: id.to_string(), note: note.to_string() }).await;
    if let Err(e) = r {
        errln!("paneherd: the task's record could not be updated: {e}");
    }
}

/// One row of `paneherd worktrees`.
#[derive(Debug, Default, Serialize)]
pub struct Row {
    pub task: Option<String>,
    pub path: PathBuf,
    pub branch: Option<String>,
    /// clean, dirty, merged, gone (removed by hand), merged/discarded (by paneherd), orphan
    /// (no task record).
    pub state: String,
    pub ahead: Option<usize>,
    pub behind: Option<usize>,
    pub target: Option<String>,
    pub added: Option<u64>,
    pub removed: Option<u64>,
    pub files: Option<usize>,
    pub note: Option<String>,
}

/// Every task's worktree with its state, and the worktrees in paneherd's directories that no
/// task record names. Nothing is made or removed.
pub fn rows(tasks: &[Task], settings: &worktree::Settings, here: &Path) -> Vec<Row> {
    let mut rows = vec![];
    let mut repos: Vec<PathBuf> = vec![];
    for t in tasks {
        let (Some(wt), Some(repo)) = (&t.worktree, &t.repo) else { continue };
        if !repos.contains(repo) {
            repos.push(repo.clone());
        }
        let branch = t.branch.clone().unwrap_or_default();
        let mut row = Row {
            task: Some(t.id.clone()),
            path: wt.clone(),
            branch: t.branch.clone(),
            note: t.worktree_note.clone(),
            ..Default::default()
        };
        let handled = t
            .worktree_note
            .as_deref()
            .is_some_and(|n| n.starts_with("discarded") || n.contains("worktree removed"));
        if !worktree::git::branch_exists(repo, &branch) {
            row.state = if handled { "discarded, branch deleted" } else { "branch deleted" }.into();
            rows.push(row);
            continue;
        }
        match state::state(repo, wt, &branch) {
            Ok(s) => {
                row.state = match (s.exists, handled, s.dirty, s.merged) {
                    (false, true, _, true) => "merged".into(),
                    (false, true, _, false) => "discarded".into(),
                    (false, false, _, _) => "gone (removed by hand)".into(),
                    (true, _, true, _) => "dirty".into(),
                    (true, _, false, true) => "clean, merged".into(),
                    (true, _, false, false) => "clean".into(),
                };
                row.ahead = Some(s.ahead);
                row.behind = Some(s.behind);
                row.target = Some(s.target);
            }
            Err(e) => row.state = format!("unknown: {e}"),
        }
        if wt.is_dir()
            && let Some(base) = &t.base
            && let Ok(st) = state::stat(wt, base)
        {
            (row.added, row.removed, row.files) =
                (Some(st.added), Some(st.removed), Some(st.files));
        }
        rows.push(row);
    }
    if let Ok(top) = worktree::toplevel(here)
        && let Ok(main) = worktree::main_worktree(&top)
        && !repos.contains(&main)
    {
        repos.push(main);
    }
    // Worktrees in paneherd's directory of each repository that no task names.
    for repo in &repos {
        let ours = worktree::path_for(settings, repo, "\u{0}");
        let Some(dir) = ours.parent() else { continue };
        for w in worktree::list(repo).unwrap_or_default() {
            if w.parent() == Some(dir) && !tasks.iter().any(|t| t.worktree.as_ref() == Some(&w)) {
                let branch = worktree::git::line(&w, &["rev-parse", "--abbrev-ref", "HEAD"]).ok();
                rows.push(Row {
                    path: w,
                    branch,
                    state: "orphan (no task record)".into(),
                    ..Default::default()
                });
            }
        }
    }
    rows
}

/// [`rows`] with the config's `[worktree]` settings, seen from the current directory.
pub(super) fn rows_here(tasks: &[Task], paths: &Paths) -> Vec<Row> {
    let settings = crate::config::Config::load(&paths.config)
        .map(|l| l.config.worktree_settings())
        .unwrap_or_default();
    let here = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
    // A host's worktrees are there (`paneherd diff ID` shows one from here).
    let mine: Vec<Task> = tasks.iter().filter(|t| t.host.is_none()).cloned().collect();
    rows(&mine, &settings, &here)
}

/// `paneherd worktrees [--json]`.
pub(super) async fn list(paths: &Paths, json: bool) -> CmdResult {
    let mut c = Client::connect(paths, true).await?;
    let tasks: Vec<Task> = c.ask(ask::List { filter: ListFilter::default() }).await?;
    let rows = rows_here(&tasks, paths);
    if json {
        print_json(&rows)?;
        return Ok(exit::OK);
    }
    if rows.is_empty() {
        outln!("No worktrees: `paneherd run --worktree …` gives a task one.");
        return Ok(exit::OK);
    }
    // Each column as wide as its widest cell (ids, branches and states vary in length).
    let cells: Vec<[String; 6]> = rows
        .iter()
        .map(|r| {
            let ab = match (r.ahead, r.behind) {
                (Some(a), Some(b)) => format!("{a}/{b}"),
                _ => "-".into(),
            };
            let changes = match (r.added, r.removed, r.files) {
                (Some(a), Some(rm), Some(f)) => {
                    state::Stat { files: f, added: a, removed: rm }.words()
                }
                _ => "-".into(),
            };
            [
                r.task.clone().unwrap_or_else(|| "-".into()),
                r.branch.clone().unwrap_or_else(|| "-".into()),
                r.state.clone(),
                ab,
                changes,
                r.path.display().to_string(),
            ]
        })
        .collect();
    let head = ["TASK", "BRANCH", "STATE", "AHEAD/BEHIND", "CHANGES", "PATH"];
    let width = |i: usize| {
        cells
            .iter()
            .map(|c| crate::core::text::width(&c[i]))
            .chain([head[i].len()])
            .max()
            .unwrap_or(0)
    };
    let w: Vec<usize> = (0..5).map(width).collect();
    let line = |c: [&str; 6]| {
        let pad = |s: &str, n: usize| crate::core::text::fit(s, n);
        format!(
            "{}  {}  {}  {}  {}  {}",
            pad(c[0], w[0]),
            pad(c[1], w[1]),
            pad(c[2], w[2]),
            pad(c[3], w[3]),
            pad(c[4], w[4]),
            c[5]
        )
    };
    outln!("{}", line(head));
    for c in &cells {
        outln!("{}", line([&c[0], &c[1], &c[2], &c[3], &c[4], &c[5]]));
    }
    Ok(exit::OK)
}
