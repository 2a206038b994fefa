//! Dashboard tests: `update` as a table of actions and expected state, and the view as insta
//! snapshots on ratatui's `TestBackend` (fixed ids and times, so they are stable).

use chrono::Duration;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

use super::app::{Action, App, Confirm, Detail, Mode, Row, UiEffect};
use crate::config::keys::Keymap;
use crate::core::limits::GroupUsage;
use crate::core::task::{Task, TaskStatus};
use crate::core::timefmt::{self, Timestamp};
use crate::proto::Event;

fn t0() -> Timestamp {
    timefmt::parse("2026-11-21T12:00:00.000Z").unwrap()
}

fn task(id: &str, status: TaskStatus, secs: i64) -> Task {
    let created = t0() + Duration::seconds(secs);
    let prompt = format!("Prompt of {id}\nsecond line");
    let mut t = Task::pending(id, "claude", &prompt, "/work".into(), "/tmp/x.log".into(), created);
    t.title = format!("title of {id}");
    t.status = status;
    t.reason = match status {
        TaskStatus::Error => Some("exit code 3".into()),
        TaskStatus::Cancelled => Some("cancelled by user".into()),
        _ => None,
    };
    t.category = Some("quick".into());
    t.model = Some("anthropic/claude-haiku-4-5".into());
    t.started_at = (status != TaskStatus::Pending).then(|| created + Duration::seconds(1));
    t.finished_at = status.is_terminal().then(|| created + Duration::seconds(90));
    t.summary = status.is_terminal().then(|| format!("summary of {id}"));
    t.last_output_at = (status == TaskStatus::Running).then(|| created + Duration::seconds(20));
    t
}

fn key(c: char) -> Action {
    let m = if c.is_uppercase() { KeyModifiers::SHIFT } else { KeyModifiers::NONE };
    Action::Key(KeyEvent::new(KeyCode::Char(c), m))
}

fn code(c: KeyCode) -> Action {
    Action::Key(KeyEvent::new(c, KeyModifiers::NONE))
}

fn mixed() -> App {
    let mut app = App::new(Keymap::default(), t0() + Duration::seconds(300));
    app.color = false;
    let tasks = vec![
        task("pending-one", TaskStatus::Pending, 200),
        task("pending-two", TaskStatus::Pending, 210),
        task("running-one", TaskStatus::Running, 100),
        task("done-old", TaskStatus::Completed, 0),
        task("failed-new", TaskStatus::Error, 50),
        task("stopped", TaskStatus::Cancelled, 20),
    ];
    app.update(Action::Loaded(tasks));
    app.groups =
        vec![GroupUsage { key: "provider:anthropic".into(), limit: 3, running: 1, queued: 2 }];
    app.layout = "main-vertical".into();
    app
}

#[test]
fn navigation_across_groups() {
    let mut app = mixed();
    // Order: pending (by age), running, finished (latest end first).
    let order = ["pending-one", "pending-two", "running-one", "failed-new", "stopped", "done-old"];
    assert_eq!(app.selected.as_deref(), Some(order[0]));
    let table: Vec<(Action, &str)> = vec![
        (key('j'), order[1]),
        (code(KeyCode::Down), order[2]),
        (key('k'), order[1]),
        (key('G'), order[5]),
        (key('j'), order[5]),
        (key('g'), order[0]),
        (code(KeyCode::Tab), "running-one"),
        (code(KeyCode::Tab), "failed-new"),
        (code(KeyCode::Tab), "pending-one"),
    ];
    for (i, (action, want)) in table.into_iter().enumerate() {
        let fx = app.update(action);
        assert_eq!(app.selected.as_deref(), Some(want), "step {i}");
        if !fx.is_empty() {
            assert_eq!(fx, vec![UiEffect::FetchDetail(want.to_string())], "step {i}");
        }
    }
}

