//! Tasks on another host over real OpenSSH: a private sshd on 127.0.0.1 (tests/common/sshd)
//! logging in a second local user, the system's `ssh` on this side, a paneherd daemon on each.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::BufRead;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::sshd::Sshd;
use common::{Env, config_with};
use serde_json::Value;

/// The built paneherd: on the remote's PATH for the tests that do not install it.
fn built() -> &'static Path {
    Path::new(common::BIN).parent().unwrap()
}

fn env_with(sshd: &Sshd, extra: &str) -> Env {
    Env::new(&config_with(&format!("{extra}\n{}", sshd.host_toml())))
}

/// The ssh processes the test's daemon has (its children named `ssh`).
fn ssh_children(env: &Env) -> usize {
    let Some(daemon) = env.daemon_pid() else { return 0 };
    let mut n = 0;
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        let Some((comm, rest)) = stat.split_once(") ") else { continue };
        let ppid: i32 = rest.split_whitespace().nth(1).and_then(|p| p.parse().ok()).unwrap_or(0);
        if comm.ends_with("(ssh") && ppid == daemon {
            n += 1;
        }
    }
    n
}

#[test]
fn a_task_on_a_host_runs_there_and_its_exact_result_comes_home() {
    let Some(sshd) = Sshd::start(&[built()]) else { return };
    let env = env_with(&sshd, "");
    // Tabs, a rewritten progress line, non-ASCII: kept as the host's daemon read them.
    let id = env.submit(&[
        "--host",
        "box",
        "--agent",
        "shell",
        "--",
        "printf 'on %s in %s\\n\\tindented ü\\nprogress 10%%\\rprogress 100%%\\n' \"$(id -un)\" \"$PWD\"",
    ]);
    let t = env.wait_status(&id, "completed", Duration::from_secs(30));
    let expected =
        format!("on {} in {}\n\tindented ü\nprogress 100%", sshd.user, sshd.home.display());
    assert_eq!(t["result"].as_str().unwrap().trim_end(), expected, "{t:#}");
    assert_eq!(t["host"], "box");
    assert_eq!(t["cwd"], sshd.home.display().to_string());
    assert_eq!(t["pid"], Value::Null, "no pid of this machine for a process there");
    // The record there is the original, under the same id.
    let there = sshd.paneherd_there(&["list", "--json"]);
    let there: Value = serde_json::from_slice(&there.stdout).unwrap();
    assert_eq!(there[0]["id"], id.as_str(), "{there:#}");
    assert_eq!(there[0]["host"], Value::Null);
    // `list` here says where it ran.
    let list = env.ok(&["list"]);
    assert!(list.lines().next().unwrap().contains("HOST"), "{list}");
    assert!(list.lines().any(|l| l.contains(&id) && l.contains("box")), "{list}");
}

#[test]
fn setup_installs_paneherd_there_and_hosts_says_how_the_host_is() {
    // Nothing of paneherd on the remote's PATH.
    let Some(sshd) = Sshd::start(&[]) else { return };
    let env = Env::new(&config_with(""));
    let cfg = sshd.ssh_config();
    env.ok(&[
        "hosts",
        "add",
        "box",
        "box",
        "--ssh-arg=-F",
        &format!("--ssh-arg={}", cfg.display()),
    ]);
    // A name taken, and a destination ssh would read as an option, are refused.
    let again = env.run(&["hosts", "add", "box", "box"]);
    assert_eq!(again.status.code(), Some(2));
    let bad = env.run(&["hosts", "add", "evil", "-oProxyCommand=touch /tmp/x"]);
    assert_eq!(bad.status.code(), Some(2), "{}", String::from_utf8_lossy(&bad.stderr));
    // Before setup: unreachable, and what to do.
    let hosts: Value = serde_json::from_str(&env.ok(&["hosts", "--json"])).unwrap();
    assert_eq!(hosts[0]["link"]["reachable"], false, "{hosts:#}");
    let why = hosts[0]["link"]["error"].as_str().unwrap();
    assert!(why.contains("not installed") && why.contains("hosts setup box"), "{why}");
    let out = env.ok(&["hosts", "setup", "box"]);
    assert!(out.contains("installing paneherd"), "{out}");
    assert!(sshd.home.join(".local/bin/paneherd-full").is_file());
    // Set up: a second run finds it ready and installs nothing.
    let out = env.ok(&["hosts", "setup", "box"]);
    assert!(out.contains("is installed: ready") && !out.contains("installing"), "{out}");
    // The link tries again (backoff) and finds it.
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let hosts: Value = serde_json::from_str(&env.ok(&["hosts", "--json"])).unwrap();
        if hosts[0]["link"]["reachable"] == true {
            assert_eq!(hosts[0]["link"]["version"], env!("CARGO_PKG_VERSION"));
            break;
        }
        assert!(Instant::now() < deadline, "never reachable: {hosts:#}");
        std::thread::sleep(Duration::from_millis(300));
    }
    let id = env.submit(&["--host", "box", "--agent", "shell", "--", "echo installed"]);
    let t = env.wait_status(&id, "completed", Duration::from_secs(30));
    assert_eq!(t["result"].as_str().unwrap().trim(), "installed");
}

