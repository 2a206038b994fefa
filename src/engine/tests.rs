//! The engine's lifecycle without processes, tmux or time: inputs in, effects out, a fake clock
//! moved by hand (the stale and TTL timers are tested in microseconds).

use std::collections::BTreeMap;
use std::path::Path;

use super::*;
use crate::core::launch::Exit;
use crate::core::task::{TaskSpec, TaskStatus};
use crate::core::timefmt;
use crate::proto::{ErrorKind, Event, Request};

/// Ids `t1`, `t2`, …; sessions `s1`, …; tokens `token1`, …; every directory and program exists.
struct FakeWorld {
    n: u32,
    tokens: u32,
}

impl World for FakeWorld {
    fn task_id(&mut self, taken: &dyn Fn(&str) -> bool) -> String {
        loop {
            self.n += 1;
            let id = format!("t{}", self.n);
            if !taken(&id) {
                return id;
            }
        }
    }
    fn session_id(&mut self) -> String {
        self.n += 1;
        format!("s{}", self.n)
    }
    fn secret(&mut self) -> String {
        self.tokens += 1;
        format!("token{}", self.tokens)
    }
    fn is_dir(&self, _: &Path) -> bool {
        true
    }
    fn exists(&self, path: &Path) -> bool {
        // The logs of tasks named `launched…` were made (a previous daemon started them).
        path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("launched"))
    }
    fn find_program(
        &self,
        program: &str,
        _: Option<&str>,
        _: &Path,
    ) -> Result<PathBuf, crate::core::launch::LocateError> {
        if program == "missing" {
            Err(crate::core::launch::LocateError::NotOnPath { program: program.into() })
        } else {
            Ok(PathBuf::from(program))
        }
    }
}

fn t0() -> Timestamp {
    timefmt::parse("2026-12-01T10:00:00.000Z").unwrap()
}

fn at(secs: f64) -> Timestamp {
    t0() + chrono::Duration::milliseconds((secs * 1000.0) as i64)
}

/// A task of agent `a` submitted from pane %0 of the tmux server at /tmux.
fn in_pane(prompt: &str) -> TaskSpec {
    TaskSpec {
        prompt: prompt.into(),
        agent: Some("a".into()),
        tmux: Some(TmuxOrigin { socket: "/tmux".into(), pane: "%0".into() }),
        ..Default::default()
    }
}

const CONFIG: &str = r#"
[concurrency]
default = 2
[concurrency.models]
"p/solo" = 1
[agents.a]
command = ["agent", "--", "{prompt}"]
[agents.gone]
command = ["missing", "{prompt}"]
[timeouts]
stale_secs = 60
ttl_secs = 600
"#;

fn setup() -> Setup {
    Setup {
        exe: "/bin/paneherd".into(),
        tasks_dir: "/data/tasks".into(),
        socket: "/run/sock".into(),
        pid: 1,
        data_dir: "/data".into(),
        started_at: t0(),
        path: Some("/usr/bin".into()),
        home: None,
        user: (1000, 1000),
        max_tasks: None,
        confinement: std::sync::Arc::new(crate::core::launch::Unconfined),
    }
}

fn loaded(src: &str) -> crate::config::Loaded {
    let config = crate::config::Config::from_user_str(Path::new("c.toml"), src).unwrap();
    crate::config::Loaded { config, user_file: None, digest: 1 }
}

/// An engine, and a log of every effect it returned.
struct Harness {
    e: Engine,
    next_reply: ReplyTo,
    /// Write tokens not yet reported.
    writes: Vec<u64>,
}

impl Harness {
    fn new() -> Harness {
        Harness::with(crate::core::records::Loaded::default())
    }

    fn with(history: crate::core::records::Loaded) -> Harness {
        Harness::configured(CONFIG, history)
    }

    fn configured(config: &str, history: crate::core::records::Loaded) -> Harness {
        Harness::started(config, history, t0()).0
    }

    /// An engine that takes over `history` at `now`, and the effects of taking it over.
    fn started(
        config: &str,
        history: crate::core::records::Loaded,
        now: Timestamp,
    ) -> (Harness, Vec<Effect>) {
        Harness::set_up(setup(), config, history, now)
    }

    /// `started`, in a daemon set up as `setup` says.
    fn set_up(
        setup: Setup,
        config: &str,
        history: crate::core::records::Loaded,
        now: Timestamp,
    ) -> (Harness, Vec<Effect>) {
        let (e, fx) = Engine::new(
            setup,
            Box::new(FakeWorld { n: 0, tokens: 0 }),
            loaded(config),
            history,
            now,
        );
        let mut r = Harness { e, next_reply: 1, writes: vec![] };
        r.note(&fx);
        (r, fx)
    }

    fn note(&mut self, fx: &[Effect]) {
        for f in fx {
            if let Effect::Write { token, .. } = f
                && *token != 0
            {
                self.writes.push(*token);
            }
        }
    }

    fn input(&mut self, i: Input, now: Timestamp) -> Vec<Effect> {
        let fx = self.e.handle(i, now);
        self.note(&fx);
        fx
    }

    fn ask(&mut self, request: Request, now: Timestamp) -> Vec<Effect> {
        let reply = self.next_reply;
        self.next_reply += 1;
        self.input(Input::Request { request, reply, conn: 1 }, now)
    }

    /// Reports every write asked so far as done.
    fn flush(&mut self, now: Timestamp) -> Vec<Effect> {
        let mut out = vec![];
        for token in std::mem::take(&mut self.writes) {
            out.extend(self.input(Input::Written { token, error: None }, now));
        }
        out
    }

