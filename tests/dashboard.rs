//! The dashboard end to end: the real binary in a private tmux server (socket in the test's
//! temp dir), driven with send-keys and read with capture-pane.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::time::Duration;

use common::tmux::Tmux;
use common::{Env, config_with};

/// How long a screen may take to show what is expected.
const T: Duration = Duration::from_secs(15);

#[test]
fn dashboard_follows_tasks_cancels_creates_and_quits_cleanly() {
    let env = Env::new(&config_with("[concurrency]\ndefault = 1\n"));
    let tmux = Tmux::start(&env, 160, 48, "sh", &[]);
    let bin = Path::new(common::BIN).parent().unwrap().display().to_string();
    let cmd = format!(
        "export PATH={bin}:$PATH PANEHERD_DATA_DIR={} PANEHERD_RUNTIME_DIR={} PANEHERD_CONFIG={}; paneherd ui",
        env.data().display(),
        env.runtime().display(),
        env.config().display()
    );
    tmux.keys(&[&cmd, "Enter"]);
    tmux.until("the empty dashboard", T, |s| {
        s.contains("Pending (0)") && s.contains("No tasks yet")
    });

    // Tasks submitted with the CLI appear and move between groups.
    let long = env.submit(&["--agent", "fake", "1000 0.1 0"]);
    let short = env.submit(&["--agent", "fake", "3 0.1 0"]);
    tmux.until("one running, one pending", T, |s| {
        s.contains("Running (1)") && s.contains("Pending (1)")
    });

    // Select the running one (g: first row, the pending one; j: the next, the running one) and
    // cancel it: c, then y.
    tmux.keys(&["g"]);
    tmux.keys(&["j"]);
    tmux.keys(&["c"]);
    tmux.until("the confirmation", T, |s| s.contains(&format!("Cancel {long}? (y/n)")));
    tmux.keys(&["y"]);
    let t = env.wait_status(&long, "cancelled", Duration::from_secs(10));
    assert_eq!(t["reason"], "cancelled by user");
    // The queued one then runs and finishes.
    env.wait_status(&short, "completed", Duration::from_secs(10));
    tmux.until("both finished", T, |s| s.contains("Finished (2)") && s.contains("Running (0)"));

    // A new task from the form: n, Tab Tab to the prompt, type, ctrl-s.
    tmux.keys(&["n"]);
    tmux.until("the form", T, |s| s.contains("new task"));
    tmux.keys(&["Tab", "Tab"]);
    tmux.keys(&["-l", "echo made in the dashboard"]);
    tmux.keys(&["C-s"]);
    tmux.until("the new task", T, |s| s.contains("echo made in the dash"));
    let made =
        env.list().into_iter().find(|t| t["prompt"] == "echo made in the dashboard").unwrap();
    assert_eq!(made["agent"], "shell");
    env.wait_status(made["id"].as_str().unwrap(), "completed", Duration::from_secs(10));

    // q leaves the dashboard; the shell is back, the terminal restored; tasks keep running.
    let still = env.submit(&["--agent", "fake", "1000 0.1 0"]);
    env.wait_status(&still, "running", Duration::from_secs(10));
    tmux.keys(&["q"]);
    let back = |s: &str| {
        !s.contains("Pending (") && s.contains("paneherd ui") && common::tmux::prompt_back(s)
    };
    // Seen twice in many runs of the whole suite, never alone: the shell not back within T.
    // Then say what the dashboard's process was doing (its threads' kernel waits).
    let deadline = std::time::Instant::now() + T;
    let screen = loop {
        let s = tmux.screen();
        if back(&s) {
            break s;
        }
        if std::time::Instant::now() > deadline {
            let ps = std::process::Command::new("sh")
                .args(["-c", "for p in $(pgrep -f 'paneherd.* ui'); do echo \"== $p $(tr '\\0' ' ' < /proc/$p/cmdline)\"; for t in /proc/$p/task/*; do echo \"$(cat $t/comm) $(cat $t/wchan) $(cat $t/stat | cut -d' ' -f3)\"; done; done"])
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_default();
            panic!("the shell is not back after q; screen:\n{s}\nprocesses:\n{ps}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(!screen.contains("┌ tasks"), "alternate screen left:\n{screen}");
    tmux.keys(&["echo", "Space", "shell-ok", "Enter"]);
    tmux.until("the shell answers", T, |s| s.lines().any(|l| l.trim() == "shell-ok"));
    assert_eq!(env.task(&still)["status"], "running", "agents keep running after q");
    env.ok(&["cancel", "--all"]);
}

#[test]
fn a_stopped_daemon_is_started_again_on_request_and_a_lost_one_by_itself() {
    let env = Env::new(&config_with(""));
    let tmux = Tmux::start(&env, 160, 48, "sh", &[]);
    let bin = Path::new(common::BIN).parent().unwrap().display().to_string();
    let cmd = format!(
        "export PATH={bin}:$PATH PANEHERD_DATA_DIR={} PANEHERD_RUNTIME_DIR={} PANEHERD_CONFIG={}; paneherd ui",
        env.data().display(),
        env.runtime().display(),
        env.config().display()
    );
    tmux.keys(&[&cmd, "Enter"]);
    tmux.until("the dashboard", T, |s| s.contains("Pending (0)"));
    let first = env.daemon_pid().expect("the dashboard started a daemon");

    // `daemon stop`: the dashboard says so and does not start another.
    env.ok(&["daemon", "stop"]);
    tmux.until("stopped", T, |s| s.contains("the daemon was stopped: S starts it"));
    std::thread::sleep(Duration::from_millis(1500));
    let out = env.run(&["daemon", "status"]);
    assert_eq!(out.status.code(), Some(3), "no daemon was started behind the user's back");
    // S starts it; the dashboard is live again (a task submitted now shows).
    tmux.keys(&["S"]);
    tmux.until("up again", T, |s| !s.contains("daemon was stopped") && s.contains("Pending ("));
    let second = env.daemon_pid().expect("S started a daemon");
    assert_ne!(first, second);
    let id = env.submit(&["--agent", "fake", "2 0.1 0"]);
    tmux.until("the new task", T, |s| s.contains(&id));

    // Killed unasked: the dashboard connects again by itself (to a new daemon).
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(second), nix::sys::signal::Signal::SIGKILL)
        .unwrap();
    let deadline = std::time::Instant::now() + T;
    while env.daemon_pid().is_none_or(|p| p == second) {
        assert!(std::time::Instant::now() < deadline, "no new daemon: {}", tmux.screen());
        std::thread::sleep(Duration::from_millis(50));
    }
    tmux.until("reconnected", T, |s| {
        !s.contains("went away") && s.contains(&id) && s.contains("Pending (")
    });
    tmux.keys(&["q"]);
    env.stop_daemon();
}
