//! The dashboard end to end: the real binary in a private tmux server (socket in the test's
//! temp dir), driven with send-keys and read with capture-pane.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Env, config_with};

struct Tmux {
    sock: std::path::PathBuf,
}

impl Tmux {
    fn start(env: &Env) -> Tmux {
        let sock = env.path().join("tmux.sock");
        assert!(sock.starts_with(env.path()), "never the default server");
        let ok = Command::new("tmux")
            .arg("-S")
            .arg(&sock)
            .args(["-f", "/dev/null", "new-session", "-d", "-x", "160", "-y", "48", "sh"])
            .env("TERM", "xterm-256color")
            .status()
            .unwrap()
            .success();
        assert!(ok);
        Tmux { sock }
    }
    fn run(&self, args: &[&str]) -> String {
        let out = Command::new("tmux").arg("-S").arg(&self.sock).args(args).output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
    fn keys(&self, keys: &[&str]) {
        let mut a = vec!["send-keys", "-t", "%0"];
        a.extend_from_slice(keys);
        self.run(&a);
    }
    fn screen(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", "%0"])
    }
    fn until(&self, what: &str, f: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let s = self.screen();
            if f(&s) {
                return s;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}; screen:\n{s}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux").arg("-S").arg(&self.sock).arg("kill-server").status();
    }
}

#[test]
fn dashboard_follows_tasks_cancels_creates_and_quits_cleanly() {
    let env = Env::new(&config_with("[concurrency]\ndefault = 1\n"));
    let tmux = Tmux::start(&env);
    let bin = Path::new(common::BIN).parent().unwrap().display().to_string();
    let cmd = format!(
        "export PATH={bin}:$PATH PANEHERD_DATA_DIR={} PANEHERD_RUNTIME_DIR={} PANEHERD_CONFIG={}; paneherd ui",
        env.data().display(),
        env.runtime().display(),
        env.config().display()
    );
    tmux.keys(&[&cmd, "Enter"]);
    tmux.until("the empty dashboard", |s| s.contains("Pending (0)") && s.contains("No tasks yet"));

    // Tasks submitted with the CLI appear and move between groups.
    let long = env.submit(&["--agent", "fake", "1000 0.1 0"]);
    let short = env.submit(&["--agent", "fake", "3 0.1 0"]);
    tmux.until("one running, one pending", |s| {
        s.contains("Running (1)") && s.contains("Pending (1)")
    });

    // Select the running one (g: first row, the pending one; j: the next, the running one) and
    // cancel it: c, then y.
    tmux.keys(&["g"]);
    tmux.keys(&["j"]);
    tmux.keys(&["c"]);
    tmux.until("the confirmation", |s| s.contains(&format!("Cancel {long}? (y/n)")));
    tmux.keys(&["y"]);
    let t = env.wait_status(&long, "cancelled", Duration::from_secs(10));
    assert_eq!(t["reason"], "cancelled by user");
    // The queued one then runs and finishes.
    env.wait_status(&short, "completed", Duration::from_secs(10));
    tmux.until("both finished", |s| s.contains("Finished (2)") && s.contains("Running (0)"));

    // A new task from the form: n, Tab Tab to the prompt, type, ctrl-s.
    tmux.keys(&["n"]);
    tmux.until("the form", |s| s.contains("new task"));
    tmux.keys(&["Tab", "Tab"]);
    tmux.keys(&["-l", "echo made in the dashboard"]);
    tmux.keys(&["C-s"]);
    tmux.until("the new task", |s| s.contains("echo made in the dash"));
    let made =
        env.list().into_iter().find(|t| t["prompt"] == "echo made in the dashboard").unwrap();
    assert_eq!(made["agent"], "shell");
    env.wait_status(made["id"].as_str().unwrap(), "completed", Duration::from_secs(10));

    // q leaves the dashboard; the shell is back, the terminal restored; tasks keep running.
    let still = env.submit(&["--agent", "fake", "1000 0.1 0"]);
    env.wait_status(&still, "running", Duration::from_secs(10));
    tmux.keys(&["q"]);
    let screen =
        tmux.until("the shell again", |s| !s.contains("Pending (") && s.contains("paneherd ui"));
    assert!(!screen.contains("┌ tasks"), "alternate screen left:\n{screen}");
    tmux.keys(&["echo", "Space", "shell-ok", "Enter"]);
    tmux.until("the shell answers", |s| s.lines().any(|l| l.trim() == "shell-ok"));
    assert_eq!(env.task(&still)["status"], "running", "agents keep running after q");
    env.ok(&["cancel", "--all"]);
}