    /// Submits a task with `model`; returns its id (once its creation is written).
    fn submit(
        &mut self,
        agent: &str,
        model: Option<&str>,
        now: Timestamp,
    ) -> (String, Vec<Effect>) {
        let spec = TaskSpec {
            prompt: "do it".into(),
            agent: Some(agent.into()),
            model: model.map(str::to_string),
            client_cwd: Some("/work".into()),
            ..Default::default()
        };
        let mut fx = self.ask(Request::Submit { spec: Box::new(spec) }, now);
        fx.extend(self.flush(now));
        let id = fx
            .iter()
            .find_map(|f| match f {
                Effect::Reply { answer: Ok(Answer::Task(t)), .. } => Some(t.id.clone()),
                _ => None,
            })
            .unwrap_or_else(|| panic!("no task: {fx:#?}"));
        (id, fx)
    }

    fn status(&self, id: &str) -> TaskStatus {
        self.e.table.get(id).unwrap().status
    }

    /// Runs the end of a process: exit, the result read, the record written.
    fn end(&mut self, id: &str, code: i32, now: Timestamp) -> Vec<Effect> {
        let mut fx = self.input(
            Input::Exited {
                id: id.into(),
                exit: Exit { code: Some(code), signal: None },
                log_error: None,
            },
            now,
        );
        fx.extend(self.input(
            Input::Collected { id: id.into(), result: Ok("done".into()), answer: None },
            now,
        ));
        fx.extend(self.flush(now));
        fx
    }
}

fn launched(fx: &[Effect]) -> Vec<String> {
    fx.iter()
        .filter_map(|f| match f {
            Effect::Launch { launch } => Some(launch.task_id.clone()),
            _ => None,
        })
        .collect()
}

fn timers(fx: &[Effect]) -> BTreeMap<TimerKind, Timestamp> {
    fx.iter()
        .filter_map(|f| match f {
            Effect::Timer { kind, at, .. } => Some((*kind, *at)),
            _ => None,
        })
        .collect()
}

fn signals(fx: &[Effect]) -> Vec<Signal> {
    fx.iter()
        .filter_map(|f| match f {
            Effect::Signal { signal, .. } => Some(*signal),
            _ => None,
        })
        .collect()
}

#[test]
fn limits_and_fifo_order() {
    let mut r = Harness::new();
    let mut started = vec![];
    let mut ids = vec![];
    for _ in 0..4 {
        let (id, fx) = r.submit("a", None, at(0.0));
        started.extend(launched(&fx));
        ids.push(id);
    }
    assert_eq!(started, vec!["t1", "t2"], "two slots in the default group");
    let (solo1, fx) = r.submit("a", Some("p/solo"), at(0.0));
    assert_eq!(launched(&fx), vec![solo1.clone()], "another group has its own slot");
    let (_solo2, fx) = r.submit("a", Some("p/solo"), at(0.0));
    assert!(launched(&fx).is_empty(), "the model's one slot is taken");
    r.input(Input::Started { id: "t1".into(), pid: 11 }, at(0.1));
    // A slot frees when a process ends: the oldest waiting task of that group starts.
    let fx = r.end("t1", 0, at(5.0));
    assert_eq!(launched(&fx), vec![ids[2].clone()], "FIFO within the group");
    assert_eq!(r.status("t1"), TaskStatus::Completed);
    // The end is announced only once written.
    let fx = r.input(
        Input::Exited {
            id: "t2".into(),
            exit: Exit { code: Some(3), signal: None },
            log_error: None,
        },
        at(6.0),
    );
    assert!(!fx.iter().any(|f| matches!(f, Effect::Announce(Event::TaskChanged { .. }))));
    let fx = r.input(
        Input::Collected { id: "t2".into(), result: Ok("oops".into()), answer: None },
        at(6.0),
    );
    assert!(
        !fx.iter().any(|f| matches!(f, Effect::Announce(Event::TaskChanged { .. }))),
        "not before written"
    );
    let fx = r.flush(at(6.0));
    let ended = fx.iter().find_map(|f| match f {
        Effect::Announce(Event::TaskChanged { task }) => Some(task.clone()),
        _ => None,
    });
    let t = ended.unwrap();
    assert_eq!(
        (t.status, t.reason.as_deref(), t.exit_code),
        (TaskStatus::Error, Some("exit code 3"), Some(3))
    );
}

#[test]
fn cancel_pending_and_running() {
    let mut r = Harness::new();
    let (a, _) = r.submit("a", None, at(0.0));
    let (_b, _) = r.submit("a", None, at(0.0));
    let (c, _) = r.submit("a", None, at(0.0));
    r.input(Input::Started { id: a.clone(), pid: 7 }, at(0.1));
    // Pending: ended at once (after its write), never started.
    let fx = r.ask(Request::Cancel { ids: vec![c.clone()], all: false }, at(1.0));
    assert!(launched(&fx).is_empty());
    r.flush(at(1.0));
    assert_eq!(r.status(&c), TaskStatus::Cancelled);
    // Running: SIGTERM now, SIGKILL after the grace, recorded as cancelled when it exits.
    let fx = r.ask(Request::Cancel { ids: vec![a.clone()], all: false }, at(2.0));
    assert_eq!(signals(&fx), vec![Signal::Term]);
    assert_eq!(timers(&fx)[&TimerKind::HardKill], at(2.0) + chrono::Duration::seconds(3));
    let fx = r.input(Input::Timer { id: a.clone(), kind: TimerKind::HardKill }, at(5.0));
    assert_eq!(signals(&fx), vec![Signal::Kill]);
    let exit = Exit { code: None, signal: Some(9) };
    r.input(Input::Exited { id: a.clone(), exit, log_error: None }, at(5.1));
    r.input(Input::Collected { id: a.clone(), result: Ok(String::new()), answer: None }, at(5.1));
    r.flush(at(5.1));
    let t = r.e.table.get(&a).unwrap();
    assert_eq!((t.status, t.reason.as_deref()), (TaskStatus::Cancelled, Some("cancelled by user")));
}

