//! `paneherd demo` end to end, typed into a shell in a private tmux server: it shows the
//! dashboard with simulated agents in panes beside it, and `q` leaves the shell usable with no
//! pane, hook or option of paneherd's behind. Also from outside tmux, where it makes (and
//! then removes) a session of its own — on a private "default" server (`TMUX_TMPDIR`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::tmux::Tmux;
use common::{BIN, Env};

const T: Duration = Duration::from_secs(30);

fn vars(env: &Env) -> Vec<(&'static str, String)> {
    vec![
        ("PANEHERD_DATA_DIR", env.data().display().to_string()),
        ("PANEHERD_RUNTIME_DIR", env.runtime().display().to_string()),
        ("PANEHERD_CONFIG", env.config().display().to_string()),
        ("HOME", env.path().join("home").display().to_string()),
        ("DBUS_SESSION_BUS_ADDRESS", format!("unix:path={}", env.path().join("no-bus").display())),
        // Short simulated work, so that the test is quick.
        ("PANEHERD_DEMO_SECS", "2".to_string()),
    ]
}

#[test]
fn the_demo_shows_agents_beside_the_dashboard_and_q_leaves_nothing_behind() {
    let env = Env::new("");
    let tmux = Tmux::start(&env, 160, 45, "sh", &vars(&env));
    tmux.keys(&["-l", &format!("{BIN} demo -n 5")]);
    tmux.keys(&["Enter"]);
    tmux.until("the dashboard with the demo's limit", T, |s| {
        s.contains("paneherd │ demo 3/3") && s.contains("Running (3)")
    });
    let beside = tmux.panes().iter().filter(|p| !p.contains("paneherd-agents")).count();
    assert!(beside >= 3, "agents in panes beside the dashboard: {:?}", tmux.panes());
    let s = tmux.until("every task ended, one failed", T, |s| s.contains("Finished (5)"));
    assert!(s.contains("✗ error"), "{s}");
    // A task retried from the dashboard is the demo's too: q stops it like the others.
    tmux.keys(&["r"]);
    tmux.until("the retry running", T, |s| s.contains("Running (1)"));
    tmux.keys(&["q"]);
    let s = tmux.until("the summary", T, |s| {
        s.contains("paneherd demo: 6 tasks — ") && common::tmux::prompt_back(s)
    });
    assert!(s.contains("1 cancelled"), "the retry was stopped: {s}");
    // Commands that work as written from this shell (here, the binary by a path relative to
    // the shell's directory, below which it is), each line within 80 columns.
    assert!(s.contains("target/debug/paneherd list") || s.contains(&format!("{BIN} list")), "{s}");
    assert!(s.lines().all(|l| l.chars().count() <= 80), "{s}");
    // Nothing of paneherd's is left in the window.
    assert_eq!(tmux.panes().len(), 1, "{:?}", tmux.panes());
    assert_eq!(tmux.run(&["show-hooks", "-w", "-t", "%0"]).trim(), "", "no hook left");
    assert_eq!(tmux.run(&["show-options", "-w", "-t", "%0"]).trim(), "", "no option left");
    // And the shell answers.
    tmux.keys(&["-l", "echo alive-$((40+2))"]);
    tmux.keys(&["Enter"]);
    tmux.until("the shell answers", T, |s| s.lines().any(|l| l.trim() == "alive-42"));
    // What the demo suggests works as written.
    let id = s
        .lines()
        .find_map(|l| l.split_once("paneherd output ").map(|(_, rest)| rest))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap()
        .to_string();
    let out = env.ok(&["output", &id]);
    assert!(out.contains("findings for"), "{out}");
}

#[test]
fn outside_tmux_the_demo_makes_a_session_of_its_own_and_removes_it() {
    let env = Env::new("");
    let mut v = vars(&env);
    // The demo's "default" tmux server: private to this test.
    let tmpdir = env.path().join("tmux-tmpdir");
    std::fs::create_dir_all(&tmpdir).unwrap();
    v.push(("TMUX_TMPDIR", tmpdir.display().to_string()));
    let outer = Tmux::start(&env, 160, 45, "sh", &v);
    // As a user at a terminal outside tmux: no TMUX in the demo's environment.
    outer.keys(&["-l", &format!("env -u TMUX -u TMUX_PANE {BIN} demo -n 3")]);
    outer.keys(&["Enter"]);
    outer.until("the dashboard, in the demo's own session", T, |s| s.contains("paneherd │ demo"));
    let uid = nix::unistd::getuid();
    let inner = tmpdir.join(format!("tmux-{uid}")).join("default");
    let inner_panes = || {
        let out = std::process::Command::new("tmux")
            .arg("-S")
            .arg(&inner)
            .args(["list-panes", "-a", "-F", "#{session_name} #{pane_id}"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert!(inner_panes().contains("paneherd-demo"), "{}", inner_panes());
    outer.until("every task ended", T, |s| s.contains("Finished (3)"));
    outer.keys(&["q"]);
    let s = outer.until("back on the user's terminal, with the summary", T, |s| {
        s.contains("paneherd demo: 3 tasks")
    });
    assert!(!s.contains("┌ tasks"), "the dashboard is gone:\n{s}");
    assert!(!inner_panes().contains("paneherd-demo"), "the demo's session is gone");
}
