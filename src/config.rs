//! The TOML config: the embedded default merged with the user's file, validated with errors
//! that point at file, line and key.

pub mod agents;
pub mod error;
pub mod hosts;
pub mod keys;
pub mod notify;
pub mod tmux;
mod validate;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

pub use error::ConfigError;

use crate::core::limits::Limits;
pub use agents::{AgentConfig, CategoryConfig};
pub use tmux::TmuxSection;
use tmux::{Presets, TmuxSettings};

/// The embedded default config, printed by `paneherd config default`.
pub const DEFAULT_TOML: &str = include_str!("../assets/default-config.toml");

/// Placeholders an agent's argv template may use.
pub const PLACEHOLDERS: [&str; 11] = [
    "prompt",
    "model",
    "model_id",
    "task_id",
    "title",
    "skills",
    "cwd",
    "paneherd",
    "session",
    "session_id",
    "answer_file",
];

/// The whole config after merging.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[derive(Default)]
pub struct Config {
    pub default_category: Option<Spanned<String>>,
    /// An agent that writes each finished task's one-line summary (instead of its first lines).
    pub summarizer: Option<Spanned<String>>,
    pub concurrency: Concurrency,
    pub timeouts: Timeouts,
    pub agents: BTreeMap<String, AgentConfig>,
    pub categories: BTreeMap<String, CategoryConfig>,
    /// `[tmux]`: the layout preset and keys that override it.
    pub tmux: TmuxSection,
    /// Reserved for notifications.
    pub notify: notify::NotifyConfig,
    /// `[ui]`: the dashboard.
    pub ui: UiSection,
    /// `[worktree]`: where tasks' git worktrees go, and how they are set up.
    pub worktree: WorktreeSection,
    /// `[hosts.NAME]`: machines tasks run on over SSH.
    pub hosts: BTreeMap<String, hosts::HostConfig>,
    /// `[sandbox]`: what a sandboxed task's agent may see and do.
    pub sandbox: SandboxSection,
    /// Layout presets (built-in and the user's), loaded beside the config.
    #[serde(skip)]
    pub presets: Presets,
}

/// `[sandbox]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SandboxSection {
    /// `false`: no network at all (its own namespace, loopback only).
    pub network: bool,
    /// More paths the agent may write (its directory always; `~` is the home directory).
    pub read_write: Vec<String>,
    /// Not visible at all (replaced by empty directories).
    pub hide: Vec<String>,
    /// The bubblewrap program.
    pub bwrap: String,
}

impl Default for SandboxSection {
    fn default() -> Self {
        SandboxSection {
            network: true,
            read_write: vec![],
            hide: ["~/.ssh", "~/.aws", "~/.gnupg", "~/.config/gh"].map(String::from).into(),
            bwrap: "bwrap".into(),
        }
    }
}

/// `[ui]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UiSection {
    /// `[ui.keys]`: action → key, laid over the default bindings.
    pub keys: BTreeMap<String, Spanned<String>>,
    /// Colours for a dark or a light terminal; by default asked of the terminal.
    pub theme: Option<Theme>,
}

/// `[ui] theme`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Theme {
    /// Ask the terminal for its background (OSC 11); dark when it does not say.
    #[default]
    Auto,
    Dark,
    Light,
}

/// `[concurrency]`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct Concurrency {
    pub default: u32,
    pub providers: BTreeMap<String, u32>,
    pub models: BTreeMap<String, u32>,
    pub max_running: Option<u32>,
}

impl Default for Concurrency {
    fn default() -> Self {
        Concurrency {
            default: 5,
            providers: BTreeMap::new(),
            models: BTreeMap::new(),
            max_running: None,
        }
    }
}

/// `[worktree]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WorktreeSection {
    /// Where a task's worktree goes: `{repo_parent}`, `{repo_name}`, `{task_id}`.
    pub dir: Spanned<String>,
    /// Put before the task id in the branch's name (none by default).
    pub branch_prefix: String,
    /// A command (argv, no shell) run in each new worktree before the agent; its failure is
    /// shown on the task, which runs anyway.
    pub setup: Vec<String>,
    pub setup_timeout_secs: u64,
}

