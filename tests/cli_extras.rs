//! What users of every CLI expect (issue 20): completions that complete task ids, agents and
//! categories as they are now, `output --follow`, `list` filters, a manual page.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Read;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{Env, config_with};

/// What the shell `shell` is offered for the word at `index` of `words`.
fn complete(env: &Env, shell: &str, index: usize, words: &[&str]) -> String {
    let mut args = vec!["--", "paneherd"];
    args.extend_from_slice(words);
    let out = env
        .cmd(&args)
        .env("COMPLETE", shell)
        .env("_CLAP_COMPLETE_INDEX", index.to_string())
        .env("_CLAP_IFS", "\n")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn completions_offer_task_ids_with_their_titles_agents_and_categories() {
    let env = Env::new(&config_with("[categories.deep]\nagent = \"fake\"\n"));
    let id = env.submit(&["--agent", "shell", "--title", "find auth code", "--", "sleep 30"]);
    let done = env.submit(&["--agent", "shell", "--", "true"]);
    env.ok(&["wait", &done]);
    // zsh shows each with its description: the status and the title.
    let offered = complete(&env, "zsh", 2, &["output", &id[..3]]);
    assert!(offered.contains(&format!("{id}:running · find auth code")), "{offered}");
    // `cancel` offers only what is still at work.
    let offered = complete(&env, "bash", 2, &["cancel", ""]);
    assert!(offered.lines().any(|l| l == id), "{offered}");
    assert!(!done.is_empty() && !offered.contains(&done), "{offered}");
    // Agents and categories of the config.
    let offered = complete(&env, "bash", 3, &["run", "--agent", "fa"]);
    assert_eq!(offered.trim(), "fake");
    let offered = complete(&env, "bash", 3, &["run", "--category", ""]);
    assert!(offered.lines().any(|l| l == "deep"), "{offered}");
    // The registration a shell sources calls paneherd itself.
    let script = env.ok(&["completions", "bash"]);
    assert!(script.contains("COMPLETE=\"bash\"") && script.contains("complete "), "{script}");
    env.ok(&["cancel", "--all"]);
    env.stop_daemon();
}

#[test]
fn completing_starts_no_daemon() {
    let env = Env::new(&config_with(""));
    let offered = complete(&env, "bash", 2, &["output", ""]);
    assert!(offered.lines().all(|l| l.starts_with("--")), "only the options: {offered}");
    assert!(env.daemon_pid().is_none(), "no daemon for a completion");
}

#[test]
fn output_follow_streams_the_log_until_the_end_and_exits_with_its_status() {
    let env = Env::new(&config_with(""));
    let gate = env.path().join("go");
    let script = format!(
        "echo first; while [ ! -f {} ]; do sleep 0.05; done; echo second; exit 3",
        gate.display()
    );
    let id = env.submit(&["--agent", "shell", "--", &script]);
    let mut follow = env.cmd(&["output", &id, "--follow"]).stdout(Stdio::piped()).spawn().unwrap();
    let mut stdout = follow.stdout.take().unwrap();
    // The first line arrives while the task still runs.
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut buf = [0u8; 256];
    while !String::from_utf8_lossy(&seen).contains("first") {
        assert!(Instant::now() < deadline, "nothing followed: {seen:?}");
        let n = stdout.read(&mut buf).unwrap();
        seen.extend_from_slice(&buf[..n]);
    }
    assert_eq!(env.task(&id)["status"], "running");
    std::fs::write(&gate, "").unwrap();
    stdout.read_to_end(&mut seen).unwrap();
    let status = follow.wait().unwrap();
    assert_eq!(String::from_utf8_lossy(&seen), "first\nsecond\n");
    assert_eq!(status.code(), Some(1), "it ended in error: exit 1");
    // An ended task: its whole log, at once.
    let out = env.run(&["output", &id, "--follow"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "first\nsecond\n");
    env.stop_daemon();
}

#[test]
fn list_filters_by_agent_category_text_and_time() {
    let env = Env::new(&config_with("[categories.deep]\nagent = \"fake\"\n"));
    let a = env.submit(&["--agent", "shell", "--title", "Parse the config", "--", "true"]);
    let b = env.submit(&["--category", "deep", "1 0 0"]);
    env.ok(&["wait", &a, &b]);
    let ids = |args: &[&str]| -> Vec<String> {
        let mut all = vec!["list", "--json"];
        all.extend_from_slice(args);
        let v: serde_json::Value = serde_json::from_str(&env.ok(&all)).unwrap();
        v.as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap().to_string()).collect()
    };
    assert_eq!(ids(&["--agent", "shell"]), vec![a.clone()]);
    assert_eq!(ids(&["--category", "deep"]), vec![b.clone()]);
    assert_eq!(ids(&["--grep", "PARSE"]), vec![a.clone()]);
    assert_eq!(ids(&["--since", "1h"]).len(), 2);
    assert!(ids(&["--since", "2099-01-01T00:00:00Z"]).is_empty());
    assert_eq!(env.ok(&["list", "--agent", "nobody"]).trim(), "No task matches.");
    let bad = env.run(&["list", "--since", "soon"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("a time ago"));
    env.stop_daemon();
}

#[test]
fn the_manual_page_renders() {
    let env = Env::new(&config_with(""));
    let page = env.ok(&["man"]);
    assert!(page.starts_with(".ie") && page.contains(".TH paneherd 1"), "{}", &page[..200]);
    let version = format!("paneherd {}", env!("CARGO_PKG_VERSION"));
    assert!(page.contains(&format!(".TH paneherd 1  \"{version}\"")), "{}", &page[..200]);
    let dir = env.path().join("man1");
    env.ok(&["man", "--dir", dir.to_str().unwrap()]);
    let run = std::fs::read_to_string(dir.join("paneherd-run.1")).unwrap();
    assert!(run.contains("\\-\\-worktree"), "{run}");
    // And man reads it, when man is there.
    if let Ok(out) = std::process::Command::new("man")
        .arg("-l")
        .arg(dir.join("paneherd-run.1"))
        .env("MANPAGER", "cat")
        .output()
        && out.status.success()
    {
        assert!(String::from_utf8_lossy(&out.stdout).contains("paneherd-run"));
    }
}
