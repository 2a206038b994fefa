//! paneherd runs many background AI-agent tasks (or any command) in parallel, from inside tmux.
//!
//! # Modules, lowest first
//! - [`core`]: the pure model (tasks and their state machine, limit groups and the FIFO
//!   scheduler, ids, text, time). [`paths`]: where things live. [`proto`]: the socket's wire
//!   types and its one codec.
//! - [`config`]: the TOML config with its own error type and typed sections (`[tmux]` and the
//!   layout presets, `[notify]`, `[ui]` key bindings).
//! - [`store`]: task files, the writer thread, and the one reader of task output.
//!   [`runner`]: every process paneherd starts (argv templates, headless runner, the pane
//!   wrapper, summarizer, hooks, the daemon itself). [`tmux`]: the pure planner and layout
//!   trees, and the adapter, the only code that runs tmux. [`notify`]: what a notification
//!   says, how bursts merge, how it is delivered.
//! - [`engine`]: the daemon's decisions as a pure state machine: [`engine::Input`]s in,
//!   [`engine::Effect`]s out, time passed in. No I/O.
//! - [`daemon`]: the engine in the hub's loop ([`daemon::hub`]) with the components that act
//!   for it and report back by message: connections, store writer, runner, pane manager
//!   ([`daemon::pane_jobs`] over [`daemon::panes`]), timers, notifier, config watcher.
//! - [`delegator`]: which agent process a client runs under (who delegates its tasks).
//!   [`worktree`]: tasks' git worktrees — made by the daemon's job when a task starts
//!   (`Effect::PrepareWorktree` → `Input::WorktreeReady`), read, merged and discarded by clients
//!   (the CLI, the dashboard), who record what became of one with `worktree_note`.
//! - [`client`]: the socket client (starting a daemon on demand): [`client::Blocking`] for
//!   the one-shot commands (no async runtime), [`client::Client`] for the rest (events,
//!   pipelined requests; it starts daemons through the blocking one). Its users: [`cli`] (the
//!   commands, `cli::demo`), [`tui`] (the dashboard; [`tui::link`] its connections and
//!   effects), [`mcp`] (the MCP server for delegating agents, with [`mcp`]'s `tasks` module
//!   mapping the MCP tasks extension onto paneherd's tasks); [`demo_agent`] is the built-in
//!   simulated agent. Three programs: `paneherd` (`src/main.rs`, [`cli::front`]: `run`, `list`,
//!   `output`, `wait`, `cancel`, `inbox` in a small program that starts fast; it becomes
//!   `paneherd-full` for anything else), `src/bin/paneherd-full.rs` (everything), and
//!   `src/bin/paneherd-pane.rs`, the pane wrapper's own small binary.
//! - [`install`]: `paneherd install|uninstall AGENT` — the agents' own config files (no daemon),
//!   with `assets/opencode/paneherd.js`, the OpenCode plugin it installs (a client through the
//!   CLI: `paneherd events --json`, `paneherd inbox --ack ID`).
//!
//! # One task's path
//! `paneherd run` ([`cli`]) checks that the runtime dir, the socket and the peer are the user's
//! own ([`paths`], [`client`]), then sends `submit` through [`client::Blocking`] to a
//! connection ([`daemon::connection`]), which asks the hub. The engine (`engine::submit`)
//! resolves agent, model and limit group from the [`config`] and returns `Effect::Write` (the
//! submitter's environment into the private secrets journal, [`store::secrets`]); only once the
//! [`store::Writer`] reports `Input::Written` is the task queued, announced and answered — one
//! that cannot be recorded is never started. When a slot is free (and, for a `--worktree` task,
//! once [`worktree::prepare`] has made its worktree) the engine builds the argv
//! ([`runner::argv`]; an agent with `stdin = "{prompt}"` gets the prompt on its input instead),
//! gives the task a token, and returns `Effect::Launch` (headless:
//! [`runner::headless`] reports `Started`, `Output`, `Exited`) or `Effect::OpenPane` (the pane
//! manager splits a pane running the wrapper, [`runner::pane`] in `paneherd-pane`, which
//! attaches with the token and reports the same as `pane_*` requests, writing the exit beside
//! the log first). On `Exited` the engine frees the slot, asks for the result (`Effect::Collect`
//! → `Input::Collected`, read from the log's end, rendered by [`core::screen`] — or, for an
//! agent that wrote its answer to `{answer_file}` (Codex), that answer), writes the
//! record durably, and only on its `Written` returns `Effect::Announce`: the event reaches
//! `output --wait`, `wait`, the dashboard, the MCP server and the notifier
//! ([`daemon::notifier`]), which sends the desktop notification once per end. The end is kept
//! for the task's delegator (`engine::inbox`) until something tells it: the waiting `paneherd
//! hook claude` (exit 2 wakes the session), the OpenCode plugin, a channel event, or a tool
//! that returned the result. Timers (stale, TTL, kill grace, rewrite) are `Effect::Timer`s that
//! [`daemon::timers`] reports back as `Input::Timer` when due.
//!
//! # Arrows against the flow, and why
//! - Components → hub: each component reports what happened as an [`engine::Input`] on the
//!   hub's channel; none holds or calls the engine.
//! - [`runner::pane`] → daemon: the wrapper is a process of its own in the agent's pane, so it
//!   reports through the socket like any client, by a [`runner::pane::Link`] that [`client`]
//!   implements (the runner does not import the client that starts daemons through it).
//! - [`daemon::notifier`] → hub: a click on a notification focuses the task's pane by asking the
//!   same `focus` request a client would.
//! - [`daemon::connection`] → [`store`]: reads that change nothing (a task's whole output) are
//!   served from the store directly, so a large log does not pass through the engine's loop.
//! - [`daemon::config_watch`] → hub: an edited config arrives as `Input::ConfigLoaded`.

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
pub mod worktree;
