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

/// The words agents look for in a delegated task's end (the wording of the background-task
/// systems paneherd replaces): `[BACKGROUND TASK RESULT READY]` (or `ERROR`, `CANCELLED`,
/// `INTERRUPTED`) with id, title and duration, its summary, how to read the result, and how many
/// of the delegator's tasks are still in progress — or `[ALL BACKGROUND TASKS COMPLETE]`.
pub fn for_agent(tasks: &[Task], in_progress: usize, now: Timestamp) -> String {
    let mut out = String::new();
    for t in tasks {
        let tag = match t.status {
            TaskStatus::Completed => "BACKGROUND TASK RESULT READY",
            TaskStatus::Error => "BACKGROUND TASK ERROR",
            TaskStatus::Cancelled => "BACKGROUND TASK CANCELLED",
            _ => "BACKGROUND TASK INTERRUPTED",
        };
        let took = t.run_ms(now).map(timefmt::human_duration).unwrap_or_else(|| "-".into());
        let how = t.how_it_ended();
        out.push_str(&format!("[{tag}] {} — {} ({how}, {took})\n", t.id, t.title));
        if let Some(s) = t.summary.as_deref().filter(|s| !s.trim().is_empty()) {
            out.push_str(&format!("Summary: {}\n", text::cut(s, 300)));
        }
        out.push_str(&format!(
            "Result: background_output(task_id=\"{}\"), or `paneherd output {}`\n",
            t.id, t.id
        ));
    }
    match in_progress {
        0 => out.push_str("[ALL BACKGROUND TASKS COMPLETE]\n"),
        1 => out.push_str("1 task still in progress.\n"),
        n => out.push_str(&format!("{n} tasks still in progress.\n")),
    }
    out
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

    #[test]
    fn a_cancel_says_cancelled_once() {
        let t = ended(
            "calm-heron",
            Outcome::Cancelled { exit_code: None, reason: "cancelled by user".into() },
            10,
        );
        let text = for_agent(std::slice::from_ref(&t), 0, timefmt::now());
        assert!(text.contains("(cancelled by user, "), "{text}");
        assert!(!text.contains("cancelled (cancelled"), "{text}");
        let t = ended(
            "bad-heron",
            Outcome::Error { exit_code: Some(3), reason: "exit code 3".into() },
            10,
        );
        assert!(for_agent(&[t], 0, timefmt::now()).contains("(error (exit code 3), "));
    }

    #[test]
    fn agents_get_the_words_they_look_for() {
        let now = crate::core::timefmt::parse("2026-12-01T10:02:03.000Z").unwrap();
        let mut t = crate::core::task::Task::pending(
            "brave-otter",
            "claude",
            "Fix the parser",
            "/p".into(),
            "/p/l".into(),
            crate::core::timefmt::parse("2026-12-01T10:00:00.000Z").unwrap(),
        );
        t.started_at = Some(crate::core::timefmt::parse("2026-12-01T10:00:00.000Z").unwrap());
        t.finished_at = Some(now);
        t.status = TaskStatus::Completed;
        t.summary = Some("found 3 bugs".into());
        let text = for_agent(std::slice::from_ref(&t), 2, now);
        assert!(
            text.starts_with(
                "[BACKGROUND TASK RESULT READY] brave-otter — Fix the parser (completed, 2m 03s)\n"
            ),
            "{text}"
        );
        assert!(text.contains("Summary: found 3 bugs"), "{text}");
        assert!(text.contains("background_output(task_id=\"brave-otter\")"), "{text}");
        assert!(text.ends_with("2 tasks still in progress.\n"), "{text}");
        t.status = TaskStatus::Error;
        t.reason = Some("exit code 3".into());
        let text = for_agent(&[t], 0, now);
        assert!(
            text.starts_with(
                "[BACKGROUND TASK ERROR] brave-otter — Fix the parser (error (exit code 3), 2m 03s)"
            ),
            "{text}"
        );
        assert!(text.ends_with("[ALL BACKGROUND TASKS COMPLETE]\n"), "{text}");
    }
}
