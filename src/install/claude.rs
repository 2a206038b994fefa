//! Claude Code: the MCP server in `~/.claude.json` (user; its top-level `mcpServers`) or the
//! project's `.mcp.json`, and `paneherd hook claude` in `~/.claude/settings.json` or the
//! project's `.claude/settings.json`: an async-rewake `PostToolUse` hook on paneherd's `task`
//! tool and on Bash (the session wakes when a task it delegated ends), `UserPromptSubmit` and
//! `SessionStart` (ends not yet told, as context), and `Notification` / `Stop` (a task's own
//! Claude Code reports its state).

use anyhow::Result;
use serde_json::{Value, json};

use super::json::{object, parse, remove_entry, render};
use super::{Places, Removal, Scope, Setup, Target};

/// The events the hook is installed on, with the matcher of each (none: every occurrence).
const EVENTS: [(&str, Option<&str>); 5] = [
    ("PostToolUse", Some("mcp__paneherd__task|Bash")),
    ("UserPromptSubmit", None),
    ("SessionStart", None),
    ("Notification", None),
    ("Stop", None),
];

/// A task runs for at most a day by default; the waiting hook may wait that long.
const WAIT_S: u64 = 86_400;

fn quoted(path: &std::path::Path) -> String {
    let s = path.display().to_string();
    if s.chars().all(|c| c.is_ascii_alphanumeric() || "/._-+".contains(c)) {
        s
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

fn is_ours(handler: &Value) -> bool {
    handler["command"]
        .as_str()
        .is_some_and(|c| c.contains("paneherd") && c.ends_with(" hook claude"))
}

pub fn setup(scope: Scope, p: &Places) -> Result<Setup> {
    let (mcp_file, settings) = match scope {
        Scope::User => (p.home.join(".claude.json"), p.home.join(".claude/settings.json")),
        Scope::Project => (p.project.join(".mcp.json"), p.project.join(".claude/settings.json")),
    };
    let server = json!({ "type": "stdio", "command": p.bin, "args": ["mcp"], "env": {} });
    let command = format!("{} hook claude", quoted(&p.bin));

    let add_server = move |text: &str| -> Result<String> {
        let mut m = parse(text)?;
        object(&mut m, "mcpServers")?.insert("paneherd".into(), server.clone());
        render(&m, text)
    };
    let remove_server = |text: &str| -> Result<Removal> {
        let mut m = parse(text)?;
        if !remove_entry(&mut m, "mcpServers", "paneherd") {
            return Ok(Removal::Absent);
        }
        Ok(if m.is_empty() { Removal::Delete } else { Removal::Keep(render(&m, text)?) })
    };
    let add_hooks = move |text: &str| -> Result<String> {
        let mut m = parse(text)?;
        let hooks = object(&mut m, "hooks")?;
        for (event, matcher) in EVENTS {
            let groups = hooks.entry(event.to_string()).or_insert_with(|| json!([]));
            let Value::Array(groups) = groups else {
                anyhow::bail!("\"hooks\".\"{event}\" is not an array");
            };
            let present = groups
                .iter()
                .any(|g| g["hooks"].as_array().is_some_and(|hs| hs.iter().any(is_ours)));
            if present {
                continue;
            }
            let mut handler = json!({ "type": "command", "command": command });
            if event == "PostToolUse" {
                handler["async"] = json!(true);
                handler["asyncRewake"] = json!(true);
                handler["timeout"] = json!(WAIT_S);
            }
            let mut group = serde_json::Map::new();
            if let Some(m) = matcher {
                group.insert("matcher".into(), json!(m));
            }
            group.insert("hooks".into(), json!([handler]));
            groups.push(Value::Object(group));
        }
        render(&m, text)
    };
    let remove_hooks = |text: &str| -> Result<Removal> {
        let mut m = parse(text)?;
        let mut found = false;
        if let Some(Value::Object(hooks)) = m.get_mut("hooks") {
            for (event, _) in EVENTS {
                let Some(Value::Array(groups)) = hooks.get_mut(event) else { continue };
                for g in groups.iter_mut() {
                    if let Some(Value::Array(hs)) = g.get_mut("hooks") {
                        let n = hs.len();
                        hs.retain(|h| !is_ours(h));
                        found |= hs.len() != n;
                    }
                }
                groups.retain(|g| g["hooks"].as_array().is_none_or(|hs| !hs.is_empty()));
                if groups.is_empty() {
                    hooks.shift_remove(event);
                }
            }
            if hooks.is_empty() {
                m.shift_remove("hooks");
            }
        }
        if !found {
            return Ok(Removal::Absent);
        }
        Ok(if m.is_empty() { Removal::Delete } else { Removal::Keep(render(&m, text)?) })
    };

    let mut notes = vec![
        "Restart Claude Code (or run /mcp and /hooks) to load paneherd.".to_string(),
        "A task a session delegates wakes it when it ends: [BACKGROUND TASK RESULT READY] …"
            .to_string(),
    ];
    if scope == Scope::Project {
        notes.push(
            "Claude Code asks once before it uses a project's .mcp.json server: approve paneherd."
                .into(),
        );
    }
    Ok(Setup {
        targets: vec![
            Target { path: mcp_file, add: Box::new(add_server), remove: Box::new(remove_server) },
            Target { path: settings, add: Box::new(add_hooks), remove: Box::new(remove_hooks) },
        ],
        notes,
    })
}