impl Default for WorktreeSection {
    fn default() -> Self {
        WorktreeSection {
            dir: Spanned::new(0..0, crate::core::worktrees::DEFAULT_DIR.into()),
            branch_prefix: String::new(),
            setup: vec![],
            setup_timeout_secs: 300,
        }
    }
}

/// `[timeouts]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Timeouts {
    pub stale_secs: Spanned<u64>,
    pub ttl_secs: Spanned<u64>,
    /// The least any `stale_secs` or `ttl_secs` may be (60 s; 1 to 60): shorter ones end
    /// agents that only think quietly, so lowering it is for scripted demos and tests.
    pub min_secs: Spanned<u64>,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            stale_secs: Spanned::new(0..0, 180),
            ttl_secs: Spanned::new(0..0, 1800),
            min_secs: Spanned::new(0..0, 60),
        }
    }
}

/// Where the config came from, for `--version` and `config check`.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub config: Config,
    /// The user file, when one exists.
    pub user_file: Option<PathBuf>,
    /// A digest of what was read (the file and the user's layout presets), to tell whether a
    /// daemon uses a file's current content.
    pub digest: u64,
}

/// A digest of the config file at `path` and of the layout presets beside it, as they are on
/// disk now (a missing file counts as empty).
pub fn digest(path: &Path) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::hash::DefaultHasher::new();
    std::fs::read(path).unwrap_or_default().hash(&mut h);
    let dir = path.parent().unwrap_or(Path::new(".")).join("layouts");
    let mut presets: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    presets.sort();
    for p in presets.iter().filter(|p| p.extension().is_some_and(|e| e == "toml")) {
        p.hash(&mut h);
        std::fs::read(p).unwrap_or_default().hash(&mut h);
    }
    h.finish()
}

/// A task's agent, model and timeouts as the config resolves them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub agent: String,
    pub category: Option<String>,
    pub model: Option<String>,
    pub stale_secs: u64,
    pub ttl_secs: u64,
}

fn parse(file: &Path, src: &str) -> Result<Config, Box<ConfigError>> {
    toml::from_str::<Config>(src).map_err(|e| {
        let msg = e
            .message()
            .trim()
            .replace("expected u32", "expected a whole number from 0 to 4294967295")
            .replace("expected u64", "expected a whole number ≥ 0");
        Box::new(ConfigError::at(file, src, e.span(), msg))
    })
}

impl Config {
    /// The embedded default alone.
    pub fn builtin() -> Config {
        // The embedded file is checked by a test; an error here is a build defect, so fall
        // back to an empty default rather than panic.
        let mut c = parse(Path::new("<embedded default>"), DEFAULT_TOML).unwrap_or_default();
        c.presets = Presets::builtin();
        c
    }

    /// Parses a user file's text and merges it over the embedded default.
    pub fn from_user_str(file: &Path, src: &str) -> Result<Config, Box<ConfigError>> {
        Config::from_user_str_with(file, src, Presets::builtin())
    }

    /// The same, with the layout presets to check `[tmux] layout` against.
    pub fn from_user_str_with(
        file: &Path,
        src: &str,
        presets: Presets,
    ) -> Result<Config, Box<ConfigError>> {
        let mut user = parse(file, src)?;
        user.presets = presets;
        let mut merged = Config::builtin();
        merged.merge(user.clone());
        validate::check(file, src, &user, &merged)?;
        Ok(merged)
    }

