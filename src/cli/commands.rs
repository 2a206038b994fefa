//! The command line's dispatch: which command runs where (the task commands in `tasks`, the
//! daemon's and the config's in `admin`, the demo in `demo`); what they share is in `out`.

use std::io::IsTerminal;

use clap::CommandFactory;

use super::args::{Cli, Command, DaemonCmd};
use super::out::{self, CmdResult, Fail, block_on, finish, tmux_origin, usage};
use super::{admin, exit, tasks};
use crate::client::Client;
use crate::core::task::Task;
use crate::paths::Paths;
use crate::proto::{Request, ask};

pub fn dispatch(cli: Cli) -> i32 {
    let paths = Paths::from_env();
    if cli.version {
        return match version(&paths) {
            Ok(code) => code,
            Err(f) => f.code,
        };
    }
    let command = match cli.command {
        Some(c) => c,
        None if std::io::stdout().is_terminal() && std::io::stdin().is_terminal() => Command::Ui,
        None => Command::List(super::args::ListArgs {
            status: vec![],
            limit: None,
            agent: vec![],
            category: vec![],
            grep: None,
            since: None,
            json: false,
        }),
    };
    let result = match command {
        Command::Daemon(d) => match d.command.unwrap_or(DaemonCmd::Run { detach: false }) {
            DaemonCmd::Run { detach } => match crate::daemon::run(paths, detach) {
                Ok(()) => Ok(exit::OK),
                Err(e) => Err(Fail { code: exit::DAEMON, message: format!("{e:#}") }),
            },
            DaemonCmd::Status { json } => block_on(admin::daemon_status(&paths, json)),
            DaemonCmd::Stop => block_on(admin::daemon_stop(&paths)),
        },
        Command::Config(c) => admin::config_cmd(&paths, c),
        Command::Layouts => admin::layouts(&paths),
        Command::Hosts { command, json } => super::hosts::run(&paths, command, json),
        Command::Dial => block_on(super::hosts::dial(&paths)),
        Command::Sandbox(super::args::SandboxCmd::Check) => super::sandbox::check(&paths),
        Command::Web { listen, read_only, token } => block_on(async move {
            if let Some(t) = &token {
                if t.len() < 16 {
                    return Err(usage("--token: at least 16 characters"));
                }
                // It goes into a URL, a header and a cookie as it is.
                if let Some(c) =
                    t.chars().find(|c| !(c.is_ascii_alphanumeric() || "-._~".contains(*c)))
                {
                    return Err(usage(format!(
                        "--token: {c:?} is not allowed (letters, digits and - . _ ~ only)"
                    )));
                }
            }
            let options = crate::web::Options { listen, read_only, token };
            crate::web::serve(&paths, options)
                .await
                .map_err(|e| Fail { code: exit::DAEMON, message: format!("{e:#}") })?;
            Ok(exit::OK)
        }),
        Command::Signal { kind, text, task } => block_on(async move {
            let task =
                task.or_else(|| std::env::var("PANEHERD_TASK_ID").ok()).ok_or_else(|| {
                    usage("no task: run inside a task (PANEHERD_TASK_ID) or give --task")
                })?;
            let mut c = Client::connect(&paths, true).await?;
            let token = std::env::var("PANEHERD_TASK_TOKEN").ok();
            let t: Task = c.ask(ask::Signal { task_id: task, kind, text, token }).await?;
            outln!(
                "{} {}",
                t.id,
                if t.needs_input.is_some() { "needs input" } else { t.status.as_str() }
            );
            Ok(exit::OK)
        }),
        Command::Continue { id, prompt, wait, timeout, json } => {
            tasks::continue_task(&paths, id, prompt, wait, timeout, json)
        }
        Command::Mcp { channel } => match crate::mcp::run(paths, channel) {
            Ok(()) => Ok(exit::OK),
            Err(e) => Err(Fail { code: exit::DAEMON, message: format!("{e:#}") }),
        },
        Command::Notify(super::args::NotifyCmd::Test) => {
            block_on(admin::notify_test(paths.clone()))
        }
        Command::Ui if !(std::io::stdin().is_terminal() && std::io::stdout().is_terminal()) => {
            Err(usage(
                "paneherd ui needs a terminal: its standard input and output are not one \
                 (scripts: `paneherd list`, `paneherd events`)",
            ))
        }
        Command::Ui => match crate::tui::run(paths, tmux_origin()) {
            Ok(()) => Ok(exit::OK),
            Err(e) => Err(Fail { code: exit::DAEMON, message: format!("{e:#}") }),
        },
        // The shell's registration of paneherd's own completer, which completes task ids,
        // agents and categories as they are now (not a script fixed at install time).
        Command::Completions { shell } => {
            let me = crate::paths::full_exe();
            let me = if me.exists() { me } else { std::env::current_exe().unwrap_or(me) };
            let mut completer = crate::runner::programs::command(&me);
            match crate::runner::programs::output(completer.env("COMPLETE", shell.to_string())) {
                Ok(o) if o.status.success() => {
                    out::bytes(&o.stdout).map(|()| exit::OK).map_err(Fail::from)
                }
                Ok(o) => Err(Fail {
                    code: exit::USAGE,
                    message: String::from_utf8_lossy(&o.stderr).trim().to_string(),
                }),
                Err(e) => Err(Fail { code: exit::DAEMON, message: e.to_string() }),
            }
        }
        Command::Man { dir } => man_pages(dir.as_deref()),
        Command::PaneRun { socket, task, token_file } => {
            match crate::runner::pane::take_token(&token_file) {
                Some(token) => Ok(crate::runner::pane::run_wrapper::<crate::client::PaneLink>(
                    &socket, &task, &token,
                )),
                None => Err(usage(format!(
                    "no token in {} (pane-run is started by the paneherd daemon)",
                    token_file.display()
                ))),
            }
        }
        // Run by tmux's hook: silent, and 0 whatever happens (tmux would cover the user's pane
        // with a failure), also when the daemon has gone.
        Command::TmuxResized { socket, tmux, window } => {
            let _ = block_on(async move {
                let mut c = Client::connect_socket(&socket).await?;
                c.request_raw(Request::TmuxResized { socket: tmux, window }).await?;
                Ok(exit::OK)
            });
            Ok(exit::OK)
        }
        Command::Focus { id } => block_on(async move {
            let mut c = Client::connect(&paths, true).await?;
            let t: Task = c.ask(ask::Focus { id }).await?;
            outln!("{} is in pane {}", t.id, t.pane_id.as_deref().unwrap_or("?"));
            Ok(exit::OK)
        }),
        Command::DemoAgent { task, prompt } => Ok(crate::demo_agent::run(task.as_deref(), &prompt)),
        Command::Run(a) => tasks::run(&paths, a),
        Command::List(a) => tasks::list(&paths, a),
        Command::Output(a) => tasks::output(&paths, a),
        Command::Wait(a) => tasks::wait(&paths, a),
        Command::Cancel(a) => tasks::cancel(&paths, a),
        Command::Inbox(a) => tasks::inbox(&paths, a),
        Command::Events { json, no_output } => block_on(tasks::events(&paths, json, no_output)),
        Command::Hook(super::args::HookCmd::Claude) => super::hook::claude(&paths),
        Command::Hook(super::args::HookCmd::Codex { payload }) => {
            Ok(super::hook::codex(&paths, payload.as_deref()))
        }
        Command::Install(a) => super::setup::run(a, false),
        Command::Diff { id, stat } => block_on(super::worktrees::diff(&paths, &id, stat)),
        Command::Merge { id, squash, rebase } => {
            let how = match (squash, rebase) {
                (true, _) => crate::worktree::ops::How::Squash,
                (_, true) => crate::worktree::ops::How::Rebase,
                _ => crate::worktree::ops::How::Merge,
            };
            block_on(super::worktrees::merge(&paths, &id, how))
        }
        Command::Discard { id, force, delete_branch } => {
            let opt = crate::worktree::ops::Discard { force, delete_branch };
            block_on(super::worktrees::discard(&paths, &id, opt))
        }
        Command::Worktrees { json } => block_on(super::worktrees::list(&paths, json)),
        Command::Uninstall(a) => super::setup::run(a, true),
        Command::Retry(a) => tasks::retry(&paths, a),
        Command::Demo(a) => super::demo::run(&paths, a),
    };
    finish(result)
}

