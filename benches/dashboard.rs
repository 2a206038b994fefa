//! Dashboard rendering (criterion, ratatui's TestBackend): a frame with 10,000 tasks in the
//! history (target ≤ 2 ms), and a key press to the next frame with 1,000 tasks (target ≤ 16 ms).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::Duration;
use criterion::{Criterion, criterion_group, criterion_main};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use paneherd::config::keys::Keymap;
use paneherd::core::task::{Task, TaskStatus};
use paneherd::core::timefmt;
use paneherd::tui::{Action, App};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

fn tasks(n: usize) -> Vec<Task> {
    let t0 = timefmt::parse("2026-11-21T12:00:00.000Z").unwrap();
    (0..n)
        .map(|i| {
            let status = match i % 10 {
                0 => TaskStatus::Pending,
                1 | 2 => TaskStatus::Running,
                3 => TaskStatus::Error,
                _ => TaskStatus::Completed,
            };
            let created = t0 + Duration::seconds(i as i64);
            let mut t = Task::pending(
                &format!("task-{i:05}"),
                "claude",
                &format!("Find every use of function_{i}"),
                "/work".into(),
                "/tmp/x.log".into(),
                created,
            );
            t.title = format!("find every use of function_{i} and explain it");
            t.status = status;
            t.category = Some("quick".into());
            t.model = Some("anthropic/claude-haiku-4-5".into());
            t.started_at = (status != TaskStatus::Pending).then(|| created + Duration::seconds(1));
            t.finished_at = status.is_terminal().then(|| created + Duration::seconds(60));
            t
        })
        .collect()
}

fn app(n: usize) -> App {
    let now = timefmt::parse("2026-11-22T00:00:00.000Z").unwrap();
    let mut app = App::new(Keymap::default(), now);
    app.update(Action::Loaded(tasks(n)));
    app.update(Action::Resize(160, 48));
    app
}

fn bench(c: &mut Criterion) {
    let mut term = Terminal::new(TestBackend::new(160, 48)).unwrap();
    let a = app(10_000);
    c.bench_function("render a frame, 10k tasks, 160x48", |b| {
        b.iter(|| {
            term.draw(|f| f.render_widget(&a, f.area())).unwrap();
        })
    });
    let mut a = app(1_000);
    let down = Action::Key(KeyEvent::new(KeyCode::Char('j'), KeyModifiers::NONE));
    c.bench_function("key press to next frame, 1k tasks", |b| {
        b.iter(|| {
            a.update(down.clone());
            term.draw(|f| f.render_widget(&a, f.area())).unwrap();
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