    /// Loads the config at `path` (a missing file means the defaults).
    pub fn load(path: &Path) -> Result<Loaded, Box<ConfigError>> {
        let digest = digest(path);
        let dir = path.parent().unwrap_or(Path::new(".")).join("layouts");
        let presets = Presets::load(&dir)?;
        match std::fs::read_to_string(path) {
            Ok(src) => Ok(Loaded {
                config: Config::from_user_str_with(path, &src, presets)?,
                user_file: Some(path.into()),
                digest,
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut config = Config::builtin();
                config.presets = presets;
                Ok(Loaded { config, user_file: None, digest })
            }
            Err(e) => Err(Box::new(ConfigError::whole_file(path, format!("cannot read: {e}")))),
        }
    }

    /// Lays `user` over `self`: named entries are added or replaced, scalars taken from the user
    /// file (which defaults them to the built-in values).
    fn merge(&mut self, user: Config) {
        if user.default_category.is_some() {
            self.default_category = user.default_category;
        }
        if user.summarizer.is_some() {
            self.summarizer = user.summarizer;
        }
        let c = user.concurrency;
        self.concurrency.default = c.default;
        self.concurrency.max_running = c.max_running;
        self.concurrency.providers.extend(c.providers);
        self.concurrency.models.extend(c.models);
        self.timeouts = user.timeouts;
        self.agents.extend(user.agents);
        self.categories.extend(user.categories);
        self.hosts.extend(user.hosts);
        self.sandbox = user.sandbox;
        self.tmux.merge(user.tmux);
        self.presets = user.presets;
        self.notify = user.notify;
        self.worktree = user.worktree;
        self.ui.keys.extend(user.ui.keys);
        if user.ui.theme.is_some() {
            self.ui.theme = user.ui.theme;
        }
    }

    /// The tmux settings in force: the chosen preset with `[tmux]` keys over it.
    pub fn tmux_settings(&self) -> TmuxSettings {
        self.tmux_settings_for(self.layout_name())
    }

    /// The settings of preset `name` with `[tmux]` keys over it. Every preset adapts to
    /// windows too small for it (`crate::tmux::planner`), narrowing the main pane only when
    /// the user has not set its width.
    pub fn tmux_settings_for(&self, name: &str) -> TmuxSettings {
        let mut s = self.presets.settings(name, &self.tmux.knobs()).unwrap_or_default();
        s.geometry.adapt = !self.tmux.pinned_main_width;
        s
    }

    /// The configured layout preset.
    pub fn layout_name(&self) -> &str {
        self.tmux.layout.as_ref().map(|l| l.get_ref().as_str()).unwrap_or("main-vertical")
    }

    /// `[ui.keys]`: action → key.
    pub fn ui_keys(&self) -> BTreeMap<String, String> {
        self.ui.keys.iter().map(|(k, v)| (k.clone(), v.get_ref().clone())).collect()
    }

    pub fn limits(&self) -> Limits {
        Limits {
            default: self.concurrency.default,
            providers: self.concurrency.providers.clone(),
            models: self.concurrency.models.clone(),
            max_running: self.concurrency.max_running,
        }
    }

    /// Stale and TTL seconds of a task: its category's, else its agent's, else the global ones.
    /// Whether tasks of this category or agent get a worktree of their own (`worktree = true`;
    /// the category's word wins).
    /// The host a task of this category or agent runs on when it does not say: the
    /// category's `host`, else the agent's (`None`: this machine).
    pub fn host_for(&self, category: Option<&str>, agent: &str) -> Option<String> {
        let cat = category.and_then(|c| self.categories.get(c)).and_then(|c| c.host.as_ref());
        cat.or_else(|| self.agents.get(agent).and_then(|a| a.host.as_ref()))
            .map(|h| h.get_ref().clone())
    }

    /// The sandbox a task of this category or agent runs in when it does not say.
    pub fn sandbox_for(&self, category: Option<&str>, agent: &str) -> Option<String> {
        let cat = category.and_then(|c| self.categories.get(c)).and_then(|c| c.sandbox.as_ref());
        cat.or_else(|| self.agents.get(agent).and_then(|a| a.sandbox.as_ref()))
            .map(|s| s.get_ref().clone())
    }

    pub fn worktree_for(&self, category: Option<&str>, agent: &str) -> bool {
        let cat = category.and_then(|c| self.categories.get(c)).and_then(|c| c.worktree);
        cat.or_else(|| self.agents.get(agent).and_then(|a| a.worktree)).unwrap_or(false)
    }

    /// The `[worktree]` settings as the worktree job takes them.
    pub fn worktree_settings(&self) -> crate::core::worktrees::Settings {
        let w = &self.worktree;
        crate::core::worktrees::Settings {
            dir: w.dir.get_ref().clone(),
            branch_prefix: w.branch_prefix.clone(),
            setup: w.setup.clone(),
            setup_timeout: std::time::Duration::from_secs(w.setup_timeout_secs),
        }
    }

    pub fn timeouts_for(&self, category: Option<&str>, agent: &str) -> (u64, u64) {
        let cat = category.and_then(|c| self.categories.get(c));
        let a = self.agents.get(agent);
        let pick = |c: Option<&Spanned<u64>>, a: Option<&Spanned<u64>>, g: &Spanned<u64>| {
            *c.or(a).unwrap_or(g).get_ref()
        };
        (
            pick(
                cat.and_then(|c| c.stale_secs.as_ref()),
                a.and_then(|a| a.stale_secs.as_ref()),
                &self.timeouts.stale_secs,
            ),
            pick(
                cat.and_then(|c| c.ttl_secs.as_ref()),
                a.and_then(|a| a.ttl_secs.as_ref()),
                &self.timeouts.ttl_secs,
            ),
        )
    }

    /// Resolves agent, model and timeouts for a request. Precedence: explicit agent/model, then
    /// the category's, then the agent's default model; timeouts: category > agent > global.
    pub fn resolve(
        &self,
        category: Option<&str>,
        agent: Option<&str>,
        model: Option<&str>,
    ) -> Result<Resolved, ResolveError> {
        if category.is_some() && agent.is_some() {
            return Err(ResolveError::Both);
        }
        let default_cat = self.default_category.as_ref().map(|c| c.get_ref().as_str());
        let cat_name = match (category, agent) {
            (Some(c), _) => Some(c),
            (None, Some(_)) => None,
            (None, None) => default_cat,
        };
        let cat = match cat_name {
            Some(name) => {
                Some(self.categories.get(name).ok_or_else(|| ResolveError::UnknownCategory {
                    name: name.to_string(),
                    known: self.categories.keys().cloned().collect::<Vec<_>>().join(", "),
                })?)
            }
            None => None,
        };
        let agent_name = match (agent, cat) {
            (Some(a), _) => a.to_string(),
            (None, Some(c)) => c.agent.get_ref().clone(),
            (None, None) => return Err(ResolveError::NoAgent),
        };
        let a = self.agents.get(&agent_name).ok_or_else(|| ResolveError::UnknownAgent {
            name: agent_name.clone(),
            known: self.agents.keys().cloned().collect::<Vec<_>>().join(", "),
        })?;
        let model = model
            .map(str::to_string)
            .or_else(|| cat.and_then(|c| c.model.clone()))
            .or_else(|| a.model.clone())
            .filter(|m| !m.is_empty());
        let (stale_secs, ttl_secs) = self.timeouts_for(cat_name, &agent_name);
        Ok(Resolved {
            agent: agent_name,
            category: cat_name.map(str::to_string),
            model,
            stale_secs,
            ttl_secs,
        })
    }
}

/// Why a request's agent cannot be resolved from the config.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    #[error("give either a category or an agent, not both")]
    Both,
    #[error("no agent: give --agent or --category")]
    NoAgent,
    #[error("unknown category {name:?} (known: {known})")]
    UnknownCategory { name: String, known: String },
    #[error("unknown agent {name:?} (known: {known})")]
    UnknownAgent { name: String, known: String },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_default_parses_and_matches_code_defaults() {
        let c = parse(Path::new("<embedded>"), DEFAULT_TOML).unwrap();
        let mut want = Concurrency::default();
        want.providers.insert("demo".into(), 3);
        assert_eq!(c.concurrency, want, "the code's defaults, and the demo agent's limit");
        assert_eq!(*c.timeouts.stale_secs.get_ref(), 180);
        assert_eq!(*c.timeouts.ttl_secs.get_ref(), 1800);
        for a in ["shell", "demo", "claude", "opencode", "codex", "aider", "gemini"] {
            assert!(c.agents.contains_key(a), "preset {a}");
        }
        for k in ["quick", "deep", "research"] {
            assert!(c.categories.contains_key(k), "category {k}");
        }
        // And it passes the same checks as a user file.
        Config::from_user_str(Path::new("<embedded>"), DEFAULT_TOML).unwrap();
    }