/// A command's exit code, its failure said on stderr.
/// `paneherd man`: the main page on standard output, or every page into `dir`.
fn man_pages(dir: Option<&std::path::Path>) -> CmdResult {
    let failed = |e: std::io::Error| Fail { code: exit::USAGE, message: e.to_string() };
    // The page's footer names the version (the `--version` flag is paneherd's own).
    let cmd = Cli::command().name("paneherd").version(env!("CARGO_PKG_VERSION"));
    let Some(dir) = dir else {
        let mut page = Vec::new();
        clap_mangen::Man::new(cmd).render(&mut page).map_err(failed)?;
        return out::bytes(&page).map(|()| exit::OK).map_err(Fail::from);
    };
    std::fs::create_dir_all(dir)
        .map_err(|e| usage(format!("cannot create {}: {e}", dir.display())))?;
    let mut written = 0;
    let mut pages = vec![cmd.clone()];
    pages.extend(
        cmd.get_subcommands()
            .filter(|c| !c.is_hide_set())
            // A name of its own for each page (a one-shot command: kept for its life).
            .map(|c| {
                let name: &'static str = format!("paneherd-{}", c.get_name()).leak();
                c.clone().name(name).version(env!("CARGO_PKG_VERSION"))
            }),
    );
    for page in pages {
        let path = dir.join(format!("{}.1", page.get_name()));
        let mut text = Vec::new();
        clap_mangen::Man::new(page).render(&mut text).map_err(failed)?;
        std::fs::write(&path, text)
            .map_err(|e| usage(format!("cannot write {}: {e}", path.display())))?;
        written += 1;
    }
    outln!("{written} pages in {}", dir.display());
    Ok(exit::OK)
}

fn version(paths: &Paths) -> CmdResult {
    outln!("paneherd {}", env!("CARGO_PKG_VERSION"));
    outln!("config:  {}", paths.config.display());
    outln!("data:    {}", paths.data.display());
    outln!("runtime: {}", paths.runtime.display());
    Ok(exit::OK)
}
