//! The commands about paneherd itself: `daemon status|stop`, `config check|default|path`,
//! `layouts`, `notify test`.

use std::time::Duration;

use super::args::ConfigCmd;
use super::exit;
use super::out::Fail;
use super::out::{CmdResult, usage};
use super::out::{print_json, tmux_origin};
use crate::client::{Client, ClientError};
use crate::config::{Config, DEFAULT_TOML};
use crate::core::timefmt;
use crate::paths::Paths;
use crate::proto::{Request, StatusData, ask};

pub(super) async fn daemon_status(paths: &Paths, json: bool) -> CmdResult {
    let mut c = Client::connect(paths, false).await?;
    let s: StatusData = c.ask(ask::Status { main: None }).await?;
    if json {
        print_json(&s)?;
        return Ok(exit::OK);
    }
    outln!("paneherd daemon {} (pid {})", s.version, s.pid);
    outln!("  socket     {}", s.socket.display());
    outln!("  data       {}", s.data_dir.display());
    outln!(
        "  config     {}",
        s.config.map(|p| p.display().to_string()).unwrap_or_else(|| "(embedded defaults)".into())
    );
    if let Some(e) = &s.config_error {
        outln!("  config     NOT RELOADED, the last good config stays in force:");
        for l in e.lines() {
            outln!("               {l}");
        }
    }
    outln!("  uptime     {}", timefmt::human_duration(s.uptime_ms));
    let counts: Vec<String> = s.counts.iter().map(|(st, n)| format!("{n} {st}")).collect();
    outln!("  tasks      {}", counts.join(", "));
    for g in &s.groups {
        let limit = if g.limit == 0 { "∞".to_string() } else { g.limit.to_string() };
        outln!("  limit      {} {}/{} ({} queued)", g.key, g.running, limit, g.queued);
    }
    for p in &s.panes {
        let note = match (&p.fallback, p.visible) {
            (_, 0) => " (window too small to show any beside it)".to_string(),
            (Some(how), _) => format!(" ({how}, to fit the window)"),
            (None, _) => String::new(),
        };
        outln!(
            "  panes      beside {} ({}): {} shown, {} waiting in paneherd-agents windows{note}",
            p.main_pane,
            p.socket.display(),
            p.visible,
            p.hidden
        );
    }
    if !s.notifications.is_empty() {
        outln!("  notify     {}", s.notifications);
    }
    for p in &s.store_problems {
        outln!("  skipped    {p}");
    }
    // Worktrees that need a look (git runs here, in the client): made by paneherd but without
    // a task, or a task's removed by hand. Reported, never fixed behind the user's back.
    let tasks: Vec<crate::core::task::Task> =
        c.ask(ask::List { filter: crate::proto::ListFilter::default() }).await?;
    if tasks.iter().any(|t| t.worktree.is_some()) {
        let rows = super::worktrees::rows_here(&tasks, paths);
        let gone = rows.iter().filter(|r| r.state.starts_with("gone")).count();
        let orphans = rows.iter().filter(|r| r.state.starts_with("orphan")).count();
        let live = rows.iter().filter(|r| r.path.is_dir() && r.task.is_some()).count();
        let mut line = format!("  worktrees  {live} in use by tasks");
        if gone > 0 {
            line.push_str(&format!(", {gone} removed by hand"));
        }
        if orphans > 0 {
            line.push_str(&format!(", {orphans} without a task"));
        }
        if gone + orphans > 0 {
            line.push_str(" (see `paneherd worktrees`)");
        }
        outln!("{line}");
    }
    Ok(exit::OK)
}

pub(super) async fn daemon_stop(paths: &Paths) -> CmdResult {
    let mut c = Client::connect(paths, false).await?;
    let pid = c.welcome.pid;
    match c.request_raw(Request::Shutdown).await {
        // The daemon may close the connection before its reply gets out: it is going anyway.
        Ok(_) | Err(ClientError::Unreachable(_)) | Err(ClientError::Io(_)) => {}
        Err(e) => return Err(e.into()),
    }
    // The daemon closes every connection when it exits.
    let gone = tokio::time::timeout(Duration::from_secs(15), async {
        while let Ok(Some(_)) = c.next_event().await {}
    })
    .await;
    // Its lock is released when the process has exited.
    let released =
        gone.is_ok() && wait_lock_free(&paths.daemon_lock(), Duration::from_secs(5)).await;
    if !released {
        return Err(Fail {
            code: exit::DAEMON,
            message: format!("daemon {pid} did not stop within 15 s"),
        });
    }
    outln!("daemon {pid} stopped");
    Ok(exit::OK)
}

