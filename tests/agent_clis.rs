//! Each agent preset against the real CLI (installed at a pinned version by `.ci/tools`), with
//! no credentials: its argv must get past the CLI's own argument parser, for an ordinary prompt
//! and for prompts that begin with `-`, and fail where a run without credentials fails (at
//! authentication or the network), never with a usage error, a help text or a version line.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::{Env, ci_tools};
use serde_json::Value;

/// Prompts an argument parser could take for options.
const PROMPTS: [&str; 3] =
    ["Fix the failing test in src/lib.rs", "-v flag is broken, fix it", "--help me"];

/// What only an argument parser says (usage errors, help, a version line).
const PARSER_WORDS: [&str; 12] = [
    "unknown option",
    "unexpected argument",
    "Usage:",
    "usage:",
    "expected one argument",
    "Not enough arguments",
    "You must provide a message",
    "No input provided",
    "show help",
    "(Claude Code)",
    "error: argument",
    "unrecognized arguments",
];

/// An environment whose PATH finds the pinned CLIs, with no credentials of the user's.
fn env_for() -> Env {
    let bin = ci_tools().join("agents/bin");
    let mut env = Env::new("");
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    env.extra.push(("PATH".into(), path));
    env
}

fn run(env: &Env, agent: &str, model: Option<&str>, prompt: &str) -> String {
    let mut args = vec!["run", "--agent", agent];
    if let Some(m) = model {
        args.extend(["--model", m]);
    }
    args.extend(["--", prompt]);
    let mut cmd = env.cmd(&args);
    for key in [
        "ANTHROPIC_API_KEY",
        "OPENAI_API_KEY",
        "GEMINI_API_KEY",
        "GOOGLE_API_KEY",
        "OPENROUTER_API_KEY",
        "CODEX_API_KEY",
    ] {
        cmd.env_remove(key);
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{agent}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Waits until the task has ended or its output holds `sign` (an agent that retries for
/// ever without a network); returns the task and its output.
fn settle(env: &Env, id: &str, sign: &str, within: Duration) -> (Value, String) {
    let deadline = Instant::now() + within;
    loop {
        let t = env.task(id);
        let text = t["result"].as_str().or(t["tail"].as_str()).unwrap_or("").to_string();
        let ended = !matches!(t["status"].as_str(), Some("pending" | "running"));
        if ended || (!sign.is_empty() && text.contains(sign)) {
            return (t, text);
        }
        assert!(Instant::now() < deadline, "{id} did not settle: {t:#}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Runs the preset with each prompt and checks how it failed.
fn check_preset(agent: &str, model: Option<&str>, failure: &[&str], sign: &str) {
    let env = env_for();
    for prompt in PROMPTS {
        let id = run(&env, agent, model, prompt);
        let (t, text) = settle(&env, &id, sign, Duration::from_secs(120));
        let all = format!("{text}\n{}", t["reason"].as_str().unwrap_or(""));
        for w in PARSER_WORDS {
            assert!(!all.contains(w), "{agent} with {prompt:?}: the parser spoke ({w:?}):\n{all}");
        }
        assert!(
            failure.iter().any(|f| all.contains(f)),
            "{agent} with {prompt:?}: not the failure expected without credentials {failure:?}:\n{t:#}"
        );
        assert_ne!(
            t["status"], "completed",
            "{agent} with {prompt:?}: a failed run is not a success"
        );
        env.ok(&["cancel", &id]);
    }
}

#[test]
fn claude_preset() {
    check_preset("claude", None, &["Not logged in"], "");
}

#[test]
fn opencode_preset() {
    // With a model of a provider it has no key for, it fails at once (its own default model
    // needs no key and retries a minute without a network).
    check_preset("opencode", Some("anthropic/claude-sonnet-4-5"), &["Error", "error"], "");
}

#[test]
fn codex_preset() {
    // Without a network it retries for ever; with one, it fails with a 401.
    check_preset("codex", None, &["Reconnecting", "401", "Unauthorized"], "Reconnecting");
}

#[test]
fn gemini_preset() {
    check_preset("gemini", None, &["Please set an Auth method"], "");
}

#[test]
fn aider_preset_exit_0_after_an_authentication_error_is_an_error() {
    let env = env_for();
    let id = run(&env, "aider", None, "-v flag is broken, fix it");
    let (t, text) = settle(&env, &id, "", Duration::from_secs(120));
    for w in PARSER_WORDS {
        assert!(!text.contains(w), "the parser spoke ({w:?}):\n{text}");
    }
    assert_eq!(t["status"], "error", "{t:#}");
    assert_eq!(t["exit_code"], 0, "aider exits 0");
    let reason = t["reason"].as_str().unwrap();
    assert!(reason.starts_with("litellm.AuthenticationError"), "{reason}");
}
