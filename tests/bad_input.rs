//! Bad input is a feature: hostile prompts, garbage on the socket, unsafe runtime dirs and
//! malformed configs all get a clear error, and the daemon keeps serving.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::time::Duration;

use common::{Env, config_with, fixture};
use serde_json::Value;

#[test]
fn hostile_prompt_reaches_the_agent_byte_for_byte_and_nothing_runs() {
    let env = Env::new(&config_with(""));
    let pwned = env.path().join("pwned");
    let prompt =
        format!("$(touch {}) \"; rm -rf ~ `touch {}` '\\n", pwned.display(), pwned.display());
    let args_out = env.path().join("args.bin");
    let out = env
        .cmd(&["run", "--agent", "args", "--title", "t;$(x)", "--wait", &prompt])
        .env("ARGS_OUT", &args_out)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let got = std::fs::read(&args_out).unwrap();
    let args: Vec<&[u8]> = got.split(|b| *b == 0).filter(|a| !a.is_empty()).collect();
    assert_eq!(args[0], prompt.as_bytes(), "the prompt is one argv element, unchanged");
    assert_eq!(args[1], b"--title=t;$(x)");
    assert!(args[2].starts_with(b"--id="));
    assert_eq!(args.len(), 3);
    assert!(!pwned.exists(), "nothing in the prompt was run");
    assert!(env.path().join("home").exists(), "~ is still there");
    // And the prompt is stored verbatim.
    assert_eq!(env.list()[0]["prompt"], prompt.as_str());
}