    #[test]
    fn user_file_adds_and_replaces_builtins_stay() {
        let src = r#"
[concurrency]
default = 2
[concurrency.providers]
anthropic = 3
[agents.claude]
command = ["my-claude", "{prompt}"]
[agents.mine]
command = ["mine", "--", "{prompt}"]
"#;
        let c = Config::from_user_str(Path::new("u.toml"), src).unwrap();
        assert_eq!(c.concurrency.default, 2);
        assert_eq!(c.concurrency.providers.get("anthropic"), Some(&3));
        assert_eq!(c.agents["claude"].command.get_ref()[0], "my-claude");
        assert!(c.agents.contains_key("mine"));
        assert!(c.agents.contains_key("codex"), "built-ins stay");
        assert!(c.categories.contains_key("deep"));
        assert_eq!(*c.timeouts.stale_secs.get_ref(), 180);
    }

    #[test]
    fn agents_that_hand_the_prompt_to_a_shell_are_recognised() {
        let agent = |argv: &[&str]| AgentConfig {
            command: Spanned::new(0..0, argv.iter().map(|s| s.to_string()).collect()),
            description: None,
            model: None,
            env: BTreeMap::new(),
            cwd: None,
            stale_secs: None,
            ttl_secs: None,
            idle_secs: None,
            continue_command: None,
            session_pattern: None,
            session_command: None,
            error_patterns: vec![],
            stdin: None,
            banner_patterns: vec![],
            worktree: None,
            host: None,
            sandbox: None,
            state_dirs: vec![],
        };
        assert!(agent(&["sh", "-c", "{prompt}"]).prompt_goes_to_shell());
        assert!(agent(&["/bin/bash", "-lc", "{prompt}"]).prompt_goes_to_shell());
        assert!(agent(&["env", "X=1", "zsh", "-c", "cd /x && {prompt}"]).prompt_goes_to_shell());
        assert!(!agent(&["claude", "-p", "--", "{prompt}"]).prompt_goes_to_shell());
        // Conservative: a prompt anywhere after `-c` counts, even as the script's `$0`.
        assert!(agent(&["sh", "-c", "echo hi; sleep 1", "{prompt}"]).prompt_goes_to_shell());
        assert!(!agent(&["sh", "script.sh", "{prompt}"]).prompt_goes_to_shell());
    }

