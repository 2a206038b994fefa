//! Agents in real tmux panes: each test starts its own tmux server on a socket in its temp dir,
//! runs the real binary as if from inside a pane of it, asserts with `list-panes`, and kills
//! only that server.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::tmux::Tmux;
use common::{Env, config_with};
use paneherd::tmux::{Geometry, LayoutKind, plan};
use serde_json::Value;

fn tmux_config(extra: &str) -> String {
    config_with(&format!("[concurrency]\ndefault = 0\n[tmux]\nclose_after_secs = 0\n{extra}"))
}

fn geometry(kind: LayoutKind) -> Geometry {
    Geometry { kind, ..Geometry::default() }
}

fn layout_name(kind: LayoutKind) -> &'static str {
    kind.name()
}

#[test]
fn each_layout_gives_the_planned_panes() {
    for kind in LayoutKind::ALL {
        let env = Env::new(&tmux_config(&format!("layout = \"{}\"\n", layout_name(kind))));
        let srv = Tmux::start(&env, 240, 60, "sh", &[]);
        let ids: Vec<String> =
            (0..3).map(|_| srv.run_from(&env, &["--agent", "fake", "1000 0.1 0"])).collect();
        // The top row of the window is the pane border line paneherd turns on.
        let want = plan(240, 59, &geometry(kind), 3);
        srv.until_panes(
            &format!("{} panes for {}", want.agents.len() + 1, kind.name()),
            Duration::from_secs(10),
            |s| {
                let main = s.main_window();
                let mut got: Vec<(u16, u16)> =
                    main.iter().filter(|p| p.id != "%0").map(|p| (p.w, p.h)).collect();
                let mut planned: Vec<(u16, u16)> = want.agents.iter().map(|r| (r.w, r.h)).collect();
                got.sort();
                planned.sort();
                // Laid out: a pane just split gets its place a moment later.
                main.len() == want.agents.len() + 1
                    && main.iter().any(|p| p.id == "%0" && (p.w, p.h) == (want.main.w, want.main.h))
                    && got == planned
            },
        );
        let main = srv.main_window();
        let m = main.iter().find(|p| p.id == "%0").unwrap();
        assert_eq!((m.w, m.h), (want.main.w, want.main.h), "{} main pane", kind.name());
        let mut got: Vec<(u16, u16)> =
            main.iter().filter(|p| p.id != "%0").map(|p| (p.w, p.h)).collect();
        let mut planned: Vec<(u16, u16)> = want.agents.iter().map(|r| (r.w, r.h)).collect();
        got.sort();
        planned.sort();
        assert_eq!(got, planned, "{} agent panes", kind.name());
        for p in main.iter().filter(|p| p.id != "%0") {
            assert!(p.w >= 40 && p.h >= 8, "{}: pane {p:?} below the minimums", kind.name());
        }
        env.ok(&["cancel", "--all"]);
        drop(ids);
    }
}

/// Whether the main window's panes are laid out as the planner says for a `w`×`h` window (the
/// top row the pane border line) and `n` agents with the geometry of preset `g`.
fn laid_out_as_planned(s: &Tmux, w: u16, h: u16, g: &Geometry, n: usize) -> bool {
    let want = plan(w, h - 1, g, n);
    let main = s.main_window();
    let mut got: Vec<(u16, u16)> =
        main.iter().filter(|p| p.id != "%0").map(|p| (p.w, p.h)).collect();
    // tmux's pane sizes leave out the border line's row, as the plan does.
    let mut planned: Vec<(u16, u16)> = want.agents.iter().map(|r| (r.w, r.h)).collect();
    got.sort();
    planned.sort();
    main.len() == want.agents.len() + 1 && got == planned
}

#[test]
fn any_sequence_of_resizes_ends_in_the_plan_for_the_last_size() {
    let env = Env::new(&tmux_config(""));
    let srv = Tmux::start(&env, 80, 24, "sh", &[]);
    srv.run(&["set-option", "-g", "window-size", "manual"]);
    let ids: Vec<String> =
        (0..4).map(|_| srv.run_from(&env, &["--agent", "fake", "1000 0.1 0"])).collect();
    let g = Geometry { adapt: true, ..Geometry::default() };
    srv.until_panes("laid out at 80x24", Duration::from_secs(10), |s| {
        laid_out_as_planned(s, 80, 24, &g, 4)
    });
    let sizes = [
        (220, 55),
        (120, 35),
        (220, 55),
        (80, 24),
        (220, 55),
        (160, 45),
        (220, 55),
        (120, 35),
        (160, 45),
        (80, 24),
        (220, 55),
    ];
    for (w, h) in sizes {
        srv.run(&["resize-window", "-t", "main", "-x", &w.to_string(), "-y", &h.to_string()]);
        srv.until_panes(&format!("the plan for {w}x{h}"), Duration::from_secs(10), |s| {
            laid_out_as_planned(s, w, h, &g, 4)
        });
        for p in srv.main_window().iter().filter(|p| p.id != "%0") {
            assert!(p.w >= 40 && p.h >= 8, "{w}x{h}: pane {p:?} below the minimums");
        }
        assert_eq!(srv.main_window().len() - 1 + srv.overflow().len(), 4, "every agent has a pane");
    }
    env.ok(&["cancel", "--all"]);
    srv.until_panes("all panes closed", Duration::from_secs(10), |s| s.pane_list().len() == 1);
    drop(ids);
}