#[test]
fn fifty_tasks_on_a_host_share_one_ssh_connection() {
    let Some(sshd) = Sshd::start(&[built()]) else { return };
    let env = env_with(&sshd, "[concurrency]\ndefault = 50\n");
    let ids: Vec<String> = (0..50)
        .map(|i| {
            env.submit(&[
                "--host",
                "box",
                "--agent",
                "shell",
                "--",
                &format!("sleep 1; echo task {i}"),
            ])
        })
        .collect();
    let mut most = 0;
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        most = most.max(ssh_children(&env));
        let list = env.list();
        if list.iter().all(|t| t["status"] == "completed") && list.len() == 50 {
            break;
        }
        assert!(Instant::now() < deadline, "not all ended: {list:#?}");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(most, 1, "one long-lived ssh process for the host");
    for (i, id) in ids.iter().enumerate() {
        let t = env.task(id);
        assert_eq!(t["result"].as_str().unwrap().trim(), format!("task {i}"), "{t:#}");
    }
}

/// `paneherd events --json` in the background: every line it printed so far.
struct Events {
    child: std::process::Child,
    lines: std::sync::Arc<std::sync::Mutex<Vec<Value>>>,
}

impl Events {
    fn follow(env: &Env) -> Events {
        let mut child =
            env.cmd(&["events", "--json", "--no-output"]).stdout(Stdio::piped()).spawn().unwrap();
        let out = child.stdout.take().unwrap();
        let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let keep = lines.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str::<Value>(&line) {
                    keep.lock().unwrap().push(v);
                }
            }
        });
        Events { child, lines }
    }

    /// How many events said task `id` ended.
    fn ends_of(&self, id: &str) -> usize {
        let ended = ["completed", "error", "cancelled", "interrupted"];
        let lines = self.lines.lock().unwrap();
        let mut n = 0;
        let mut was_ended = false;
        for v in lines.iter().filter(|v| v["task"]["id"] == id) {
            let now_ended = ended.contains(&v["task"]["status"].as_str().unwrap_or(""));
            if now_ended && !was_ended {
                n += 1;
            }
            was_ended = now_ended;
        }
        n
    }
}