    #[test]
    fn resolve_precedence() {
        let src = r#"
[agents.x]
command = ["x", "{prompt}"]
model = "p/agent-model"
stale_secs = 300
[categories.c]
agent = "x"
model = "p/cat-model"
ttl_secs = 900
"#;
        let c = Config::from_user_str(Path::new("u.toml"), src).unwrap();
        let r = c.resolve(Some("c"), None, None).unwrap();
        assert_eq!(r.agent, "x");
        assert_eq!(r.model.as_deref(), Some("p/cat-model"));
        assert_eq!((r.stale_secs, r.ttl_secs), (300, 900));
        let r = c.resolve(None, Some("x"), None).unwrap();
        assert_eq!(r.model.as_deref(), Some("p/agent-model"));
        assert_eq!(r.category, None);
        let r = c.resolve(None, Some("x"), Some("q/explicit")).unwrap();
        assert_eq!(r.model.as_deref(), Some("q/explicit"));
        assert_eq!((r.stale_secs, r.ttl_secs), (300, 1800));
        let r = c.resolve(None, None, None).unwrap();
        assert_eq!(r.category.as_deref(), Some("quick"), "default category");
        assert_eq!(c.resolve(Some("c"), Some("x"), None).unwrap_err(), ResolveError::Both);
        let ResolveError::UnknownCategory { name, known } =
            c.resolve(Some("nope"), None, None).unwrap_err()
        else {
            panic!("not an unknown category")
        };
        assert_eq!(name, "nope");
        assert!(known.split(", ").any(|k| k == "c"), "{known}");
        let e = c.resolve(None, Some("nope"), None).unwrap_err();
        assert!(e.to_string().starts_with("unknown agent \"nope\" (known: "), "{e}");
    }
}