#[test]
fn every_preset_shows_two_agents_at_the_sizes_people_use() {
    let presets = paneherd::config::tmux::Presets::builtin();
    for name in presets.0.keys() {
        for (w, h) in [(120, 35), (160, 45), (220, 55)] {
            let env = Env::new(&tmux_config(&format!("layout = \"{name}\"\n")));
            let srv = Tmux::start(&env, w, h, "sh", &[]);
            let g = paneherd::config::Config::from_user_str(
                &env.config(),
                &std::fs::read_to_string(env.config()).unwrap(),
            )
            .unwrap()
            .tmux_settings()
            .geometry;
            for _ in 0..3 {
                srv.run_from(&env, &["--agent", "fake", "1000 0.1 0"]);
            }
            srv.until_panes(&format!("{name} at {w}x{h}"), Duration::from_secs(10), |s| {
                laid_out_as_planned(s, w, h, &g, 3)
            });
            let shown = srv.main_window().len() - 1;
            assert!(shown >= 2, "{name} at {w}x{h}: {shown} agents shown");
            env.ok(&["cancel", "--all"]);
        }
    }
}

#[test]
fn overflow_then_rotation_into_view() {
    let env = Env::new(&tmux_config(""));
    let srv = Tmux::start(&env, 240, 60, "sh", &[]);
    // main-vertical at 240x60 shows 6 agents; two more wait in the overflow window.
    let first = srv.run_from(&env, &["--agent", "fake", "20 0.1 0"]);
    let mut rest = vec![];
    for _ in 0..7 {
        rest.push(srv.run_from(&env, &["--agent", "fake", "1000 0.1 0"]));
    }
    srv.until_panes("6 visible + 2 hidden", Duration::from_secs(10), |s| {
        s.main_window().len() == 7 && s.overflow().len() == 2
    });
    // The first (short) task ends; its pane closes; the longest-waiting hidden agent comes in.
    let t = env.wait_status(&first, "completed", Duration::from_secs(20));
    assert_eq!(t["exit_code"], 0);
    srv.until_panes("rotation", Duration::from_secs(10), |s| {
        s.main_window().len() == 7 && s.overflow().len() == 1
    });
    let hidden_pane = srv.overflow()[0].id.clone();
    let seventh = env.task(&rest[5]);
    assert_ne!(
        seventh["pane_id"].as_str().unwrap(),
        hidden_pane,
        "the longest-waiting came into view"
    );
    let eighth = env.task(&rest[6]);
    assert_eq!(eighth["pane_id"].as_str().unwrap(), hidden_pane, "the newest still waits");
    env.ok(&["cancel", "--all"]);
    srv.until_panes("all panes closed", Duration::from_secs(10), |s| s.pane_list().len() == 1);
}

#[test]
fn agents_that_do_not_fit_wait_in_overflow_windows_within_the_minimums() {
    let env = Env::new(&tmux_config(""));
    let srv = Tmux::start(&env, 120, 35, "sh", &[]);
    let ids: Vec<String> =
        (0..20).map(|_| srv.run_from(&env, &["--agent", "fake", "1000 0.1 0"])).collect();
    // All there and laid out (a pane just moved to an overflow window is placed a moment later).
    srv.until_panes("20 agent panes, laid out", Duration::from_secs(20), |s| {
        s.pane_list().len() == 21 && s.overflow().iter().all(|p| p.w >= 40 && p.h >= 8)
    });
    let hidden = srv.overflow();
    // 120×35 holds six panes of at least 40×8 (tiled: 3 rows, 2 columns): the rest of the
    // waiting agents go to `paneherd-agents-2`, `-3`, …, each laid out within the minimums.
    let mut windows: Vec<String> = hidden.iter().map(|p| p.window.clone()).collect();
    windows.sort();
    windows.dedup();
    assert_eq!(windows.len(), hidden.len().div_ceil(6), "{windows:?}: {hidden:#?}");
    assert!(windows.contains(&"paneherd-agents".to_string()), "{windows:?}");
    assert!(windows.contains(&"paneherd-agents-2".to_string()), "{windows:?}");
    for p in &hidden {
        assert!(p.w >= 40 && p.h >= 8, "a waiting pane below the minimums: {p:?}");
    }
    // Every agent runs, whichever window it waits in.
    for id in &ids {
        env.wait_status(id, "running", Duration::from_secs(10));
    }
    env.ok(&["cancel", "--all"]);
    srv.until_panes("all panes closed", Duration::from_secs(20), |s| s.pane_list().len() == 1);
}