async fn wait_lock_free(path: &std::path::Path, within: Duration) -> bool {
    use nix::fcntl::{Flock, FlockArg};
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let Ok(f) = std::fs::File::open(path) else {
            return true;
        };
        if Flock::lock(f, FlockArg::LockSharedNonblock).is_ok() {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// `notify test`: the daemon sends a sample through its own bus (the one real notifications
/// use) and says which way it went; exit 1 when nothing was delivered.
pub(super) async fn notify_test(paths: Paths) -> CmdResult {
    let mut c = Client::connect(&paths, true).await?;
    let d: crate::proto::NotifyTestData = c.ask(ask::NotifyTest { tmux: tmux_origin() }).await?;
    let took = d.took_ms;
    match d.route.as_str() {
        "desktop" => outln!(
            "desktop: sent to the notification server{} ({took} ms)",
            d.server.map(|s| format!(" {s}")).unwrap_or_default()
        ),
        "tmux" => {
            outln!("tmux: shown as a tmux message with a bell, because {} ({took} ms)", d.why)
        }
        _ => outln!("none: {} ({took} ms)", d.why),
    }
    if d.route != "desktop" && crate::notify::deliver::probe().await.is_ok() {
        outln!(
            "Your shell reaches a notification server the daemon does not: restart the daemon \
             from here (`paneherd daemon stop`; the next command starts it with this session)."
        );
    }
    Ok(if d.route == "none" { exit::TASK_FAILED } else { exit::OK })
}

pub(super) fn layouts(paths: &Paths) -> CmdResult {
    let loaded = Config::load(&paths.config).map_err(|e| usage(format!("config error: {e}")))?;
    let c = &loaded.config;
    let active = c.tmux.layout.as_ref().map(|l| l.get_ref().as_str()).unwrap_or("main-vertical");
    let w = c.presets.0.keys().map(|k| k.len()).max().unwrap_or(0).max(6);
    // How many of four agents each shows beside a dashboard at the sizes people use (the top
    // row of the window is the pane border line).
    const SIZES: [(u16, u16); 3] = [(120, 35), (160, 45), (220, 55)];
    let sizes: Vec<String> = SIZES.iter().map(|(x, y)| format!("{x}×{y}")).collect();
    outln!("  {:w$}  {:<15}  SHOWN AT {}  DESCRIPTION", "PRESET", "LAYOUT", sizes.join(" "));
    for (name, p) in &c.presets.0 {
        let mark = if name == active { "*" } else { " " };
        let from = match &p.path {
            Some(path) => format!("  ({})", path.display()),
            None => String::new(),
        };
        let g = c.tmux_settings_for(name).geometry;
        let shown: Vec<String> = SIZES
            .iter()
            .zip(&sizes)
            .map(|((x, y), label)| {
                let n = crate::tmux::plan(*x, y - 1, &g, 4).agents.len();
                format!("{n:>width$}", width = label.chars().count())
            })
            .collect();
        outln!(
            "{mark} {name:w$}  {:<15}  {:>8} {}  {}{from}",
            p.file.layout.name(),
            "",
            shown.join(" "),
            p.file.description
        );
    }
    let s = c.tmux_settings();
    let g = s.geometry;
    outln!(
        "\nSHOWN AT: agents in view beside a dashboard, of four running (the rest wait in the\n\
         paneherd-agents window). Every preset adapts to a window too small for it: a narrower\n\
         or shorter main pane, or the agents on its other side. `l` in the dashboard switches\n\
         its own window's layout while it is open."
    );
    outln!(
        "\nin force: {} — main pane {} % (≥ {} cols), agent panes ≥ {}×{}, close after {}",
        g.kind.name(),
        g.main_pane_size,
        g.main_pane_min_width,
        g.agent_pane_min_width,
        g.agent_pane_min_height,
        match s.close_after {
            crate::config::tmux::CloseAfter::Secs(n) => format!("{n} s"),
            crate::config::tmux::CloseAfter::Keep => "never (keep)".into(),
        }
    );
    Ok(exit::OK)
}

pub(super) fn config_cmd(paths: &Paths, c: ConfigCmd) -> CmdResult {
    match c {
        ConfigCmd::Default => {
            out!("{DEFAULT_TOML}");
            Ok(exit::OK)
        }
        ConfigCmd::Path => {
            outln!("{}", paths.config.display());
            Ok(exit::OK)
        }
        ConfigCmd::Check => {
            let checked = Config::load(&paths.config);
            // `Ok(None)`: no daemon runs.
            let daemon = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map(|rt| rt.block_on(daemon_config_state(paths)));
            let said = |no_daemon: &str| match &daemon {
                Ok(Some(s)) => s.clone(),
                Ok(None) => no_daemon.to_string(),
                Err(_) => String::new(),
            };
            match checked {
                Ok(l) => {
                    let src = match &l.user_file {
                        Some(p) => p.display().to_string(),
                        None => format!("{} (absent: embedded defaults)", paths.config.display()),
                    };
                    outln!(
                        "ok: {src}: {} agents, {} categories",
                        l.config.agents.len(),
                        l.config.categories.len()
                    );
                    for (name, a) in &l.config.agents {
                        if a.prompt_may_read_as_option() {
                            outln!(
                                "warning: agents.{name}.command: a prompt that begins with '-' \
                                 may be read as an option; put \"--\" before \"{{prompt}}\" \
                                 (or use the program's --flag={{prompt}})"
                            );
                        }
                    }
                    outln!("{}", said("No daemon is running; the next one will use this file."));
                    Ok(exit::OK)
                }
                Err(e) => {
                    errln!("paneherd: config error: {e}");
                    // With no daemon, the next one would not start on this file: say that.
                    outln!(
                        "{}",
                        said("No daemon is running; none will start until this file is mended.")
                    );
                    Ok(exit::USAGE)
                }
            }
        }
    }
}

/// Whether the running daemon uses the config file's current content, in a sentence; `None`
/// when no daemon runs.
async fn daemon_config_state(paths: &Paths) -> Option<String> {
    let now = crate::config::digest(&paths.config);
    let status = match Client::connect(paths, false).await {
        Ok(mut c) => c.ask(ask::Status { main: None }).await,
        Err(_) => return None,
    };
    let s = match status {
        Ok(s) => s,
        Err(e) => {
            return Some(format!("The running daemon did not say which config it uses: {e}"));
        }
    };
    let pid = s.pid;
    Some(match (&s.config_error, s.config_digest) {
        (Some(e), _) => format!(
            "The running daemon (pid {pid}) refused this content and runs on the last good \
             config:\n  {e}"
        ),
        (None, Some(d)) if d == now => format!("The running daemon (pid {pid}) uses this content."),
        _ => format!(
            "The running daemon (pid {pid}) has not read this content yet (it reloads within a \
             moment of a change; `paneherd daemon status` says when it has)."
        ),
    })
}
