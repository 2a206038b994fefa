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

/// A shell task running `script` in `dir` inside `sandbox`; its id.
fn submit_in(env: &Env, sandbox: &str, dir: &std::path::Path, script: &str) -> String {
    env.submit(&[
        "--agent",
        "shell",
        "--sandbox",
        sandbox,
        "--cwd",
        dir.to_str().unwrap(),
        "--",
        script,
    ])
}

/// A sandboxed shell task in `dir`; its result (it ends completed).
fn sandboxed(env: &Env, dir: &std::path::Path, script: &str) -> serde_json::Value {
    let id = submit_in(env, "bwrap", dir, script);
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
    let id = submit_in(&env, "bwrap", &work, &format!("touch {}", marker.display()));
    let t = env.wait_status(&id, "error", T);
    let reason = t["reason"].as_str().unwrap();
    assert!(
        reason.contains("install bubblewrap") && reason.contains("not run without one"),
        "{reason}"
    );
    assert!(!marker.exists(), "it never ran");
    // A container sandbox without an image is refused by the config check, with what is
    // allowed; one with an image passes.
    let env =
        Env::new(&config_with("[categories.boxed]\nagent = \"shell\"\nsandbox = \"podman:\"\n"));
    let out = env.run(&["config", "check"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("categories.boxed.sandbox") && err.contains("names no image"), "{err}");
    let env = Env::new(&config_with(
        "[categories.boxed]\nagent = \"shell\"\nsandbox = \"docker:alpine:3\"\n",
    ));
    env.ok(&["config", "check"]);
    let out = env.run(&["run", "--sandbox", "lxc:x", "--", "true"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown sandbox \"lxc:x\""));
}

/// A task in a container of `engine` that cannot be made (here: docker's service unreachable,
/// podman or docker not installed, the image not pulled) ends in error saying why; its
/// command never ran.
#[test]
fn a_container_that_cannot_be_made_is_an_error_never_a_run_without_it() {
    let mut env = Env::new(&config_with(""));
    let nowhere = env.path().join("no-docker.sock");
    // The docker client asks this service (none), whatever this machine has.
    env.extra.push(("DOCKER_HOST".into(), format!("unix://{}", nowhere.display())));
    env.extra.push(("CONTAINER_HOST".into(), format!("unix://{}", nowhere.display())));
    let work = env.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    for engine in ["docker", "podman"] {
        let marker = work.join(format!("ran-{engine}"));
        let sandbox = format!("{engine}:paneherd-test-no-such-image:1");
        let id = submit_in(&env, &sandbox, &work, &format!("touch {}", marker.display()));
        let t = env.wait_status(&id, "error", T);
        let reason = t["reason"].as_str().unwrap();
        assert_eq!(t["sandbox"], sandbox.as_str());
        assert!(reason.contains("not run without one"), "{engine}: {reason}");
        let installed = common::run_ok(engine, &["--version"]);
        match installed {
            true => assert!(reason.contains("its container could not be made"), "{reason}"),
            false => assert!(reason.contains(&format!("install {engine}")), "{reason}"),
        }
        assert!(!marker.exists(), "{engine}: it never ran");
        eprintln!("{engine}: {reason}");
    }
}

/// The engine and image a container test can use here, or why there is none.
fn container_here() -> Result<(String, String), String> {
    let image = std::env::var("PANEHERD_TEST_IMAGE").unwrap_or("docker.io/library/alpine:3".into());
    let mut why = vec![];
    for engine in ["podman", "docker"] {
        let out = std::process::Command::new(engine).args(["info"]).output();
        match out {
            Ok(o) if o.status.success() => {}
            Ok(o) => {
                let said = String::from_utf8_lossy(&o.stderr);
                why.push(format!("{engine}: {}", said.lines().last().unwrap_or("fails")));
                continue;
            }
            Err(e) => {
                why.push(format!("{engine}: {e}"));
                continue;
            }
        }
        let have = common::run_ok(engine, &["image", "exists", &image])
            || common::run_ok(engine, &["image", "inspect", &image])
            || common::run_ok(engine, &["pull", &image]);
        match have {
            true => return Ok((engine.to_string(), image)),
            false => why.push(format!("{engine}: no image {image} (set PANEHERD_TEST_IMAGE)")),
        }
    }
    Err(why.join("; "))
}

/// Where a container engine runs (not inside this machine's own container): a task in a
/// container writes its directory, sees nothing else of this machine, and reports its exit.
#[test]
fn a_container_task_writes_its_mounted_directory_and_sees_nothing_else() {
    let (engine, image) = match container_here() {
        Ok(e) => e,
        Err(why) => {
            eprintln!("skipped: no container engine runs here ({why})");
            return;
        }
    };
    let env = Env::new(&config_with(""));
    let work = env.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    let ssh = env.path().join("home/.ssh");
    std::fs::create_dir_all(&ssh).unwrap();
    std::fs::write(ssh.join("id_test"), "SECRET KEY").unwrap();
    let sandbox = format!("{engine}:{image}");
    let script = "echo made > made.txt && echo cwd ok; \
                  cat \"$HOME/.ssh/id_test\" 2>/dev/null || echo key unseen; \
                  echo \"id=$PANEHERD_TASK_ID\"; exit 3";
    let id = submit_in(&env, &sandbox, &work, script);
    let t = env.wait_status(&id, "error", Duration::from_secs(120));
    assert_eq!(t["exit_code"], 3, "{t:#}");
    let result = t["result"].as_str().unwrap();
    assert!(result.contains("cwd ok\nkey unseen\nid=") && result.contains(&id), "{result}");
    assert_eq!(std::fs::read_to_string(work.join("made.txt")).unwrap(), "made\n");
}

/// The `codex-yolo` preset, the real Codex CLI on a scripted model: without approvals it runs
/// the model's command at once, inside bubblewrap — the command writes its directory and not
/// the home, does not see `~/.ssh` — and its answer (its `{answer_file}`, which the sandbox
/// lets it write) is the task's result.
#[test]
fn codex_yolo_runs_the_models_command_in_its_sandbox_and_answers() {
    if !bwrap_here() {
        return;
    }
    let mut env = Env::new(&config_with(""));
    let tools = common::ci_tools().join("agents/bin");
    let path = format!("{}:{}", tools.display(), std::env::var("PATH").unwrap());
    env.extra.push(("PATH".into(), path));
    let home = env.path().join("home");
    std::fs::create_dir_all(home.join(".ssh")).unwrap();
    std::fs::write(home.join(".ssh/id_test"), "SECRET KEY").unwrap();
    let work = env.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    let cmd = "echo made > made.txt; touch \"$HOME/escaped\" 2>/dev/null || echo home refused; \
               cat \"$HOME/.ssh/id_test\" 2>/dev/null || echo key unseen";
    let model = common::model::Model::start(
        env.path(),
        "responses",
        serde_json::json!([
            {"tool": "exec_command", "args": {"cmd": cmd}},
            {"say": "ANSWER: {last_output}"}
        ]),
    );
    common::hosts::codex_provider(&home, model.port);
    let id = env.submit(&["--agent", "codex-yolo", "--cwd", work.to_str().unwrap(), "--", "go"]);
    let t = env.wait_status(&id, "completed", Duration::from_secs(120));
    assert_eq!(t["sandbox"], "bwrap");
    let result = t["result"].as_str().unwrap();
    assert!(result.starts_with("ANSWER:"), "the answer it wrote, not the transcript: {result}");
    assert!(result.contains("home refused") && result.contains("key unseen"), "{result}");
    assert!(!result.contains("SECRET"), "{result}");
    assert_eq!(std::fs::read_to_string(work.join("made.txt")).unwrap(), "made\n");
    assert!(!home.join("escaped").exists());
    // Codex wrote its own state (its sessions) in ~/.codex, which the preset declares.
    assert!(home.join(".codex/sessions").exists(), "its state dir was writable");
}

/// An agent's hooks from inside its sandbox reach the daemon (its socket is bound in, its
/// `PANEHERD_TASK_*` are there): Claude Code's `Notification` hook input, as its reference
/// gives it, makes the task need input; `Stop` ends its turn.
#[test]
fn hooks_from_inside_the_sandbox_reach_the_daemon() {
    if !bwrap_here() {
        return;
    }
    let env = Env::new(&config_with(
        "[agents.hooked]\ncommand = [\"sh\", \"-c\", \"--\", \"{prompt}\"]\nsandbox = \"bwrap\"\n",
    ));
    let work = env.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    let notification = serde_json::json!({
        "session_id": "abc123",
        "transcript_path": "/home/user/.claude/projects/x/abc123.jsonl",
        "cwd": work,
        "hook_event_name": "Notification",
        "message": "Claude needs your permission to use Bash",
        "notification_type": "permission_prompt"
    });
    let script = format!(
        "echo starting; printf '%s' '{n}' | {bin} hook claude; sleep 2; {bin} signal done; sleep 100",
        n = notification,
        bin = common::BIN
    );
    let id = env.submit(&["--agent", "hooked", "--cwd", work.to_str().unwrap(), "--", &script]);
    let deadline = std::time::Instant::now() + T;
    loop {
        let t = env.task(&id);
        if t["needs_input"] == "Claude needs your permission to use Bash" {
            assert_eq!(t["sandbox"], "bwrap");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never needed input: {t:#}");
        std::thread::sleep(Duration::from_millis(30));
    }
    let t = env.wait_status(&id, "completed", T);
    assert_eq!(t["result"], "starting", "{t:#}");
}
