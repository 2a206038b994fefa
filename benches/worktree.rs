//! What a worktree costs a task: on a repository of 10,000 files, the delay from `paneherd run`
//! to the agent's start with `--worktree`, against the same without it plus git's own
//! `worktree add` measured in the same run (target: at most git's time + 20 ms).
//!
//! `cargo bench --bench worktree` prints a table; the figures go into the README.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Instant, SystemTime};

use paneherd::core::timefmt;

const BIN: &str = env!("CARGO_BIN_EXE_paneherd");
const FILES: usize = 10_000;
const ROUNDS: usize = 15;

struct Bench {
    dir: tempfile::TempDir,
    repo: PathBuf,
}

impl Bench {
    fn env(&self, c: &mut Command) {
        let d = self.dir.path();
        c.env("HOME", d.join("home"))
            .env("GIT_CONFIG_GLOBAL", d.join("home/.gitconfig"))
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("PANEHERD_CONFIG", d.join("config.toml"))
            .env("PANEHERD_DATA_DIR", d.join("data"))
            .env("PANEHERD_RUNTIME_DIR", d.join("rt"))
            .env_remove("TMUX")
            .current_dir(&self.repo);
    }

    fn git(&self, args: &[&str]) {
        let mut c = Command::new("git");
        c.args(args).stdout(Stdio::null());
        self.env(&mut c);
        assert!(c.status().unwrap().success(), "git {args:?}");
    }

    fn paneherd(&self, args: &[&str]) -> String {
        let mut c = Command::new(BIN);
        c.args(args);
        self.env(&mut c);
        let out = c.output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }

    /// Milliseconds from just before `paneherd run` to the agent's start (the daemon's clock).
    fn delay_ms(&self, worktree: bool) -> f64 {
        let mut args = vec!["run", "--agent", "shell"];
        if worktree {
            args.push("--worktree");
        }
        args.extend(["--", "true"]);
        let before = SystemTime::now();
        let id = self.paneherd(&args).trim().to_string();
        self.paneherd(&["wait", &id]);
        let t: serde_json::Value =
            serde_json::from_str(&self.paneherd(&["output", &id, "--json"])).unwrap();
        let started = timefmt::parse(t["started_at"].as_str().unwrap()).unwrap();
        let before: chrono::DateTime<chrono::Utc> = before.into();
        (started - before).num_microseconds().unwrap() as f64 / 1000.0
    }
}

impl Drop for Bench {
    fn drop(&mut self) {
        let mut c = Command::new(BIN);
        c.args(["daemon", "stop"]).stdout(Stdio::null()).stderr(Stdio::null());
        self.env(&mut c);
        let _ = c.status();
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    std::fs::create_dir_all(dir.path().join("home")).unwrap();
    std::fs::write(
        dir.path().join("home/.gitconfig"),
        "[user]\n\tname = Bench\n\temail = bench@example.com\n[init]\n\tdefaultBranch = main\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("config.toml"), "").unwrap();
    let repo = dir.path().join("repo");
    for i in 0..FILES {
        let d = repo.join(format!("src/m{:03}", i / 100));
        if i % 100 == 0 {
            std::fs::create_dir_all(&d).unwrap();
        }
        std::fs::write(d.join(format!("f{i}.rs")), format!("pub fn f{i}() -> usize {{ {i} }}\n"))
            .unwrap();
    }
    let b = Bench { dir, repo };
    b.git(&["init", "-q"]);
    b.git(&["add", "-A"]);
    b.git(&["commit", "-qm", "10,000 files"]);
    b.paneherd(&["list"]);
    // Warm: the page cache holds the repository for every measure alike.
    b.delay_ms(true);
    b.delay_ms(false);

    let (mut git, mut with, mut without) = (vec![], vec![], vec![]);
    let plain = b.dir.path().join("plain");
    for i in 0..ROUNDS {
        let path = plain.join(format!("w{i}"));
        let t = Instant::now();
        b.git(&[
            "worktree",
            "add",
            "-q",
            "-b",
            &format!("plain-{i}"),
            &path.display().to_string(),
            "HEAD",
        ]);
        git.push(t.elapsed().as_secs_f64() * 1000.0);
        with.push(b.delay_ms(true));
        without.push(b.delay_ms(false));
    }
    let (g, w, wo) = (median(git), median(with), median(without));
    let extra = w - wo - g;
    println!("repository of {FILES} files, median of {ROUNDS}");
    println!("| measure | ms |");
    println!("|---|---|");
    println!("| git worktree add (git alone) | {g:.1} |");
    println!("| paneherd run → agent started, without --worktree | {wo:.1} |");
    println!("| paneherd run → agent started, with --worktree | {w:.1} |");
    println!("| paneherd's own cost beyond git's worktree add | {extra:.1} (target ≤ 20) |");
}