#[test]
fn a_shell_prompt_that_begins_with_a_dash_is_the_command_not_an_option_of_sh() {
    let env = Env::new(&config_with(""));
    // `sh -c -x` would take `-x` as its own option (dash: "Illegal option"); the command line
    // is the prompt, so the shell looks for a command of that name.
    let out = env.cmd(&["run", "--agent", "shell", "--wait", "--", "-x"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("-x: not found") || stdout.contains("-x: command not found"),
        "{stdout}"
    );
    assert!(!stdout.contains("llegal option"), "{stdout}");
    let t = &env.list()[0];
    assert_eq!(t["exit_code"], 127, "{t}");
    // And a command line given after `--` runs as one.
    let out = env
        .cmd(&["run", "--agent", "shell", "--wait", "--", "--version 2>/dev/null || echo ran"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("ran"));
}

#[test]
fn prompt_from_stdin() {
    let env = Env::new(&config_with(""));
    let mut child = env
        .cmd(&["run", "--agent", "fake", "--wait", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"2 0 0").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("fake agent line 2 of 2"));
}

struct Conn {
    r: BufReader<UnixStream>,
    w: UnixStream,
}

impl Conn {
    fn open(env: &Env) -> Conn {
        let w = UnixStream::connect(env.runtime().join("daemon.sock")).unwrap();
        w.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        Conn { r: BufReader::new(w.try_clone().unwrap()), w }
    }
    fn send(&mut self, line: &[u8]) {
        let _ = self.w.write_all(line);
        let _ = self.w.write_all(b"\n");
    }
    fn recv(&mut self) -> Option<Value> {
        let mut s = String::new();
        match self.r.read_line(&mut s) {
            Ok(0) | Err(_) => None,
            Ok(_) => Some(serde_json::from_str(&s).unwrap()),
        }
    }
    fn hello(env: &Env) -> Conn {
        let mut c = Conn::open(env);
        c.send(br#"{"hello":{"protocol":1,"client":"test"}}"#);
        let w = c.recv().unwrap();
        assert_eq!(w["welcome"]["protocol"], 1);
        c
    }
}

#[test]
fn garbage_truncated_and_oversized_lines_get_errors_and_the_daemon_serves_on() {
    let env = Env::new(&config_with(""));
    env.list(); // starts the daemon

    // No hello first.
    let mut c = Conn::open(&env);
    c.send(br#"{"req":1,"type":"list"}"#);
    let e = c.recv().unwrap();
    assert_eq!(e["error"]["kind"], "protocol");
    assert!(c.recv().is_none(), "closed after a bad hello");

    // Wrong protocol version.
    let mut c = Conn::open(&env);
    c.send(br#"{"hello":{"protocol":99,"client":"test"}}"#);
    let e = c.recv().unwrap();
    assert_eq!(e["error"]["kind"], "protocol");
    assert!(e["error"]["message"].as_str().unwrap().contains("protocol 99"));

    let mut c = Conn::hello(&env);
    for (line, kind, re) in [
        (&b"this is not json"[..], "bad_request", 0),
        (br#"{"req":7,"type":"list""#, "bad_request", 0),
        (br#"{"req":8,"type":"explode"}"#, "bad_request", 8),
        (br#"{"req":9,"type":"output"}"#, "bad_request", 9),
        (br#"{"req":10,"type":"output","id":"../../etc/passwd"}"#, "unknown_id", 10),
        (
            br#"{"req":11,"type":"submit","spec":{"prompt":"x","agent":"fake","bogus":1}}"#,
            "bad_request",
            11,
        ),
        (b"[1,2,3]", "bad_request", 0),
        (b"\xff\xfe{}", "bad_request", 0),
    ] {
        c.send(line);
        let e =
            c.recv().unwrap_or_else(|| panic!("no reply to {:?}", String::from_utf8_lossy(line)));
        assert_eq!(e["ok"], false, "{e}");
        assert_eq!(e["error"]["kind"], kind, "{} -> {e}", String::from_utf8_lossy(line));
        assert_eq!(e["re"], re);
        if kind == "bad_request" && line.starts_with(b"\xff") {
            // Invalid UTF-8 closes the connection; reconnect for the rest.
            c = Conn::hello(&env);
        }
    }
    // The same connection still answers a good request.
    c.send(br#"{"req":12,"type":"list"}"#);
    let ok = c.recv().unwrap();
    assert_eq!((ok["re"].as_u64(), ok["ok"].as_bool()), (Some(12), Some(true)));

    // A 100 MB line: an error, the connection closed, nothing else harmed.
    let mut c = Conn::hello(&env);
    let big = vec![b'x'; 100 * 1024 * 1024];
    let writer = {
        let mut w = c.w.try_clone().unwrap();
        std::thread::spawn(move || {
            let _ = w.write_all(&big);
        })
    };
    let e = c.recv().unwrap();
    assert_eq!(e["error"]["kind"], "line_too_long");
    assert!(c.recv().is_none());
    let _ = writer.join();

    // A client that vanishes mid-request does no harm either.
    let mut c = Conn::hello(&env);
    c.w.write_all(br#"{"req":1,"type":"wait","all":true"#).unwrap();
    drop(c);

    let pid = env.daemon_pid();
    env.ok(&["run", "--agent", "fake", "--wait", "1 0 0"]);
    assert_eq!(env.daemon_pid(), pid, "same daemon, still serving");
}

#[test]
fn events_stream_after_subscribe() {
    let env = Env::new(&config_with(""));
    env.list();
    let mut c = Conn::hello(&env);
    c.send(br#"{"req":1,"type":"subscribe"}"#);
    assert_eq!(c.recv().unwrap()["re"], 1);
    let id = env.submit(&["--agent", "fake", "3 0.05 0"]);
    let mut kinds = vec![];
    while let Some(v) = c.recv() {
        let ev = &v["event"];
        if ev.get("task").is_some() {
            assert_eq!(ev["task"]["id"], id.as_str());
            kinds.push(format!(
                "{}:{}",
                ev["kind"].as_str().unwrap(),
                ev["task"]["status"].as_str().unwrap()
            ));
            if ev["task"]["status"] == "completed" {
                break;
            }
        } else if ev["kind"] == "output" {
            kinds.push("output".into());
        }
    }
    assert_eq!(kinds.first().map(String::as_str), Some("task_created:pending"));
    assert!(kinds.contains(&"task_changed:running".to_string()), "{kinds:?}");
    assert!(kinds.contains(&"output".to_string()), "{kinds:?}");
    assert_eq!(kinds.last().map(String::as_str), Some("task_changed:completed"));
}

#[test]
fn events_go_on_until_the_daemon_has_stopped_its_tasks_and_say_how_it_went() {
    let env = Env::new(&config_with(""));
    let follow = || {
        env.cmd(&["events", "--json", "--no-output"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    // Stopped on purpose: the end of the task it stops is told, then exit 0.
    let id = env.submit(&["--agent", "shell", "sleep 30"]);
    env.wait_status(&id, "running", Duration::from_secs(10));
    let events = follow();
    std::thread::sleep(Duration::from_millis(300));
    env.ok(&["daemon", "stop"]);
    let out = events.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let stopping = lines.iter().position(|e| e["kind"] == "daemon_stopping").expect("announced");
    let ended = lines
        .iter()
        .position(|e| e["task"]["id"] == id.as_str() && e["task"]["status"] == "cancelled")
        .unwrap_or_else(|| panic!("the stopped task's end is told: {text}"));
    assert!(stopping < ended);
    // Gone unannounced (SIGKILL): exit 3, and it says so.
    env.list();
    let events = follow();
    std::thread::sleep(Duration::from_millis(300));
    let pid = env.daemon_pid().expect("daemon");
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL)
        .unwrap();
    let out = events.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("the daemon went away without stopping"));
}

#[test]
fn a_wait_cut_short_by_daemon_stop_says_the_queued_task_is_kept() {
    let env = Env::new(&config_with("[concurrency]\ndefault = 1\n"));
    let running = env.submit(&["--agent", "shell", "sleep 30"]);
    let queued = env.submit(&["--agent", "shell", "true"]);
    env.wait_status(&running, "running", Duration::from_secs(10));
    let waiter = env
        .cmd(&["wait", &queued])
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    env.ok(&["daemon", "stop"]);
    let out = waiter.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("the daemon stopped before the wait was over"), "{err}");
    assert!(err.contains("stay queued for the next daemon"), "{err}");
    // So it is: the next daemon runs it.
    env.wait_status(&queued, "completed", Duration::from_secs(10));
}

#[test]
fn a_daemon_that_does_not_answer_is_reported_not_waited_for_forever() {
    let env = Env::new(&config_with(""));
    env.list();
    let pid = nix::unistd::Pid::from_raw(env.daemon_pid().expect("daemon"));
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGSTOP).unwrap();
    let t0 = std::time::Instant::now();
    let out = env.run(&["list"]);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGCONT).unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("did not answer within 10 s: is it stopped or hung?"), "{err}");
    assert!(t0.elapsed() < Duration::from_secs(30));
    // Going on, it answers again.
    env.list();
}

#[test]
fn a_runtime_dir_others_can_write_is_refused() {
    let env = Env::new(&config_with(""));
    let rt = env.runtime();
    std::fs::create_dir_all(&rt).unwrap();
    std::fs::set_permissions(&rt, std::fs::Permissions::from_mode(0o777)).unwrap();
    let out = env.run(&["list"]);
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("refusing the runtime dir") && err.contains("777"), "{err}");
    assert!(!rt.join("daemon.sock").exists());
}

#[test]
fn socket_and_dir_are_private() {
    let env = Env::new(&config_with(""));
    env.list();
    let dir_mode = std::fs::metadata(env.runtime()).unwrap().permissions().mode() & 0o777;
    let sock_mode =
        std::fs::metadata(env.runtime().join("daemon.sock")).unwrap().permissions().mode() & 0o777;
    assert_eq!((dir_mode, sock_mode), (0o700, 0o600));
}

#[test]
fn a_stale_socket_file_is_replaced() {
    let env = Env::new(&config_with(""));
    env.list();
    let pid = env.daemon_pid().unwrap();
    std::process::Command::new("kill").args(["-9", &pid.to_string()]).status().unwrap();
    while common::pid_alive(pid as i64) {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(env.runtime().join("daemon.sock").exists(), "the dead daemon left its socket");
    env.list();
    assert_ne!(env.daemon_pid().unwrap(), pid);
}

/// (fixture, line, key, words the message must contain)
#[test]
fn a_user_layout_preset_is_listed_and_can_be_chosen() {
    let env = Env::new(&config_with("[tmux]\nlayout = \"mine\"\nmain_pane_size = 50\n"));
    let dir = env.path().join("layouts");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("mine.toml"), "description = \"my own\"\nlayout = \"even-vertical\"\n")
        .unwrap();
    let out = env.ok(&["layouts"]);
    assert!(out.contains("* mine") && out.contains("my own"), "{out}");
    assert!(out.contains("in force: even-vertical — main pane 50 %"), "{out}");
    std::fs::write(dir.join("broken.toml"), "description = 3\n").unwrap();
    let out = env.run(&["config", "check"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("broken.toml:1:"), "{err}");
}

const BAD_CONFIGS: [(&str, usize, &str, &str); 18] = [
    ("ui_keys_bad.toml", 3, "ui.keys.cancel", "unknown key \"Hyper\""),
    (
        "tmux_unknown_layout.toml",
        2,
        "tmux.layout",
        "unknown layout preset \"spiral\" (presets: even-horizontal",
    ),
    (
        "tmux_main_size_out_of_range.toml",
        3,
        "tmux.main_pane_size",
        "95 is out of range (allowed: 20 to 80)",
    ),
    (
        "tmux_agent_width_too_small.toml",
        2,
        "tmux.agent_pane_min_width",
        "10 is out of range (allowed: 20 to 1000)",
    ),
    (
        "tmux_close_after_bad.toml",
        2,
        "tmux.close_after_secs",
        "\"later\" is not allowed (a number of seconds, or \"keep\")",
    ),
    ("unknown_key.toml", 3, "timeouts.stale_seconds", "unknown field `stale_seconds`"),
    (
        "stale_too_small.toml",
        3,
        "timeouts.stale_secs",
        "10 is out of range (allowed: 60 to 604800 seconds)",
    ),
    ("category_missing_agent.toml", 2, "categories.fast.agent", "unknown agent \"nonexistent\""),
    ("template_without_prompt.toml", 2, "agents.mine.command", "has no {prompt} placeholder"),
    ("unknown_placeholder.toml", 2, "agents.mine.command", "unknown placeholder {modle}"),
    (
        "wrong_type.toml",
        2,
        "concurrency.default",
        "invalid type: string \"five\", expected a whole number from 0 to 4294967295",
    ),
    (
        "negative_limit.toml",
        2,
        "concurrency.providers.anthropic",
        "invalid value: integer `-1`, expected a whole number from 0",
    ),
    ("bad_default_category.toml", 1, "default_category", "unknown category \"speedy\""),
    ("not_toml.toml", 1, "agents.mine", "unclosed table, expected `]`"),
    ("ttl_too_big_in_agent.toml", 3, "agents.mine.ttl_secs", "out of range"),
    ("empty_command.toml", 2, "agents.mine.command", "must name a program"),
    ("stdin_unknown_placeholder.toml", 3, "agents.mine.stdin", "unknown placeholder {promt}"),
    ("banner_pattern_bad.toml", 3, "agents.mine.banner_patterns", "not a valid regex"),
];

#[test]
fn each_bad_config_is_reported_with_file_line_key_and_allowed_values() {
    for (file, line, key, words) in BAD_CONFIGS {
        let path = fixture(&format!("configs/{file}"));
        let env = Env::new("");
        let out = env.cmd(&["config", "check"]).env("PANEHERD_CONFIG", &path).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{file}");
        let err = String::from_utf8_lossy(&out.stderr);
        let place = format!("{}:{line}:", path.display());
        assert!(err.contains(&place), "{file}: no {place} in:\n{err}");
        assert!(err.contains(&format!("{key}: ")), "{file}: no key {key} in:\n{err}");
        assert!(err.contains(words), "{file}: no {words:?} in:\n{err}");
    }
}

#[test]
fn a_bad_config_stops_the_daemon_from_starting_with_the_same_message() {
    let env = Env::new("[timeouts]\nttl_secs = 5\n");
    let out = env.run(&["list"]);
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("config.toml:2:") && err.contains("timeouts.ttl_secs"), "{err}");
}

#[test]
fn good_config_checks_and_default_prints() {
    let env = Env::new(&config_with("[concurrency.providers]\nanthropic = 3\n"));
    let out = env.ok(&["config", "check"]);
    assert!(out.starts_with("ok: ") && out.contains("11 agents"), "{out}");
    let layouts = env.ok(&["layouts"]);
    for name in [
        "main-vertical",
        "main-horizontal",
        "tiled",
        "even-horizontal",
        "even-vertical",
        "wide",
        "focus",
    ] {
        assert!(layouts.contains(name), "{name} missing from:\n{layouts}");
    }
    assert!(layouts.contains("* main-vertical"), "active preset marked:\n{layouts}");
    let default = env.ok(&["config", "default"]);
    let env2 = Env::new(&default);
    env2.ok(&["config", "check"]);
}

#[test]
fn usage_errors_exit_2() {
    let env = Env::new("");
    for args in [
        &["run"][..],
        &["run", "--agent", "a", "--category", "b", "x"],
        &["run", "--timeout", "5", "x"],
        &["wait"],
        &["cancel"],
        &["bogus-command"],
        &["list", "--status", "finished"],
    ] {
        let out = env.run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
    }
}

#[test]
fn a_closed_standard_output_ends_every_command_quietly() {
    let env = Env::new(&config_with(""));
    env.submit(&["--agent", "shell", "--wait", "echo one"]);
    for args in [
        &["daemon", "status"][..],
        &["list"],
        &["list", "--json"],
        &["config", "default"],
        &["completions", "bash"],
        &["layouts"],
        &["--version"],
    ] {
        // A pipe whose reading end is already closed, as after `| head -1` has exited.
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = env.cmd(args).stdout(writer).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("panicked"), "paneherd {args:?}: {err}");
        assert_eq!(err, "", "paneherd {args:?} says nothing");
        assert_eq!(out.status.code(), Some(141), "paneherd {args:?}");
    }
}

#[test]
fn a_standard_output_that_fails_is_said_not_taken_for_a_closed_pipe() {
    let env = Env::new(&config_with(""));
    env.submit(&["--agent", "shell", "--wait", "echo one"]);
    let Ok(full) = std::fs::OpenOptions::new().write(true).open("/dev/full") else {
        return; // no /dev/full here
    };
    for args in [&["list"][..], &["list", "--json"]] {
        let out = env.cmd(args).stdout(full.try_clone().unwrap()).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(141), "{args:?}: {err}");
        assert!(err.contains("cannot write to standard output: No space left"), "{args:?}: {err}");
    }
}

#[test]
fn usage_messages_say_what_to_do() {
    let env = Env::new(&config_with(
        "[agents.missing]\ncommand = [\"no-such-agent-cli\", \"--\", \"{prompt}\"]\n",
    ));
    let stderr = |args: &[&str]| {
        let out = env.run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    for cmd in ["wait", "cancel"] {
        assert!(stderr(&[cmd]).contains("give task ids, or --all"), "{cmd}");
        assert!(stderr(&[cmd, "x", "--all"]).contains("not both"), "{cmd}");
    }
    // A negative timeout, however it is written.
    let a = stderr(&["wait", "--all", "--timeout", "-1"]);
    let b = stderr(&["wait", "--all", "--timeout=-1"]);
    assert!(a.contains("--timeout -1: give a number of seconds"), "{a}");
    assert_eq!(a, b);
    // An agent that is not installed is refused at once.
    let e = stderr(&["run", "--agent", "missing", "hello"]);
    assert!(e.contains("cannot start \"no-such-agent-cli\": not found on PATH"), "{e}");
    assert!(env.list().is_empty(), "nothing was queued");
    // Cancelling a task that has ended says so.
    let id = env.submit(&["--agent", "shell", "true"]);
    env.wait_status(&id, "completed", Duration::from_secs(10));
    let out = env.ok(&["cancel", &id]);
    assert!(out.contains("had already ended (completed)"), "{out}");
    // `layouts` labels its columns.
    assert!(env.ok(&["layouts"]).starts_with("  PRESET"), "column headers");
}

#[test]
fn what_a_new_user_met_is_said_plainly() {
    let env = Env::new(&config_with(""));
    // The dashboard without a terminal: a usage error, no panic, nothing drawn.
    let out = env.cmd(&["ui"]).stdin(std::process::Stdio::null()).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("paneherd ui needs a terminal"), "{err}");
    assert!(out.stdout.is_empty(), "{:?}", String::from_utf8_lossy(&out.stdout));
    // A task submitted from a directory removed under the shell is refused, not run in `/`.
    let gone = env.path().join("gone");
    std::fs::create_dir(&gone).unwrap();
    let mut cmd = std::process::Command::new("sh");
    env.apply(&mut cmd);
    cmd.args(["-c", "cd gone && rmdir ../gone && exec \"$0\" run --agent shell pwd"])
        .arg(env!("CARGO_BIN_EXE_paneherd"));
    let out = cmd.output().unwrap();
    assert!(!gone.exists());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("the current directory is gone"), "{err}");
    assert!(env.list().is_empty(), "nothing was queued");
    // A filter that matches nothing does not say there are no tasks at all.
    env.submit(&["--agent", "shell", "--wait", "true"]);
    let out = env.ok(&["list", "--status", "running"]);
    assert_eq!(out.trim(), "No running tasks.");
    // An unknown id is an error in the inbox too; a prefix names its task.
    let out = env.run(&["inbox", "nosuch"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no task with id or prefix \"nosuch\""));
    // An id in capitals: the message says which letters.
    let out = env.run(&["output", "AMBER"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("lowercase letters"));
    // A title with terminal escapes is listed without them.
    env.submit(&["--agent", "shell", "--wait", "printf '\\033[31mRED\\033[0m'\u{1b}[2J"]);
    let out = env.ok(&["list"]);
    assert!(!out.contains('\u{1b}'), "{out:?}");
}

#[test]
fn a_queued_task_whose_program_vanished_ends_with_a_clear_error() {
    let script = tempfile::NamedTempFile::new().unwrap().into_temp_path();
    let script = script.keep().unwrap();
    std::fs::write(&script, "#!/bin/sh\necho ran\n").unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let env = Env::new(&config_with(&format!(
        "[concurrency]\ndefault = 1\n[agents.vanishing]\ncommand = [\"{}\", \"{{prompt}}\"]\n",
        script.display()
    )));
    let first = env.submit(&["--agent", "fake", "20 0.05 0"]);
    let queued = env.submit(&["--agent", "vanishing", "x"]);
    assert_eq!(env.task(&queued)["status"], "pending");
    std::fs::remove_file(&script).unwrap();
    env.wait_status(&first, "completed", Duration::from_secs(10));
    let t = env.wait_status(&queued, "error", Duration::from_secs(10));
    assert!(t["reason"].as_str().unwrap().contains("no such executable file"), "{t:#}");
}
