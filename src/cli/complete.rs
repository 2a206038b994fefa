//! What the shells complete: task ids (by prefix, the title as each one's description), agents,
//! and categories, read from the daemon and the config as the user types —
//! clap's dynamic completion (`source <(COMPLETE=bash paneherd)`, or `paneherd completions`).

use clap_complete::engine::CompletionCandidate;

use crate::client::Blocking;
use crate::config::Config;
use crate::core::task::Task;
use crate::paths::Paths;
use crate::proto::{ListFilter, ask};

/// The tasks the daemon knows, newest first (none when no daemon runs: completing never
/// starts one).
fn tasks(limit: usize) -> Vec<Task> {
    let paths = Paths::from_env();
    let Ok(mut c) = Blocking::connect(&paths, false) else { return vec![] };
    let filter = ListFilter { limit: Some(limit), ..Default::default() };
    c.ask(ask::List { filter }).unwrap_or_default()
}

fn candidate(t: &Task) -> CompletionCandidate {
    CompletionCandidate::new(&t.id)
        .help(Some(format!("{} · {}", t.status, crate::core::text::cut(&t.title, 50)).into()))
}

/// Every task's id.
pub fn task_ids() -> Vec<CompletionCandidate> {
    tasks(500).iter().map(candidate).collect()
}

/// The ids of tasks still at work (what `cancel` and `wait` take).
pub fn open_task_ids() -> Vec<CompletionCandidate> {
    tasks(500).iter().filter(|t| !t.status.is_terminal()).map(candidate).collect()
}

fn config() -> Option<Config> {
    Config::load(&Paths::from_env().config).ok().map(|l| l.config)
}

/// The agents of the config in force.
pub fn agents() -> Vec<CompletionCandidate> {
    config().map(|c| c.agents.keys().map(CompletionCandidate::new).collect()).unwrap_or_default()
}

/// Its hosts, each with where it is.
pub fn hosts() -> Vec<CompletionCandidate> {
    let Some(c) = config() else { return vec![] };
    c.hosts
        .iter()
        .map(|(n, h)| CompletionCandidate::new(n).help(Some(h.ssh.get_ref().clone().into())))
        .collect()
}

/// Its categories.
pub fn categories() -> Vec<CompletionCandidate> {
    config()
        .map(|c| c.categories.keys().map(CompletionCandidate::new).collect())
        .unwrap_or_default()
}