#[test]
fn stale_and_ttl_timers() {
    let mut r = Harness::new();
    let (a, _) = r.submit("a", None, at(0.0));
    let fx = r.input(Input::Started { id: a.clone(), pid: 7 }, at(0.0));
    let t = timers(&fx);
    assert_eq!(t[&TimerKind::Stale], at(60.0));
    assert_eq!(t[&TimerKind::Ttl], at(600.0));
    // Output at 30 s: the stale timer, firing at 60 s, waits until 90 s.
    r.input(Input::Output { id: a.clone(), bytes: 10 }, at(30.0));
    let fx = r.input(Input::Timer { id: a.clone(), kind: TimerKind::Stale }, at(60.0));
    assert_eq!(timers(&fx)[&TimerKind::Stale], at(90.0));
    assert!(signals(&fx).is_empty());
    // No output since: interrupted.
    let fx = r.input(Input::Timer { id: a.clone(), kind: TimerKind::Stale }, at(90.0));
    assert_eq!(signals(&fx), vec![Signal::Term]);
    r.input(
        Input::Exited {
            id: a.clone(),
            exit: Exit { code: None, signal: Some(15) },
            log_error: None,
        },
        at(90.1),
    );
    r.input(Input::Collected { id: a.clone(), result: Ok(String::new()), answer: None }, at(90.1));
    r.flush(at(90.1));
    let t = r.e.table.get(&a).unwrap();
    assert_eq!(
        (t.status, t.reason.as_deref()),
        (TaskStatus::Interrupted, Some("no output for 60 s"))
    );

    let (b, _) = r.submit("a", None, at(100.0));
    r.input(Input::Started { id: b.clone(), pid: 8 }, at(100.0));
    let fx = r.input(Input::Timer { id: b.clone(), kind: TimerKind::Ttl }, at(700.0));
    assert_eq!(signals(&fx), vec![Signal::Term]);
    r.end(&b, 0, at(700.5));
    let t = r.e.table.get(&b).unwrap();
    assert_eq!((t.status, t.reason.as_deref()), (TaskStatus::Cancelled, Some("ttl 10m exceeded")));
}

#[test]
fn output_events_are_at_most_one_per_interval() {
    let mut r = Harness::new();
    let (a, _) = r.submit("a", None, at(0.0));
    r.input(Input::Started { id: a.clone(), pid: 7 }, at(0.0));
    let outputs = |fx: &[Effect]| {
        fx.iter().filter(|f| matches!(f, Effect::Announce(Event::Output { .. }))).count()
    };
    assert_eq!(outputs(&r.input(Input::Output { id: a.clone(), bytes: 5 }, at(1.0))), 1);
    let fx = r.input(Input::Output { id: a.clone(), bytes: 5 }, at(1.1));
    assert_eq!(outputs(&fx), 0, "within the interval");
    assert_eq!(timers(&fx)[&TimerKind::OutputEvent], at(1.9));
    assert_eq!(outputs(&r.input(Input::Output { id: a.clone(), bytes: 5 }, at(1.2))), 0);
    assert_eq!(
        outputs(&r.input(Input::Timer { id: a.clone(), kind: TimerKind::OutputEvent }, at(1.9))),
        1
    );
    // A busy pane's reports, once a second: one event each.
    for s in [3.0, 4.0, 5.0] {
        assert_eq!(outputs(&r.input(Input::Output { id: a.clone(), bytes: 5 }, at(s))), 1);
    }
}

#[test]
fn a_task_that_cannot_start_ends_in_error_and_frees_its_slot() {
    let mut r = Harness::new();
    // Refused at submission: not installed.
    let spec = TaskSpec { prompt: "x".into(), agent: Some("gone".into()), ..Default::default() };
    let fx = r.ask(Request::Submit { spec: Box::new(spec) }, at(0.0));
    let Some(Effect::Reply { answer: Err(e), .. }) = fx.first() else { panic!("{fx:?}") };
    assert_eq!(e.kind, ErrorKind::Invalid);
    assert!(e.message.contains("not found on PATH"), "{e:?}");
    // A process that fails to start.
    let (a, _) = r.submit("a", None, at(0.0));
    r.input(Input::StartFailed { id: a.clone(), reason: "cannot start \"agent\"".into() }, at(0.1));
    r.flush(at(0.1));
    let t = r.e.table.get(&a).unwrap();
    assert_eq!(
        (t.status, t.reason.as_deref()),
        (TaskStatus::Error, Some("cannot start \"agent\""))
    );
    assert_eq!(r.e.busy(), 0);
}

fn history(tasks: Vec<Task>) -> crate::core::records::Loaded {
    crate::core::records::Loaded { tasks, ..Default::default() }
}