#[test]
fn cancel_asks_first_and_only_yes_cancels() {
    let mut app = mixed();
    app.update(key('j'));
    app.update(key('j')); // running-one
    assert!(app.update(key('c')).is_empty());
    assert!(matches!(&app.mode, Mode::Confirm(Confirm::Cancel(id)) if id == "running-one"));
    assert!(app.update(key('n')).is_empty(), "n declines");
    assert!(matches!(app.mode, Mode::Normal));
    assert_eq!(app.message.as_deref(), Some("not cancelled"));
    app.update(key('c'));
    assert_eq!(app.update(key('y')), vec![UiEffect::Cancel(vec!["running-one".into()])]);
    // An ended task cannot be cancelled.
    app.update(key('G'));
    app.update(key('c'));
    assert!(matches!(app.mode, Mode::Normal));
    assert!(app.message.as_deref().unwrap().contains("already ended"));
    // Cancel all says how many.
    app.update(key('C'));
    assert!(matches!(app.mode, Mode::Confirm(Confirm::CancelAll(3))));
    assert_eq!(app.update(key('y')), vec![UiEffect::CancelAll]);
}

#[test]
fn filter_narrows_the_list_and_esc_clears_it() {
    let mut app = mixed();
    app.update(key('/'));
    for c in "fail".chars() {
        app.update(key(c));
    }
    let ids: Vec<String> =
        app.group(super::app::Group::Finished).iter().map(|t| t.id.clone()).collect();
    assert_eq!(ids, vec!["failed-new"]);
    assert!(app.group(super::app::Group::Pending).is_empty());
    assert_eq!(app.selected.as_deref(), Some("failed-new"), "selection follows the filter");
    app.update(code(KeyCode::Enter));
    assert!(matches!(app.mode, Mode::Normal));
    assert_eq!(app.filter, "fail", "Enter keeps the filter");
    app.update(key('/'));
    app.update(code(KeyCode::Esc));
    assert_eq!(app.filter, "");
    assert_eq!(app.rows().len(), 9);
}

#[test]
fn events_move_tasks_between_groups() {
    let mut app = mixed();
    let mut t = task("pending-one", TaskStatus::Running, 200);
    t.started_at = Some(t0() + Duration::seconds(250));
    let fx = app.update(Action::Event(Event::TaskChanged { task: Box::new(t) }));
    assert!(fx.contains(&UiEffect::FetchGroups));
    assert!(fx.contains(&UiEffect::FetchDetail("pending-one".into())), "the selected one changed");
    assert_eq!(app.group(super::app::Group::Running).len(), 2);
    let created = task("brand-new", TaskStatus::Pending, 299);
    app.update(Action::Event(Event::TaskCreated { task: Box::new(created) }));
    assert_eq!(app.group(super::app::Group::Pending).len(), 2);
}

#[test]
fn new_task_form_submits_a_spec() {
    let mut app = mixed();
    app.targets = vec!["agent:shell".into(), "category:quick".into()];
    app.update(key('n'));
    assert!(matches!(app.mode, Mode::NewTask(_)));
    app.update(code(KeyCode::Right)); // category:quick
    app.update(code(KeyCode::Tab)); // title
    for c in "my title".chars() {
        app.update(key(c));
    }
    app.update(code(KeyCode::Tab)); // prompt
    let ctrl_s = Action::Key(KeyEvent::new(KeyCode::Char('s'), KeyModifiers::CONTROL));
    assert!(app.update(ctrl_s.clone()).is_empty(), "an empty prompt is refused");
    assert_eq!(app.message.as_deref(), Some("the prompt is empty"));
    for c in "line one".chars() {
        app.update(key(c));
    }
    app.update(code(KeyCode::Enter));
    for c in "line two".chars() {
        app.update(key(c));
    }
    let fx = app.update(ctrl_s);
    let [UiEffect::Submit(spec)] = fx.as_slice() else { panic!("{fx:?}") };
    assert_eq!(spec.prompt, "line one\nline two");
    assert_eq!(spec.title.as_deref(), Some("my title"));
    assert_eq!(spec.category.as_deref(), Some("quick"));
    assert!(matches!(app.mode, Mode::Normal));
}

