//! Sandboxed tasks under the real bubblewrap (`.ci/run` installs it): what the agent may write,
//! see, reach and signal, and that a task whose sandbox cannot be made never runs without it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{Env, config_with};

const T: Duration = Duration::from_secs(20);

fn bwrap_here() -> bool {
    let ok = common::run_ok("bwrap", &["--ro-bind", "/", "/", "--unshare-pid", "--", "true"]);
    if !ok {
        assert!(std::env::var_os("CI").is_none(), "bwrap does not work here: .ci/run installs it");
        eprintln!("skipped: bwrap does not run here");
    }
    ok
}

/// A sandboxed shell task in `dir`; its result (it ends completed).
fn sandboxed(env: &Env, dir: &std::path::Path, script: &str) -> serde_json::Value {
    let id = env.submit(&[
        "--agent",
        "shell",
        "--sandbox",
        "bwrap",
        "--cwd",
        dir.to_str().unwrap(),
        "--",
        script,
    ]);
    env.wait_status(&id, "completed", T)
}

#[test]
fn a_sandboxed_task_writes_its_directory_and_nothing_else() {
    if !bwrap_here() {
        return;
    }
    let env = Env::new(&config_with(""));
    let work = env.path().join("work");
    let other = env.path().join("other");
    std::fs::create_dir_all(&work).unwrap();
    std::fs::create_dir_all(&other).unwrap();
    let ssh = env.path().join("home/.ssh");
    std::fs::create_dir_all(&ssh).unwrap();
    std::fs::write(ssh.join("id_test"), "SECRET KEY").unwrap();
    let script = format!(
        "echo made > made.txt && echo cwd ok; \
         touch \"$HOME/x\" 2>/dev/null && echo home WRITTEN || echo home refused; \
         touch /etc/paneherd-x 2>/dev/null && echo etc WRITTEN || echo etc refused; \
         touch {other}/x 2>/dev/null && echo other WRITTEN || echo other refused; \
         cat \"$HOME/.ssh/id_test\" 2>/dev/null || echo key unseen",
        other = other.display()
    );
    let t = sandboxed(&env, &work, &script);
    let result = t["result"].as_str().unwrap();
    assert_eq!(
        result.trim(),
        "cwd ok\nhome refused\netc refused\nother refused\nkey unseen",
        "{t:#}"
    );
    assert_eq!(t["sandbox"], "bwrap");
    assert_eq!(std::fs::read_to_string(work.join("made.txt")).unwrap(), "made\n");
    assert!(!other.join("x").exists() && !std::path::Path::new("/etc/paneherd-x").exists());
    // Unsandboxed, the same key is read: the sandbox is what hid it.
    let id = env.submit(&["--agent", "shell", "--", "cat \"$HOME/.ssh/id_test\""]);
    let t = env.wait_status(&id, "completed", T);
    assert_eq!(t["result"].as_str().unwrap().trim(), "SECRET KEY");
}

#[test]
fn no_network_means_no_server_of_this_machine_either() {
    if !bwrap_here() {
        return;
    }
    let server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = server.local_addr().unwrap().port();
    let probe = format!(
        "python3 -c \"import socket; socket.create_connection(('127.0.0.1', {port}), 2); print('reached')\" 2>/dev/null || echo unreachable"
    );
    for (network, expected) in [("false", "unreachable"), ("true", "reached")] {
        let env = Env::new(&config_with(&format!("[sandbox]\nnetwork = {network}\n")));
        let work = env.path().join("work");
        std::fs::create_dir_all(&work).unwrap();
        let t = sandboxed(&env, &work, &probe);
        assert_eq!(t["result"].as_str().unwrap().trim(), expected, "network = {network}: {t:#}");
    }
}

#[test]
fn a_sandboxed_agent_cannot_signal_the_users_processes() {
    if !bwrap_here() {
        return;
    }
    let env = Env::new(&config_with(""));
    let work = env.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    let mut outside = std::process::Command::new("sleep").arg("60").spawn().unwrap();
    let script = format!("kill {} 2>/dev/null && echo KILLED || echo refused", outside.id());
    let t = sandboxed(&env, &work, &script);
    assert_eq!(t["result"].as_str().unwrap().trim(), "refused", "{t:#}");
    assert!(outside.try_wait().unwrap().is_none(), "the process outside still runs");
    let _ = outside.kill();
    let _ = outside.wait();
}