impl Drop for Events {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_dropped_connection_and_a_stopped_sshd_lose_no_end_and_tell_each_once() {
    let Some(mut sshd) = Sshd::start(&[built()]) else { return };
    let env = env_with(&sshd, "[concurrency]\ndefault = 8\n");
    let events = Events::follow(&env);
    let long = |secs: u32| {
        format!("for i in $(seq {secs}); do echo tick $i; sleep 1; done; echo done {secs}")
    };
    let a = env.submit(&["--host", "box", "--agent", "shell", "--", &long(3)]);
    let b = env.submit(&["--host", "box", "--agent", "shell", "--", &long(8)]);
    env.wait_status(&a, "running", Duration::from_secs(20));
    env.wait_status(&b, "running", Duration::from_secs(20));
    // The master connection killed mid-task: the tasks go on there; the link comes back.
    assert!(common::run_ok(
        "pkill",
        &["-f", &format!("ssh-box.sock -F {}", sshd.ssh_config().display())]
    ));
    let t = env.wait_status(&a, "completed", Duration::from_secs(30));
    assert_eq!(t["result"].as_str().unwrap().lines().last(), Some("done 3"));
    // Now the server stopped for 30 s, and the connection with it: b ends meanwhile.
    sshd.stop();
    assert!(common::run_ok(
        "pkill",
        &["-f", &format!("ssh-box.sock -F {}", sshd.ssh_config().display())]
    ));
    let c = env.submit(&["--host", "box", "--agent", "shell", "--", "echo after the outage"]);
    std::thread::sleep(Duration::from_secs(3));
    let hosts: Value = serde_json::from_str(&env.ok(&["hosts", "--json"])).unwrap();
    assert_eq!(hosts[0]["link"]["reachable"], false, "{hosts:#}");
    let waiting = env.task(&c);
    assert_eq!(waiting["status"], "pending", "{waiting:#}");
    assert!(waiting["reason"].as_str().unwrap().starts_with("waiting for host box"), "{waiting:#}");
    assert_eq!(env.task(&b)["status"], "running", "not known to have ended while unreachable");
    std::thread::sleep(Duration::from_secs(27));
    sshd.restart();
    // Caught up after the reconnection (the backoff is at most 30 s).
    let t = env.wait_status(&b, "completed", Duration::from_secs(60));
    assert_eq!(t["result"].as_str().unwrap().lines().last(), Some("done 8"));
    let t = env.wait_status(&c, "completed", Duration::from_secs(30));
    assert_eq!(t["result"].as_str().unwrap().trim(), "after the outage");
    std::thread::sleep(Duration::from_millis(500));
    for id in [&a, &b, &c] {
        assert_eq!(events.ends_of(id), 1, "the end of {id} told once");
    }
}

#[test]
fn limits_count_the_tasks_on_hosts_too() {
    let Some(sshd) = Sshd::start(&[built()]) else { return };
    // A category that names the host: its tasks go there without --host.
    let far = "[categories.far]\nagent = \"shell\"\nhost = \"box\"\n";
    let env = env_with(&sshd, &format!("[concurrency]\ndefault = 1\n{far}"));
    let remote = env.submit(&["--category", "far", "--", "sleep 3; echo remote"]);
    assert_eq!(env.wait_status(&remote, "running", Duration::from_secs(20))["host"], "box");
    let local = env.submit(&["--agent", "shell", "--", "echo local"]);
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(env.task(&local)["status"], "pending", "one slot, taken by the host's task");
    env.wait_status(&remote, "completed", Duration::from_secs(30));
    env.wait_status(&local, "completed", Duration::from_secs(10));
}

#[test]
fn max_tasks_holds_a_hosts_tasks_back_and_lets_others_by() {
    let Some(sshd) = Sshd::start(&[built()]) else { return };
    let env = Env::new(&config_with(&format!(
        "[concurrency]\ndefault = 5\n{}max_tasks = 1\n",
        sshd.host_toml()
    )));
    let first = env.submit(&["--host", "box", "--agent", "shell", "--", "sleep 3; echo first"]);
    let second = env.submit(&["--host", "box", "--agent", "shell", "--", "echo second"]);
    let here = env.submit(&["--agent", "shell", "--", "echo here"]);
    env.wait_status(&first, "running", Duration::from_secs(20));
    // The task here is not held up behind the host's second.
    env.wait_status(&here, "completed", Duration::from_secs(10));
    assert_eq!(env.task(&second)["status"], "pending", "one at a time on box");
    env.wait_status(&first, "completed", Duration::from_secs(30));
    env.wait_status(&second, "completed", Duration::from_secs(20));
}

#[test]
fn a_running_tasks_output_is_read_there() {
    let Some(sshd) = Sshd::start(&[built()]) else { return };
    let env = env_with(&sshd, "");
    let id = env.submit(&["--host", "box", "--agent", "shell", "--", "echo first line; sleep 30"]);
    env.wait_status(&id, "running", Duration::from_secs(20));
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let t = env.task(&id);
        if t["tail"].as_str().is_some_and(|s| s.contains("first line")) {
            break;
        }
        assert!(Instant::now() < deadline, "its output never showed: {t:#}");
        std::thread::sleep(Duration::from_millis(200));
    }
    // `output --follow` follows it there.
    let mut follow = env.cmd(&["output", &id, "--follow"]).stdout(Stdio::piped()).spawn().unwrap();
    let mut first = String::new();
    std::io::BufReader::new(follow.stdout.take().unwrap()).read_line(&mut first).unwrap();
    assert_eq!(first.trim(), "first line");
    // Cancelled from here: stopped there, and said so here.
    env.ok(&["cancel", &id]);
    let status = follow.wait().unwrap();
    assert_eq!(status.code(), Some(1), "--follow ends with the task, not completed");
    let t = env.wait_status(&id, "cancelled", Duration::from_secs(20));
    assert_eq!(t["reason"], "cancelled by user", "{t:#}");
    let there = sshd.paneherd_there(&["list", "--json"]);
    let there: Value = serde_json::from_slice(&there.stdout).unwrap();
    assert_eq!(there[0]["status"], "cancelled", "{there:#}");
}

