//! A private paneherd for a benchmark: its data, runtime and config in a temp dir, no tmux,
//! no session bus; its daemon stopped at the end.

use std::path::Path;
use std::process::{Command, Stdio};

pub const BIN: &str = env!("CARGO_BIN_EXE_paneherd");

/// `paneherd args` with the private dirs under `dir`, run in `dir`/`cwd`.
pub fn command(dir: &Path, cwd: &str, args: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.args(args)
        .env("HOME", dir.join("home"))
        .env("PANEHERD_CONFIG", dir.join("config.toml"))
        .env("PANEHERD_DATA_DIR", dir.join("data"))
        .env("PANEHERD_RUNTIME_DIR", dir.join("rt"))
        .env("DBUS_SESSION_BUS_ADDRESS", format!("unix:path={}", dir.join("no-bus").display()))
        .env_remove("TMUX")
        .current_dir(dir.join(cwd));
    c
}

pub struct Env {
    pub dir: tempfile::TempDir,
}

impl Env {
    /// A temp dir under the target dir with `home/` and `config.toml` holding `config`.
    pub fn new(config: &str) -> Env {
        let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
        std::fs::create_dir_all(dir.path().join("home")).unwrap();
        std::fs::write(dir.path().join("config.toml"), config).unwrap();
        Env { dir }
    }

    pub fn cmd(&self, cwd: &str, args: &[&str]) -> Command {
        command(self.dir.path(), cwd, args)
    }

    /// Runs and asserts success; its standard output.
    pub fn ok(&self, cwd: &str, args: &[&str]) -> String {
        let out = self.cmd(cwd, args).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }

    pub fn daemon_pid(&self) -> u32 {
        let lock = std::fs::read_to_string(self.dir.path().join("data/daemon.lock")).unwrap();
        lock.trim().parse().unwrap()
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        let mut c = self.cmd("", &["daemon", "stop"]);
        let _ = c.stdout(Stdio::null()).stderr(Stdio::null()).status();
    }
}
