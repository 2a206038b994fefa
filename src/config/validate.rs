//! Checks a parsed user config beyond what its types say: ranges, references, templates.

use std::path::Path;

use toml::Spanned;

use super::{Config, ConfigError, PLACEHOLDERS};
use crate::core::argv;

/// The highest `timeouts.min_secs` may be (and its default).
const MIN_SECS: u64 = 60;
const MAX_SECS: u64 = 7 * 24 * 3600;

/// Checks `user` (the file as written) against `merged` (the file over the defaults).
pub fn check(
    file: &Path,
    src: &str,
    user: &Config,
    merged: &Config,
) -> Result<(), Box<ConfigError>> {
    let err = |span: std::ops::Range<usize>, key: String, msg: String| {
        Box::new(ConfigError::at(file, src, Some(span), msg).with_key(key))
    };
    let min = *merged.timeouts.min_secs.get_ref();
    if !(1..=MIN_SECS).contains(&min) {
        return Err(err(
            merged.timeouts.min_secs.span(),
            "timeouts.min_secs".into(),
            format!("{min} is out of range (allowed: 1 to {MIN_SECS} seconds)"),
        ));
    }
    let secs = |v: &Spanned<u64>, key: String| -> Result<(), Box<ConfigError>> {
        let n = *v.get_ref();
        if n < min || n > MAX_SECS {
            return Err(err(
                v.span(),
                key,
                format!("{n} is out of range (allowed: {min} to {MAX_SECS} seconds)"),
            ));
        }
        Ok(())
    };
    if !user.timeouts.stale_secs.span().is_empty() {
        secs(&user.timeouts.stale_secs, "timeouts.stale_secs".into())?;
    }
    if !user.timeouts.ttl_secs.span().is_empty() {
        secs(&user.timeouts.ttl_secs, "timeouts.ttl_secs".into())?;
    }
    let dir = &user.worktree.dir;
    if !dir.span().is_empty() && !dir.get_ref().contains("{task_id}") {
        return Err(err(
            dir.span(),
            "worktree.dir".into(),
            "it must contain {task_id}: each task's worktree is a directory of its own".into(),
        ));
    }
    for (name, a) in &user.agents {
        let key = |k: &str| format!("agents.{name}.{k}");
        if let Some(v) = &a.stale_secs {
            secs(v, key("stale_secs"))?;
        }
        if let Some(v) = &a.ttl_secs {
            secs(v, key("ttl_secs"))?;
        }
        let cmd = a.command.get_ref();
        if cmd.is_empty() || cmd[0].trim().is_empty() {
            return Err(err(
                a.command.span(),
                key("command"),
                "must name a program: [\"program\", \"arg\", …, \"{prompt}\"]".into(),
            ));
        }
        // Every placeholder of an argv template argument or of `stdin` is one paneherd fills;
        // whether one of them is the prompt.
        let placeholders = |texts: &[String], span: std::ops::Range<usize>, field: &str| {
            let mut prompt = false;
            for text in texts {
                let parts =
                    argv::parse(text).map_err(|m| err(span.clone(), key(field), m.to_string()))?;
                for p in parts.iter().filter_map(argv::Part::placeholder) {
                    if !PLACEHOLDERS.contains(&p) {
                        return Err(err(
                            span.clone(),
                            key(field),
                            format!(
                                "unknown placeholder {{{p}}} (allowed: {})",
                                PLACEHOLDERS.map(|p| format!("{{{p}}}")).join(" ")
                            ),
                        ));
                    }
                    prompt |= p == "prompt";
                }
            }
            Ok(prompt)
        };
        let mut has_prompt = placeholders(cmd, a.command.span(), "command")?;
        if let Some(s) = &a.stdin {
            has_prompt |= placeholders(std::slice::from_ref(s.get_ref()), s.span(), "stdin")?;
        }
        if !has_prompt && name != "shell" {
            return Err(err(
                a.command.span(),
                key("command"),
                "has no {prompt} placeholder: the prompt must be passed as an argument (or on \
                 standard input: stdin = \"{prompt}\")"
                    .into(),
            ));
        }
        if let Some(v) = &a.idle_secs {
            let n = *v.get_ref();
            if n == 0 || n > MAX_SECS {
                return Err(err(
                    v.span(),
                    key("idle_secs"),
                    format!("{n} is out of range (allowed: 1 to {MAX_SECS} seconds)"),
                ));
            }
        }
        if let Some(p) = &a.session_pattern
            && let Err(e) = regex::Regex::new(&p.get_ref().replace("{task_id}", "a-task"))
        {
            return Err(err(p.span(), key("session_pattern"), format!("not a valid regex: {e}")));
        }
        for (field, patterns) in
            [("error_patterns", &a.error_patterns), ("banner_patterns", &a.banner_patterns)]
        {
            for p in patterns {
                if let Err(e) = regex::Regex::new(p.get_ref()) {
                    return Err(err(p.span(), key(field), format!("not a valid regex: {e}")));
                }
            }
        }
        if let Some(c) = &a.continue_command {
            let has =
                |name: &str| c.get_ref().iter().any(|arg| arg.contains(&format!("{{{name}}}")));
            if c.get_ref().is_empty() || !(has("prompt") || a.prompt_on_stdin()) {
                return Err(err(
                    c.span(),
                    key("continue_command"),
                    "needs a program and {prompt} (and {session} for an agent that resumes by \
                     session id)"
                        .into(),
                ));
            }
            if has("session") && a.session_pattern.is_none() && !a.makes_session_id() {
                return Err(err(
                    c.span(),
                    key("continue_command"),
                    "uses {session}, but nothing finds the session: give session_pattern, or \
                     pass {session_id} in command"
                        .into(),
                ));
            }
        }
        if let Some(c) = &a.session_command
            && (c.get_ref().is_empty() || a.session_pattern.is_none())
        {
            return Err(err(
                c.span(),
                key("session_command"),
                "needs a program, and a session_pattern to search its output".into(),
            ));
        }
        for k in a.env.keys() {
            if k.is_empty() || k.contains('=') || k.contains('\0') {
                return Err(err(
                    a.command.span(),
                    key("env"),
                    format!("invalid variable name {k:?}"),
                ));
            }
        }
    }
    for (name, c) in &user.categories {
        let key = |k: &str| format!("categories.{name}.{k}");
        if let Some(v) = &c.stale_secs {
            secs(v, key("stale_secs"))?;
        }
        if let Some(v) = &c.ttl_secs {
            secs(v, key("ttl_secs"))?;
        }
        let agent = c.agent.get_ref();
        if !merged.agents.contains_key(agent) {
            return Err(err(
                c.agent.span(),
                key("agent"),
                format!(
                    "unknown agent {agent:?} (defined agents: {})",
                    merged.agents.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            ));
        }
    }
    crate::config::tmux::check_knobs(&user.tmux.knobs(), file, src, "tmux.")?;
    if let Some(l) = &user.tmux.layout
        && !user.presets.0.contains_key(l.get_ref())
    {
        return Err(err(
            l.span(),
            "tmux.layout".into(),
            format!(
                "unknown layout preset {:?} (presets: {})",
                l.get_ref(),
                user.presets.0.keys().cloned().collect::<Vec<_>>().join(", ")
            ),
        ));
    }
    if let Err((key, msg)) = user.notify.check() {
        let at = src.find("[notify]").unwrap_or(0);
        return Err(err(at..at, key, msg));
    }
    if let Err(e) = crate::config::keys::Keymap::with(&user.ui_keys()) {
        // Point at the bad binding itself: its value, or (an unknown action) its line.
        let span = user.ui.keys.get(&e.action).map(|v| v.span()).unwrap_or(0..0);
        return Err(err(span, format!("ui.keys.{}", e.action), e.error.to_string()));
    }
    for (name, h) in &user.hosts {
        if let Some(why) = super::hosts::check(name, h.ssh.get_ref()) {
            return Err(err(h.ssh.span(), format!("hosts.{name}.ssh"), why));
        }
        if let Some(m) = &h.max_tasks
            && *m.get_ref() == 0
        {
            let why = "0 would never run a task there (leave it out for no limit)".to_string();
            return Err(err(m.span(), format!("hosts.{name}.max_tasks"), why));
        }
    }
    // A category's or agent's `sandbox` is one paneherd makes.
    let sandboxes = user
        .categories
        .iter()
        .map(|(n, c)| (format!("categories.{n}.sandbox"), c.sandbox.as_ref()))
        .chain(
            user.agents.iter().map(|(n, a)| (format!("agents.{n}.sandbox"), a.sandbox.as_ref())),
        );
    for (key, s) in sandboxes {
        if let Some(s) = s
            && let Some(why) = crate::core::sandbox::refuse_kind(s.get_ref())
        {
            return Err(err(s.span(), key, why));
        }
    }
    // A category's or agent's `host` names one of `[hosts]`.
    let hosts_named = user
        .categories
        .iter()
        .map(|(n, c)| (format!("categories.{n}.host"), c.host.as_ref()))
        .chain(user.agents.iter().map(|(n, a)| (format!("agents.{n}.host"), a.host.as_ref())));
    for (key, host) in hosts_named {
        if let Some(h) = host
            && !merged.hosts.contains_key(h.get_ref())
        {
            let why = super::hosts::unknown(h.get_ref(), &merged.hosts);
            return Err(err(h.span(), key, why));
        }
    }
    if let Some(s) = &user.summarizer
        && !merged.agents.contains_key(s.get_ref())
    {
        return Err(err(
            s.span(),
            "summarizer".into(),
            format!(
                "unknown agent {:?} (defined agents: {})",
                s.get_ref(),
                merged.agents.keys().cloned().collect::<Vec<_>>().join(", ")
            ),
        ));
    }
    if let Some(dc) = &user.default_category
        && !merged.categories.contains_key(dc.get_ref())
    {
        return Err(err(
            dc.span(),
            "default_category".into(),
            format!(
                "unknown category {:?} (defined categories: {})",
                dc.get_ref(),
                merged.categories.keys().cloned().collect::<Vec<_>>().join(", ")
            ),
        ));
    }
    Ok(())
}
