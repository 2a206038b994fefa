//! A private tmux server for a test: its socket is in the test's temp dir (never the default
//! server), it is driven with send-keys and read with capture-pane, and killed on drop.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use super::Env;

pub struct Tmux {
    pub sock: PathBuf,
}

/// A pane, as `list-panes` says.
#[derive(Debug, Clone)]
pub struct Pane {
    pub window: String,
    pub id: String,
    pub w: u16,
    pub h: u16,
}

impl Tmux {
    /// A server with one `w`×`h` session running `program` (a shell) with the environment
    /// `vars` set in it.
    pub fn start(env: &Env, w: u16, h: u16, program: &str, vars: &[(&str, String)]) -> Tmux {
        let sock = env.path().join("tmux.sock");
        assert!(sock.starts_with(env.path()), "never the default server");
        let mut cmd = Command::new("tmux");
        cmd.arg("-S").arg(&sock).args(["-f", "/dev/null", "new-session", "-d"]);
        cmd.args(["-x", &w.to_string(), "-y", &h.to_string(), "-s", "main"]);
        for (k, v) in vars {
            cmd.arg("-e").arg(format!("{k}={v}"));
        }
        let ok = cmd.arg(program).env("TERM", "xterm-256color").status().unwrap().success();
        assert!(ok, "tmux did not start");
        let tmux = Tmux { sock };
        // Keys typed before the shell's first prompt are echoed by the tty first and the prompt
        // printed after them, so the command's line ends in a stray prompt ("# #" on return).
        if matches!(program, "sh" | "bash" | "dash") {
            tmux.until("the shell's first prompt", Duration::from_secs(10), prompt_back);
        }
        tmux
    }

    pub fn run(&self, args: &[&str]) -> String {
        let out = Command::new("tmux").arg("-S").arg(&self.sock).args(args).output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `paneherd run ARGS` as if typed in pane %0 of this server (with its `TMUX` and
    /// `TMUX_PANE`); the id it printed.
    pub fn run_from(&self, env: &Env, args: &[&str]) -> String {
        let mut a = vec!["run"];
        a.extend_from_slice(args);
        let out = env
            .cmd(&a)
            .env("TMUX", format!("{},1,0", self.sock.display()))
            .env("TMUX_PANE", "%0")
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    pub fn keys(&self, keys: &[&str]) {
        let mut a = vec!["send-keys", "-t", "%0"];
        a.extend_from_slice(keys);
        self.run(&a);
    }

    pub fn screen(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", "%0"])
    }

    /// `window_name pane_id WxH` of every pane.
    pub fn panes(&self) -> Vec<String> {
        self.run(&[
            "list-panes",
            "-a",
            "-F",
            "#{window_name} #{pane_id} #{pane_width}x#{pane_height}",
        ])
        .lines()
        .map(str::to_string)
        .collect()
    }

    /// Every pane of the server.
    pub fn pane_list(&self) -> Vec<Pane> {
        self.run(&[
            "list-panes",
            "-a",
            "-F",
            "#{window_name}\t#{pane_id}\t#{pane_width}\t#{pane_height}",
        ])
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            Pane {
                window: f[0].into(),
                id: f[1].into(),
                w: f[2].parse().unwrap(),
                h: f[3].parse().unwrap(),
            }
        })
        .collect()
    }

    /// The panes outside paneherd's overflow windows.
    pub fn main_window(&self) -> Vec<Pane> {
        self.pane_list().into_iter().filter(|p| !p.window.starts_with("paneherd-agents")).collect()
    }

    /// The panes in paneherd's overflow windows.
    pub fn overflow(&self) -> Vec<Pane> {
        self.pane_list().into_iter().filter(|p| p.window.starts_with("paneherd-agents")).collect()
    }

    /// Waits (polling tmux, in the test only) until `f` holds of the server.
    pub fn until_panes(&self, what: &str, within: Duration, f: impl Fn(&Tmux) -> bool) {
        let deadline = Instant::now() + within;
        while !f(self) {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for: {what}\npanes: {:#?}",
                self.pane_list()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits (polling the screen, in the test only) until `f` holds; returns the screen.
    pub fn until(&self, what: &str, within: Duration, f: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + within;
        loop {
            let s = self.screen();
            if f(&s) {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; screen:\n{s}\npanes: {:#?}",
                self.panes()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Whether a shell's prompt (`# ` or `$ `) is the screen's last line: the shell reads again
/// (keys typed before would race its own echo).
pub fn prompt_back(screen: &str) -> bool {
    screen
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .is_some_and(|l| matches!(l.trim(), "#" | "$"))
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux").arg("-S").arg(&self.sock).arg("kill-server").status();
    }
}
