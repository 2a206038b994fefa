//! paneherd runs many background AI-agent tasks (or any command) in parallel, from inside tmux.
//!
//! Modules: [`core`] is the pure model (tasks, state machine, limits, ids, text); [`config`]
//! the TOML config; [`proto`] the socket's wire types; [`store`] the task files and their
//! writer thread; [`runner`] how a process runs (argv templates, headless, and the programs
//! that run inside a pane); [`tmux`] the pure pane planner, layout presets and the tmux
//! adapter (the only code that runs tmux); [`daemon`] the server (engine, per-task supervisor,
//! pane book, connections); [`client`] the socket client; [`cli`] the commands; [`tui`] the
//! dashboard (state + `update`, view, keymap, event loop); [`notify`] desktop notifications;
//! [`mcp`] the MCP server for delegating agents; [`paths`] where things live; [`demo_agent`]
//! the built-in simulated agent.
//!
//! One task's path: `paneherd run` ([`cli`]) sends `submit` through [`client`] to
//! [`daemon::connection`]; [`daemon::engine::Engine::submit`] resolves agent, model and limit
//! group from [`config`], queues the task in the [`core::limits::Scheduler`] and has the
//! [`store::Writer`] write its file before replying; when a slot is free the engine expands the
//! agent's argv template ([`runner::argv`]) and starts it: headless ([`runner::headless`]), or,
//! when it came from inside tmux, in a pane placed by [`daemon::panes`] whose wrapper
//! ([`runner::pane`]) runs it and reports its exit; [`daemon::supervisor`] awaits the exit and
//! the stale and TTL timers; `Engine::finish` frees the slot, has the writer write and flush the
//! result, and only then broadcasts the event that `output --wait`, `wait`, the dashboard, the
//! MCP server and [`notify::service`] (which sends the desktop notification) receive.

pub mod cli;
pub mod client;
pub mod config;
pub mod core;
pub mod daemon;
pub mod demo_agent;
pub mod engine;
pub mod mcp;
pub mod notify;
pub mod paths;
pub mod proto;
pub mod runner;
pub mod store;
pub mod tmux;
pub mod tui;
