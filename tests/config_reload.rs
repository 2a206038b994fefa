//! The daemon follows its config file: an edit is in force for what happens next, a bad edit
//! is reported and the last good config stays in force, and `config check` says which the
//! running daemon uses.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::{Env, config_with, fixture};

/// Polls (in the test) until `f` holds.
fn until(what: &str, within: Duration, f: impl Fn() -> bool) {
    let deadline = Instant::now() + within;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Saves the config as an editor does: a new file renamed over the old one.
fn save(env: &Env, text: &str) {
    let tmp = env.path().join(".config.toml.swp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, env.config()).unwrap();
}

#[test]
fn an_edited_config_is_in_force_at_once_and_a_bad_edit_keeps_the_last_good_one() {
    let base = config_with("[concurrency]\ndefault = 1\n");
    let env = Env::new(&base);
    let long = ["run", "--agent", "fake", "1000 0.1 0"];
    let ids: Vec<String> = (0..3).map(|_| env.ok(&long).trim().to_string()).collect();
    let status = |id: &str| env.task(id)["status"].as_str().unwrap().to_string();
    until("one runs", Duration::from_secs(10), || status(&ids[0]) == "running");
    assert_eq!(status(&ids[1]), "pending");
    let out = env.run(&["run", "--agent", "later", "x"]);
    assert_eq!(out.status.code(), Some(2), "no such agent yet");

    // A new agent and a higher limit: both in force without a restart.
    let agent = format!(
        "\n[agents.later]\ncommand = [\"{}\", \"{{prompt}}\"]\n",
        fixture("fake-agent").display()
    );
    save(&env, &(config_with("[concurrency]\ndefault = 3\n") + &agent));
    until("the raised limit starts the queued tasks", Duration::from_secs(5), || {
        ids.iter().all(|id| status(id) == "running")
    });
    until("the new agent is known", Duration::from_secs(5), || {
        env.run(&["run", "--agent", "later", "1 0 0"]).status.success()
    });
    let check = env.ok(&["config", "check"]);
    assert!(check.contains("uses this content"), "{check}");

    // A bad edit: reported where it is, the last good config stays in force.
    save(&env, &(config_with("[concurrency]\ndefault = \"many\"\n") + &agent));
    until("the daemon reports the bad edit", Duration::from_secs(5), || {
        env.ok(&["daemon", "status"]).contains("NOT RELOADED")
    });
    let status_text = env.ok(&["daemon", "status"]);
    assert!(status_text.contains("config.toml:3:"), "file and line: {status_text}");
    let out = env.run(&["config", "check"]);
    assert_eq!(out.status.code(), Some(2));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("refused this content and runs on the last good config"), "{text}");
    assert!(env.run(&["run", "--agent", "later", "1 0 0"]).status.success(), "still in force");

    // Fixed: the report goes away.
    save(&env, &(config_with("[concurrency]\ndefault = 2\n") + &agent));
    until("the fixed config is in force", Duration::from_secs(5), || {
        !env.ok(&["daemon", "status"]).contains("NOT RELOADED")
    });
    assert!(env.ok(&["config", "check"]).contains("uses this content"));
    env.ok(&["cancel", "--all"]);
}
