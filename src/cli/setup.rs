//! `paneherd install|uninstall AGENT [--project|--user] [--dry-run]`: the command's words around
//! `crate::install` (which files, which entries).

use super::args::InstallArgs;
use super::exit;
use super::out::{CmdResult, Fail};
use crate::install::{self, Agent, Backup, Change, Scope};

fn agent_name(a: Agent) -> &'static str {
    match a {
        Agent::Claude => "Claude Code",
        Agent::Opencode => "OpenCode",
        Agent::Codex => "Codex",
    }
}

fn fail(e: anyhow::Error) -> Fail {
    Fail { code: exit::USAGE, message: format!("{e:#}") }
}

pub(super) fn run(a: InstallArgs, remove: bool) -> CmdResult {
    let scope = if a.project { Scope::Project } else { Scope::User };
    let places = install::Places::from_env().map_err(fail)?;
    let setup = install::setup(a.agent, scope, &places).map_err(fail)?;
    let changes = if remove {
        install::plan_uninstall(&setup).map_err(fail)?
    } else {
        install::plan_install(&setup).map_err(fail)?
    };
    let name = agent_name(a.agent);
    let scope_word = if scope == Scope::Project { "this project" } else { "user" };
    let home = &places.home;
    if changes.is_empty() {
        if remove {
            outln!("paneherd is not set up for {name} ({scope_word}): nothing to take out.");
        } else {
            outln!("paneherd is set up for {name} ({scope_word}) already: nothing changed.");
        }
        return Ok(exit::OK);
    }
    if a.dry_run {
        for c in &changes {
            out!("{}", install::diff(c));
        }
        outln!("(dry run: nothing was changed)");
        return Ok(exit::OK);
    }
    install::apply(&changes).map_err(fail)?;
    for c in &changes {
        outln!("{}", said(c, remove, home));
    }
    if !remove {
        for n in &setup.notes {
            outln!("{n}");
        }
    }
    Ok(exit::OK)
}

fn said(c: &Change, remove: bool, home: &std::path::Path) -> String {
    let path = install::tilde(&c.path, home);
    let bak = install::tilde(&install::backup_path(&c.path), home);
    match (remove, &c.before, &c.after, &c.backup) {
        (false, None, _, _) => format!("created {path}"),
        (false, Some(_), _, Backup::Write) => format!("updated {path} (its old text: {bak})"),
        (false, Some(_), _, _) => format!("updated {path} (backup kept: {bak})"),
        (true, _, None, _) => format!("removed {path} (the install made it)"),
        (true, _, Some(_), _) if c.restored => format!("restored {path} (as it was before)"),
        (true, _, Some(_), _) if std::path::Path::new(&install::backup_path(&c.path)).exists() => {
            format!(
                "took paneherd's entries out of {path} (edited since the install: its text from \
                 before stays in {bak})"
            )
        }
        (true, _, Some(_), _) => format!("took paneherd's entries out of {path}"),
    }
}
