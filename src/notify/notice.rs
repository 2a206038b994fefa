//! What a notification says: pure functions of the ended tasks.

use crate::core::task::{Task, TaskStatus};
use crate::core::text;
use crate::core::timefmt::{self, Timestamp};

/// One notification's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub summary: String,
    pub body: String,
    pub critical: bool,
    /// `transfer.complete` or `transfer.error`.
    pub category: &'static str,
    /// The task to show when the notification is clicked (single-task notices).
    pub task_id: Option<String>,
}

fn failed(s: TaskStatus) -> bool {
    matches!(s, TaskStatus::Error | TaskStatus::Interrupted)
}

/// `✓ find auth code — completed in 2m 13s`, `✗ … — error (exit 3)`,
/// `⏸ … — interrupted: no output for 180 s`.
pub fn single(t: &Task, now: Timestamp) -> Notice {
    if let (TaskStatus::Running, Some(q)) = (t.status, &t.needs_input) {
        return Notice {
            summary: format!("? {} — needs input", text::cut(&t.title, 60)),
            body: format!("{q}\n{} · {}", agent_model(t), t.id),
            critical: true,
            category: "transfer.error",
            task_id: Some(t.id.clone()),
        };
    }
    let how = match (t.status, &t.reason, t.exit_code) {
        (TaskStatus::Completed, _, _) => {
            format!(
                "completed in {}",
                t.run_ms(now).map(timefmt::human_duration).unwrap_or_default()
            )
        }
        (TaskStatus::Error, _, Some(c)) if c != 0 => format!("error (exit {c})"),
        (TaskStatus::Interrupted, Some(r), _) => format!("interrupted: {r}"),
        (s, Some(r), _) => format!("{s}: {r}"),
        (s, None, _) => s.to_string(),
    };
    let detail = t.summary.clone().unwrap_or_default();
    let mut body = agent_model(t);
    if !detail.is_empty() {
        body.push('\n');
        body.push_str(&detail);
    }
    body.push('\n');
    body.push_str(&t.id);
    Notice {
        summary: format!("{} {} — {how}", t.status.symbol(), text::cut(&t.title, 60)),
        body,
        critical: failed(t.status),
        category: if failed(t.status) { "transfer.error" } else { "transfer.complete" },
        task_id: Some(t.id.clone()),
    }
}

/// `3 tasks finished: 2 ✓ 1 ✗`, one line per task in the body.
pub fn many(tasks: &[Task], now: Timestamp) -> Notice {
    if tasks.len() == 1 {
        return single(&tasks[0], now);
    }
    let count = |s: TaskStatus| tasks.iter().filter(|t| t.status == s).count();
    let mut parts = vec![];
    for s in
        [TaskStatus::Completed, TaskStatus::Error, TaskStatus::Interrupted, TaskStatus::Cancelled]
    {
        let n = count(s);
        if n > 0 {
            parts.push(format!("{n} {}", s.symbol()));
        }
    }
    let asking =
        tasks.iter().filter(|t| t.needs_input.is_some() && !t.status.is_terminal()).count();
    if asking > 0 {
        parts.push(format!("{asking} ?"));
    }
    // What went wrong first (it must not hide in "… and N more"), then questions, then the rest;
    // each kind in the order the tasks ended.
    let rank = |t: &&Task| match (t.status, &t.needs_input) {
        (s, _) if failed(s) => 0,
        (TaskStatus::Running, Some(_)) => 1,
        (TaskStatus::Cancelled, _) => 2,
        _ => 3,
    };
    let mut ordered: Vec<&Task> = tasks.iter().collect();
    ordered.sort_by_key(|t| (rank(t), t.finished_at));
    let body = ordered
        .into_iter()
        .take(8)
        .map(|t| format!("{} {} — {}", t.status.symbol(), t.id, text::cut(&t.title, 50)))
        .chain((tasks.len() > 8).then(|| format!("… and {} more", tasks.len() - 8)))
        .collect::<Vec<_>>()
        .join("\n");
    let critical = tasks.iter().any(|t| failed(t.status));
    Notice {
        summary: format!("{} tasks finished: {}", tasks.len(), parts.join(" ")),
        body,
        critical,
        category: if critical { "transfer.error" } else { "transfer.complete" },
        task_id: None,
    }
}

fn agent_model(t: &Task) -> String {
    match &t.model {
        Some(m) => format!("{} / {m}", t.agent),
        None => t.agent.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::task::Outcome;

    fn ended(id: &str, outcome: Outcome, at_ms: i64) -> Task {
        let t0 = timefmt::now();
        let mut t = Task::pending(id, "shell", "p", "/".into(), "/x.log".into(), t0);
        t.title = format!("title {id}");
        t.start(1, t0).unwrap();
        t.finish(outcome, t0 + chrono::Duration::milliseconds(at_ms)).unwrap();
        t
    }

    #[test]
    fn a_burst_names_its_failures_first_so_none_hides_in_the_rest() {
        let mut tasks: Vec<Task> =
            (0..8).map(|i| ended(&format!("ok{i}"), Outcome::Completed, i)).collect();
        let fail = |r: &str| Outcome::Error { exit_code: Some(3), reason: r.into() };
        tasks.push(ended("bad1", fail("exit code 3"), 100));
        tasks.push(ended("bad2", fail("exit code 3"), 101));
        let n = many(&tasks, timefmt::now());
        assert_eq!(n.summary, "10 tasks finished: 8 ✓ 2 ✗");
        assert!(n.critical);
        let lines: Vec<&str> = n.body.lines().collect();
        assert!(lines[0].contains("bad1") && lines[1].contains("bad2"), "{}", n.body);
        assert_eq!(lines[8], "… and 2 more");
    }
}
