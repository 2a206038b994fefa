//! `[agents.NAME]` (how to run one agent CLI) and `[categories.NAME]` (a kind of work mapped
//! to an agent and model).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

/// `[agents.NAME]`: how to run one agent CLI.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    pub command: Spanned<Vec<String>>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    #[serde(default)]
    pub cwd: Option<PathBuf>,
    #[serde(default)]
    pub stale_secs: Option<Spanned<u64>>,
    #[serde(default)]
    pub ttl_secs: Option<Spanned<u64>>,
    /// For interactive agents without hooks: no output for this long after some output means
    /// the task is done (completed).
    #[serde(default)]
    pub idle_secs: Option<Spanned<u64>>,
    /// How to continue an earlier task of this agent: an argv template with `{session}` and
    /// `{prompt}` (e.g. `["claude", "--resume", "{session}", "-p", "{prompt}"]`).
    #[serde(default)]
    pub continue_command: Option<Spanned<Vec<String>>>,
    /// A regex finding the agent's session id in its output (the first group, or the whole
    /// match), or in `session_command`'s; `{task_id}` in it stands for the task's id.
    #[serde(default)]
    pub session_pattern: Option<Spanned<String>>,
    /// A command run after a task ends (in its directory) whose output `session_pattern` is
    /// searched, for agents that do not print their session id.
    #[serde(default)]
    pub session_command: Option<Spanned<Vec<String>>>,
    /// Regexes (each line start is `^`) that mark a failed run in the output, for agents that
    /// exit 0 when they fail: a match ends the task as `error` with that line as the reason.
    #[serde(default)]
    pub error_patterns: Vec<Spanned<String>>,
    /// Its tasks run in a git worktree of their own.
    #[serde(default)]
    pub worktree: Option<bool>,
    /// Its tasks run on this host of `[hosts]` unless they say otherwise.
    #[serde(default)]
    pub host: Option<Spanned<String>>,
    /// Its tasks run in this sandbox (`bwrap`, `podman:IMAGE`, `docker:IMAGE`, or `none`)
    /// unless they say otherwise.
    #[serde(default)]
    pub sandbox: Option<Spanned<String>>,
    /// Where the agent keeps its own state (`~/.claude`): writable in its sandbox.
    #[serde(default)]
    pub state_dirs: Vec<String>,
    /// What the agent reads on its standard input, then end of input: a template like an
    /// argument's (`"{prompt}"`), for CLIs that alter a prompt given as an argument (OpenCode
    /// quotes one with spaces) or whose prompts pass the kernel's limit for an argument.
    #[serde(default)]
    pub stdin: Option<Spanned<String>>,
    /// Regexes for lines the agent prints about itself (banners, mode lines such as
    /// OpenCode's `> build · model`): left out of a task's result and summary, kept in its log.
    #[serde(default)]
    pub banner_patterns: Vec<Spanned<String>>,
}

impl AgentConfig {
    /// Whether it reads its prompt on standard input (`stdin` names `{prompt}`).
    pub fn prompt_on_stdin(&self) -> bool {
        self.stdin.as_ref().is_some_and(|s| s.get_ref().contains("{prompt}"))
    }

    /// Whether its command asks paneherd for a fresh session id (`{session_id}`).
    pub fn makes_session_id(&self) -> bool {
        self.command.get_ref().iter().any(|a| a.contains("{session_id}"))
    }

    /// Whether its `continue_command` needs an earlier session's id (else it continues by
    /// directory, like aider's chat history).
    pub fn continues_by_session(&self) -> bool {
        self.continue_command
            .as_ref()
            .is_some_and(|c| c.get_ref().iter().any(|a| a.contains("{session}")))
    }

    /// The first line of `output` an `error_patterns` entry matches, cut to one line.
    pub fn failure_in(&self, output: &str) -> Option<String> {
        self.error_patterns.iter().find_map(|p| {
            let re = regex::RegexBuilder::new(p.get_ref()).multi_line(true).build().ok()?;
            let m = re.find(output)?;
            let start = output[..m.start()].rfind('\n').map(|i| i + 1).unwrap_or(0);
            let end = output[m.end()..].find('\n').map(|i| m.end() + i).unwrap_or(output.len());
            Some(crate::core::text::cut(output[start..end].trim(), 200))
        })
    }

    /// `output` without the lines `banner_patterns` match.
    pub fn without_banners(&self, output: &str) -> String {
        let res: Vec<regex::Regex> = self
            .banner_patterns
            .iter()
            .filter_map(|p| regex::Regex::new(p.get_ref()).ok())
            .collect();
        if res.is_empty() {
            return output.to_string();
        }
        let kept: Vec<&str> =
            output.lines().filter(|l| !res.iter().any(|re| re.is_match(l))).collect();
        kept.join("\n").trim().to_string()
    }

    /// The agent's session id in `output` (its own, or `session_command`'s), by
    /// `session_pattern`, for task `task_id`.
    pub fn session_in(&self, output: &str, task_id: &str) -> Option<String> {
        let pat =
            self.session_pattern.as_ref()?.get_ref().replace("{task_id}", &regex::escape(task_id));
        let re = regex::RegexBuilder::new(&pat).multi_line(true).build().ok()?;
        let caps = re.captures_iter(output).last()?;
        caps.get(1).or_else(|| caps.get(0)).map(|m| m.as_str().to_string())
    }

    /// Where a prompt that begins with `-` could be read as an option: `{prompt}` as a whole
    /// argument with no `--` before it (for `config check` to warn about).
    pub fn prompt_may_read_as_option(&self) -> bool {
        if self.prompt_goes_to_shell() {
            return false;
        }
        let argv = self.command.get_ref();
        argv.iter()
            .position(|a| a == "{prompt}")
            .is_some_and(|i| !argv[..i].iter().any(|a| a == "--"))
    }

    /// Whether the agent hands its prompt to a shell (`sh -c {prompt}` and the like): its prompt
    /// is a command line, never text to carry into another command.
    pub fn prompt_goes_to_shell(&self) -> bool {
        const SHELLS: [&str; 8] = ["sh", "bash", "dash", "zsh", "ksh", "mksh", "ash", "fish"];
        let argv = self.command.get_ref();
        let is_shell = |a: &String| {
            SHELLS.contains(&Path::new(a).file_name().and_then(|f| f.to_str()).unwrap_or(""))
        };
        let is_dash_c = |a: &String| {
            a.len() > 1
                && a.starts_with('-')
                && !a.starts_with("--")
                && a[1..].chars().all(|c| c.is_ascii_alphabetic())
                && a.contains('c')
        };
        let Some(shell) = argv.iter().position(is_shell) else { return false };
        let Some(flag) = argv.iter().skip(shell + 1).position(is_dash_c) else { return false };
        argv.iter().skip(shell + 1 + flag + 1).any(|a| a.contains("{prompt}"))
    }
}

/// `[categories.NAME]`: a kind of work mapped to an agent and model.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CategoryConfig {
    pub agent: Spanned<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub stale_secs: Option<Spanned<u64>>,
    #[serde(default)]
    pub ttl_secs: Option<Spanned<u64>>,
    /// Its tasks run in a git worktree of their own.
    #[serde(default)]
    pub worktree: Option<bool>,
    /// Its tasks run on this host of `[hosts]` unless they say otherwise.
    #[serde(default)]
    pub host: Option<Spanned<String>>,
    /// Its tasks run in this sandbox (`bwrap`, `podman:IMAGE`, `docker:IMAGE`, or `none`)
    /// unless they say otherwise.
    #[serde(default)]
    pub sandbox: Option<Spanned<String>>,
}
