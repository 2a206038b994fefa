//! Codex: the MCP server as `[mcp_servers.paneherd]` in `config.toml` (`$CODEX_HOME`, else
//! `~/.codex`, for the user; the project's `.codex/` otherwise), and `notify` running
//! `paneherd hook codex` (a task's own Codex reports each finished turn); paneherd's tools are
//! approved for Codex (`default_tools_approval_mode`), so `codex exec` can call them. Codex has no way for a
//! program to start a turn: a delegating Codex is not woken when a task ends; it reads results
//! with `background_output` (or the user runs `paneherd inbox`). Edited with toml_edit, so the
//! file's comments and layout stay.

use anyhow::{Context, Result};
use toml_edit::{Array, DocumentMut, Item, Table, value};

use super::{Places, Removal, Scope, Setup, Target};

/// `[mcp_servers.<id>].default_tools_approval_mode`, as Codex 0.171.0 reads it (one of `auto`,
/// `prompt`, `writes`, `approve`; the config reference at developers.openai.com/codex): paneherd's
/// tools run without asking. What a delegated agent does is governed by its own preset.
const APPROVAL: &str = "approve";
/// Longer than `background_output`'s longest block (600 s).
const TOOL_TIMEOUT_SEC: i64 = 660;

fn doc(text: &str) -> Result<DocumentMut> {
    text.parse::<DocumentMut>().context("it is not valid TOML")
}

fn notify_array(bin: &str) -> Array {
    let mut a = Array::new();
    a.push(bin);
    a.push("hook");
    a.push("codex");
    a
}

fn is_our_notify(item: Option<&Item>) -> bool {
    item.and_then(|i| i.as_array()).is_some_and(|a| {
        let v: Vec<&str> = a.iter().filter_map(|x| x.as_str()).collect();
        v.len() == 3 && v[0].contains("paneherd") && v[1] == "hook" && v[2] == "codex"
    })
}

pub fn setup(scope: Scope, p: &Places) -> Result<Setup> {
    let path = match scope {
        Scope::User => p.codex_home.join("config.toml"),
        Scope::Project => p.project.join(".codex/config.toml"),
    };
    let bin = p.bin.display().to_string();
    let mut notes = vec![
        "Restart Codex to load paneherd's MCP server.".to_string(),
        "Codex cannot be woken when a task ends (it has no hook that starts a turn): ask it to \
         read results with background_output, or see them with `paneherd inbox`."
            .to_string(),
    ];
    // Codex runs one notify program: a user's own is kept, and said so.
    let existing = std::fs::read_to_string(&path).unwrap_or_default();
    if let Ok(d) = existing.parse::<DocumentMut>()
        && d.get("notify").is_some()
        && !is_our_notify(d.get("notify"))
    {
        notes.push(format!(
            "Your `notify` in {} is kept (Codex runs only one): a task's own Codex will not \
             report its finished turns to paneherd.",
            path.display()
        ));
    }
    let b = bin.clone();
    let add = move |text: &str| -> Result<String> {
        let mut d = doc(text)?;
        let servers = d.entry("mcp_servers").or_insert_with(|| {
            let mut t = Table::new();
            t.set_implicit(true);
            Item::Table(t)
        });
        let servers = servers.as_table_mut().context("`mcp_servers` is not a table")?;
        let mut args = Array::new();
        args.push("mcp");
        let mut entry = Table::new();
        entry.insert("command", value(b.as_str()));
        entry.insert("args", value(args));
        // Codex asks before every MCP tool call unless the server's tools are approved, and
        // `codex exec` (approval policy "never") refuses them outright.
        entry.insert("default_tools_approval_mode", value(APPROVAL));
        // background_output may block up to 600 s; Codex's own default is far shorter.
        entry.insert("tool_timeout_sec", value(TOOL_TIMEOUT_SEC));
        let same = servers.get("paneherd").and_then(|i| i.as_table()).is_some_and(|t| {
            t.get("command").and_then(|c| c.as_str()) == Some(b.as_str())
                && t.get("args").and_then(|a| a.as_array()).is_some_and(|a| {
                    a.iter().filter_map(|x| x.as_str()).collect::<Vec<_>>() == ["mcp"]
                })
                && t.get("default_tools_approval_mode").and_then(|m| m.as_str()) == Some(APPROVAL)
                && t.get("tool_timeout_sec").and_then(|m| m.as_integer()) == Some(TOOL_TIMEOUT_SEC)
        });
        if !same {
            servers.insert("paneherd", Item::Table(entry));
        }
        if d.get("notify").is_none() {
            // Top-level keys go before the first table; toml_edit keeps that order.
            d.insert("notify", value(notify_array(&b)));
        }
        Ok(d.to_string())
    };
    let remove = |text: &str| -> Result<Removal> {
        let mut d = doc(text)?;
        let mut found = false;
        if let Some(servers) = d.get_mut("mcp_servers").and_then(|i| i.as_table_mut()) {
            found |= servers.remove("paneherd").is_some();
            if servers.is_empty() {
                d.remove("mcp_servers");
            }
        }
        if is_our_notify(d.get("notify")) {
            d.remove("notify");
            found = true;
        }
        if !found {
            return Ok(Removal::Absent);
        }
        let s = d.to_string();
        Ok(if s.trim().is_empty() { Removal::Delete } else { Removal::Keep(s) })
    };
    Ok(Setup {
        targets: vec![Target { path, add: Box::new(add), remove: Box::new(remove) }],
        notes,
    })
}