#[test]
fn sandbox_check_says_what_works_here() {
    if !bwrap_here() {
        return;
    }
    let env = Env::new(&config_with(""));
    let out = env.ok(&["sandbox", "check"]);
    assert!(
        out.contains("works: read-only filesystem") && out.contains("works: no network"),
        "{out}"
    );
    let env = Env::new(&config_with("[sandbox]\nbwrap = \"/nonexistent/bwrap\"\n"));
    let out = env.run(&["sandbox", "check"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("install bubblewrap"));
}

#[test]
fn a_sandboxed_task_in_a_pane_keeps_its_pane_result_and_needs_input() {
    if !bwrap_here() {
        return;
    }
    let env = Env::new(&config_with(""));
    let work = env.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    let tmux = common::tmux::Tmux::start(&env, 160, 45, "sh", &[]);
    let id = tmux.run_from(
        &env,
        &[
            "--agent",
            "shell",
            "--sandbox",
            "bwrap",
            "--cwd",
            work.to_str().unwrap(),
            "--",
            "read -p 'name? ' n; echo \"hi $n\"; exit 3",
        ],
    );
    let deadline = std::time::Instant::now() + T;
    let pane = loop {
        let t = env.task(&id);
        if t["needs_input"].is_string() {
            break t["pane_id"].as_str().unwrap().to_string();
        }
        assert!(std::time::Instant::now() < deadline, "never needed input: {t:#}");
        std::thread::sleep(Duration::from_millis(100));
    };
    tmux.run(&["send-keys", "-t", &pane, "bob", "Enter"]);
    let t = env.wait_status(&id, "error", T);
    assert_eq!(t["exit_code"], 3, "{t:#}");
    assert!(t["result"].as_str().unwrap().contains("hi bob"), "{t:#}");
}

#[test]
fn a_sandboxed_worktree_task_writes_its_worktree_not_the_checkout() {
    if !bwrap_here() {
        return;
    }
    let env = Env::new(&config_with(""));
    let repo = env.path().join("repo");
    common::git_repo(&repo);
    let script = format!(
        "echo new > new.txt && echo worktree ok; echo changed > {}/a.txt 2>/dev/null && echo checkout WRITTEN || echo checkout refused",
        repo.display()
    );
    let mut args = vec!["run", "--agent", "shell", "--sandbox", "bwrap", "--worktree"];
    let cwd = repo.to_str().unwrap().to_string();
    args.extend(["--cwd", &cwd, "--", &script]);
    let out = env.cmd(&args).env("GIT_CONFIG_GLOBAL", "/dev/null").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let t = env.wait_status(&id, "completed", T);
    let result = t["result"].as_str().unwrap().trim();
    assert!(result.starts_with("worktree ok") && result.ends_with("checkout refused"), "{t:#}");
    let wt = std::path::PathBuf::from(t["worktree"].as_str().unwrap());
    assert_eq!(std::fs::read_to_string(wt.join("new.txt")).unwrap(), "new\n");
    assert_eq!(
        std::fs::read_to_string(repo.join("a.txt")).unwrap(),
        "a\n",
        "the checkout as it was"
    );
}

#[test]
fn a_sandbox_that_cannot_be_made_is_an_error_never_a_run_without_it() {
    let env = Env::new(&config_with("[sandbox]\nbwrap = \"/nonexistent/bwrap\"\n"));
    let work = env.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    let marker = work.join("ran");
    let id = env.submit(&[
        "--agent",
        "shell",
        "--sandbox",
        "bwrap",
        "--cwd",
        work.to_str().unwrap(),
        "--",
        &format!("touch {}", marker.display()),
    ]);
    let t = env.wait_status(&id, "error", T);
    let reason = t["reason"].as_str().unwrap();
    assert!(
        reason.contains("install bubblewrap") && reason.contains("not run without one"),
        "{reason}"
    );
    assert!(!marker.exists(), "it never ran");
    // A container sandbox is refused by the config check, with what is allowed.
    let env = Env::new(&config_with(
        "[categories.boxed]\nagent = \"shell\"\nsandbox = \"podman:alpine\"\n",
    ));
    let out = env.run(&["config", "check"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("categories.boxed.sandbox") && err.contains("bwrap"), "{err}");
}