#[test]
fn output_viewer_follows_the_output_until_scrolled_and_every_key_moves() {
    let mut app = mixed();
    app.update(Action::Resize(80, 24));
    let page = super::geometry::output_inner(80, 24).height as usize;
    app.update(key('j'));
    app.update(key('j')); // running-one
    assert_eq!(app.update(key('o')), vec![UiEffect::FetchOutput("running-one".into())]);
    let text = |n: usize| -> String { (0..n).map(|i| format!("line {i}\n")).collect() };
    app.update(Action::FullOutput("running-one".into(), text(100)));
    let first = |app: &App| match &app.mode {
        Mode::Output(v) => v.first_line(page),
        _ => panic!("the viewer closed"),
    };
    assert_eq!(first(&app), 100 - page, "opens at the end, the last line at the bottom");
    // New output while following: still at the end; the viewer asks for it as it comes.
    let at = t0() + Duration::seconds(299);
    let fx = app.update(Action::Event(Event::Output { id: "running-one".into(), at, bytes: 9 }));
    assert_eq!(fx, vec![UiEffect::FetchOutput("running-one".into())]);
    app.update(Action::FullOutput("running-one".into(), text(120)));
    assert_eq!(first(&app), 120 - page);
    // Scrolled up: it stays where the user put it while output comes.
    app.update(key('k'));
    assert_eq!(first(&app), 120 - page - 1);
    app.update(Action::FullOutput("running-one".into(), text(150)));
    assert_eq!(first(&app), 120 - page - 1, "no jump while scrolled");
    app.update(code(KeyCode::PageUp));
    assert_eq!(first(&app), 120 - 2 * page - 1);
    app.update(code(KeyCode::PageDown));
    assert_eq!(first(&app), 120 - page - 1);
    app.update(key('g'));
    assert_eq!(first(&app), 0);
    app.update(key('j'));
    assert_eq!(first(&app), 1);
    app.update(key('G'));
    assert_eq!(first(&app), 150 - page, "G follows again");
    // Search jumps to the match.
    app.update(key('g'));
    app.update(key('/'));
    for c in "line 42".chars() {
        app.update(key(c));
    }
    app.update(code(KeyCode::Enter));
    assert_eq!(first(&app), 42);
    app.update(code(KeyCode::Esc));
    assert!(matches!(app.mode, Mode::Normal));
}

#[test]
fn the_viewer_and_confirmation_keys_come_from_the_keymap_and_help_lists_them() {
    let over = [
        ("viewer_close".to_string(), "x".to_string()),
        ("viewer_down".to_string(), "J".to_string()),
        ("yes".to_string(), "Y".to_string()),
    ];
    let mut app = App::new(Keymap::with(&over.into()).unwrap(), t0());
    app.update(Action::Loaded(vec![task("running-one", TaskStatus::Running, 100)]));
    app.update(Action::Resize(80, 24));
    app.update(key('o'));
    let text: String = (0..100).map(|i| format!("line {i}\n")).collect();
    app.update(Action::FullOutput("running-one".into(), text));
    app.update(key('g'));
    // `?` in the viewer shows the viewer's keys, as bound, over it.
    app.update(key('?'));
    let screen = render(&app, 80, 24);
    assert!(screen.contains("output viewer keys"), "{screen}");
    assert!(screen.contains("x  close"), "{screen}");
    assert!(screen.contains("J  scroll down"), "{screen}");
    app.update(key('z')); // any key closes the help, not the viewer
    assert!(matches!(&app.mode, Mode::Output(v) if !v.help));
    app.update(key('J'));
    assert!(matches!(&app.mode, Mode::Output(v) if v.first_line(10) == 1), "J scrolls");
    app.update(key('q')); // unbound now
    assert!(matches!(app.mode, Mode::Output(_)));
    app.update(key('x'));
    assert!(matches!(app.mode, Mode::Normal));
    // The confirmation answers to its binding, and says which it is.
    app.update(key('c'));
    assert!(render(&app, 80, 24).contains("Cancel running-one? (Y/n)"));
    assert_eq!(app.update(key('y')), vec![], "y is not the binding any more");
    app.update(key('c'));
    assert_eq!(app.update(key('Y')), vec![UiEffect::Cancel(vec!["running-one".into()])]);
}

