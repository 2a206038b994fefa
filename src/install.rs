//! `paneherd install|uninstall claude|opencode|codex`: writes paneherd's MCP server entry and the
//! agent's hooks or plugin into that agent's own config files, merged with what is there (a
//! user's keys are never dropped; a backup is made beside a file before its first change), and
//! takes out exactly that again. Each agent's module says which files and entries; this one
//! plans, shows (a unified diff) and applies.

mod claude;
mod codex;
mod json;
mod opencode;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// An agent paneherd can set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Agent {
    Claude,
    Opencode,
    Codex,
}

/// Where: the user's config (every project) or this project's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    User,
    Project,
}

/// Where things are, for one run.
#[derive(Debug, Clone)]
pub struct Places {
    pub home: PathBuf,
    /// `$XDG_CONFIG_HOME`, else `~/.config`.
    pub config_home: PathBuf,
    /// `$CODEX_HOME`, else `~/.codex`.
    pub codex_home: PathBuf,
    /// The project: the git work tree's top around the current directory, else that directory.
    pub project: PathBuf,
    /// The paneherd binary the entries run (absolute).
    pub bin: PathBuf,
}

impl Places {
    pub fn from_env() -> Result<Places> {
        let home = std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .map(PathBuf::from)
            .context("HOME is not set: cannot find the agents' config files")?;
        let config_home = std::env::var_os("XDG_CONFIG_HOME")
            .filter(|h| !h.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| home.join(".config"));
        let codex_home = std::env::var_os("CODEX_HOME")
            .filter(|h| !h.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| home.join(".codex"));
        let cwd = std::env::current_dir().context("the current directory")?;
        let bin = crate::paths::front_exe()
            .canonicalize()
            .context("finding the paneherd binary's own path")?;
        Ok(Places { home, config_home, codex_home, project: project_root(&cwd), bin })
    }
}

fn project_root(cwd: &Path) -> PathBuf {
    // Not a repository (or no git): the directory itself is the project.
    match crate::worktree::git::run(cwd, &["rev-parse", "--show-toplevel"]) {
        Ok(top) if !top.trim().is_empty() => PathBuf::from(top.trim()),
        _ => cwd.to_path_buf(),
    }
}

/// One file paneherd edits: how to add its entries to the file's text ("" when the file does
/// not exist), and how to take them out of a text that may hold them (and perhaps the user's
/// edits since).
pub struct Target {
    pub path: PathBuf,
    pub add: Box<AddFn>,
    pub remove: Box<RemoveFn>,
}

/// A file's text → the text with paneherd's entries.
pub type AddFn = dyn Fn(&str) -> Result<String>;
/// A file's text → what is left without them.
pub type RemoveFn = dyn Fn(&str) -> Result<Removal>;

/// What taking paneherd's entries out of a file leaves.
#[derive(Debug, PartialEq)]
pub enum Removal {
    /// None of paneherd's entries are in it: leave it alone.
    Absent,
    /// This text.
    Keep(String),
    /// Nothing else: the file goes.
    Delete,
}

/// The files of one agent at one scope, and what to tell the user.
pub struct Setup {
    pub targets: Vec<Target>,
    pub notes: Vec<String>,
}

pub fn setup(agent: Agent, scope: Scope, places: &Places) -> Result<Setup> {
    // A project's files are shared (committed): they name `paneherd` as found on the PATH when
    // that is this binary, else this machine's path, and say so.
    let mut p = places.clone();
    let mut note = None;
    if scope == Scope::Project {
        let on_path = which::which("paneherd").ok().and_then(|w| w.canonicalize().ok());
        if on_path.as_ref() == Some(&places.bin) {
            p.bin = PathBuf::from("paneherd");
        } else {
            note = Some(format!(
                "The project's files name this machine's {} (`paneherd` on the PATH is not this \
                 binary): others need paneherd on their PATH, then `paneherd install --project` \
                 again, for entries that work for everyone.",
                places.bin.display()
            ));
        }
    }
    let mut s = match agent {
        Agent::Claude => claude::setup(scope, &p),
        Agent::Opencode => opencode::setup(scope, &p),
        Agent::Codex => codex::setup(scope, &p),
    }?;
    s.notes.extend(note);
    Ok(s)
}

/// A file's change: `after` None deletes it. `backup`: write the old text beside it first
/// (install) or remove the backup (uninstall restored it).
#[derive(Debug, PartialEq)]
pub struct Change {
    pub path: PathBuf,
    pub before: Option<String>,
    pub after: Option<String>,
    pub backup: Backup,
    /// Uninstall: the file gets its bytes from before the install back.
    pub restored: bool,
}

#[derive(Debug, PartialEq)]
pub enum Backup {
    None,
    Write,
    Remove,
}

pub fn backup_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".paneherd-backup");
    PathBuf::from(s)
}

/// The file a config path names: a symbolic link's target (a dotfiles checkout keeps the
/// link; the file it points to is edited), else the path itself.
fn real(path: &Path) -> PathBuf {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => match std::fs::read_link(path) {
            Ok(to) if to.is_absolute() => to,
            Ok(to) => path.parent().map(|d| d.join(&to)).unwrap_or(to),
            Err(_) => path.to_path_buf(),
        },
        _ => path.to_path_buf(),
    }
}

