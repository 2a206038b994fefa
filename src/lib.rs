//! paneherd runs many background AI-agent tasks (or any command) in parallel, from inside tmux.
//!
//! # Modules, lowest first (each module's own doc says more)
//! - [`core`]: the pure model (tasks, limits, scheduler, launches, records): with [`config`] and
//!   [`proto`] (wire types), all the engine uses. [`paths`]: where things live, the programs.
//! - [`config`]: the TOML config, typed, errors with file, line and key. [`store`]: task files.
//!   [`runner`]: the processes tasks run in (headless, or the pane wrapper), and every helper
//!   program. [`tmux`]: layout planning and the tmux adapter. [`notify`]: notifications.
//!   [`worktree`]: tasks' git worktrees. [`delegator`]: who delegates a task.
//! - [`engine`]: the daemon's decisions, pure: [`engine::Input`]s in, [`engine::Effect`]s out.
//! - [`daemon`]: the engine in one loop ([`daemon::hub`]) with the components that act for it
//!   and report back by message: connections, writer, runner, panes, timers, notifier, hosts.
//! - [`client`]: the socket client (it starts a daemon on demand). Its users: [`cli`], [`tui`]
//!   (the dashboard), [`mcp`] (the MCP server), [`web`] (the browser's view, over one
//!   multiplexed connection); [`install`] writes agents' config files;
//!   [`demo_agent`] is the demo's simulated agent.
//! - Programs: `paneherd` (small: `run`, `list`, `output`, `wait`, `cancel`, `inbox`; else it
//!   becomes `paneherd-full`), `paneherd-full` (everything), `paneherd-pane` (the wrapper).
//!
//! # One task's path, from `run` to notification
//! 1. `paneherd run` ([`cli`]) checks that the socket is the user's own and sends `submit`
//!    ([`client::Blocking`]); a connection ([`daemon::connection`]) forwards it to
//!    [`daemon::requests`], which answers every request, asking the hub.
//! 2. The engine resolves agent, model and limit group from the [`config`] and has the
//!    [`store::Writer`] record the task; only once it is written is it queued and answered.
//! 3. With a slot free (and its worktree made, [`worktree`]) the engine builds the argv
//!    ([`core::argv`]), wrapped in its sandbox when it has one ([`core::sandbox`]: bubblewrap
//!    or a podman/docker container) and confined by a [`core::launch::Confinement`], and
//!    returns `Launch`
//!    (run by a [`runner::place::Place`]), `Pane(Open)` ([`daemon::panes`] splits a pane on a
//!    [`tmux::server::PaneServer`] to run [`runner::pane`]) or, for another host, `Host(Submit)`
//!    ([`daemon::hosts`]: ssh to the daemon there, which runs it; its reports mirrored here).
//! 4. The process's reports (`Started`, `Output`, `Exited`) come back as inputs; at the exit
//!    the engine frees the slot, collects the result from the log ([`core::screen`]), has the
//!    record written durably, and only then returns `Announce`.
//! 5. The event reaches waiting clients, the dashboard, the MCP server, open web pages and the notifier
//!    ([`daemon::notifier`]: one desktop notification per end); the end waits in the
//!    delegator's inbox until a hook, the OpenCode plugin or a tool has told the agent.
//!
//! # Against the flow, by design
//! Components report to the hub by message, never by calling the engine. The pane wrapper
//! reports through the socket ([`runner::pane::DaemonLine`], implemented by [`client`]); a
//! notification's click asks `focus` as a client would. [`daemon::requests`] reads whole logs.

pub mod cli;
pub mod client;
pub mod config;
pub mod core;
pub mod daemon;
pub mod delegator;
pub mod demo_agent;
pub mod engine;
pub mod install;
pub mod mcp;
pub mod notify;
pub mod paths;
pub mod proto;
pub mod runner;
pub mod store;
pub mod tmux;
pub mod tui;
pub mod web;
pub mod worktree;