#[test]
fn at_80x24_every_pending_and_running_task_is_in_view() {
    let mut app = mixed();
    let mut tasks: Vec<Task> =
        (0..20).map(|i| task(&format!("finished-{i:02}"), TaskStatus::Completed, i)).collect();
    tasks.extend((0..3).map(|i| task(&format!("running-{i}"), TaskStatus::Running, 100 + i)));
    tasks.extend((0..5).map(|i| task(&format!("pending-{i}"), TaskStatus::Pending, 200 + i)));
    app.update(Action::Loaded(tasks));
    app.update(Action::Resize(80, 24));
    let screen = render(&app, 80, 24);
    for id in (0..3).map(|i| format!("running-{i}")).chain((0..5).map(|i| format!("pending-{i}"))) {
        assert!(screen.contains(&id), "{id} out of view:\n{screen}");
    }
    assert!(screen.contains("more finished"), "{screen}");
}

/// At 80×24 with agents below it the dashboard has 13 rows (what the planner gives); the
/// pending and running tasks still all show: the detail panel and the group headers yield.
#[test]
fn a_13_row_dashboard_still_shows_every_pending_and_running_task() {
    let mut app = mixed();
    let mut tasks: Vec<Task> =
        (0..4).map(|i| task(&format!("finished-{i}"), TaskStatus::Completed, i)).collect();
    tasks.extend((0..3).map(|i| task(&format!("running-{i}"), TaskStatus::Running, 100 + i)));
    tasks.extend((0..5).map(|i| task(&format!("pending-{i}"), TaskStatus::Pending, 200 + i)));
    app.update(Action::Loaded(tasks));
    app.update(Action::Resize(80, 13));
    let screen = render(&app, 80, 13);
    for id in (0..3).map(|i| format!("running-{i}")).chain((0..5).map(|i| format!("pending-{i}"))) {
        assert!(screen.contains(&id), "{id} out of view:\n{screen}");
    }
    assert!(!app.headers(), "{screen}");
    // The last one selected stays in view too (no header rows counted in the scroll).
    app.update(key('G'));
    let screen = render(&app, 80, 13);
    assert!(screen.contains("running-2") && screen.contains("pending-0"), "{screen}");
    // Taller, the headers come back.
    app.update(Action::Resize(80, 24));
    assert!(app.headers());
}

#[test]
fn older_finished_tasks_collapse_so_running_ones_stay_in_view() {
    let mut app = mixed();
    let mut tasks: Vec<Task> =
        (0..64).map(|i| task(&format!("finished-{i:02}"), TaskStatus::Completed, i)).collect();
    tasks.push(task("running-one", TaskStatus::Running, 100));
    tasks.push(task("pending-one", TaskStatus::Pending, 200));
    app.update(Action::Loaded(tasks));
    app.update(Action::Resize(80, 24));
    let rows = app.rows();
    let list_rows = app.list_rows() - 1;
    assert!(rows.len() <= list_rows, "everything fits: {} rows in {list_rows}", rows.len());
    assert!(rows.contains(&Row::Task("running-one".into())));
    assert!(rows.contains(&Row::Task("pending-one".into())));
    let Some(Row::More(n)) = rows.last() else { panic!("{rows:?}") };
    assert_eq!(*n, 64 - app.finished_room());
    // `f` lists them all, and again only the latest.
    app.update(key('f'));
    assert_eq!(app.group(super::app::Group::Finished).len(), 64);
    assert!(!app.rows().iter().any(|r| matches!(r, Row::More(_))));
    app.update(key('f'));
    app.color = false;
    insta::assert_snapshot!("collapsed_history_80x24", render(&app, 80, 24));
}

#[test]
fn a_long_message_is_shown_whole_on_as_many_footer_rows_as_it_needs() {
    let mut app = mixed();
    app.update(Action::Resize(80, 24));
    let msg = "cannot merge: git says \"error: The following untracked working tree files would \
               be overwritten by merge: src/generated/very_long_file_name.rs\" — move or remove \
               it, then merge again (end)";
    app.message = Some(msg.to_string());
    let screen = render(&app, 80, 24);
    let rows: Vec<&str> = screen.lines().collect();
    // Every word of it is on the screen, the last one too, in the bottom rows.
    let bottom = rows[rows.len().saturating_sub(4)..].join(" ");
    for word in msg.split_whitespace() {
        assert!(bottom.contains(word), "{word:?} missing from the footer:\n{screen}");
    }
    assert_eq!(super::geometry::footer_rows(app.message.as_deref(), 80), 3, "{screen}");
    // The list's top is where it was; a short message takes one row.
    app.message = Some("not cancelled".into());
    assert_eq!(super::geometry::footer_rows(app.message.as_deref(), 80), 1);
}