fn running(id: &str, pane: Option<&str>) -> Task {
    let mut t =
        Task::pending(id, "a", "p", "/w".into(), format!("/data/tasks/{id}.log").into(), t0());
    t.start(42, t0()).unwrap();
    if let Some(p) = pane {
        t.pane_id = Some(p.into());
        t.tmux = Some(TmuxOrigin { socket: "/tmux".into(), pane: "%0".into() });
    }
    t
}

#[test]
fn after_a_restart_lost_tasks_are_recorded_and_pane_tasks_re_adopted() {
    let mut queued = Task::pending("q1", "a", "p", "/w".into(), "/data/tasks/q1.log".into(), t0());
    queued.limit_group = "stale-group".into();
    let history = history(vec![running("lost1", None), running("inpane", Some("%5")), queued]);
    let (mut r, fx) = Harness::started(CONFIG, history, at(10.0));
    assert!(fx.contains(&Effect::StopOrphan { id: "lost1".into(), pid: Some(42) }));
    assert!(fx.iter().any(|f| matches!(f, Effect::Collect { id, .. } if id == "lost1")));
    assert!(fx.iter().any(
        |f| matches!(f, Effect::Pane(PaneJob::CheckAdoption { id, pane, .. }) if id == "inpane" && pane == "%5")
    ));
    assert_eq!(launched(&fx), vec!["q1"], "the queued task starts, regrouped");
    r.input(
        Input::Collected { id: "lost1".into(), result: Ok("partial".into()), answer: None },
        at(10.0),
    );
    r.flush(at(10.0));
    let t = r.e.table.get("lost1").unwrap();
    assert_eq!(
        (t.status, t.reason.as_deref()),
        (TaskStatus::Error, Some("lost: daemon restarted while it ran"))
    );
    // The pane task still runs: adopted, with its timers; its exit is recorded as usual.
    let fx =
        r.input(Input::Adopted { id: "inpane".into(), visible: Some(true), exit: None }, at(10.0));
    assert!(
        fx.iter().any(|f| matches!(f, Effect::Pane(PaneJob::Adopt { id, .. }) if id == "inpane"))
    );
    assert!(timers(&fx).contains_key(&TimerKind::Stale));
    let fx = r.end("inpane", 0, at(20.0));
    assert!(
        fx.iter().any(|f| matches!(f, Effect::Pane(PaneJob::Ended { id, .. }) if id == "inpane"))
    );
    assert_eq!(r.status("inpane"), TaskStatus::Completed);
}

#[test]
fn a_pane_agent_hanging_up_is_told_apart() {
    let mut r = Harness::new();
    let spec = in_pane("x");
    r.ask(Request::Submit { spec: Box::new(spec) }, at(0.0));
    r.flush(at(0.0));
    r.input(Input::PaneOpened { id: "t1".into(), pane: "%3".into() }, at(0.1));
    r.input(Input::Started { id: "t1".into(), pid: 9 }, at(0.2));
    let fx = r.input(
        Input::Exited {
            id: "t1".into(),
            exit: Exit { code: None, signal: Some(1) },
            log_error: None,
        },
        at(3.0),
    );
    assert!(
        fx.iter().any(|f| matches!(f, Effect::Pane(PaneJob::Hangup { .. }))),
        "asks why first: {fx:?}"
    );
    r.input(Input::Hangup { id: "t1".into(), hangup: Hangup::PaneClosed }, at(3.0));
    r.input(Input::Collected { id: "t1".into(), result: Ok(String::new()), answer: None }, at(3.0));
    r.flush(at(3.0));
    let t = r.e.table.get("t1").unwrap();
    assert_eq!((t.status, t.reason.as_deref()), (TaskStatus::Cancelled, Some("pane closed")));
}

#[test]
fn shutdown_stops_what_runs_and_says_when_nothing_does() {
    let mut r = Harness::new();
    let (a, _) = r.submit("a", None, at(0.0));
    r.input(Input::Started { id: a.clone(), pid: 7 }, at(0.0));
    let fx = r.input(Input::Shutdown, at(1.0));
    assert_eq!(signals(&fx), vec![Signal::Term]);
    assert!(!fx.contains(&Effect::Stopped));
    let fx = r.end(&a, 143, at(1.5));
    assert!(fx.contains(&Effect::Stopped));
    assert_eq!(
        r.e.table.get(&a).unwrap().reason.as_deref(),
        Some("cancelled: the daemon shut down")
    );
    let spec = TaskSpec { prompt: "x".into(), agent: Some("a".into()), ..Default::default() };
    let fx = r.ask(Request::Submit { spec: Box::new(spec) }, at(2.0));
    assert!(
        matches!(&fx[0], Effect::Reply { answer: Err(e), .. } if e.kind == ErrorKind::ShuttingDown)
    );
}

#[test]
fn the_summarizer_runs_once_the_end_is_recorded_so_its_line_is_kept() {
    let config = format!("summarizer = \"a\"\n{CONFIG}");
    let mut r = Harness::configured(&config, crate::core::records::Loaded::default());
    let (a, _) = r.submit("a", None, at(0.0));
    r.input(Input::Started { id: a.clone(), pid: 7 }, at(0.0));
    r.input(
        Input::Exited {
            id: a.clone(),
            exit: Exit { code: Some(0), signal: None },
            log_error: None,
        },
        at(1.0),
    );
    let summarize = |fx: &[Effect]| fx.iter().any(|f| matches!(f, Effect::Summarize { .. }));
    let fx = r.input(
        Input::Collected { id: a.clone(), result: Ok("found it".into()), answer: None },
        at(1.0),
    );
    assert!(!summarize(&fx), "not before the end is written");
    let fx = r.flush(at(1.1));
    assert!(summarize(&fx), "once it is");
    r.input(Input::Summarized { id: a.clone(), summary: Some("one line".into()) }, at(2.0));
    let t = r.e.table.get(&a).unwrap();
    assert_eq!((t.status, t.summary.as_deref()), (TaskStatus::Completed, Some("one line")));
}

