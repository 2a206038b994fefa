//! The command line's arguments (clap): every command, its flags and their parsers.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use clap_complete::engine::ArgValueCandidates;

use super::complete;
use crate::core::task::TaskStatus;

#[derive(Debug, Parser)]
#[command(
    name = "paneherd",
    about = "Run many background AI-agent tasks (or any command) in parallel, from inside tmux",
    disable_version_flag = true,
    after_help = "Ids: any unique prefix of a task id works wherever an id is asked for."
)]
pub struct Cli {
    /// Print the version and the config, data and runtime paths in use.
    #[arg(short = 'V', long = "version")]
    pub version: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// The dashboard (also what `paneherd` alone opens on a terminal).
    Ui,
    /// Hand off a task; prints its id at once (or its result, with --wait).
    Run(RunArgs),
    /// List tasks: running, pending, then finished (newest first).
    #[command(alias = "ls")]
    List(ListArgs),
    /// Show a task: a status table while it runs, its result once it has ended.
    Output(OutputArgs),
    /// Block until tasks have ended.
    Wait(WaitArgs),
    /// Cancel tasks (pending ones never start; running ones are stopped).
    Cancel(CancelArgs),
    /// Ended tasks not yet told to the agent that delegated them (run by that agent: its own;
    /// else every agent's), with the words agents look for.
    Inbox(InboxArgs),
    /// Stream the daemon's events (a task created or changed, output, config reloaded, …) until
    /// it stops: one line each, or one JSON object per line with --json (for plugins and scripts).
    Events {
        /// One JSON object per line (`{"kind":"task_changed","task":{…}}`).
        #[arg(long)]
        json: bool,
        /// Leave out `output` events (a task wrote output).
        #[arg(long)]
        no_output: bool,
    },
    /// What a worktree task changed against its base (commits, uncommitted work, new files).
    Diff {
        /// The task (any unique prefix of its id).
        #[arg(add = ArgValueCandidates::new(complete::task_ids))]
        id: String,
        /// Files and lines changed (git's --stat) instead of the patch.
        #[arg(long)]
        stat: bool,
    },
    /// Merge a worktree task's branch into the branch checked out in the repository, then
    /// remove its worktree (the branch stays). Refused while your checkout has uncommitted
    /// changes; a conflict is aborted, the repository left as it was (exit 1).
    Merge {
        /// The task (any unique prefix of its id).
        #[arg(add = ArgValueCandidates::new(complete::task_ids))]
        id: String,
        /// One commit with all its changes.
        #[arg(long, conflicts_with = "rebase")]
        squash: bool,
        /// Rebase its branch onto yours, then fast-forward.
        #[arg(long)]
        rebase: bool,
    },
    /// Remove a worktree task's worktree — only when nothing would be lost (no uncommitted
    /// work, every commit in your branch: merged, rebased or squashed in) unless --force. The
    /// branch stays unless --delete-branch.
    Discard {
        /// The task (any unique prefix of its id).
        #[arg(add = ArgValueCandidates::new(complete::task_ids))]
        id: String,
        /// Even with uncommitted work or unmerged commits (the branch still stays).
        #[arg(long)]
        force: bool,
        /// Delete the branch too (never a branch that was yours before the task).
        #[arg(long)]
        delete_branch: bool,
    },
    /// Tasks' worktrees with their state (clean/dirty, ahead/behind, merged), and worktrees in
    /// paneherd's directories without a task, or tasks whose worktree was removed by hand.
    Worktrees {
        /// Print a JSON array.
        #[arg(long)]
        json: bool,
    },
    /// Set an agent up to delegate through paneherd: its MCP server entry and its hooks or
    /// plugin, merged into the agent's own config files (a backup is made beside each file
    /// before its first change; running it again changes nothing).
    Install(InstallArgs),
    /// Take out exactly what `install` added: a file untouched since gets its old bytes back,
    /// one edited since loses only paneherd's entries.
    Uninstall(InstallArgs),
    /// Run a task again with the same spec, under a new id.
    Retry(RetryArgs),
    /// Check or print the configuration.
    #[command(subcommand)]
    Config(ConfigCmd),
    /// Serve MCP on stdin/stdout, so AI agents can delegate (`claude mcp add paneherd -- paneherd mcp`).
    Mcp {
        /// Also push each end of this agent's tasks as a Claude Code channel event
        /// (`notifications/claude/channel`; Claude Code listens when started with
        /// `--dangerously-load-development-channels server:paneherd`).
        #[arg(long)]
        channel: bool,
    },
    /// For an agent's hooks: `paneherd hook claude` reads a Claude Code hook's input on stdin
    /// (wakes the session when a task it delegated ends; reports a task's own agent's state).
    #[command(subcommand)]
    Hook(HookCmd),
    /// For agent hooks inside a task: `waiting "question?"`, `working`, `done`, `session ID`.
    Signal {
        /// waiting | working | done | session
        #[arg(value_parser = ["waiting", "working", "done", "session"])]
        kind: String,
        /// The question (waiting) or the session id (session).
        text: Option<String>,
        /// The task (default: $PANEHERD_TASK_ID).
        #[arg(long)]
        task: Option<String>,
    },
    /// A follow-up to an earlier task: resumes the agent's session when it can, else a new task
    /// that carries the earlier prompt and result.
    Continue {
        /// The earlier task (any unique prefix of its id).
        #[arg(add = ArgValueCandidates::new(complete::task_ids))]
        id: String,
        /// The follow-up (one argument; `-` reads it from standard input).
        prompt: String,
        /// Wait for the new task to end and print its result.
        #[arg(short, long)]
        wait: bool,
        /// With --wait: give up after this many seconds (exit 124).
        #[arg(long, requires = "wait", allow_negative_numbers = true)]
        timeout: Option<f64>,
        /// Print the new task as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Desktop notifications.
    #[command(subcommand)]
    Notify(NotifyCmd),
    /// List the tmux layout presets (the active one marked *).
    Layouts,
    /// The hosts tasks run on over SSH (`run --host NAME`): each one reachable or not, its
    /// paneherd version, its tasks running and queued, the link's latency.
    Hosts {
        #[command(subcommand)]
        command: Option<HostsCmd>,
        /// Print a JSON array.
        #[arg(long)]
        json: bool,
    },
    /// What sandboxes work on this machine (`sandbox check`).
    #[command(subcommand)]
    Sandbox(SandboxCmd),
    /// The agents in a browser: serves the task list, each task's output and result, and its
    /// actions on http://127.0.0.1:7878/ (prints the URL with its token).
    Web {
        /// Where to listen (ADDR:PORT); beyond 127.0.0.1 only on a network you trust.
        #[arg(long, default_value = "127.0.0.1:7878")]
        listen: std::net::SocketAddr,
        /// Watch only: every action (cancel, retry, continue, submit) is refused.
        #[arg(long)]
        read_only: bool,
        /// The token to require (default: a new random one each start). Rather from this
        /// variable: a command line is seen by every user of the machine.
        #[arg(long, env = "PANEHERD_WEB_TOKEN", hide_env_values = true)]
        token: Option<String>,
    },
    /// Bridges standard input and output to this machine's daemon (starting it if need be):
    /// what another machine's paneherd runs here over ssh.
    #[command(hide = true)]
    Dial,
    /// Run the daemon in the foreground, or ask about / stop the running one.
    Daemon(DaemonArgs),
    /// See paneherd work: simulated agents in panes beside the dashboard (no AI CLI needed).
    Demo(DemoArgs),
    /// Print shell completions.
    Completions {
        /// The shell to complete for.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print paneherd's manual page (roff): `paneherd man | man -l -`; with --dir, write it and a
    /// page per command (`paneherd-run.1`, …) there, e.g. `--dir ~/.local/share/man/man1`.
    Man {
        /// Write every page into this directory instead of printing the main one.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Select a task's tmux pane, bringing it into view from the overflow window.
    Focus {
        /// The task (any unique prefix of its id).
        #[arg(add = ArgValueCandidates::new(complete::task_ids))]
        id: String,
    },
    /// Inside a task's tmux pane: runs the agent and reports its exit.
    #[command(hide = true)]
    PaneRun {
        /// The daemon's socket.
        #[arg(long)]
        socket: PathBuf,
        /// The task to run.
        #[arg(long)]
        task: String,
        /// The file holding the token the daemon gave this pane's wrapper (read and removed).
        #[arg(long)]
        token_file: PathBuf,
    },
    /// From a tmux hook: a window was resized.
    #[command(hide = true)]
    TmuxResized {
        /// The daemon's socket.
        #[arg(long)]
        socket: PathBuf,
        /// The tmux server's socket.
        #[arg(long)]
        tmux: PathBuf,
        /// The window that was resized.
        window: String,
    },
    /// The simulated agent of the `demo` agent preset.
    #[command(hide = true)]
    DemoAgent {
        /// The task it runs for (shown in its banner).
        #[arg(long)]
        task: Option<String>,
        /// What it pretends to work on.
        prompt: String,
    },
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Category to run under (picks agent and model; see the config).
    #[arg(short, long, conflicts_with = "agent", add = ArgValueCandidates::new(complete::categories))]
    pub category: Option<String>,
    /// Agent to run (an [agents.NAME] of the config, e.g. shell, claude, demo).
    #[arg(short, long, add = ArgValueCandidates::new(complete::agents))]
    pub agent: Option<String>,
    /// Model, as provider/model (e.g. anthropic/claude-opus-4-6).
    #[arg(short, long)]
    pub model: Option<String>,
    /// Title (default: the prompt's first line).
    #[arg(short, long)]
    pub title: Option<String>,
    /// Skill to load (repeatable); passed to the agent as {skills}.
    #[arg(short = 's', long = "skill")]
    pub skills: Vec<String>,
    /// Working directory of the task (default: the current one; with --host, the host's
    /// `cwd` or home directory there).
    #[arg(long)]
    pub cwd: Option<PathBuf>,
    /// Run its agent in a sandbox: `bwrap` (bubblewrap: the filesystem read-only but for its
    /// directory, `[sandbox] hide` invisible), `podman:IMAGE` or `docker:IMAGE` (a container
    /// with its directory mounted), or `none`; see `paneherd sandbox check`.
    #[arg(long, value_parser = sandbox_kind)]
    pub sandbox: Option<String>,
    /// Run it on this host of `[hosts]`, over SSH (`paneherd hosts` lists them).
    #[arg(long, add = ArgValueCandidates::new(complete::hosts))]
    pub host: Option<String>,
    /// Wait for the task to end and print its result.
    #[arg(short, long)]
    pub wait: bool,
    /// With --wait: give up after this many seconds (exit 124).
    #[arg(long, requires = "wait", allow_negative_numbers = true)]
    pub timeout: Option<f64>,
    /// Print the task as JSON.
    #[arg(long)]
    pub json: bool,
    /// Run in a git worktree of its own, on a new branch named after the task; `=BRANCH`
    /// attaches an existing branch instead.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "", value_name = "BRANCH")]
    pub worktree: Option<String>,
    /// With --worktree: branch from this commit or ref (default: what is checked out now).
    #[arg(long, requires = "worktree", value_name = "REF")]
    pub base: Option<String>,
    /// With --worktree: the new branch's name (default: the task's id).
    #[arg(long, requires = "worktree", value_name = "NAME")]
    pub branch: Option<String>,
    /// The prompt (one argument; `-` reads it from standard input). A prompt that begins with
    /// `-` goes after `--`: `paneherd run --agent claude -- "-v is broken"`.
    pub prompt: String,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only tasks in this status (repeatable).
    #[arg(long, value_parser = parse_status)]
    pub status: Vec<TaskStatus>,
    /// At most this many tasks (newest first).
    #[arg(short = 'n', long)]
    pub limit: Option<usize>,
    /// Only tasks of this agent (repeatable).
    #[arg(long, add = ArgValueCandidates::new(complete::agents))]
    pub agent: Vec<String>,
    /// Only tasks of this category (repeatable).
    #[arg(long, add = ArgValueCandidates::new(complete::categories))]
    pub category: Vec<String>,
    /// Only tasks whose id, title or prompt contains this text (case ignored).
    #[arg(long, value_name = "TEXT")]
    pub grep: Option<String>,
    /// Only tasks created since: a time ago (`30m`, `2h`, `3d`) or an RFC 3339 time.
    #[arg(long, value_name = "WHEN", value_parser = parse_since)]
    pub since: Option<crate::core::timefmt::Timestamp>,
    /// Print a JSON array of task objects.
    #[arg(long)]
    pub json: bool,
}

/// `--since`: `90s`, `30m`, `2h`, `3d` ago, or an RFC 3339 time.
fn parse_since(s: &str) -> Result<crate::core::timefmt::Timestamp, String> {
    use crate::core::timefmt;
    if let Ok(t) = timefmt::parse(s) {
        return Ok(t);
    }
    let (n, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: i64 = n
        .parse()
        .map_err(|_| format!("{s:?} is neither a time ago (30m, 2h, 3d) nor an RFC 3339 time"))?;
    let secs = match unit {
        "s" => n,
        "m" | "" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        "w" => n * 7 * 86_400,
        _ => return Err(format!("{s:?}: the unit is s, m, h, d or w")),
    };
    Ok(timefmt::now() - chrono::Duration::seconds(secs))
}

#[derive(Debug, Args)]
pub struct OutputArgs {
    /// The task (any unique prefix of its id).
    #[arg(add = ArgValueCandidates::new(complete::task_ids))]
    pub id: String,
    /// Wait until the task has ended.
    #[arg(short, long)]
    pub wait: bool,
    /// With --wait: give up after this many seconds (exit 124).
    #[arg(long, requires = "wait", allow_negative_numbers = true)]
    pub timeout: Option<f64>,
    /// Print the task (with its result) as JSON.
    #[arg(long)]
    pub json: bool,
    /// Print the task's output as it comes (what it printed so far first), until it ends;
    /// then exit with its status (0 completed, 1 otherwise).
    #[arg(short, long, conflicts_with_all = ["wait", "json"])]
    pub follow: bool,
}

#[derive(Debug, Args)]
pub struct WaitArgs {
    /// Tasks to wait for (any unique prefix of each id).
    #[arg(add = ArgValueCandidates::new(complete::open_task_ids))]
    pub ids: Vec<String>,
    /// Wait for every task not yet ended.
    #[arg(long)]
    pub all: bool,
    /// Give up after this many seconds (exit 124).
    #[arg(long, allow_negative_numbers = true)]
    pub timeout: Option<f64>,
    /// Print the tasks (and whether the wait timed out) as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct InstallArgs {
    /// The agent.
    #[arg(value_enum)]
    pub agent: crate::install::Agent,
    /// This project's config files (at the top of its git work tree, else here).
    #[arg(long, conflicts_with = "user")]
    pub project: bool,
    /// The user's config files, for every project (the default).
    #[arg(long)]
    pub user: bool,
    /// Print what would change (a unified diff per file) and change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct InboxArgs {
    /// Only these tasks (whoever delegated them). With --ack, each is told only if it has ended
    /// and its agent is not reading its result itself at that moment.
    #[arg(add = ArgValueCandidates::new(complete::task_ids))]
    pub ids: Vec<String>,
    /// Mark what is shown as told: it is not shown (nor notified) again.
    #[arg(long)]
    pub ack: bool,
    /// Every agent's, not only the calling agent's.
    #[arg(long)]
    pub all: bool,
    /// Print the tasks and how many are still in progress as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct CancelArgs {
    /// Tasks to cancel (any unique prefix of each id).
    #[arg(add = ArgValueCandidates::new(complete::open_task_ids))]
    pub ids: Vec<String>,
    /// Cancel every pending and running task.
    #[arg(long)]
    pub all: bool,
    /// Print the tasks as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RetryArgs {
    /// The task to run again (any unique prefix of its id).
    #[arg(add = ArgValueCandidates::new(complete::task_ids))]
    pub id: String,
    /// Wait for the new task to end and print its result.
    #[arg(short, long)]
    pub wait: bool,
    /// With --wait: give up after this many seconds (exit 124).
    #[arg(long, requires = "wait", allow_negative_numbers = true)]
    pub timeout: Option<f64>,
    /// Print the new task as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum HookCmd {
    /// Claude Code: every hook event (see the README's "Claude Code" section).
    Claude,
    /// Codex's `notify` program: Codex appends a JSON payload; on `agent-turn-complete` a
    /// task's own Codex reports its session (thread id) and that its turn is done.
    Codex {
        /// The payload Codex passes (JSON).
        payload: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCmd {
    /// Validate the config file; exit 2 and point at the bad line on error.
    Check,
    /// Print the embedded default config.
    Default,
    /// Print the path of the config file in use.
    Path,
}

#[derive(Debug, Subcommand)]
pub enum SandboxCmd {
    /// Whether bubblewrap is here and can make each part of a task's sandbox.
    Check,
}

#[derive(Debug, Subcommand)]
pub enum HostsCmd {
    /// Add a host to the config (`[hosts.NAME]`).
    Add {
        /// Its name here (`run --host NAME`).
        name: String,
        /// `ssh://[user@]host[:port]`, or a Host of ~/.ssh/config.
        ssh: String,
        /// An argument for ssh (repeatable), e.g. `--ssh-arg=-i --ssh-arg=~/.ssh/build`.
        #[arg(long = "ssh-arg", allow_hyphen_values = true, value_name = "ARG")]
        ssh_args: Vec<String>,
        /// At most this many of its tasks at once.
        #[arg(long)]
        max_tasks: Option<u32>,
    },
    /// Check a host — ssh reaches it, tmux and paneherd are there — and install this paneherd
    /// there (in ~/.local/bin) when it is missing or another version.
    Setup {
        /// The host (as in `[hosts]`).
        #[arg(add = ArgValueCandidates::new(complete::hosts))]
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum NotifyCmd {
    /// Send a sample notification and say which way it went (desktop, tmux, none) and why.
    Test,
}

#[derive(Debug, Args)]
pub struct DaemonArgs {
    #[command(subcommand)]
    pub command: Option<DaemonCmd>,
}

#[derive(Debug, Subcommand)]
pub enum DaemonCmd {
    /// Run the daemon in the foreground (what `paneherd daemon` does).
    Run {
        /// Leave the starting terminal's session (used when a client starts the daemon).
        #[arg(long, hide = true)]
        detach: bool,
    },
    /// Pid, socket, uptime and task counts (exit 3 if no daemon runs).
    Status {
        /// Print the status as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Stop the daemon in order (running tasks are cancelled and recorded as such).
    Stop,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// How many demo tasks to submit.
    #[arg(short = 'n', long, default_value_t = 8)]
    pub count: usize,
    /// Run without tmux even when it is available.
    #[arg(long)]
    pub headless: bool,
    /// Inside the demo's own tmux session (the process that made it prints the summary).
    #[arg(long, hide = true)]
    pub in_session: bool,
}

fn parse_status(s: &str) -> Result<TaskStatus, String> {
    s.parse()
}

/// A `--sandbox` value paneherd makes.
fn sandbox_kind(s: &str) -> Result<String, crate::core::sandbox::KindError> {
    s.parse::<crate::core::sandbox::Kind>().map(|_| s.to_string())
}