fn read(path: &Path) -> Result<Option<String>> {
    match std::fs::read_to_string(path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// What installing changes (nothing, when it is installed already).
pub fn plan_install(setup: &Setup) -> Result<Vec<Change>> {
    let mut out = vec![];
    for t in &setup.targets {
        let path = real(&t.path);
        let before = read(&path)?;
        let after = (t.add)(before.as_deref().unwrap_or(""))
            .with_context(|| format!("adding paneherd to {}", path.display()))?;
        if before.as_deref() == Some(after.as_str()) {
            continue;
        }
        let backup = if before.is_some() && !backup_path(&path).exists() {
            Backup::Write
        } else {
            Backup::None
        };
        out.push(Change { path, before, after: Some(after), backup, restored: false });
    }
    Ok(out)
}

/// What uninstalling changes: a file untouched since the install gets its old bytes back (from
/// the backup; a file the install created goes); one edited since loses only paneherd's entries.
pub fn plan_uninstall(setup: &Setup) -> Result<Vec<Change>> {
    let mut out = vec![];
    for t in &setup.targets {
        let path = real(&t.path);
        let Some(current) = read(&path)? else { continue };
        let saved = read(&backup_path(&path))?;
        let original = saved.clone().unwrap_or_default();
        let untouched = (t.add)(&original).ok().as_deref() == Some(current.as_str());
        let (after, backup) = match (untouched, saved) {
            (true, Some(old)) => (Some(old), Backup::Remove),
            (true, None) => (None, Backup::None),
            // Edited since (or the backup is not one of ours): only paneherd's entries come
            // out, and a backup stays where it is.
            (false, _) => {
                let removal = (t.remove)(&current)
                    .with_context(|| format!("taking paneherd out of {}", path.display()))?;
                let after = match removal {
                    Removal::Absent => continue,
                    Removal::Keep(text) => Some(text),
                    Removal::Delete => None,
                };
                (after, Backup::None)
            }
        };
        if after.as_deref() == Some(current.as_str()) && backup == Backup::None {
            continue;
        }
        let restored = untouched;
        out.push(Change { path, before: Some(current), after, backup, restored });
    }
    Ok(out)
}

/// Applies the changes: each file replaced whole (written beside it, then renamed over it).
pub fn apply(changes: &[Change]) -> Result<()> {
    for c in changes {
        let bak = backup_path(&c.path);
        if let (Backup::Write, Some(before)) = (&c.backup, &c.before) {
            std::fs::write(&bak, before).with_context(|| format!("writing {}", bak.display()))?;
            // As private as the file (~/.claude.json holds account data and MCP secrets).
            if let Ok(meta) = std::fs::metadata(&c.path) {
                std::fs::set_permissions(&bak, meta.permissions())
                    .with_context(|| format!("setting the mode of {}", bak.display()))?;
            }
        }
        match &c.after {
            Some(text) => {
                if let Some(dir) = c.path.parent() {
                    std::fs::create_dir_all(dir)
                        .with_context(|| format!("creating {}", dir.display()))?;
                }
                let tmp = c.path.with_extension("paneherd-tmp");
                std::fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
                if let Ok(meta) = std::fs::metadata(&c.path) {
                    let _ = std::fs::set_permissions(&tmp, meta.permissions());
                }
                std::fs::rename(&tmp, &c.path)
                    .with_context(|| format!("replacing {}", c.path.display()))?;
            }
            None => std::fs::remove_file(&c.path)
                .with_context(|| format!("removing {}", c.path.display()))?,
        }
        if c.backup == Backup::Remove {
            std::fs::remove_file(&bak).with_context(|| format!("removing {}", bak.display()))?;
        }
    }
    Ok(())
}

/// A unified diff of one change, paths as given.
pub fn diff(c: &Change) -> String {
    let before = c.before.as_deref().unwrap_or("");
    let after = c.after.as_deref().unwrap_or("");
    let name = c.path.display().to_string();
    let sep = if name.starts_with('/') { "" } else { "/" };
    let old = if c.before.is_some() { format!("a{sep}{name}") } else { "/dev/null".into() };
    let new = if c.after.is_some() { format!("b{sep}{name}") } else { "/dev/null".into() };
    similar::TextDiff::from_lines(before, after)
        .unified_diff()
        .context_radius(3)
        .header(&old, &new)
        .to_string()
}

/// A path with the home directory shown as `~`.
pub fn tilde(path: &Path, home: &Path) -> String {
    match path.strip_prefix(home) {
        Ok(rest) => format!("~/{}", rest.display()),
        Err(_) => path.display().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn places(dir: &Path) -> Places {
        Places {
            home: dir.join("home"),
            config_home: dir.join("home/.config"),
            codex_home: dir.join("home/.codex"),
            project: dir.join("proj"),
            bin: PathBuf::from("/opt/paneherd/bin/paneherd"),
        }
    }

    #[test]
    fn a_file_edited_after_the_install_keeps_the_users_edit_on_uninstall() {
        let dir = tempfile::tempdir().unwrap();
        let p = places(dir.path());
        let settings = p.home.join(".claude/settings.json");
        std::fs::create_dir_all(settings.parent().unwrap()).unwrap();
        std::fs::write(&settings, "{\n  \"model\": \"opus\"\n}\n").unwrap();
        let s = setup(Agent::Claude, Scope::User, &p).unwrap();
        apply(&plan_install(&s).unwrap()).unwrap();
        let installed = std::fs::read_to_string(&settings).unwrap();
        let edited = installed.replace("\"model\": \"opus\"", "\"model\": \"sonnet\"");
        std::fs::write(&settings, &edited).unwrap();
        apply(&plan_uninstall(&s).unwrap()).unwrap();
        let now = std::fs::read_to_string(&settings).unwrap();
        assert_eq!(now, "{\n  \"model\": \"sonnet\"\n}\n");
        // Not restored from it: the text from before stays beside the file.
        assert_eq!(
            std::fs::read_to_string(backup_path(&settings)).unwrap(),
            "{\n  \"model\": \"opus\"\n}\n"
        );
    }
}