/// An agent that writes its answer (`{answer_file}`): a completed run's result and summary are
/// that answer, not the transcript; a failed run's result is its output (which says why), and
/// its session id is still found in the transcript.
#[test]
fn a_written_answer_is_the_result_of_a_completed_run() {
    let config = "[agents.a]\ncommand = [\"agent\", \"--out={answer_file}\", \"{prompt}\"]\nsession_pattern = 'session ([a-z0-9]+)'\n";
    let mut r = Harness::configured(config, crate::core::records::Loaded::default());
    let end = |r: &mut Harness, id: &str, code: i32, answer: Option<&str>| {
        r.input(Input::Started { id: id.into(), pid: 7 }, at(0.0));
        let fx = r.input(
            Input::Exited {
                id: id.into(),
                exit: Exit { code: Some(code), signal: None },
                log_error: None,
            },
            at(1.0),
        );
        assert!(fx.iter().any(|f| matches!(f, Effect::Collect { since: Some(_), .. })), "{fx:?}");
        let transcript =
            "banner v1\nsession ab12\nthinking…\nthe answer\ntokens used 45\n".to_string();
        r.input(
            Input::Collected {
                id: id.into(),
                result: Ok(transcript),
                answer: answer.map(String::from),
            },
            at(1.0),
        );
        r.flush(at(1.1));
        r.e.table.get(id).unwrap().clone()
    };
    let (a, _) = r.submit("a", None, at(0.0));
    let t = end(&mut r, &a, 0, Some("the answer"));
    assert_eq!(t.status, TaskStatus::Completed);
    assert_eq!(t.summary.as_deref(), Some("the answer"));
    assert_eq!(t.session.as_deref(), Some("ab12"), "the session is read from the transcript");
    let (b, _) = r.submit("a", None, at(0.0));
    let t = end(&mut r, &b, 1, Some("half an answer"));
    assert_eq!(t.status, TaskStatus::Error);
    assert_ne!(t.summary.as_deref(), Some("half an answer"), "{t:?}");
}

/// A worktree task: its worktree is made first (a job), then it launches there; a worktree that
/// cannot be made ends it as an error naming why, freeing its slot; one cancelled while its
/// worktree is being made never launches, and the worktree made meanwhile is on its record.
#[test]
fn a_worktree_task_launches_in_its_worktree_once_made() {
    let mut r = Harness::configured(
        "[concurrency]\ndefault = 1\n[agents.a]\ncommand = [\"agent\", \"{prompt}\"]\n",
        Default::default(),
    );
    let submit = |r: &mut Harness| {
        let spec = TaskSpec {
            prompt: "edit".into(),
            agent: Some("a".into()),
            client_cwd: Some("/repo/src".into()),
            worktree: Some(Default::default()),
            ..Default::default()
        };
        let mut fx = r.ask(Request::Submit { spec: Box::new(spec) }, at(0.0));
        fx.extend(r.flush(at(0.0)));
        let id = fx.iter().find_map(|f| match f {
            Effect::Reply { answer: Ok(Answer::Task(t)), .. } => Some(t.id.clone()),
            _ => None,
        });
        (id.unwrap(), fx)
    };
    let prepared = |fx: &[Effect]| {
        fx.iter().find_map(|f| match f {
            Effect::PrepareWorktree { prepare } => Some(prepare.clone()),
            _ => None,
        })
    };
    let (a, fx) = submit(&mut r);
    assert!(launched(&fx).is_empty(), "not before its worktree is there");
    let p = prepared(&fx).expect("its worktree is made first");
    assert_eq!((p.task_id.as_str(), p.cwd.as_path()), (a.as_str(), Path::new("/repo/src")));
    let (b, fx) = submit(&mut r);
    assert!(prepared(&fx).is_none(), "b waits for the slot a holds while its worktree is made");
    let made = crate::core::worktrees::Prepared {
        repo: "/repo".into(),
        path: "/repo.paneherd/t1".into(),
        branch: "t1".into(),
        base: "abc".into(),
        cwd: "/repo.paneherd/t1/src".into(),
        note: Some("worktree_setup failed".into()),
        made: true,
    };
    let fx = r.input(Input::WorktreeReady { id: a.clone(), result: Ok(made) }, at(1.0));
    let launch = fx.iter().find_map(|f| match f {
        Effect::Launch { launch } => Some(launch.clone()),
        _ => None,
    });
    assert_eq!(launch.expect("launched").cwd, Path::new("/repo.paneherd/t1/src"));
    let t = r.e.table.get(&a).unwrap();
    assert_eq!(t.worktree.as_deref(), Some(Path::new("/repo.paneherd/t1")));
    assert_eq!((t.branch.as_deref(), t.base.as_deref()), (Some("t1"), Some("abc")));
    assert_eq!(t.worktree_note.as_deref(), Some("worktree_setup failed"));
    r.input(Input::Started { id: a.clone(), pid: 10 }, at(1.0));
    let fx = r.end(&a, 0, at(2.0));
    assert!(prepared(&fx).is_some_and(|p| p.task_id == b), "b's turn");

    // b's worktree cannot be made: an error saying why; the slot is free again.
    let fx =
        r.input(Input::WorktreeReady { id: b.clone(), result: Err("not a repo".into()) }, at(3.0));
    r.flush(at(3.0));
    assert!(launched(&fx).is_empty());
    assert_eq!(r.status(&b), TaskStatus::Error);
    assert_eq!(r.e.table.get(&b).unwrap().reason.as_deref(), Some("worktree: not a repo"));

    // c is cancelled while its worktree is made.
    let (c, _) = submit(&mut r);
    r.ask(Request::Cancel { ids: vec![c.clone()], all: false }, at(4.0));
    let made = crate::core::worktrees::Prepared {
        repo: "/repo".into(),
        path: "/repo.paneherd/t3".into(),
        branch: "t3".into(),
        base: "abc".into(),
        cwd: "/repo.paneherd/t3".into(),
        note: None,
        made: true,
    };
    let fx = r.input(Input::WorktreeReady { id: c.clone(), result: Ok(made) }, at(5.0));
    r.flush(at(5.0));
    assert!(launched(&fx).is_empty(), "never launched");
    assert_eq!(r.status(&c), TaskStatus::Cancelled);
    assert_eq!(
        r.e.table.get(&c).unwrap().worktree.as_deref(),
        Some(Path::new("/repo.paneherd/t3")),
        "the worktree made meanwhile is not lost track of"
    );
}

