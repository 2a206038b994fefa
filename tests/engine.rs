//! The real daemon through the real binary: limits and FIFO, cancel, stale, TTL, retry,
//! timeouts, restarts and crashes. Each test has its own data, runtime and config dirs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::{Env, config_with, pid_alive};
use serde_json::Value;

fn ms(t: &Value, field: &str) -> i64 {
    let s = t[field].as_str().unwrap_or_else(|| panic!("{field} missing in {t:#}"));
    chrono::DateTime::parse_from_rfc3339(s).unwrap().timestamp_millis()
}

#[test]
fn twenty_tasks_respect_group_limits_in_fifo_order() {
    let env = Env::new(&config_with(
        r#"
[concurrency]
default = 5
[concurrency.providers]
prov = 2
[concurrency.models]
"prov/solo" = 1
"#,
    ));
    let models = ["prov/a", "prov/solo", "prov/b", "other/x"];
    let mut ids = Vec::new();
    for i in 0..20 {
        let model = models[i % models.len()];
        ids.push(env.submit(&["--agent", "fake", "--model", model, "2 0.5 0"]));
    }
    let out = env.run(&["wait", "--all", "--timeout", "60"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let tasks: Vec<Value> = env
        .list()
        .into_iter()
        .filter(|t| ids.contains(&t["id"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(tasks.len(), 20);
    let mut by_group: HashMap<String, Vec<&Value>> = HashMap::new();
    for t in &tasks {
        assert_eq!(t["status"], "completed", "{t:#}");
        by_group.entry(t["limit_group"].as_str().unwrap().into()).or_default().push(t);
    }
    let limits = [("provider:prov", 2usize), ("model:prov/solo", 1), ("default", 5)];
    assert_eq!(by_group.len(), 3, "groups: {:?}", by_group.keys());
    for (group, limit) in limits {
        let ts = &by_group[group];
        // No more than `limit` tasks of the group were running at any task's start.
        let mut peak = 0;
        for t in ts {
            let at = ms(t, "started_at");
            let running = ts
                .iter()
                .filter(|o| ms(o, "started_at") <= at && at < ms(o, "finished_at"))
                .count();
            peak = peak.max(running);
        }
        assert!(peak <= limit, "{group}: {peak} ran at once, limit {limit}");
        if group != "default" {
            // These groups had more tasks queued than slots: the limit must have been reached.
            // (The default group's 5 tasks fill its 5 slots only if all were submitted within
            // one task's run, which a loaded machine may not manage.)
            assert_eq!(peak, limit, "{group}: the limit should have been reached (tasks queued)");
        }
        // FIFO: the order of starts is the order of submission.
        let mut by_created: Vec<&&Value> = ts.iter().collect();
        by_created.sort_by_key(|t| {
            (ms(t, "created_at"), ids.iter().position(|i| i == t["id"].as_str().unwrap()))
        });
        let mut by_started = by_created.clone();
        by_started.sort_by_key(|t| ms(t, "started_at"));
        let a: Vec<&str> = by_created.iter().map(|t| t["id"].as_str().unwrap()).collect();
        let b: Vec<&str> = by_started.iter().map(|t| t["id"].as_str().unwrap()).collect();
        assert_eq!(a, b, "{group}: started out of submission order");
    }
}

#[test]
fn cancel_pending_and_running() {
    let env = Env::new(&config_with("[concurrency]\ndefault = 1\n"));
    let running = env.submit(&["--agent", "fake", "100 0.2 0"]);
    let pending = env.submit(&["--agent", "fake", "1 0 0"]);
    let r = env.wait_status(&running, "running", Duration::from_secs(10));
    assert_eq!(env.task(&pending)["status"], "pending");

    let out = env.ok(&["cancel", &pending, "--json"]);
    let cancelled: Vec<Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(cancelled[0]["status"], "cancelled");
    assert_eq!(cancelled[0]["started_at"], Value::Null, "a cancelled pending task never starts");

    let pid = r["pid"].as_i64().unwrap();
    assert!(pid_alive(pid));
    let out = env.ok(&["cancel", &running[..running.len() - 1], "--json"]);
    let cancelled: Vec<Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(cancelled[0]["id"], running.as_str(), "prefix resolved");
    assert_eq!(cancelled[0]["status"], "cancelled");
    assert_eq!(cancelled[0]["reason"], "cancelled by user");
    assert!(!pid_alive(pid), "the agent's process is gone");
    // The pending one stayed cancelled even though a slot freed up.
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(env.task(&pending)["status"], "cancelled");
}

#[test]
fn cancel_all_takes_pending_and_running() {
    let env = Env::new(&config_with("[concurrency]\ndefault = 2\n"));
    let ids: Vec<String> = (0..5).map(|_| env.submit(&["--agent", "fake", "100 0.2 0"])).collect();
    env.wait_status(&ids[0], "running", Duration::from_secs(10));
    let out = env.ok(&["cancel", "--all", "--json"]);
    let got: Vec<Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(got.len(), 5);
    assert!(got.iter().all(|t| t["status"] == "cancelled"), "{got:#?}");
}

#[test]
fn no_output_for_stale_secs_interrupts() {
    let env = Env::new(&config_with("[timeouts]\nmin_secs = 1\nstale_secs = 1\n"));
    // Prints once, then goes quiet.
    let quiet = env.submit(&["--agent", "shell", "echo started; sleep 30"]);
    // Keeps printing: must not be interrupted.
    let chatty = env.submit(&["--agent", "fake", "8 0.3 0"]);
    let t = env.wait_status(&quiet, "interrupted", Duration::from_secs(10));
    assert_eq!(t["reason"], "no output for 1 s");
    assert!(!pid_alive(t["pid"].as_i64().unwrap()));
    let c = env.wait_status(&chatty, "completed", Duration::from_secs(10));
    assert_eq!(c["exit_code"], 0);
}

#[test]
fn ttl_cancels() {
    let env = Env::new(&config_with("[timeouts]\nmin_secs = 1\nttl_secs = 1\n"));
    let id = env.submit(&["--agent", "fake", "100 0.1 0"]);
    let t = env.wait_status(&id, "cancelled", Duration::from_secs(10));
    assert_eq!(t["reason"], "ttl 1s exceeded");
}

#[test]
fn short_timeouts_need_a_lower_minimum_said_in_the_config() {
    let env = Env::new(&config_with("[timeouts]\nstale_secs = 1\n"));
    let out = env.run(&["config", "check"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("timeouts.stale_secs") && err.contains("allowed: 60"), "{err}");
    // The minimum itself has bounds.
    for bad in ["0", "61"] {
        let env = Env::new(&config_with(&format!("[timeouts]\nmin_secs = {bad}\n")));
        let out = env.run(&["config", "check"]);
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("timeouts.min_secs") && err.contains("allowed: 1 to 60"), "{err}");
    }
}

#[test]
fn exit_codes_results_and_retry() {
    let env = Env::new(&config_with(""));
    let out = env.run(&["run", "--agent", "fake", "--wait", "2 0 3"]);
    assert_eq!(out.status.code(), Some(1), "a task that failed: exit 1");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("exit code 3") && text.contains("fake agent line 2 of 2"), "{text}");

    let failed = env.list()[0].clone();
    assert_eq!(failed["status"], "error");
    assert_eq!(failed["exit_code"], 3);
    assert_eq!(failed["summary"], "fake agent line 1 of 2 · fake agent line 2 of 2");

    let out = env.ok(&["retry", failed["id"].as_str().unwrap(), "--json"]);
    let retried: Value = serde_json::from_str(&out).unwrap();
    assert_ne!(retried["id"], failed["id"]);
    assert_eq!(retried["parent"], failed["id"]);
    assert_eq!(retried["prompt"], failed["prompt"]);
    assert_eq!(retried["agent"], "fake");

    let ok = env.run(&["run", "--agent", "fake", "--wait", "--json", "1 0 0"]);
    assert_eq!(ok.status.code(), Some(0));
    let v: Value = serde_json::from_slice(&ok.stdout).unwrap();
    assert_eq!(v["status"], "completed");
    assert_eq!(v["result"], "fake agent line 1 of 1");
    for field in [
        "id",
        "title",
        "status",
        "reason",
        "agent",
        "category",
        "model",
        "prompt",
        "created_at",
        "started_at",
        "finished_at",
        "exit_code",
        "summary",
        "pane_id",
        "log_path",
    ] {
        assert!(v.get(field).is_some(), "field {field} missing from the task object");
    }
    let created = v["created_at"].as_str().unwrap();
    assert!(created.ends_with('Z') && created.len() == 24, "RFC 3339 UTC with ms: {created}");
}

#[test]
fn output_wait_timeout_is_124_and_wait_all() {
    let env = Env::new(&config_with(""));
    let id = env.submit(&["--agent", "fake", "100 0.1 0"]);
    let out = env.run(&["output", &id, "--wait", "--timeout", "0.3"]);
    assert_eq!(out.status.code(), Some(124));
    assert!(String::from_utf8_lossy(&out.stdout).contains("timed out"));
    let out = env.run(&["wait", "--all", "--timeout", "0.2"]);
    assert_eq!(out.status.code(), Some(124));
    let out = env.run(&["output", "no-such-task"]);
    assert_eq!(out.status.code(), Some(2), "unknown id is a usage error");
    assert!(String::from_utf8_lossy(&out.stderr).contains("no task with id or prefix"));
    let out = env.run(&["output", "Bad/Id"]);
    assert_eq!(out.status.code(), Some(2));
    env.ok(&["cancel", &id]);
}

#[test]
fn history_survives_a_restart() {
    let env = Env::new(&config_with("[concurrency]\ndefault = 1\n"));
    let done = env.submit(&["--agent", "fake", "1 0 0"]);
    env.ok(&["wait", &done]);
    let before_pid = env.daemon_pid().unwrap();
    // A long one runs, another waits behind it.
    let long = env.submit(&["--agent", "fake", "100 0.2 0"]);
    let queued = env.submit(&["--agent", "fake", "1 0 0"]);
    env.wait_status(&long, "running", Duration::from_secs(5));
    env.ok(&["daemon", "stop"]);
    assert!(env.daemon_pid().is_none());
    // Orderly shutdown: the running task was cancelled and recorded as such; the queued one waits.
    let text = std::fs::read_to_string(env.data().join(format!("tasks/{long}.md"))).unwrap();
    assert!(text.contains("status = \"cancelled\""), "{text}");
    assert!(text.contains("daemon shut down"), "{text}");

    // The next command starts a new daemon, which has the whole history and runs the queued task.
    let q = env.wait_status(&queued, "completed", Duration::from_secs(10));
    assert_ne!(env.daemon_pid().unwrap(), before_pid);
    assert_eq!(q["status"], "completed");
    let list = env.list();
    assert_eq!(list.len(), 3);
    assert_eq!(env.task(&done)["result"], "fake agent line 1 of 1");
}

#[test]
fn kill_9_daemon_marks_running_tasks_lost_and_keeps_every_file() {
    let env = Env::new(&config_with(""));
    let finished = env.submit(&["--agent", "fake", "1 0 0"]);
    env.ok(&["wait", &finished]);
    let ids: Vec<String> = (0..3).map(|_| env.submit(&["--agent", "fake", "1000 0.1 0"])).collect();
    let pids: Vec<i64> = ids
        .iter()
        .map(|id| env.wait_status(id, "running", Duration::from_secs(5))["pid"].as_i64().unwrap())
        .collect();
    for id in &ids {
        env.wait_recorded(id, "running");
    }
    let daemon = env.daemon_pid().unwrap();
    std::process::Command::new("kill").args(["-9", &daemon.to_string()]).status().unwrap();
    while pid_alive(daemon as i64) {
        std::thread::sleep(Duration::from_millis(20));
    }
    for id in ids.iter().chain([&finished]) {
        assert!(env.data().join(format!("tasks/{id}.md")).exists(), "{id}.md missing");
    }
    // A new daemon (started on demand) marks them lost and stops their orphaned processes.
    let list = env.list();
    assert_eq!(list.len(), 4);
    for id in &ids {
        let t = env.task(id);
        assert_eq!(t["status"], "error");
        assert_eq!(t["reason"], "lost: daemon restarted while it ran");
    }
    assert_eq!(env.task(&finished)["status"], "completed");
    std::thread::sleep(Duration::from_millis(300));
    for pid in pids {
        assert!(!pid_alive(pid), "orphaned agent {pid} still runs");
    }
}

#[test]
fn sigterm_cancels_running_tasks_and_records_it() {
    let env = Env::new(&config_with(""));
    let id = env.submit(&["--agent", "fake", "1000 0.1 0"]);
    env.wait_status(&id, "running", Duration::from_secs(5));
    let daemon = env.daemon_pid().unwrap();
    std::process::Command::new("kill").args(["-TERM", &daemon.to_string()]).status().unwrap();
    let start = std::time::Instant::now();
    while pid_alive(daemon as i64) {
        assert!(start.elapsed() < Duration::from_secs(10), "daemon did not exit on SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!env.runtime().join("daemon.sock").exists(), "socket removed");
    let t = env.task(&id);
    assert_eq!(t["status"], "cancelled");
    assert_eq!(t["reason"], "cancelled: the daemon shut down");
}

#[test]
fn concurrent_clients_start_one_daemon() {
    let env = Env::new(&config_with(""));
    let children: Vec<_> = (0..8).map(|_| env.cmd(&["list", "--json"]).spawn().unwrap()).collect();
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    let data = env.data();
    let needle = format!("PANEHERD_DATA_DIR={}", data.display());
    let daemons = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().chars().all(|c| c.is_ascii_digit()))
        .filter(|e| {
            let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
            let env = std::fs::read(e.path().join("environ")).unwrap_or_default();
            let cmd = String::from_utf8_lossy(&cmd);
            cmd.contains("daemon") && env.split(|b| *b == 0).any(|kv| kv == needle.as_bytes())
        })
        .count();
    assert_eq!(daemons, 1);
    let out = env.ok(&["daemon", "status"]);
    assert!(out.contains("socket") && out.contains("uptime"), "{out}");
}

#[test]
fn daemon_status_without_daemon_is_exit_3() {
    let env = Env::new(&config_with(""));
    let out = env.run(&["daemon", "status"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no paneherd daemon is running"));
    assert!(env.daemon_pid().is_none(), "status must not start a daemon");
}

#[test]
fn a_missing_agent_program_is_refused_at_submission() {
    let env = Env::new(&config_with(
        "[agents.ghost]\ncommand = [\"paneherd-no-such-program\", \"{prompt}\"]\n",
    ));
    let out = env.run(&["run", "--agent", "ghost", "--wait", "hi"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("paneherd-no-such-program") && err.contains("PATH"), "{err}");
    assert!(env.list().is_empty(), "no task was made");
    // And the daemon still serves.
    env.ok(&["run", "--agent", "fake", "--wait", "1 0 0"]);
}

#[test]
fn unknown_agent_and_category_are_usage_errors() {
    let env = Env::new(&config_with(""));
    let out = env.run(&["run", "--agent", "nope", "x"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown agent \"nope\""));
    let out = env.run(&["run", "--category", "nope", "x"]);
    assert_eq!(out.status.code(), Some(2));
    let out = env.run(&["run", "--agent", "fake", "   "]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("prompt is empty"));
    assert!(env.list().is_empty(), "nothing was created");
}

#[test]
fn a_summarizer_agent_writes_the_summary() {
    let env = Env::new(&config_with(
        r#"
summarizer = "summ"
[agents.summ]
command = ["sh", "-c", "printf 'summarised %s chars\n' \"$(printf '%s' \"$0\" | wc -c | tr -d ' ')\"", "{prompt}"]
"#,
    ));
    let id = env.submit(&["--agent", "fake", "3 0 0"]);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let t = env.task(&id);
        let s = t["summary"].as_str().unwrap_or("").to_string();
        if s.starts_with("summarised ") {
            assert!(s.ends_with(" chars"), "{s}");
            // The file on disk says the same.
            let md = std::fs::read_to_string(env.data().join(format!("tasks/{id}.md"))).unwrap();
            assert!(md.contains(&format!("summary = \"{s}\"")), "{md}");
            assert_eq!(
                t["result"],
                "fake agent line 1 of 3\nfake agent line 2 of 3\nfake agent line 3 of 3"
            );
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no summarizer summary: {t:#}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn changing_the_config_and_restarting_strands_no_queued_task() {
    let env = Env::new(&config_with(
        "[concurrency]\ndefault = 1\n[agents.gone]\ncommand = [\"sh\", \"-c\", \"echo hi\", \"{prompt}\"]\n",
    ));
    let long = env.submit(&["--agent", "fake", "1000 0.1 0"]);
    env.wait_status(&long, "running", Duration::from_secs(5));
    let kept = env.submit(&["--agent", "fake", "1 0 0"]);
    let gone = env.submit(&["--agent", "gone", "x"]);
    let modeled = env.submit(&["--agent", "fake", "--model", "solo/m", "1 0 0"]);
    env.ok(&["daemon", "stop"]);
    // New config: the `gone` agent is removed, limits change.
    std::fs::write(
        env.config(),
        config_with("[concurrency]\ndefault = 3\n[concurrency.models]\n\"solo/m\" = 1\n"),
    )
    .unwrap();
    let k = env.wait_status(&kept, "completed", Duration::from_secs(10));
    assert_eq!(k["limit_group"], "default");
    let m = env.wait_status(&modeled, "completed", Duration::from_secs(10));
    assert_eq!(m["limit_group"], "model:solo/m", "regrouped under the new limits");
    let g = env.wait_status(&gone, "error", Duration::from_secs(10));
    assert_eq!(g["reason"], "agent \"gone\" is no longer in the config");
}

#[test]
fn a_second_daemon_on_the_same_data_dir_is_refused() {
    let env = Env::new(&config_with(""));
    env.list();
    let pid = env.daemon_pid().unwrap();
    let out = env.run(&["daemon"]);
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("another paneherd daemon (pid {pid}) already serves")), "{err}");
    assert_eq!(env.daemon_pid(), Some(pid));
}

#[test]
fn a_corrupt_task_file_is_reported_skipped_and_left_alone() {
    let env = Env::new(&config_with(""));
    let tasks = env.data().join("tasks");
    std::fs::create_dir_all(&tasks).unwrap();
    let garbage = "+++\nid = \"mangled-file\"\nstatus = 42\n+++\nhand edited\n";
    std::fs::write(tasks.join("mangled-file.md"), garbage).unwrap();
    let good = env.submit(&["--agent", "fake", "1 0 0"]);
    env.ok(&["wait", &good]);
    let status = env.ok(&["daemon", "status"]);
    assert!(status.contains("skipped") && status.contains("mangled-file.md"), "{status}");
    assert_eq!(env.list().len(), 1);
    let out = env.run(&["output", "mangled-file"]);
    assert_eq!(out.status.code(), Some(2), "not a task");
    assert_eq!(std::fs::read_to_string(tasks.join("mangled-file.md")).unwrap(), garbage);
}

/// Every kind of request a client asks through `proto::ask` is answered by the real daemon
/// with the type its `Ask::Reply` declares: each answer below decodes into that type, or the
/// test fails with the decoding error.
#[test]
fn every_answer_decodes_into_the_type_its_request_declares() {
    use paneherd::client::Blocking;
    use paneherd::core::task::{TaskSpec, TaskStatus};
    use paneherd::paths::Paths;
    use paneherd::proto::{ListFilter, ask};

    let env = Env::new(&config_with(""));
    env.ok(&["list"]); // starts the daemon
    let paths = Paths { config: env.config(), data: env.data(), runtime: env.runtime() };
    let mut c = Blocking::connect(&paths, false).expect("connect");
    let spec = TaskSpec {
        prompt: "echo the answer".into(),
        agent: Some("shell".into()),
        client_cwd: Some(env.path().to_path_buf()),
        ..Default::default()
    };
    let t = c.ask(ask::Submit { spec: Box::new(spec) }).expect("submit");
    let id = t.id.clone();
    let w = c.ask(ask::Wait { ids: vec![id.clone()], all: false, timeout_ms: Some(20_000) });
    assert!(!w.expect("wait").timed_out);
    let got = c.ask(ask::Get { id: id.clone() }).expect("get");
    assert_eq!(got.map(|g| g.status), Some(TaskStatus::Completed));
    let listed = c.ask(ask::List { filter: ListFilter::default() }).expect("list");
    assert_eq!(listed.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(), [id.as_str()]);
    let out = c
        .ask(ask::Output {
            id: id.clone(),
            wait: false,
            timeout_ms: None,
            full: false,
            deliver: false,
        })
        .expect("output");
    assert_eq!(out.result.as_deref().map(str::trim), Some("the answer"));
    let again = c.ask(ask::Retry { id: id.clone(), env: None }).expect("retry");
    assert_eq!(again.parent.as_deref(), Some(id.as_str()));
    let stopped = c.ask(ask::Cancel { ids: vec![again.id.clone()], all: false }).expect("cancel");
    assert_eq!(stopped.len(), 1);
    let status = c.ask(ask::Status { main: None }).expect("status");
    assert!(status.pid > 0);
    let inbox = c.ask(ask::Inbox { delegator: None, ack: false }).expect("inbox");
    assert!(inbox.tasks.is_empty(), "no delegator: nothing to tell");
    let told = c.ask(ask::Deliver { ids: vec![id.clone()], notice: false }).expect("deliver");
    assert_eq!(told.tasks.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(), [id.as_str()]);
    let again = c.ask(ask::Deliver { ids: vec![id.clone()], notice: false }).expect("deliver");
    assert!(again.tasks.is_empty(), "told once");
    let n = c
        .ask(ask::DelegatorSession { delegator: "nobody".into(), session: "s-1".into() })
        .expect("delegator session");
    assert_eq!(n, 0);
    c.ask(ask::Shutdown).expect("shutdown");
}