#[test]
fn the_footer_keeps_help_and_quit_at_80_columns() {
    let mut app = mixed();
    for (w, h) in [(80, 24), (60, 20)] {
        app.update(Action::Resize(w, h));
        let screen = render(&app, w, h);
        let last = screen.lines().rev().find(|l| !l.trim_matches('"').trim().is_empty()).unwrap();
        assert!(last.contains("? help · q quit"), "{w}: {last}");
    }
    app.update(Action::Resize(80, 24));
    insta::assert_snapshot!("footer_80x24", render(&app, 80, 24));
}

#[test]
fn esc_clears_a_kept_filter() {
    let mut app = mixed();
    app.update(key('/'));
    app.update(key('x'));
    app.update(code(KeyCode::Enter));
    assert_eq!(app.filter, "x");
    app.update(code(KeyCode::Esc));
    assert_eq!(app.filter, "");
}

#[test]
fn pane_changes_refresh_the_header() {
    let mut app = mixed();
    assert_eq!(app.update(Action::Event(Event::PanesChanged)), vec![UiEffect::FetchGroups]);
    let usage = |visible, hidden| crate::proto::PaneUsage {
        socket: "/s".into(),
        main_pane: "%0".into(),
        visible,
        hidden,
        fallback: Some("agents below the main pane".into()),
    };
    let status = |panes| {
        Action::Status(Box::new(crate::proto::StatusData {
            groups: vec![],
            layout: "main-vertical".into(),
            panes,
            ..Default::default()
        }))
    };
    app.update(status(vec![usage(2, 1)]));
    let screen = render(&app, 160, 48);
    assert!(screen.contains("1 agent out of view: Enter shows one"), "{screen}");
    assert!(screen.contains("layout main-vertical (agents below the main pane)"), "{screen}");
    // All in view, then all ended: the header says nothing of waiting agents.
    app.update(status(vec![usage(3, 0)]));
    assert!(!render(&app, 160, 48).contains("out of view"));
    app.update(status(vec![]));
    assert!(!render(&app, 160, 48).contains("out of view"));
}

fn render(app: &App, w: u16, h: u16) -> String {
    let mut term = Terminal::new(TestBackend::new(w, h)).unwrap();
    term.draw(|f| f.render_widget(app, f.area())).unwrap();
    format!("{}", term.backend())
}

fn snapshot_both(name: &str, app: &mut App) {
    for (w, h) in [(80, 24), (160, 48)] {
        app.update(Action::Resize(w, h));
        insta::assert_snapshot!(format!("{name}_{w}x{h}"), render(app, w, h));
    }
}

#[test]
fn the_header_says_when_agents_wait_out_of_view() {
    let mut app = mixed();
    let usage = crate::proto::PaneUsage {
        socket: "/s".into(),
        main_pane: "%0".into(),
        visible: 0,
        hidden: 3,
        fallback: None,
    };
    app.update(Action::Status(Box::new(crate::proto::StatusData {
        groups: app.groups.clone(),
        layout: "main-vertical".into(),
        panes: vec![usage],
        ..Default::default()
    })));
    let screen = render(&app, 160, 48);
    assert!(
        screen.contains("│ 3 agents out of view (window too small): Enter shows one │"),
        "{screen}"
    );
    // Narrower, the header shortens what it says rather than cutting it off.
    let screen = render(&app, 80, 24);
    let top = screen.lines().next().unwrap_or_default();
    assert!(top.contains("│ +3 out of view │ main-vertical"), "{top}");
    assert!(top.contains("anthropic 1/3 +2 queued"), "{top}");
    let mut app = app;
    app.config_error = Some("bad".into());
    app.filter = "needle".into();
    let top = render(&app, 60, 24).lines().next().unwrap_or_default().to_string();
    assert!(top.contains("paneherd │ config error │ filter: needle │"), "{top}");
}

#[test]
fn view_empty() {
    let mut app = App::new(Keymap::default(), t0());
    app.color = false;
    snapshot_both("empty", &mut app);
}