/// Reports every write asked so far as failed with `error`.
fn fail_writes(r: &mut Harness, error: &str, now: Timestamp) -> Vec<Effect> {
    let mut out = vec![];
    for token in std::mem::take(&mut r.writes) {
        out.extend(r.input(Input::Written { token, error: Some(error.into()) }, now));
    }
    out
}

#[test]
fn a_submission_that_cannot_be_recorded_is_refused_and_never_started() {
    let mut r = Harness::new();
    let spec = TaskSpec {
        prompt: "do it".into(),
        agent: Some("a".into()),
        client_cwd: Some("/work".into()),
        env: Some([("WHO".to_string(), "me".to_string())].into_iter().collect()),
        ..Default::default()
    };
    let fx = r.ask(Request::Submit { spec: Box::new(spec) }, at(0.0));
    assert!(launched(&fx).is_empty(), "nothing starts before it is recorded");
    let secret = fx.iter().find_map(|f| match f {
        Effect::Write { secret: crate::core::records::SecretOp::Set(s), .. } => Some(s.clone()),
        _ => None,
    });
    assert_eq!(
        secret.and_then(|s| s.env),
        Some(vec![("WHO".to_string(), "me".to_string())]),
        "its environment is kept with it while it waits"
    );
    let fx = fail_writes(&mut r, "cannot write task file: No space left on device", at(0.1));
    assert!(launched(&fx).is_empty());
    let err = fx.iter().find_map(|f| match f {
        Effect::Reply { answer: Err(e), .. } => Some(e.message.clone()),
        _ => None,
    });
    assert!(err.as_deref().is_some_and(|e| e.starts_with("the task was not started: disk full")));
    assert!(r.e.table.all().next().is_none(), "and it is not in the history");
    assert!(!fx.iter().any(|f| matches!(f, Effect::Announce(Event::TaskCreated { .. }))));
}

#[test]
fn an_end_that_cannot_be_recorded_is_an_error_and_written_again() {
    let mut r = Harness::new();
    let (a, fx) = r.submit("a", None, at(0.0));
    assert_eq!(launched(&fx), vec![a.clone()]);
    r.input(Input::Started { id: a.clone(), pid: 7 }, at(0.5));
    r.flush(at(0.5));
    r.input(
        Input::Exited {
            id: a.clone(),
            exit: Exit { code: Some(0), signal: None },
            log_error: None,
        },
        at(1.0),
    );
    r.input(
        Input::Collected { id: a.clone(), result: Ok("all good".into()), answer: None },
        at(1.0),
    );
    let fx = fail_writes(&mut r, "cannot write task file: No space left on device", at(1.0));
    let t = r.e.table.get(&a).unwrap();
    assert_eq!(t.status, TaskStatus::Error, "never completed on a failed write");
    assert!(t.reason.as_deref().unwrap().contains("its end could not be recorded: disk full"));
    assert!(fx.iter().any(|f| matches!(f, Effect::Announce(Event::TaskChanged { task }) if task.status == TaskStatus::Error)));
    assert!(timers(&fx).contains_key(&TimerKind::Rewrite));
    // Space again: the next try writes the record, with its result.
    let fx = r.input(Input::Timer { id: a.clone(), kind: TimerKind::Rewrite }, at(6.0));
    let rewrite = fx.iter().find_map(|f| match f {
        Effect::Write { task, result, .. } => Some((task.status, result.clone())),
        _ => None,
    });
    assert_eq!(rewrite, Some((TaskStatus::Error, Some("all good".into()))));
    let fx = r.flush(at(6.0));
    assert!(!timers(&fx).contains_key(&TimerKind::Rewrite), "written: no more tries");
    assert_eq!(r.e.writes.unwritten(&a), None);
    let t = r.e.table.get(&a).unwrap();
    assert!(t.reason.as_deref().unwrap().contains("its end was recorded late (disk full"), "{t:?}");
}