#[test]
fn a_window_too_small_for_any_agent_keeps_them_all_running_in_the_background() {
    // Too small for an agent beside the main pane or below it.
    let env = Env::new(&tmux_config("layout = \"main-vertical\"\n"));
    let srv = Tmux::start(&env, 80, 12, "sh", &[]);
    let ids: Vec<String> =
        (0..3).map(|_| srv.run_from(&env, &["--agent", "fake", "1000 0.1 0"])).collect();
    srv.until_panes("3 hidden agents", Duration::from_secs(10), |s| s.overflow().len() == 3);
    assert_eq!(srv.main_window().len(), 1, "the main pane is alone");
    let status = env.ok(&["daemon", "status"]);
    assert!(
        status.contains("0 shown, 3 waiting in paneherd-agents windows (window too small"),
        "{status}"
    );
    for id in &ids {
        let t = env.wait_status(id, "running", Duration::from_secs(5));
        assert!(t["pane_id"].as_str().unwrap().starts_with('%'));
    }
    // Focus brings one into view even so? It cannot fit: it stays where it is, but is selected.
    env.ok(&["cancel", "--all"]);
}

#[test]
fn exit_status_output_and_hostile_prompt_in_panes() {
    let env = Env::new(&tmux_config(""));
    let srv = Tmux::start(&env, 240, 60, "sh", &[]);
    let ok = srv.run_from(&env, &["--agent", "fake", "3 0.05 0"]);
    let bad = srv.run_from(&env, &["--agent", "fake", "2 0.05 3"]);
    let t = env.wait_status(&ok, "completed", Duration::from_secs(10));
    assert_eq!(t["exit_code"], 0);
    assert!(t["pane_id"].as_str().unwrap().starts_with('%'));
    let t = env.wait_status(&bad, "error", Duration::from_secs(10));
    assert_eq!((t["exit_code"].as_i64(), t["reason"].as_str()), (Some(3), Some("exit code 3")));
    // The pane's output reached the log: `output` works as for headless tasks.
    let r = env.task(&ok);
    assert!(r["result"].as_str().unwrap().contains("fake agent line 1 of 3"), "{r:#}");
    assert!(r["result"].as_str().unwrap().contains("fake agent line 3 of 3"), "{r:#}");

    let pwned = env.path().join("pwned");
    let prompt = format!("$(touch {}) \"; rm -rf ~ ", pwned.display());
    let args_out = env.path().join("args.bin");
    let out = env
        .cmd(&["run", "--agent", "args", &prompt])
        .env("TMUX", format!("{},1,0", srv.sock.display()))
        .env("TMUX_PANE", "%0")
        .env("ARGS_OUT", &args_out)
        .output()
        .unwrap();
    let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let t = env.wait_status(&id, "completed", Duration::from_secs(10));
    assert!(t["pane_id"].as_str().is_some());
    let got = std::fs::read(&args_out).unwrap();
    assert_eq!(got.split(|b| *b == 0).next().unwrap(), prompt.as_bytes(), "verbatim, one argument");
    assert!(!pwned.exists());
    srv.until_panes("panes closed", Duration::from_secs(10), |s| s.pane_list().len() == 1);
}

#[test]
fn cancel_closes_the_pane_and_a_pane_closed_by_hand_cancels_its_task() {
    let env = Env::new(&tmux_config(""));
    let srv = Tmux::start(&env, 240, 60, "sh", &[]);
    let a = srv.run_from(&env, &["--agent", "fake", "1000 0.1 0"]);
    let b = srv.run_from(&env, &["--agent", "fake", "1000 0.1 0"]);
    let ta = env.wait_status(&a, "running", Duration::from_secs(10));
    let tb = env.wait_status(&b, "running", Duration::from_secs(10));
    srv.until_panes("two agent panes", Duration::from_secs(10), |s| s.main_window().len() == 3);
    env.ok(&["cancel", &a]);
    assert_eq!(env.task(&a)["status"], "cancelled");
    let pane_a = ta["pane_id"].as_str().unwrap().to_string();
    srv.until_panes("cancelled pane closed", Duration::from_secs(10), |s| {
        s.pane_list().iter().all(|p| p.id != pane_a)
    });
    // Closing b's pane by hand cancels b.
    srv.run(&["kill-pane", "-t", tb["pane_id"].as_str().unwrap()]);
    let t = env.wait_status(&b, "cancelled", Duration::from_secs(10));
    assert_eq!(t["reason"], "pane closed");
    assert!(!common::pid_alive(tb["pid"].as_i64().unwrap()));
}

