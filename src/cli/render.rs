//! Plain-text views of tasks for people and agents: one line per task, status tables, results.

use std::fmt::Write;

use crate::core::task::{Task, TaskStatus};
use crate::core::text::cut;
use crate::core::timefmt::{self, Timestamp, human_duration};

fn agent_model(t: &Task) -> String {
    match &t.model {
        Some(m) => format!("{}/{}", t.agent, m.rsplit('/').next().unwrap_or(m)),
        None => t.agent.clone(),
    }
}

/// Time column: queued for / running for / ran for.
fn time_col(t: &Task, now: Timestamp) -> String {
    match t.status {
        TaskStatus::Pending => {
            format!("queued {}", human_duration((now - t.created_at).num_milliseconds()))
        }
        _ => t.run_ms(now).map(human_duration).unwrap_or_else(|| "-".into()),
    }
}

fn status_col(t: &Task) -> String {
    if t.needs_input.is_some() {
        return "? needs input".into();
    }
    format!("{} {}", t.status.symbol(), t.status)
}

/// Tasks grouped running, pending, finished (newest first within each), one line each.
pub fn task_table(tasks: &[Task], now: Timestamp) -> String {
    let mut out = String::new();
    if tasks.is_empty() {
        out.push_str("No tasks yet. Try: paneherd run --agent demo \"explore the auth code\"\n");
        return out;
    }
    let idw = tasks.iter().map(|t| t.id.len()).max().unwrap_or(2).max(2);
    let aw = tasks.iter().map(|t| agent_model(t).chars().count()).max().unwrap_or(5).clamp(5, 28);
    // A HOST column once any task ran on another host (`-`: this machine).
    let hw = tasks.iter().filter_map(|t| t.host.as_ref()).map(|h| h.chars().count()).max();
    let host_col = |t: &Task| match hw {
        Some(w) => {
            format!("{:w$}  ", cut(t.host.as_deref().unwrap_or("-"), 16), w = w.clamp(4, 16))
        }
        None => String::new(),
    };
    let head = match hw {
        Some(w) => format!("{:w$}  ", "HOST", w = w.clamp(4, 16)),
        None => String::new(),
    };
    let _ = writeln!(
        out,
        "{:idw$}  {:13}  {head}{:aw$}  {:>12}  TITLE",
        "ID", "STATUS", "AGENT", "TIME"
    );
    // Running (oldest start first), pending (queue order), finished (latest end first).
    let mut running: Vec<&Task> =
        tasks.iter().filter(|t| t.status == TaskStatus::Running).collect();
    running.sort_by_key(|t| t.started_at);
    let mut pending: Vec<&Task> =
        tasks.iter().filter(|t| t.status == TaskStatus::Pending).collect();
    pending.sort_by_key(|t| t.created_at);
    let mut finished: Vec<&Task> = tasks.iter().filter(|t| t.status.is_terminal()).collect();
    finished.sort_by_key(|t| std::cmp::Reverse(t.finished_at));
    for group in [running, pending, finished] {
        for t in group {
            let mut title = t.title.clone();
            if t.status.is_terminal()
                && t.status != TaskStatus::Completed
                && let Some(r) = &t.reason
            {
                title = format!("{title} ({r})");
            }
            let _ = writeln!(
                out,
                "{:idw$}  {:13}  {}{:aw$}  {:>12}  {}",
                t.id,
                status_col(t),
                host_col(t),
                cut(&agent_model(t), aw),
                time_col(t, now),
                cut(&title, 70)
            );
        }
    }
    out
}

/// The header block of one task: what it is and where it stands.
pub fn task_header(t: &Task, now: Timestamp) -> String {
    let mut out = String::new();
    let what = match t.status {
        TaskStatus::Pending => "is queued".to_string(),
        TaskStatus::Running => "is running".to_string(),
        _ => format!("ended: {}", t.how_it_ended()),
    };
    let _ = writeln!(out, "Task {} {}", t.id, what);
    let rows: Vec<(&str, String)> = vec![
        ("title", t.title.clone()),
        ("agent", agent_model(t)),
        ("category", t.category.clone().unwrap_or_else(|| "-".into())),
        ("status", status_col(t)),
        ("created", timefmt::local(&t.created_at)),
        ("time", time_col(t, now)),
        (
            "last output",
            t.last_output_at
                .map(|l| format!("{} ago", human_duration((now - l).num_milliseconds())))
                .unwrap_or_else(|| "-".into()),
        ),
        ("exit code", t.exit_code.map(|c| c.to_string()).unwrap_or_else(|| "-".into())),
        ("needs input", t.needs_input.clone().unwrap_or_else(|| "-".into())),
        ("host", t.host.clone().unwrap_or_else(|| "-".into())),
        ("cwd", t.cwd.display().to_string()),
        (
            "worktree",
            match (&t.worktree, &t.branch, &t.base) {
                (Some(w), Some(b), Some(base)) => {
                    format!("{} (branch {b}, from {})", w.display(), &base[..base.len().min(10)])
                }
                _ if t.worktree_request.is_some() => "made when it starts".into(),
                _ => "-".into(),
            },
        ),
        ("  note", t.worktree_note.clone().unwrap_or_else(|| "-".into())),
        // A host's task's log is there (its result is here).
        (
            "log",
            match &t.host {
                Some(h) => {
                    format!("on host {h} (`paneherd output {}` shows its result here)", t.id)
                }
                None => t.log_path.display().to_string(),
            },
        ),
    ];
    for (k, v) in rows {
        let optional = matches!(
            k,
            "needs input"
                | "last output"
                | "exit code"
                | "category"
                | "worktree"
                | "  note"
                | "host"
        );
        if v == "-" && optional {
            continue;
        }
        let _ = writeln!(out, "  {k:<12} {v}");
    }
    out
}

/// `output` of a task: header and result (ended) or the latest output lines (running).
pub fn output(t: &Task, result: Option<&str>, tail: Option<&str>, now: Timestamp) -> String {
    let mut out = task_header(t, now);
    match (result, tail) {
        (Some(r), _) => {
            out.push_str("\n--- result ---\n");
            out.push_str(if r.trim().is_empty() { "(no output)" } else { r });
            out.push('\n');
        }
        (None, Some(tail)) if !tail.trim().is_empty() => {
            out.push_str("\n--- latest output ---\n");
            out.push_str(tail);
            out.push('\n');
        }
        _ => {}
    }
    out
}

/// One event of `paneherd events`, for a person: `changed  bold-otter  completed  "title"`.
pub fn event_line(ev: &crate::proto::Event) -> String {
    use crate::proto::Event;
    match ev {
        Event::TaskCreated { task } => {
            format!("created  {}  {}  {:?}", task.id, status_col(task), task.title)
        }
        Event::TaskChanged { task } => {
            format!("changed  {}  {}  {:?}", task.id, status_col(task), task.title)
        }
        Event::Output { id, bytes, .. } => format!("output   {id}  {bytes} bytes"),
        Event::Lagged { missed } => format!("lagged   {missed} events missed"),
        Event::ConfigReloaded { error: None } => "config   reloaded".into(),
        Event::ConfigReloaded { error: Some(e) } => format!("config   refused: {e}"),
        Event::PanesChanged => "panes    changed".into(),
        Event::HostsChanged => "hosts    changed (paneherd hosts)".into(),
        Event::DaemonStopping => "daemon   stopping".into(),
    }
}