#[test]
fn view_mixed_with_detail() {
    let mut app = mixed();
    app.update(key('j'));
    app.update(key('j'));
    app.update(Action::Detail(Detail {
        id: "running-one".into(),
        text: "\u{1b}[32mok\u{1b}[0m step 1\nstep 2\nstep 3"
            .replace("\u{1b}[32m", "")
            .replace("\u{1b}[0m", ""),
    }));
    snapshot_both("mixed_detail", &mut app);
}

#[test]
fn view_help_form_confirm() {
    let mut app = mixed();
    app.update(key('?'));
    snapshot_both("help", &mut app);
    app.update(key('x'));
    app.targets = vec!["agent:shell".into()];
    app.update(key('n'));
    snapshot_both("form", &mut app);
    app.update(code(KeyCode::Esc));
    app.update(code(KeyCode::Down));
    app.update(code(KeyCode::Down));
    app.update(key('c'));
    snapshot_both("confirm", &mut app);
}

#[test]
fn a_daemon_stopped_on_purpose_is_started_again_only_when_asked() {
    use super::app::Daemon;
    let mut app = mixed();
    // Gone unasked: the header says the dashboard connects again (the loop does it).
    app.update(Action::Daemon(Daemon::Lost));
    assert!(render(&app, 160, 48).contains("the daemon went away: connecting again"));
    assert_eq!(app.update(key('S')), vec![], "nothing to start while it reconnects");
    app.update(Action::Daemon(Daemon::Up));
    assert!(!render(&app, 160, 48).contains("daemon"));
    // Stopped on purpose: it said so; the end of its stream that follows changes nothing.
    app.update(Action::Event(Event::DaemonStopping));
    app.update(Action::Daemon(Daemon::Lost));
    assert_eq!(app.daemon, Daemon::Stopped);
    assert!(render(&app, 160, 48).contains("the daemon was stopped: S starts it"));
    assert_eq!(app.update(key('S')), vec![UiEffect::StartDaemon]);
    assert!(render(&app, 160, 48).contains("starting the daemon…"));
    // A fetch tried while it was down said so; once it is up again, that is no longer true.
    app.update(Action::Message("no paneherd daemon is running (socket /x)".into()));
    app.update(Action::Daemon(Daemon::Up));
    assert_eq!(app.daemon, Daemon::Up);
    let screen = render(&app, 160, 48);
    assert!(!screen.contains("no paneherd daemon is running"), "{screen}");
    assert!(!screen.contains("starting the daemon"), "{screen}");
    // While it is up, a message stays until a key (the daemon's being up again says nothing).
    app.update(Action::Message("nothing to cancel".into()));
    app.update(Action::Daemon(Daemon::Up));
    assert!(render(&app, 160, 48).contains("nothing to cancel"));
}

/// Two worktree tasks (one at work, one ended) beside the mixed list; `+N −M` as read.
fn with_worktrees() -> App {
    use super::app::WorktreeInfo;
    use crate::worktree::state::Stat;
    let mut app = mixed();
    let wt = |id: &str, status: TaskStatus, secs: i64| {
        let mut t = task(id, status, secs);
        t.worktree = Some(format!("/work.paneherd/{id}").into());
        t.branch = Some(id.into());
        t.base = Some("0123456789abcdef".into());
        t.repo = Some("/work".into());
        t.worktree_request = Some(Default::default());
        t
    };
    let a = wt("wt-busy", TaskStatus::Running, 150);
    let b = wt("wt-done", TaskStatus::Completed, 60);
    for t in [a, b] {
        app.update(Action::Event(Event::TaskCreated { task: Box::new(t) }));
    }
    let info = |added, removed, files, dirty, ahead| WorktreeInfo {
        exists: true,
        stat: Stat { files, added, removed },
        target: "main".into(),
        dirty,
        ahead,
        merged: false,
    };
    app.update(Action::Worktree("wt-busy".into(), info(12, 3, 4, true, 0)));
    app.update(Action::Worktree("wt-done".into(), info(40, 7, 1, false, 2)));
    app
}