#[test]
fn submitted_by_typing_in_a_real_pane() {
    let env = Env::new(&tmux_config(""));
    let srv = Tmux::start(&env, 200, 50, "sh", &[]);
    let bin = Path::new(common::BIN).parent().unwrap().display().to_string();
    let line = format!(
        "PATH={bin}:$PATH PANEHERD_DATA_DIR={} PANEHERD_RUNTIME_DIR={} PANEHERD_CONFIG={} paneherd run --agent fake '2 0.2 0'",
        env.data().display(),
        env.runtime().display(),
        env.config().display()
    );
    srv.run(&["send-keys", "-t", "%0", &line, "Enter"]);
    srv.until_panes("an agent pane", Duration::from_secs(10), |s| s.main_window().len() == 2);
    let list = env.list();
    assert_eq!(list.len(), 1);
    let id = list[0]["id"].as_str().unwrap().to_string();
    let t: Value = env.wait_status(&id, "completed", Duration::from_secs(10));
    assert!(t["pane_id"].as_str().unwrap().starts_with('%'));
    srv.until_panes("pane closed", Duration::from_secs(10), |s| s.pane_list().len() == 1);
}

#[test]
fn a_new_daemon_re_adopts_panes_still_running() {
    let env = Env::new(&tmux_config(""));
    let srv = Tmux::start(&env, 240, 60, "sh", &[]);
    let id = srv.run_from(&env, &["--agent", "fake", "30 0.1 0"]);
    let t = env.wait_status(&id, "running", Duration::from_secs(10));
    let (pane, pid) = (t["pane_id"].as_str().unwrap().to_string(), t["pid"].as_i64().unwrap());
    env.wait_recorded(&id, "running");
    let daemon = env.daemon_pid().unwrap();
    Command::new("kill").args(["-9", &daemon.to_string()]).status().unwrap();
    while common::pid_alive(daemon as i64) {
        std::thread::sleep(Duration::from_millis(10));
    }
    // The next command starts a daemon, which finds the pane alive and takes the task back.
    let t = env.task(&id);
    assert_eq!(t["status"], "running", "re-adopted, not lost: {t:#}");
    assert_eq!((t["pane_id"].as_str().unwrap(), t["pid"].as_i64().unwrap()), (pane.as_str(), pid));
    assert_ne!(env.daemon_pid().unwrap(), daemon);
    // Its wrapper reports the exit to the new daemon.
    let t = env.wait_status(&id, "completed", Duration::from_secs(20));
    assert_eq!(t["exit_code"], 0);
    srv.until_panes("pane closed", Duration::from_secs(10), |s| s.pane_list().len() == 1);
    // A pane task whose pane is gone is recorded as lost.
    let id2 = srv.run_from(&env, &["--agent", "fake", "1000 0.1 0"]);
    let t2 = env.wait_status(&id2, "running", Duration::from_secs(10));
    env.wait_recorded(&id2, "running");
    let daemon = env.daemon_pid().unwrap();
    Command::new("kill").args(["-9", &daemon.to_string()]).status().unwrap();
    while common::pid_alive(daemon as i64) {
        std::thread::sleep(Duration::from_millis(10));
    }
    srv.run(&["kill-pane", "-t", t2["pane_id"].as_str().unwrap()]);
    let t2 = env.task(&id2);
    assert_eq!(t2["status"], "error");
    assert_eq!(t2["reason"], "lost: daemon restarted while it ran");
}

