//! Test harness: a private data, runtime and config dir per test, the real `paneherd` binary,
//! and a guard that stops the test's daemon (and only it).

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod hosts;
pub mod model;
pub mod sshd;
pub mod tmux;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_paneherd");

pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

pub struct Env {
    pub dir: tempfile::TempDir,
    pub extra: Vec<(String, String)>,
}

impl Env {
    /// A fresh environment whose config is `config` (TOML text).
    pub fn new(config: &str) -> Env {
        let dir = tempfile::Builder::new().prefix("paneherd-test").tempdir().unwrap();
        std::fs::write(dir.path().join("config.toml"), config).unwrap();
        std::fs::create_dir_all(dir.path().join("home")).unwrap();
        Env { dir, extra: vec![] }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
    pub fn data(&self) -> PathBuf {
        self.path().join("data")
    }
    pub fn runtime(&self) -> PathBuf {
        self.path().join("rt")
    }
    pub fn config(&self) -> PathBuf {
        self.path().join("config.toml")
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.args(args);
        self.apply(&mut c);
        c
    }

    /// Gives `c` this test's private environment (data, runtime and config dirs, HOME, no
    /// session bus, no tmux), and runs it in the test's dir.
    pub fn apply(&self, c: &mut Command) {
        c.env("PANEHERD_DATA_DIR", self.data())
            .env("PANEHERD_RUNTIME_DIR", self.runtime())
            .env("PANEHERD_CONFIG", self.config())
            .env("HOME", self.path().join("home"))
            .env_remove("TMUX")
            .env_remove("TMUX_PANE")
            // Never the user's desktop: no session bus unless a test brings its own.
            .env(
                "DBUS_SESSION_BUS_ADDRESS",
                format!("unix:path={}", self.path().join("no-bus").display()),
            )
            .current_dir(self.path());
        for (k, v) in &self.extra {
            c.env(k, v);
        }
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    /// Runs and asserts exit code 0; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "paneherd {args:?} failed ({:?}):\nstdout: {}\nstderr: {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `run ...` and the new task's id.
    pub fn submit(&self, args: &[&str]) -> String {
        let mut a = vec!["run"];
        a.extend_from_slice(args);
        self.ok(&a).trim().to_string()
    }

    pub fn list(&self) -> Vec<Value> {
        let s = self.ok(&["list", "--json"]);
        serde_json::from_str::<Value>(&s).unwrap().as_array().unwrap().clone()
    }

    pub fn task(&self, id: &str) -> Value {
        let s = self.ok(&["output", id, "--json"]);
        serde_json::from_str(&s).unwrap()
    }

    /// Polls (in the test, not in paneherd) until the task's status is `status`.
    pub fn wait_status(&self, id: &str, status: &str, within: Duration) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let t = self.task(id);
            if t["status"] == status {
                return t;
            }
            assert!(Instant::now() < deadline, "task {id} not {status} in time: {t:#}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until task `id`'s record on disk says `status`: what a daemon killed now leaves
    /// (the daemon answers from memory before its write of the record lands).
    pub fn wait_recorded(&self, id: &str, status: &str) {
        let file = self.data().join("tasks").join(format!("{id}.md"));
        let line = format!("status = \"{status}\"");
        let deadline = Instant::now() + Duration::from_secs(15);
        while !std::fs::read_to_string(&file).is_ok_and(|t| t.contains(&line)) {
            assert!(Instant::now() < deadline, "{id} never recorded {status}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The token of a running task, as its agent has it (`PANEHERD_TASK_TOKEN` in its
    /// environment): what a test standing in for the agent's own hooks needs.
    pub fn task_token(&self, id: &str) -> String {
        let pid = self.task(id)["pid"].as_u64().expect("a running task's pid");
        let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
        environ
            .split(|b| *b == 0)
            .find_map(|kv| kv.strip_prefix(b"PANEHERD_TASK_TOKEN="))
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .expect("the task's token in its environment")
    }

    pub fn daemon_pid(&self) -> Option<i32> {
        let s = std::fs::read_to_string(self.data().join("daemon.lock")).ok()?;
        let pid: i32 = s.trim().parse().ok()?;
        pid_alive(pid as i64).then_some(pid)
    }

    pub fn stop_daemon(&self) {
        if self.daemon_pid().is_some() {
            let _ = self.run(&["daemon", "stop"]);
        }
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        if let Some(pid) = self.daemon_pid() {
            let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
        }
        // A failed test's files (task records, logs, the daemon's log) kept to look at, when
        // `PANEHERD_TEST_KEEP=1`.
        if std::thread::panicking() && std::env::var_os("PANEHERD_TEST_KEEP").is_some() {
            let Ok(spare) = tempfile::tempdir() else { return };
            let failed = std::mem::replace(&mut self.dir, spare);
            eprintln!("kept the failed test's files in {}", failed.keep().display());
        }
    }
}

/// A config with the fake agent (`{prompt}` = "LINES DELAY CODE") and the arg recorder.
pub fn config_with(extra: &str) -> String {
    format!(
        r#"
{extra}

[agents.fake]
command = ["{fake}", "{{prompt}}"]

[agents.args]
command = ["{args}", "{{prompt}}", "--title={{title}}", "--id={{task_id}}"]
"#,
        fake = fixture("fake-agent").display(),
        args = fixture("echo-args").display(),
    )
}

/// Where `.ci/tools` installs the third-party programs the tests drive for real (the official
/// MCP Python SDK, the agent CLIs), at pinned versions. Installs what is missing first (`.ci/run`
/// does so before the tests; a test run without it does it here, once, under a lock).
pub fn ci_tools() -> PathBuf {
    static TOOLS: std::sync::OnceLock<Result<PathBuf, String>> = std::sync::OnceLock::new();
    let got = TOOLS.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let dir = root.join("target/ci-tools");
        let out = Command::new("bash").arg(root.join(".ci/tools")).arg(&dir).output();
        match out {
            Ok(o) if o.status.success() => Ok(dir),
            Ok(o) => Err(format!(
                ".ci/tools could not install the pinned third-party programs ({}):\n{}{}",
                o.status,
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            )),
            Err(e) => Err(format!("cannot run .ci/tools: {e}")),
        }
    });
    match got {
        Ok(dir) => dir.clone(),
        Err(e) => panic!("{e}"),
    }
}

pub fn pid_alive(pid: i64) -> bool {
    // A zombie still has a /proc entry; check its state.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => !s.rsplit(')').next().unwrap_or("").trim_start().starts_with('Z'),
        Err(_) => false,
    }
}

/// Runs `program` with `args`; whether it succeeded.
pub fn run_ok(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A git repository made at `dir` (branch `main`, an identity of its own, one commit of
/// `a.txt` holding "a"), with no global or system git config read.
pub fn git_repo(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let git = |args: &[&str]| {
        let ok = Command::new("git")
            .args(args)
            .current_dir(dir)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .status()
            .unwrap()
            .success();
        assert!(ok, "git {args:?}");
    };
    git(&["init", "-q", "-b", "main"]);
    git(&["config", "user.name", "t"]);
    git(&["config", "user.email", "t@t"]);
    std::fs::write(dir.join("a.txt"), "a\n").unwrap();
    git(&["add", "."]);
    git(&["commit", "-qm", "init"]);
}