#[test]
fn worktree_tasks_show_their_changes_and_d_m_x_act_on_them() {
    let mut app = with_worktrees();
    let effects_of = |app: &mut App, a: Action| app.update(a);
    // Its output shows it at work: its `+N −M` is read again (not polled).
    let fx = effects_of(
        &mut app,
        Action::Event(Event::Output { id: "wt-busy".into(), at: t0(), bytes: 10 }),
    );
    assert!(
        fx.iter().any(|f| matches!(f, UiEffect::FetchWorktree(w) if w.id == "wt-busy")),
        "{fx:?}"
    );
    let fx = effects_of(
        &mut app,
        Action::Event(Event::Output { id: "running-one".into(), at: t0(), bytes: 10 }),
    );
    assert!(!fx.iter().any(|f| matches!(f, UiEffect::FetchWorktree(_))), "not for other tasks");

    // d on a task without a worktree says so; on a worktree task opens its diff.
    app.selected = Some("running-one".into());
    app.update(key('d'));
    assert!(app.message.as_deref().unwrap_or("").contains("has no worktree"));
    app.selected = Some("wt-done".into());
    let fx = app.update(key('d'));
    assert!(matches!(&app.mode, Mode::Output(v) if v.diff && v.id == "wt-done"));
    assert!(matches!(fx.as_slice(), [UiEffect::FetchDiff(w)] if w.path.ends_with("wt-done")));
    app.update(Action::Diff(
        "wt-done".into(),
        "diff --git a/f b/f\n@@ -1 +1 @@\n-old\n+new\n".into(),
    ));
    app.update(Action::Resize(80, 24));
    snapshot_both("worktree_diff", &mut app);
    app.update(code(KeyCode::Esc));

    // m asks first, stating what happens; only yes merges.
    app.update(key('m'));
    assert!(matches!(&app.mode, Mode::Confirm(Confirm::Merge(id)) if id == "wt-done"));
    snapshot_both("worktree_merge_confirm", &mut app);
    let fx = app.update(key('y'));
    assert!(matches!(fx.as_slice(), [UiEffect::Merge(w)] if w.branch == "wt-done"));
    app.update(key('x'));
    assert!(matches!(&app.mode, Mode::Confirm(Confirm::Discard(id)) if id == "wt-done"));
    let fx = app.update(key('n'));
    assert!(fx.is_empty());
    assert_eq!(app.message.as_deref(), Some("nothing discarded"));
    // A running one is neither merged nor discarded.
    app.selected = Some("wt-busy".into());
    app.update(key('m'));
    assert!(matches!(app.mode, Mode::Normal));
    assert!(app.message.as_deref().unwrap_or("").contains("still running"));
}

#[test]
fn view_worktree_markers() {
    let mut app = with_worktrees();
    app.selected = Some("wt-busy".into());
    snapshot_both("worktree_list", &mut app);
}

#[test]
fn a_hosts_task_shows_its_host_in_the_list_and_the_detail() {
    let mut app = mixed();
    let mut far = task("far-away", TaskStatus::Running, 120);
    far.host = Some("box".into());
    let mut waiting = task("far-waiting", TaskStatus::Pending, 220);
    waiting.host = Some("box".into());
    waiting.reason = Some("waiting for host box: ssh box: Connection refused".into());
    app.update(Action::Loaded(vec![far, waiting]));
    app.update(Action::Resize(120, 35));
    let screen = render(&app, 120, 35);
    let row = screen.lines().find(|l| l.contains("far-away")).unwrap();
    assert!(row.contains("@box title of far-away"), "{screen}");
    app.update(key('g'));
    let screen = render(&app, 120, 35);
    assert!(screen.contains("waiting for host box: ssh box:"), "{screen}");
    assert!(screen.contains("· for host box"), "{screen}");
    // Its link down: said in the header, and asked again when a host changes.
    let status = crate::proto::StatusData {
        hosts_unreachable: vec![("box".into(), "ssh box: Connection refused".into())],
        ..Default::default()
    };
    app.update(Action::Status(Box::new(status)));
    let header = render(&app, 120, 35).lines().next().unwrap().to_string();
    assert!(header.contains("host box unreachable (paneherd hosts)"), "{header}");
    assert_eq!(app.update(Action::Event(Event::HostsChanged)), vec![UiEffect::FetchGroups]);
}