#[test]
fn a_registered_dashboard_pane_hosts_the_agents() {
    use std::io::{BufRead, BufReader, Write};
    let env = Env::new(&tmux_config(""));
    let srv = Tmux::start(&env, 240, 60, "sh", &[]);
    srv.run(&["new-window", "-d", "-n", "dash", "sh"]);
    let dash = srv.pane_list().into_iter().find(|p| p.window == "dash").unwrap().id;
    env.list(); // starts the daemon
    let mut conn =
        std::os::unix::net::UnixStream::connect(env.runtime().join("daemon.sock")).unwrap();
    let mut r = BufReader::new(conn.try_clone().unwrap());
    let register = format!(
        "{{\"hello\":{{\"protocol\":1,\"client\":\"dashboard\"}}}}\n{{\"req\":1,\"type\":\"register_main\",\"socket\":{:?},\"pane\":{:?}}}\n",
        srv.sock.display().to_string(),
        dash
    );
    conn.write_all(register.as_bytes()).unwrap();
    let mut line = String::new();
    r.read_line(&mut line).unwrap(); // welcome
    line.clear();
    r.read_line(&mut line).unwrap();
    assert!(line.contains("\"ok\":true"), "{line}");
    // From inside tmux (pane %0) and from outside tmux: both beside the dashboard.
    let inside = srv.run_from(&env, &["--agent", "fake", "1000 0.1 0"]);
    let outside = env.submit(&["--agent", "fake", "1000 0.1 0"]);
    srv.until_panes("two agents beside the dashboard", Duration::from_secs(10), |s| {
        s.pane_list().iter().filter(|p| p.window == "dash").count() == 3
    });
    for id in [&inside, &outside] {
        let t = env.wait_status(id, "running", Duration::from_secs(5));
        assert!(t["pane_id"].as_str().is_some(), "{id} in a pane");
    }
    // The dashboard goes away: tasks from outside tmux run headless again.
    drop(r);
    drop(conn);
    std::thread::sleep(Duration::from_millis(200));
    let headless = env.submit(&["--agent", "fake", "1000 0.1 0"]);
    let t = env.wait_status(&headless, "running", Duration::from_secs(5));
    assert!(t["pane_id"].is_null(), "{t:#}");
    env.ok(&["cancel", "--all"]);
}

#[test]
fn the_tmux_server_going_away_ends_its_tasks_in_error_and_the_daemon_lives_on() {
    let env = Env::new(&tmux_config(""));
    let srv = Tmux::start(&env, 240, 60, "sh", &[]);
    let id = srv.run_from(&env, &["--agent", "fake", "1000 0.1 0"]);
    env.wait_status(&id, "running", Duration::from_secs(10));
    let daemon = env.daemon_pid();
    srv.run(&["kill-server"]);
    let t = env.wait_status(&id, "error", Duration::from_secs(10));
    assert_eq!(t["reason"], "the tmux server went away");
    assert_eq!(env.daemon_pid(), daemon, "the same daemon serves on");
    env.ok(&["run", "--agent", "fake", "--wait", "1 0 0"]);
}

#[test]
fn a_resize_re_plans_and_focus_brings_a_hidden_agent_into_view() {
    let env = Env::new(&tmux_config("layout = \"main-vertical\"\n"));
    let srv = Tmux::start(&env, 240, 60, "sh", &[]);
    srv.run(&["set-option", "-g", "window-size", "manual"]);
    let ids: Vec<String> =
        (0..3).map(|_| srv.run_from(&env, &["--agent", "fake", "1000 0.1 0"])).collect();
    srv.until_panes("3 agents shown", Duration::from_secs(10), |s| s.main_window().len() == 4);
    // Too small for any agent, beside or below the main pane: all move out of view.
    srv.run(&["resize-window", "-t", "main", "-x", "80", "-y", "12"]);
    srv.until_panes("all hidden after shrinking", Duration::from_secs(10), |s| {
        s.main_window().len() == 1 && s.overflow().len() == 3
    });
    // Wide again: they come back.
    srv.run(&["resize-window", "-t", "main", "-x", "240", "-y", "60"]);
    srv.until_panes("shown again after growing", Duration::from_secs(10), |s| {
        s.main_window().len() == 4
    });
    // A window that fits two: focus brings the third into view (in place of another).
    srv.run(&["resize-window", "-t", "main", "-x", "240", "-y", "18"]);
    srv.until_panes("two shown", Duration::from_secs(10), |s| {
        s.main_window().len() == 3 && s.overflow().len() == 1
    });
    let hidden = srv.overflow()[0].id.clone();
    let who = ids.iter().find(|id| env.task(id)["pane_id"] == hidden.as_str()).unwrap().clone();
    let out = env.ok(&["focus", &who[..who.len() - 1]]);
    assert!(out.contains(&hidden), "{out}");
    srv.until_panes("focused agent shown", Duration::from_secs(10), |s| {
        s.main_window().iter().any(|p| p.id == hidden)
    });
    let active = srv.run(&["display-message", "-p", "-t", "main", "#{pane_id}"]);
    assert_eq!(active.trim(), hidden, "the focused pane is selected");
    env.ok(&["cancel", "--all"]);
}