#[test]
fn the_hosts_daemon_killed_9_readopts_its_task_and_its_end_is_mirrored_once() {
    let Some(sshd) = Sshd::start(&[built()]) else { return };
    let env = env_with(&sshd, "");
    let events = Events::follow(&env);
    let id = env.submit(&[
        "--host",
        "box",
        "--agent",
        "shell",
        "--",
        "echo started; sleep 8; echo finished",
    ]);
    env.wait_status(&id, "running", Duration::from_secs(20));
    let first = sshd.remote_daemon().expect("a daemon there");
    assert!(common::run_ok("kill", &["-9", &first.to_string()]));
    // The link comes back to a new daemon there, which took the task (in its pane there) over.
    let deadline = Instant::now() + Duration::from_secs(20);
    while sshd.remote_daemon().is_none_or(|d| d == first) {
        assert!(Instant::now() < deadline, "no new daemon there");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(env.task(&id)["status"], "running");
    let t = env.wait_status(&id, "completed", Duration::from_secs(40));
    assert_eq!(t["result"].as_str().unwrap().lines().last(), Some("finished"), "{t:#}");
    let there = sshd.paneherd_there(&["list", "--json"]);
    let there: Value = serde_json::from_slice(&there.stdout).unwrap();
    assert_eq!(there[0]["status"], "completed", "{there:#}");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(events.ends_of(&id), 1);
}

#[test]
fn focus_on_a_hosts_task_attaches_a_window_here_to_its_pane_there_and_typing_reaches_it() {
    let Some(sshd) = Sshd::start(&[built()]) else { return };
    let env = env_with(&sshd, "");
    let tmux = common::tmux::Tmux::start(&env, 160, 45, "sh", &[]);
    let cmd = format!(
        "export PATH={}:$PATH PANEHERD_DATA_DIR={} PANEHERD_RUNTIME_DIR={} PANEHERD_CONFIG={}; paneherd ui",
        built().display(),
        env.data().display(),
        env.runtime().display(),
        env.config().display()
    );
    tmux.keys(&[&cmd, "Enter"]);
    tmux.until("the dashboard", Duration::from_secs(15), |s| s.contains("Pending (0)"));
    let id = env.submit(&[
        "--host",
        "box",
        "--agent",
        "shell",
        "--",
        "echo HELLO-FROM-THERE; read -p 'name? ' n; echo \"hi $n\"; sleep 30",
    ]);
    env.wait_status(&id, "running", Duration::from_secs(20));
    // There, it runs in a pane of the host daemon's own tmux session.
    let there = sshd.paneherd_there(&["list", "--json"]);
    let there: Value = serde_json::from_slice(&there.stdout).unwrap();
    assert!(there[0]["pane_id"].as_str().is_some_and(|p| p.starts_with('%')), "{there:#}");
    // Here: a window attached to that pane.
    env.ok(&["focus", &id]);
    let name = format!("{id}@box");
    let deadline = Instant::now() + Duration::from_secs(20);
    let window = loop {
        let windows = tmux.run(&["list-windows", "-a", "-F", "#{window_id} #{window_name}"]);
        if let Some(w) = windows.lines().find(|l| l.ends_with(&format!(" {name}"))) {
            break w.split(' ').next().unwrap().to_string();
        }
        assert!(Instant::now() < deadline, "no window {name}: {windows}");
        std::thread::sleep(Duration::from_millis(100));
    };
    let screen = loop {
        let screen = tmux.run(&["capture-pane", "-p", "-t", &window]);
        if screen.contains("HELLO-FROM-THERE") && screen.contains("name?") {
            break screen;
        }
        assert!(Instant::now() < deadline, "the pane there never showed here:\n{screen}");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(!screen.contains("hi bob"), "{screen}");
    // What is typed here reaches the agent there.
    tmux.run(&["send-keys", "-t", &window, "bob", "Enter"]);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let t = env.task(&id);
        if t["tail"].as_str().is_some_and(|s| s.contains("hi bob")) {
            break;
        }
        assert!(Instant::now() < deadline, "the answer never reached it: {t:#}");
        std::thread::sleep(Duration::from_millis(200));
    }
    env.ok(&["cancel", &id]);
}

#[test]
fn worktrees_retry_and_data_dir_are_the_hosts() {
    let Some(sshd) = Sshd::start(&[built()]) else { return };
    // A repository there, the remote user's own.
    let repo = sshd.home.join("repo");
    common::git_repo(&repo);
    if nix::unistd::geteuid().is_root() {
        assert!(common::run_ok("chown", &["-R", &sshd.user, repo.to_str().unwrap()]));
    }
    // Its records in another data dir there, as the config says.
    let other = sshd.home.join("other-data");
    let env = Env::new(&config_with(&format!(
        "{}data_dir = \"{}\"\n",
        sshd.host_toml(),
        other.display()
    )));
    let id = env.submit(&[
        "--host",
        "box",
        "--agent",
        "shell",
        "--cwd",
        repo.to_str().unwrap(),
        "--worktree",
        "--",
        "echo made there > made.txt; pwd",
    ]);
    let t = env.wait_status(&id, "completed", Duration::from_secs(30));
    let worktree = t["worktree"].as_str().expect("its worktree there").to_string();
    assert!(worktree.starts_with(repo.to_str().unwrap()), "{t:#}");
    assert_eq!(t["result"].as_str().unwrap().trim(), worktree);
    assert!(Path::new(&worktree).join("made.txt").is_file());
    assert!(other.join(format!("tasks/{id}.md")).is_file(), "its record in the data dir asked for");
    // Its diff is read there (git never runs here on a path of the host).
    let diff = env.ok(&["diff", &id, "--stat"]);
    assert!(diff.contains("made.txt") && diff.contains("1 insertion"), "{diff}");
    let here = env.ok(&["worktrees", "--json"]);
    assert_eq!(serde_json::from_str::<Value>(&here).unwrap(), serde_json::json!([]), "not here");
    // A retry runs there again, in the same worktree.
    let again = env.ok(&["retry", &id]).trim().to_string();
    let t = env.wait_status(&again, "completed", Duration::from_secs(30));
    assert_eq!(t["host"], "box");
    assert_eq!(t["worktree"].as_str(), Some(worktree.as_str()), "{t:#}");
    // Merged there, into the repository there; what it did is noted here too.
    let said = env.ok(&["merge", &again]);
    assert!(said.contains("merged"), "{said}");
    assert!(repo.join("made.txt").is_file(), "merged into the checkout there");
    let t = env.task(&again);
    assert!(t["worktree_note"].as_str().is_some_and(|n| n.contains("merged")), "{t:#}");
}

#[test]
fn a_follow_up_to_a_hosts_task_runs_there_too() {
    let Some(sshd) = Sshd::start(&[built()]) else { return };
    // The same agents there (the fake agent: prints its lines, exits with its code).
    std::fs::write(sshd.home.join("config.toml"), config_with("")).unwrap();
    let env = env_with(&sshd, "");
    let id = env.submit(&["--host", "box", "--agent", "fake", "2 0.05 0"]);
    env.wait_status(&id, "completed", Duration::from_secs(30));
    let next = env.ok(&["continue", &id, "3 0.05 0"]).trim().to_string();
    let t = env.wait_status(&next, "completed", Duration::from_secs(30));
    assert_eq!(t["host"], "box");
    assert_eq!(t["parent"], id.as_str());
    let there = sshd.paneherd_there(&["output", &next, "--json"]);
    let there: Value = serde_json::from_slice(&there.stdout).unwrap();
    assert_eq!(there["status"], "completed", "{there:#}");
    assert!(there["prompt"].as_str().unwrap().contains("continues earlier task"), "{there:#}");
}

#[test]
fn a_hosts_task_ends_in_its_delegators_inbox_here_once() {
    let Some(sshd) = Sshd::start(&[built()]) else { return };
    let env = env_with(&sshd, "");
    let run_as_agent = |args: &[&str]| {
        let out = env.cmd(args).env("PANEHERD_DELEGATOR", "claude@4242").output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let id =
        run_as_agent(&["run", "--host", "box", "--agent", "shell", "--", "echo for the agent"]);
    let id = id.trim();
    env.wait_status(id, "completed", Duration::from_secs(30));
    let inbox: Value = serde_json::from_str(&run_as_agent(&["inbox", "--json", "--ack"])).unwrap();
    let ended = inbox["tasks"].as_array().unwrap();
    assert_eq!(ended.len(), 1, "{inbox:#}");
    assert_eq!(ended[0]["id"], id);
    assert_eq!(ended[0]["host"], "box");
    assert!(ended[0]["summary"].as_str().unwrap().contains("for the agent"), "{inbox:#}");
    assert!(inbox["notice"].as_str().unwrap().contains(id), "{inbox:#}");
    // Told: not again.
    let again: Value = serde_json::from_str(&run_as_agent(&["inbox", "--json"])).unwrap();
    assert_eq!(again["tasks"].as_array().unwrap().len(), 0, "{again:#}");
}

#[test]
fn a_wrong_host_key_is_refused_and_said() {
    let Some(sshd) = Sshd::start(&[built()]) else { return };
    // Another key for the server in known_hosts.
    let other = tempfile::tempdir().unwrap();
    let key = other.path().join("k");
    assert!(common::run_ok(
        "ssh-keygen",
        &["-q", "-t", "ed25519", "-N", "", "-f", key.to_str().unwrap()]
    ));
    let pubkey = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    let key_only: Vec<&str> = pubkey.split_whitespace().take(2).collect();
    std::fs::write(
        sshd.known_hosts(),
        format!("[127.0.0.1]:{} {}\n", sshd.port, key_only.join(" ")),
    )
    .unwrap();
    let env = env_with(&sshd, "");
    let id = env.submit(&["--host", "box", "--agent", "shell", "--", "echo never"]);
    let hosts: Value = serde_json::from_str(&env.ok(&["hosts", "--json"])).unwrap();
    let why = hosts[0]["link"]["error"].as_str().unwrap_or_default();
    assert!(why.contains("host key verification failed"), "{hosts:#}");
    let t = env.task(&id);
    assert_eq!(t["status"], "pending");
    assert!(t["reason"].as_str().unwrap().contains("host key verification failed"), "{t:#}");
    assert!(sshd.remote_daemon().is_none(), "nothing ran there");
}

#[test]
fn an_unknown_host_is_refused_with_the_known_ones() {
    let env = Env::new(&config_with("[hosts.box]\nssh = \"ssh://me@example.invalid\"\n"));
    let out = env.run(&["run", "--host", "nope", "--agent", "shell", "--", "echo x"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unknown host \"nope\"") && err.contains("box"), "{err}");
    // A config naming a host that is not there points at it.
    let env = Env::new(&config_with("[categories.far]\nagent = \"shell\"\nhost = \"gone\"\n"));
    let out = env.run(&["config", "check"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("categories.far.host") && err.contains("unknown host \"gone\""), "{err}");
}
