//! OpenCode: the MCP server under `mcp` in `opencode.json` (`~/.config/opencode/` for the user,
//! the project's top otherwise) and paneherd's plugin (`assets/opencode/paneherd.js`, with this
//! binary's path) in `plugins/` (`~/.config/opencode/plugins/` or `.opencode/plugins/`).

use anyhow::Result;
use serde_json::json;

use super::json::{object, parse, remove_entry, render};
use super::{Places, Removal, Scope, Setup, Target};

/// The plugin as shipped; its default binary name is replaced by the installing binary's path.
const PLUGIN: &str = include_str!("../../assets/opencode/paneherd.js");
const DEFAULT_BIN: &str = r#"const PANEHERD_BIN = "paneherd";"#;

pub fn plugin_text(bin: &std::path::Path) -> String {
    let path = serde_json::Value::String(bin.display().to_string()).to_string();
    PLUGIN.replace(DEFAULT_BIN, &format!("const PANEHERD_BIN = {path};"))
}

pub fn setup(scope: Scope, p: &Places) -> Result<Setup> {
    let (dir, plugins) = match scope {
        Scope::User => {
            let d = p.config_home.join("opencode");
            (d.clone(), d.join("plugins"))
        }
        Scope::Project => (p.project.clone(), p.project.join(".opencode/plugins")),
    };
    // OpenCode reads opencode.jsonc too; edit the one there is.
    let config = if !dir.join("opencode.json").exists() && dir.join("opencode.jsonc").exists() {
        dir.join("opencode.jsonc")
    } else {
        dir.join("opencode.json")
    };
    let server = json!({ "type": "local", "command": [p.bin, "mcp"], "enabled": true });
    let add_server = move |text: &str| -> Result<String> {
        let mut m = parse(text)?;
        if m.is_empty() {
            m.insert("$schema".into(), json!("https://opencode.ai/config.json"));
        }
        object(&mut m, "mcp")?.insert("paneherd".into(), server.clone());
        render(&m, text)
    };
    let remove_server = |text: &str| -> Result<Removal> {
        let mut m = parse(text)?;
        if !remove_entry(&mut m, "mcp", "paneherd") {
            return Ok(Removal::Absent);
        }
        let only_schema = m.keys().all(|k| k == "$schema");
        Ok(if only_schema { Removal::Delete } else { Removal::Keep(render(&m, text)?) })
    };
    let plugin = plugin_text(&p.bin);
    Ok(Setup {
        targets: vec![
            Target { path: config, add: Box::new(add_server), remove: Box::new(remove_server) },
            Target {
                path: plugins.join("paneherd.js"),
                add: Box::new(move |_| Ok(plugin.clone())),
                remove: Box::new(|_| Ok(Removal::Delete)),
            },
        ],
        notes: vec![
            "Restart OpenCode to load paneherd's MCP server and plugin.".into(),
            "A task a session delegates is told to that session when it ends (the last one of \
             the session wakes the model)."
                .into(),
        ],
    })
}