#[test]
fn with_window_size_manual_agents_start_in_an_overflow_window_and_tmux_lives() {
    // tmux 3.3a's server dies on `new-window` under `window-size manual`; a window too small
    // for any agent sends each one straight to an overflow window, which must be made another
    // way, leaving the user's window as it was.
    let env = Env::new(&tmux_config(""));
    let srv = Tmux::start(&env, 80, 12, "sh", &[]);
    srv.run(&["set-option", "-g", "window-size", "manual"]);
    let before = srv.run(&["display-message", "-p", "-t", "main", "#{window_layout}"]);
    let ids: Vec<String> =
        (0..3).map(|_| srv.run_from(&env, &["--agent", "fake", "1000 0.1 0"])).collect();
    for id in &ids {
        env.wait_status(id, "running", Duration::from_secs(10));
    }
    srv.until_panes("3 agents in overflow", Duration::from_secs(10), |s| s.overflow().len() == 3);
    let alive = srv.run(&["display-message", "-p", "#{pid}"]);
    assert!(!alive.trim().is_empty(), "the tmux server is alive");
    assert_eq!(srv.main_window().len(), 1, "{:#?}", srv.pane_list());
    let after = srv.run(&["display-message", "-p", "-t", "main", "#{window_layout}"]);
    assert_eq!(before, after, "the user's window keeps its layout");
    for id in &ids {
        let pane = env.task(id)["pane_id"].as_str().unwrap().to_string();
        assert!(srv.overflow().iter().any(|p| p.id == pane), "{id} in {pane}");
    }
    env.ok(&["cancel", "--all"]);
}

