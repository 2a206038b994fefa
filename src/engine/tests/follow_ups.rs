//! The engine on requests that make a task from an earlier one or tell its end: retry, continue,
//! the inbox and delivery, and a config reloaded under waiting tasks.

use super::*;

/// The answer to the last request in `fx`: the task it made, or its error's kind.
fn made(fx: &[Effect]) -> Result<Task, ErrorKind> {
    fx.iter()
        .find_map(|f| match f {
            Effect::Reply { answer: Ok(Answer::Task(t)), .. } => Some(Ok((**t).clone())),
            Effect::Reply { answer: Err(e), .. } => Some(Err(e.kind)),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no answer: {fx:#?}"))
}

/// What was launched for `id`: its argv.
fn argv_of(fx: &[Effect], id: &str) -> Option<Vec<String>> {
    fx.iter().find_map(|f| match f {
        Effect::Launch { launch } if launch.task_id == id => Some(launch.argv.clone()),
        _ => None,
    })
}

const FOLLOW_UPS: &str = r#"
[concurrency]
default = 4
[agents.a]
command = ["agent", "--", "{prompt}"]
[agents.resumer]
command = ["agent", "--session-id", "{session_id}", "{prompt}"]
continue_command = ["agent", "--resume", "{session}", "{prompt}"]
[agents.bydir]
command = ["agent", "{prompt}"]
continue_command = ["agent", "--continue", "{prompt}"]
[agents.sh]
command = ["bash", "-c", "{prompt}"]
"#;

/// A harness on `FOLLOW_UPS` with one task of `agent` that ended with `code`.
fn ended_task(agent: &str, code: i32) -> (Harness, String) {
    let mut r = Harness::configured(FOLLOW_UPS, crate::core::records::Loaded::default());
    let (id, _) = r.submit(agent, None, at(0.0));
    r.input(Input::Started { id: id.clone(), pid: 7 }, at(0.5));
    r.end(&id, code, at(1.0));
    assert!(r.status(&id).is_terminal(), "{agent}: {:?}", r.status(&id));
    (r, id)
}

#[test]
fn a_retry_runs_the_same_task_again_linked_to_the_first() {
    // (how the first ended, how it is named) → the retry's answer.
    for (code, name) in [(0, "full"), (1, "full"), (0, "unknown"), (0, "ambiguous")] {
        let (mut r, first) = ended_task("a", code);
        let (other, _) = r.submit("a", None, at(2.0));
        let asked = match name {
            "full" => first.clone(),
            "unknown" => "nosuch".into(),
            _ => "t".into(),
        };
        let fx = r.ask(Request::Retry { id: asked, env: None }, at(3.0));
        let mut fx = fx;
        fx.extend(r.flush(at(3.0)));
        match (name, made(&fx)) {
            ("unknown", got) => assert_eq!(got.map(|t| t.id), Err(ErrorKind::UnknownId)),
            ("ambiguous", got) => assert_eq!(got.map(|t| t.id), Err(ErrorKind::AmbiguousId)),
            (_, Ok(t)) => {
                assert_eq!(t.parent.as_deref(), Some(first.as_str()), "{name} after {code}");
                assert_eq!((t.prompt.as_str(), t.agent.as_str()), ("do it", "a"));
                assert_ne!(t.id, other);
                assert_eq!(
                    argv_of(&fx, &t.id),
                    Some(vec!["agent".into(), "--".into(), "do it".into()])
                );
            }
            (_, Err(e)) => panic!("{name} after {code}: {e:?}"),
        }
    }
}

#[test]
fn a_follow_up_resumes_the_session_or_carries_the_earlier_result() {
    // (agent, its session, the follow-up) → the follow-up's argv, or its error.
    type Want = Result<Vec<&'static str>, ErrorKind>;
    let carried = vec!["agent", "--", "CARRIED"];
    let cases: [(&str, Option<&str>, &str, Want); 7] = [
        ("resumer", Some("sess-9"), "more", Ok(vec!["agent", "--resume", "sess-9", "more"])),
        // No session known: the earlier prompt and result go in the new prompt (a new session).
        ("resumer", None, "more", Ok(vec!["agent", "--session-id", "SESSION", "CARRIED"])),
        ("bydir", None, "more", Ok(vec!["agent", "--continue", "more"])),
        ("a", Some("sess-9"), "more", Ok(carried.clone())),
        ("a", None, "more", Ok(carried)),
        // A command line has no conversation: never continued (its output is no command).
        ("sh", None, "more", Err(ErrorKind::Invalid)),
        ("a", None, "   ", Err(ErrorKind::Invalid)),
    ];
    for (agent, session, prompt, want) in cases {
        let (mut r, first) = ended_task(agent, 0);
        if let Some(t) = r.e.table.get_mut(&first) {
            t.session = session.map(str::to_string);
        }
        let req = Request::Continue {
            id: first.clone(),
            prompt: prompt.into(),
            earlier: Some("the answer was 42".into()),
            env: None,
        };
        let mut fx = r.ask(req, at(2.0));
        fx.extend(r.flush(at(2.0)));
        let got = made(&fx).map(|t| {
            let argv = argv_of(&fx, &t.id).unwrap_or_else(|| panic!("{agent}: not launched"));
            let last = argv.last().cloned().unwrap_or_default();
            if last.contains("This continues earlier task") {
                assert!(last.starts_with(prompt), "{agent}: {last}");
                assert!(last.contains(&first) && last.contains("do it"), "{agent}: {last}");
                assert!(last.contains("the answer was 42"), "{agent}: {last}");
            }
            assert_eq!(t.parent.as_deref(), Some(first.as_str()));
            let session =
                |a: &str| a.len() > 1 && a.starts_with('s') && a[1..].parse::<u32>().is_ok();
            argv.into_iter()
                .map(|a| match a {
                    a if a.contains("This continues") => "CARRIED".to_string(),
                    a if session(&a) => "SESSION".to_string(),
                    a => a,
                })
                .collect::<Vec<_>>()
        });
        let want = want.map(|w| w.into_iter().map(String::from).collect::<Vec<_>>());
        assert_eq!(got, want, "{agent} with session {session:?}, follow-up {prompt:?}");
    }
}

#[test]
fn each_end_is_in_its_delegators_inbox_until_told_and_told_once() {
    let mut r = Harness::new();
    let by = |who: &str| crate::core::task::Delegator {
        id: who.into(),
        agent: "claude".into(),
        session: None,
    };
    let mut ids = vec![];
    for (i, who) in ["alice", "alice", "bob"].iter().enumerate() {
        let spec = TaskSpec {
            prompt: format!("job {i}"),
            agent: Some("a".into()),
            delegator: Some(by(who)),
            ..Default::default()
        };
        let mut fx = r.ask(Request::Submit { spec: Box::new(spec) }, at(0.0));
        fx.extend(r.flush(at(0.0)));
        ids.push(made(&fx).map(|t| t.id).unwrap());
    }
    let inbox = |r: &mut Harness, who: Option<&str>, ack: bool| -> (Vec<String>, usize) {
        let fx = r.ask(Request::Inbox { delegator: who.map(str::to_string), ack }, at(5.0));
        fx.iter()
            .find_map(|f| match f {
                Effect::Reply { answer: Ok(Answer::Inbox(d)), .. } => {
                    Some((d.tasks.iter().map(|t| t.id.clone()).collect(), d.in_progress))
                }
                _ => None,
            })
            .unwrap_or_else(|| panic!("no inbox: {fx:#?}"))
    };
    // Nothing ended yet: empty, and alice has two in progress.
    assert_eq!(inbox(&mut r, Some("alice"), false), (vec![], 2));
    for (id, code, t) in [(&ids[1], 0, 2.0), (&ids[0], 1, 3.0), (&ids[2], 0, 4.0)] {
        r.input(Input::Started { id: id.clone(), pid: 7 }, at(t - 0.5));
        r.end(id, code, at(t));
    }
    // (who asks, ack) → the ends in the answer (oldest end first), in progress.
    let steps: [(Option<&str>, bool, Vec<&String>, usize); 5] = [
        (Some("alice"), false, vec![&ids[1], &ids[0]], 0),
        (Some("alice"), false, vec![&ids[1], &ids[0]], 0),
        (Some("alice"), true, vec![&ids[1], &ids[0]], 0),
        // Told: not again.
        (Some("alice"), true, vec![], 0),
        (None, false, vec![&ids[2]], 0),
    ];
    for (i, (who, ack, want, busy)) in steps.into_iter().enumerate() {
        let want: Vec<String> = want.into_iter().cloned().collect();
        assert_eq!(inbox(&mut r, who, ack), (want, busy), "step {i}");
    }
    // Delivered by id: once; an id told before is not in the answer.
    let deliver = |r: &mut Harness, ids: Vec<String>| -> Vec<String> {
        let fx = r.ask(Request::Deliver { ids, notice: true }, at(6.0));
        fx.iter()
            .find_map(|f| match f {
                Effect::Reply { answer: Ok(Answer::Inbox(d)), .. } => {
                    Some(d.tasks.iter().map(|t| t.id.clone()).collect())
                }
                _ => None,
            })
            .unwrap_or_default()
    };
    assert_eq!(deliver(&mut r, vec![ids[2].clone(), ids[0].clone()]), vec![ids[2].clone()]);
    assert_eq!(deliver(&mut r, vec![ids[2].clone()]), Vec::<String>::new());
    assert_eq!(inbox(&mut r, None, false), (vec![], 0));
}

#[test]
fn a_new_config_applies_to_what_waits_and_a_bad_one_keeps_the_last_good() {
    let mut r = Harness::configured(
        "[concurrency]\ndefault = 1\n[agents.a]\ncommand = [\"agent\", \"{prompt}\"]\n",
        crate::core::records::Loaded::default(),
    );
    let (first, fx) = r.submit("a", None, at(0.0));
    assert_eq!(launched(&fx), vec![first.clone()]);
    let (second, fx) = r.submit("a", None, at(0.0));
    assert!(launched(&fx).is_empty(), "one at a time");
    let reload = |src: &str, digest: u64| {
        let mut l = loaded(src);
        l.digest = digest;
        Input::ConfigLoaded(Ok(Box::new(l)))
    };
    let announced = |fx: &[Effect]| {
        fx.iter().find_map(|f| match f {
            Effect::Announce(Event::ConfigReloaded { error }) => Some(error.clone()),
            _ => None,
        })
    };
    // (the reload) → announced (with its error), and whether the waiting task starts.
    let wider = "[concurrency]\ndefault = 2\n[agents.a]\ncommand = [\"agent\", \"{prompt}\"]\n";
    // A file the config parser refuses, and what it says of it.
    let bad = || {
        let src = "[concurrency]\ndefault = \"many\"\n";
        crate::config::Config::from_user_str(std::path::Path::new("c.toml"), src)
            .map(|_| ())
            .unwrap_err()
    };
    let why = bad().to_string();
    assert!(why.contains("c.toml") && why.contains("concurrency.default"), "{why}");
    let steps: Vec<(Input, Option<Option<String>>, bool)> = vec![
        // A bad file: said, and the last good config stays in force (still one at a time).
        (Input::ConfigLoaded(Err(bad())), Some(Some(why.clone())), false),
        // The same error again: not said again.
        (Input::ConfigLoaded(Err(bad())), None, false),
        // A good one with room for two: said, and the waiting task starts at once.
        (reload(wider, 2), Some(None), true),
        // The same content again (same digest): nothing.
        (reload(wider, 2), None, false),
    ];
    for (i, (input, said, starts)) in steps.into_iter().enumerate() {
        let fx = r.input(input, at(1.0));
        assert_eq!(announced(&fx), said, "step {i}");
        assert_eq!(launched(&fx).contains(&second), starts, "step {i}: {fx:#?}");
    }
}
