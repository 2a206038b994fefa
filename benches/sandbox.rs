//! What a bubblewrap sandbox adds to a task's start: the delay from just before `paneherd run`
//! to the agent's first instruction (the agent prints the clock as its first act), sandboxed
//! against the same unsandboxed, alternating, in the same run (target: ≤ 10 ms more).
//!
//! `cargo bench --bench sandbox` prints a table (`PANEHERD_BENCH_ROUNDS`, default 31); the
//! figures go into the README.

#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

#[path = "common/env.rs"]
mod env;

use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

struct Bench {
    env: env::Env,
}

impl Bench {
    fn paneherd(&self, args: &[&str]) -> String {
        self.env.ok("work", args)
    }

    /// Milliseconds from just before `paneherd run` to the agent's first act.
    fn delay_ms(&self, sandbox: &str) -> f64 {
        let before = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
        let out = self.paneherd(&[
            "run",
            "--agent",
            "shell",
            "--sandbox",
            sandbox,
            "--wait",
            "--json",
            "--",
            "date +%s%N",
        ]);
        let t: serde_json::Value = serde_json::from_str(&out).unwrap();
        let at = t["result"].as_str().and_then(|r| r.trim().parse::<u128>().ok());
        let at = at.unwrap_or_else(|| panic!("not a time: {t:#}"));
        (at - before) as f64 / 1e6
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let ok = Command::new("bwrap")
        .args(["--ro-bind", "/", "/", "--unshare-pid", "--", "true"])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        println!("skipped: bwrap does not run here");
        return;
    }
    let rounds: usize =
        std::env::var("PANEHERD_BENCH_ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(31);
    let env = env::Env::new("");
    for d in ["home/.ssh", "work"] {
        std::fs::create_dir_all(env.dir.path().join(d)).unwrap();
    }
    let b = Bench { env };
    b.paneherd(&["list"]);
    // Warm: bwrap and sh in the page cache for both alike.
    b.delay_ms("bwrap");
    b.delay_ms("none");
    let (mut boxed, mut plain) = (vec![], vec![]);
    for i in 0..rounds {
        // Alternating which goes first, so neither always follows the other.
        if i % 2 == 0 {
            boxed.push(b.delay_ms("bwrap"));
            plain.push(b.delay_ms("none"));
        } else {
            plain.push(b.delay_ms("none"));
            boxed.push(b.delay_ms("bwrap"));
        }
    }
    let (s, p) = (median(boxed), median(plain));
    println!("median of {rounds}");
    println!("| measure | ms |");
    println!("|---|---|");
    println!("| paneherd run → agent's first act, unsandboxed | {p:.2} |");
    println!("| paneherd run → agent's first act, --sandbox bwrap | {s:.2} |");
    println!("| what the sandbox adds | {:.2} (target ≤ 10) |", s - p);
}
