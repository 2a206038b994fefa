//! A user's own settings for the real agent CLIs, pointed at a scripted model on 127.0.0.1
//! (`model.rs`): their model provider, and Claude Code's first run done. Shared by the host
//! tests and `benches/wake.rs`.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use serde_json::{Value, json};

/// The API key Claude Code is given (no account: the scripted model takes any).
pub const CLAUDE_KEY: &str = "sk-ant-test-0000000000000000";

/// Codex's `config.toml` in `home`: the scripted Responses-API provider as the model.
pub fn codex_provider(home: &Path, port: u16) {
    let dir = home.join(".codex");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("config.toml"),
        format!(
            "model = \"scripted\"\nmodel_provider = \"scripted\"\n\n[model_providers.scripted]\nname = \"scripted\"\nbase_url = \"http://127.0.0.1:{port}/v1\"\nwire_api = \"responses\"\n"
        ),
    )
    .unwrap();
}

/// OpenCode's `opencode.json` in `home` (what is there already kept): a provider with
/// `@ai-sdk/openai-compatible` on the scripted chat-completions server, as the model.
pub fn opencode_provider(home: &Path, port: u16) {
    let dir = home.join(".config/opencode");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("opencode.json");
    let mut c: Value = std::fs::read_to_string(&path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_else(|| json!({"$schema": "https://opencode.ai/config.json"}));
    c["provider"] = json!({"scripted": {
        "npm": "@ai-sdk/openai-compatible",
        "name": "Scripted",
        "options": {"baseURL": format!("http://127.0.0.1:{port}/v1"), "apiKey": "none"},
        "models": {"m": {"name": "m"}}
    }});
    c["model"] = json!("scripted/m");
    std::fs::write(&path, c.to_string()).unwrap();
}

/// Claude Code's `~/.claude.json` (as `paneherd install claude` left it) as after its first
/// run: onboarding done, `CLAUDE_KEY` approved, `project` trusted.
pub fn claude_first_run_done(home: &Path, project: &Path) {
    let path = home.join(".claude.json");
    let mut d: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    d["hasCompletedOnboarding"] = json!(true);
    d["theme"] = json!("dark");
    d["customApiKeyResponses"] =
        json!({"approved": [&CLAUDE_KEY[CLAUDE_KEY.len() - 20..]], "rejected": []});
    d["projects"] = json!({ project.display().to_string(): {"hasTrustDialogAccepted": true} });
    std::fs::write(&path, serde_json::to_string_pretty(&d).unwrap()).unwrap();
}