#[test]
fn output_that_could_not_be_kept_ends_in_an_error_that_says_so() {
    let mut r = Harness::new();
    let (a, _) = r.submit("a", None, at(0.0));
    r.input(Input::Started { id: a.clone(), pid: 7 }, at(0.5));
    let why = "disk full: output after 4096 bytes was not kept (No space left on device)";
    r.input(
        Input::Exited {
            id: a.clone(),
            exit: Exit { code: Some(0), signal: None },
            log_error: Some(why.into()),
        },
        at(1.0),
    );
    r.input(
        Input::Collected { id: a.clone(), result: Ok("partial".into()), answer: None },
        at(1.0),
    );
    r.flush(at(1.0));
    let t = r.e.table.get(&a).unwrap();
    assert_eq!((t.status, t.reason.as_deref()), (TaskStatus::Error, Some(why)));
    assert_eq!(t.summary.as_deref(), Some(why), "the notice says what happened");
}

#[test]
fn after_a_restart_waiting_tasks_keep_their_environment_and_ended_pane_agents_are_recorded() {
    let queued = Task::pending("q1", "a", "p", "/w".into(), "/data/tasks/q1.log".into(), t0());
    let mut secrets = std::collections::HashMap::new();
    secrets.insert(
        "q1".to_string(),
        crate::core::task::TaskSecret {
            env: Some(vec![("WHO".into(), "them".into())]),
            pane_token: None,
        },
    );
    secrets.insert(
        "inpane".to_string(),
        crate::core::task::TaskSecret { env: None, pane_token: Some("tok".into()) },
    );
    let history = crate::core::records::Loaded {
        tasks: vec![running("inpane", Some("%5")), queued],
        secrets,
        ..Default::default()
    };
    let (mut r, fx) = Harness::started(CONFIG, history, at(10.0));
    let env = fx.iter().find_map(|f| match f {
        Effect::Launch { launch } if launch.task_id == "q1" => launch.base_env.clone(),
        _ => None,
    });
    assert_eq!(env, Some(vec![("WHO".to_string(), "them".to_string())]), "its submitter's");
    // The pane agent ended while no daemon ran: its pane is there, its wrapper wrote the exit.
    let exit = crate::core::task::ExitRecord {
        code: Some(0),
        signal: None,
        log_error: None,
        at: Some(at(10.5)),
    };
    let fx = r.input(
        Input::Adopted { id: "inpane".into(), visible: Some(true), exit: Some(exit) },
        at(11.0),
    );
    assert!(
        fx.iter().any(|f| matches!(f, Effect::Pane(PaneJob::Adopt { id, .. }) if id == "inpane")),
        "its pane is taken back, to be closed"
    );
    assert!(fx.iter().any(|f| matches!(f, Effect::Collect { id, .. } if id == "inpane")));
    // Its wrapper reports in with its token, and is taken; another token is not.
    let bad =
        r.ask(Request::PaneAttach { task_id: "inpane".into(), token: "guess".into() }, at(11.0));
    assert!(bad.iter().any(|f| matches!(f, Effect::Reply { answer: Err(_), .. })));
    let good =
        r.ask(Request::PaneAttach { task_id: "inpane".into(), token: "tok".into() }, at(11.0));
    assert!(good.iter().any(|f| matches!(f, Effect::Reply { answer: Ok(_), .. })));
    r.input(
        Input::Collected { id: "inpane".into(), result: Ok("its result".into()), answer: None },
        at(11.0),
    );
    r.flush(at(11.0));
    assert_eq!(r.status("inpane"), TaskStatus::Completed);
    assert_eq!(r.e.table.get("inpane").unwrap().finished_at, Some(at(10.5)), "when it ended");
}

#[test]
fn a_layout_switched_by_a_dashboard_is_its_windows_alone_and_ends_with_it() {
    let mut r = Harness::new();
    // Not in tmux: no window to lay out.
    let fx = r.ask(Request::SetLayout { name: "tiled".into(), main: None }, at(0.0));
    assert!(fx.iter().any(
        |f| matches!(f, Effect::Reply { answer: Err(e), .. } if e.message.contains("not in tmux"))
    ));
    r.ask(Request::RegisterMain { socket: "/tmux".into(), pane: "%0".into() }, at(0.0));
    // Asked on another of the dashboard's connections, naming its pane.
    let main = Some(TmuxOrigin { socket: "/tmux".into(), pane: "%0".into() });
    let request = Request::SetLayout { name: "tiled".into(), main };
    let fx = r.input(Input::Request { request, reply: 99, conn: 2 }, at(0.0));
    let set = fx.iter().find_map(|f| match f {
        Effect::Pane(PaneJob::WindowLayout { origin, geometry }) => {
            Some((origin.pane.clone(), *geometry))
        }
        _ => None,
    });
    let (pane, geometry) = set.expect("the window's own layout");
    assert_eq!(pane, "%0");
    assert_eq!(geometry.map(|g| g.kind), Some(crate::config::tmux::LayoutKind::Tiled));
    assert!(geometry.is_some_and(|g| g.adapt), "it adapts like the configured one");
    // The configured layout is untouched for every other window and later dashboard.
    assert_eq!(r.e.tmux_settings().geometry.kind, crate::config::tmux::LayoutKind::MainVertical);
    assert_eq!(r.e.layout_name(1), "tiled");
    assert_eq!(r.e.layout_name(2), "main-vertical");
    let fx = r.input(Input::Closed { conn: 1 }, at(1.0));
    assert!(
        fx.iter().any(|f| matches!(f, Effect::Pane(PaneJob::WindowLayout { geometry: None, .. })))
    );
    assert_eq!(r.e.layout_name(1), "main-vertical");
}