#[test]
fn pane_results_are_exact_however_fast_the_agent_exits() {
    // Tasks that print one line and exit at once: each result is exactly that line, with
    // nothing lost to the exit and nothing of paneherd's own (no banner) added.
    let env = Env::new(&tmux_config(""));
    let srv = Tmux::start(&env, 200, 50, "sh", &[]);
    let ids: Vec<String> = (0..50)
        .map(|i| srv.run_from(&env, &["--agent", "shell", &format!("echo 'RESULT: done pr{i}'")]))
        .collect();
    let out = env.run(&["wait", "--all", "--timeout", "120"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    for (i, id) in ids.iter().enumerate() {
        let t = env.task(id);
        assert_eq!(t["status"], "completed", "{t:#}");
        assert_eq!(t["result"], format!("RESULT: done pr{i}"), "task {i}: {t:#}");
        assert_eq!(t["summary"], format!("RESULT: done pr{i}"), "task {i}");
    }
}

#[test]
fn a_stopped_daemon_leaves_nothing_of_its_own_in_the_users_tmux() {
    let env =
        Env::new(&config_with("[concurrency]\ndefault = 0\n[tmux]\nclose_after_secs = \"keep\"\n"));
    let srv = Tmux::start(&env, 200, 50, "sh", &[]);
    // The user's own settings in that window, which paneherd must give back.
    srv.run(&["set-option", "-w", "-t", "%0", "pane-border-status", "bottom"]);
    srv.run(&["set-hook", "-w", "-t", "%0", "window-resized", "display-message mine"]);
    srv.run(&["set-option", "-t", "%0", "status-interval", "7"]);
    let interval = |s: &Tmux| s.run(&["show-options", "-qv", "-t", "%0", "status-interval"]);
    let hooks = |s: &Tmux| s.run(&["show-hooks", "-w", "-t", "%0"]);
    let id = srv.run_from(&env, &["--agent", "fake", "1000 0.1 0"]);
    env.wait_status(&id, "running", Duration::from_secs(10));
    srv.until_panes("the agent's pane", Duration::from_secs(10), |s| s.main_window().len() == 2);
    assert!(hooks(&srv).contains("tmux-resized"), "{}", hooks(&srv));
    assert_eq!(srv.run(&["show-options", "-wv", "-t", "%0", "pane-border-status"]).trim(), "top");
    // The borders' elapsed times are tmux's, redrawn every second while agents are shown.
    assert_eq!(interval(&srv).trim(), "1");
    // A finished task's pane is kept ("keep"), and the daemon stops: everything goes.
    env.ok(&["daemon", "stop"]);
    assert_eq!(srv.main_window().len(), 1, "agent panes closed: {:?}", srv.pane_list());
    let h = hooks(&srv);
    assert!(!h.contains("tmux-resized"), "paneherd's hook removed: {h}");
    assert!(h.contains("display-message mine"), "the user's hook kept: {h}");
    assert_eq!(
        srv.run(&["show-options", "-wv", "-t", "%0", "pane-border-status"]).trim(),
        "bottom",
        "the user's value is back"
    );
    assert_eq!(interval(&srv).trim(), "7", "the user's status-interval is back");
    assert_eq!(srv.run(&["show-options", "-wqv", "-t", "%0", "pane-border-format"]).trim(), "");
    // A hook left by a daemon that is gone says nothing and succeeds.
    let out = env
        .cmd(&["tmux-resized", "--socket", "/nonexistent/sock", "--tmux", "/nonexistent", "@1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stdout.is_empty() && out.stderr.is_empty(), "{out:?}");
}

#[test]
fn the_window_is_given_back_once_its_last_agent_pane_closes() {
    let env = Env::new(&tmux_config(""));
    let srv = Tmux::start(&env, 200, 50, "sh", &[]);
    let interval = |s: &Tmux| s.run(&["show-options", "-qv", "-t", "%0", "status-interval"]);
    let id = srv.run_from(&env, &["--agent", "fake", "2 0.1 0"]);
    env.wait_status(&id, "running", Duration::from_secs(10));
    srv.until_panes("redrawn every second", Duration::from_secs(10), |s| interval(s).trim() == "1");
    env.wait_status(&id, "completed", Duration::from_secs(10));
    srv.until_panes("the pane closed", Duration::from_secs(10), |s| s.pane_list().len() == 1);
    // All given back (the hook, the border line and the redraws are tmux commands of their
    // own); the session had no status-interval of its own, and has none again.
    srv.until_panes("hook removed, border line off, interval unset", Duration::from_secs(5), |s| {
        !s.run(&["show-hooks", "-w", "-t", "%0"]).contains("tmux-resized")
            && s.run(&["show-options", "-wqv", "-t", "%0", "pane-border-status"]).trim().is_empty()
            && interval(s).trim().is_empty()
    });
}

#[test]
fn the_default_layout_shows_agents_at_the_sizes_people_use() {
    for ((w, h), at_least, how) in [
        ((120, 35), 2, Some("agents below the main pane")),
        ((160, 45), 3, Some("main pane narrowed to 96 columns")),
        ((220, 55), 5, None),
    ] {
        let env = Env::new(&tmux_config(""));
        let srv = Tmux::start(&env, w, h, "sh", &[]);
        let _ids: Vec<String> =
            (0..6).map(|_| srv.run_from(&env, &["--agent", "fake", "1000 0.1 0"])).collect();
        // Settled: a pane just split is laid out a moment later (the split, then the layout).
        srv.until_panes(
            &format!("{at_least} agents beside the main pane at {w}x{h}, laid out"),
            Duration::from_secs(10),
            |s| {
                let main = s.main_window();
                main.len() > at_least
                    && main.len() + s.overflow().len() == 7
                    && main.iter().filter(|p| p.id != "%0").all(|p| p.w >= 40 && p.h >= 8)
            },
        );
        let main = srv.main_window();
        let m = main.iter().find(|p| p.id == "%0").unwrap();
        assert!(m.w >= 80, "{w}x{h}: the main pane keeps 80 columns: {m:?}");
        for p in main.iter().filter(|p| p.id != "%0") {
            assert!(p.w >= 40 && p.h >= 8, "{w}x{h}: pane {p:?} below the minimums");
        }
        let status = env.ok(&["daemon", "status"]);
        match how {
            Some(words) => assert!(status.contains(words), "{w}x{h}: {status}"),
            None => assert!(!status.contains("narrowed") && !status.contains("below"), "{status}"),
        }
        env.ok(&["cancel", "--all"]);
    }
}

#[test]
fn a_pane_of_the_users_own_keeps_its_size_and_place() {
    let env = Env::new(&tmux_config(""));
    let srv = Tmux::start(&env, 240, 50, "sh", &[]);
    // The user splits their window: a shell of their own on the right, 80 columns.
    srv.run(&["split-window", "-h", "-l", "80", "-t", "%0", "sh"]);
    let before = srv.main_window();
    let theirs = before.iter().find(|p| p.id != "%0").unwrap().clone();
    let geometry = |s: &Tmux, id: &str| {
        s.run(&[
            "display-message",
            "-p",
            "-t",
            id,
            "#{pane_left},#{pane_top},#{pane_width}x#{pane_height}",
        ])
    };
    let theirs_at = geometry(&srv, &theirs.id);
    for _ in 0..3 {
        srv.run_from(&env, &["--agent", "fake", "1000 0.1 0"]);
    }
    srv.until_panes("agents beside the main pane, laid out", Duration::from_secs(10), |s| {
        let main = s.main_window();
        main.len() >= 3
            && main
                .iter()
                .filter(|p| p.id != "%0" && p.id != theirs.id)
                .all(|p| p.w >= 40 && p.h >= 8)
    });
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        geometry(&srv, &theirs.id),
        theirs_at,
        "the user's pane did not move or change size"
    );
    // The agents are in what was the main pane's part of the window.
    for p in srv.main_window().iter().filter(|p| p.id != "%0" && p.id != theirs.id) {
        assert!(p.w >= 40 && p.h >= 8, "{p:?}");
    }
    env.ok(&["cancel", "--all"]);
    srv.until_panes("agent panes closed", Duration::from_secs(10), |s| s.main_window().len() == 2);
    assert_eq!(geometry(&srv, &theirs.id), theirs_at, "and still not after they closed");
}

#[test]
fn a_task_waiting_on_its_terminal_shows_as_needing_input_until_it_is_answered() {
    let env = Env::new(&tmux_config(""));
    let srv = Tmux::start(&env, 200, 50, "sh", &[]);
    let id = srv
        .run_from(&env, &["--agent", "shell", "--", "echo asking; read answer; echo got $answer"]);
    // No output and a read pending on its terminal: it needs input, well before the stale
    // timeout.
    let t = env.wait_status(&id, "running", Duration::from_secs(10));
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut t = t;
    while t["needs_input"].is_null() {
        assert!(Instant::now() < deadline, "not seen waiting: {t:#}");
        std::thread::sleep(Duration::from_millis(200));
        t = env.task(&id);
    }
    assert_eq!(t["needs_input"], "waiting for input on its terminal");
    // Answered in its pane: it works again, and ends.
    let pane = t["pane_id"].as_str().unwrap().to_string();
    srv.run(&["send-keys", "-t", &pane, "-l", "yes"]);
    srv.run(&["send-keys", "-t", &pane, "Enter"]);
    let t = env.wait_status(&id, "completed", Duration::from_secs(10));
    assert!(t["needs_input"].is_null(), "{t:#}");
    // The terminal echoed what was typed, as it shows in the pane.
    assert_eq!(t["result"], "asking\nyes\ngot yes");
}

#[test]
fn a_prompt_on_standard_input_arrives_byte_for_byte_in_a_pane_too() {
    let env = Env::new(&tmux_config(
        "[agents.reader]\ncommand = [\"sh\", \"-c\", \"cat > stdin.bin; echo read it; test -t 1\"]\nstdin = \"{prompt}\"\n",
    ));
    let srv = Tmux::start(&env, 160, 45, "sh", &[]);
    let prompt = "-v Fix the \"parse\" fn\tnow\n  and 'this' $(too)";
    let mut a = vec!["run", "--agent", "reader", "--", prompt];
    let id = {
        let out = env
            .cmd(&a)
            .current_dir(env.path())
            .env("TMUX", format!("{},1,0", srv.sock.display()))
            .env("TMUX_PANE", "%0")
            .output()
            .unwrap();
        a.clear();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    // Completed: its output is still the pane's terminal (`test -t 1`), its input the prompt.
    let t = env.wait_status(&id, "completed", Duration::from_secs(10));
    assert!(t["pane_id"].as_str().is_some(), "{t:#}");
    assert_eq!(t["result"], "read it");
    assert_eq!(std::fs::read(env.path().join("stdin.bin")).unwrap(), prompt.as_bytes());
}

/// A task delegated through MCP by an agent in a tmux pane gets a pane of its own, as from the
/// CLI — also when the host starts its MCP server without `$TMUX` (found in the agent's own
/// environment).
#[test]
fn an_mcp_task_from_an_agent_in_tmux_runs_in_a_pane() {
    let env = Env::new(&tmux_config(""));
    let srv = Tmux::start(&env, 160, 45, "sh", &[]);
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/fake_claude.py");
    let dir = env.path().join("agent-bin");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(&src, dir.join("claude")).unwrap();
    let mut cmd = Command::new("python3");
    cmd.arg(dir.join("claude")).arg(common::BIN).arg("tmux");
    env.apply(&mut cmd);
    cmd.env("TMUX", format!("{},1,0", srv.sock.display()))
        .env("TMUX_PANE", "%0")
        .env_remove("PANEHERD_DELEGATOR");
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let seen: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let id = seen["task"].as_str().unwrap();
    let t = env.wait_status(id, "completed", Duration::from_secs(10));
    assert!(t["pane_id"].as_str().is_some_and(|p| p.starts_with('%')), "ran headless: {t:#}");
    assert!(t["result"].as_str().unwrap().contains("in a pane"), "{t:#}");
}