#[test]
fn a_waiting_task_whose_environment_is_gone_is_never_run_in_the_daemons() {
    let mut lost = Task::pending("q1", "a", "p", "/w".into(), "/data/tasks/q1.log".into(), t0());
    lost.env_kept = true;
    let plain = Task::pending("q2", "a", "p", "/w".into(), "/data/tasks/q2.log".into(), t0());
    let (mut r, fx) = Harness::started(CONFIG, history(vec![lost, plain]), at(1.0));
    assert_eq!(launched(&fx), vec!["q2"], "one submitted without an environment runs as before");
    r.flush(at(1.0));
    let t = r.e.table.get("q1").unwrap();
    assert_eq!(t.status, TaskStatus::Error);
    assert!(t.reason.as_deref().unwrap().contains("paneherd retry q1"), "{:?}", t.reason);
}

#[test]
fn a_task_started_just_before_a_crash_is_never_run_twice() {
    // On disk it is still pending (the start was not recorded), but its log was made: it ran.
    let ran =
        Task::pending("launched1", "a", "p", "/w".into(), "/data/tasks/launched1.log".into(), t0());
    let queued = Task::pending("q2", "a", "p", "/w".into(), "/data/tasks/q2.log".into(), t0());
    let (mut r, fx) = Harness::started(CONFIG, history(vec![ran, queued]), at(10.0));
    assert_eq!(launched(&fx), vec!["q2"], "only the task that never ran starts");
    assert!(fx.contains(&Effect::StopOrphan { id: "launched1".into(), pid: None }));
    assert!(!r.e.ready(), "clients wait until it is recorded");
    r.input(
        Input::Collected { id: "launched1".into(), result: Ok("half".into()), answer: None },
        at(10.0),
    );
    r.flush(at(10.0));
    assert!(r.e.ready());
    let t = r.e.table.get("launched1").unwrap();
    assert_eq!(t.status, TaskStatus::Error);
    assert!(t.reason.as_deref().unwrap_or("").starts_with("lost: the daemon stopped while"));
}

/// A confinement for the tests: every agent runs under `jail --`, and the prompt `escape`
/// cannot be confined.
#[derive(Debug)]
struct Jail;

impl crate::core::launch::Confinement for Jail {
    fn confine(&self, mut launch: Launch) -> Result<Launch, crate::core::launch::ConfineError> {
        if launch.argv.iter().any(|a| a == "escape") {
            let why = "the sandbox is missing".to_string();
            return Err(crate::core::launch::ConfineError { kind: "jail", why });
        }
        launch.argv.splice(0..0, ["jail".to_string(), "--".to_string()]);
        launch.program = "/usr/bin/jail".into();
        Ok(launch)
    }
}

#[test]
fn every_launch_is_confined_headless_or_in_a_pane_and_an_unconfinable_one_never_runs() {
    let setup = Setup { confinement: std::sync::Arc::new(Jail), ..setup() };
    let (mut r, _) = Harness::set_up(setup, CONFIG, crate::core::records::Loaded::default(), t0());
    // Headless.
    let (first, fx) = r.submit("a", None, at(0.0));
    let launch = fx.iter().find_map(|f| match f {
        Effect::Launch { launch } => Some(launch.clone()),
        _ => None,
    });
    let launch = launch.expect("launched");
    assert_eq!(launch.argv, ["jail", "--", "agent", "--", "do it"]);
    assert_eq!(launch.program, Path::new("/usr/bin/jail"));
    // In a pane: what its wrapper is handed is confined too.
    let spec = in_pane("x");
    r.ask(Request::Submit { spec: Box::new(spec) }, at(1.0));
    let fx = r.flush(at(1.0));
    let (id, token) = fx
        .iter()
        .find_map(|f| match f {
            Effect::Pane(PaneJob::Open { id, token, .. }) => Some((id.clone(), token.clone())),
            _ => None,
        })
        .expect("a pane is opened");
    r.input(Input::PaneOpened { id: id.clone(), pane: "%3".into() }, at(1.1));
    let fx = r.ask(Request::PaneAttach { task_id: id, token }, at(1.2));
    let handed = fx.iter().find_map(|f| match f {
        Effect::Reply { answer: Ok(Answer::PaneLaunch(l)), .. } => Some(l.argv.clone()),
        _ => None,
    });
    assert_eq!(
        handed.expect("the wrapper is handed its launch"),
        ["jail", "--", "agent", "--", "x"]
    );
    // One that cannot be confined ends in error, unstarted, with the reason (a slot free).
    r.input(Input::Started { id: first.clone(), pid: 10 }, at(1.5));
    r.end(&first, 0, at(1.6));
    r.flush(at(1.6));
    let spec = TaskSpec { prompt: "escape".into(), agent: Some("a".into()), ..Default::default() };
    let mut fx = r.ask(Request::Submit { spec: Box::new(spec) }, at(2.0));
    fx.extend(r.flush(at(2.0)));
    fx.extend(r.flush(at(2.0)));
    assert!(!fx.iter().any(|f| matches!(f, Effect::Launch { .. })), "{fx:?}");
    let t = r.e.table.all().find(|t| t.prompt == "escape").expect("recorded").clone();
    assert_eq!(t.status, TaskStatus::Error);
    assert_eq!(t.reason.as_deref(), Some("cannot confine the task (jail): the sandbox is missing"));
}

mod follow_ups;
