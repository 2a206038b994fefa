//! `paneherd install|uninstall claude|opencode|codex` into a temp HOME and project holding
//! existing configs: merged (the user's keys kept, in their order), a backup beside each changed
//! file, a second run changes nothing, `--dry-run` shows a diff and changes nothing, and
//! `uninstall` gives back the original bytes. Then the real CLIs read what was written: Claude
//! Code and OpenCode connect to the MCP server, Codex lists it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{BIN, Env, ci_tools, config_with};

struct Home {
    env: Env,
    home: PathBuf,
    project: PathBuf,
}

impl Home {
    fn new() -> Home {
        let env = Env::new(&config_with(""));
        let home = env.path().join("home");
        let project = env.path().join("proj");
        std::fs::create_dir_all(&home).unwrap();
        std::fs::create_dir_all(project.join("src")).unwrap();
        Home { env, home, project }
    }

    fn cmd(&self, program: &Path, args: &[&str], cwd: &Path) -> Command {
        let mut c = Command::new(program);
        c.args(args);
        self.env.apply(&mut c);
        c.current_dir(cwd);
        c.env("HOME", &self.home)
            .env("XDG_CONFIG_HOME", self.home.join(".config"))
            .env("CODEX_HOME", self.home.join(".codex"))
            .env("GIT_CONFIG_GLOBAL", self.home.join(".gitconfig"))
            .env("GIT_CONFIG_NOSYSTEM", "1");
        c
    }

    fn paneherd(&self, args: &[&str]) -> String {
        self.paneherd_in(args, &self.project)
    }

    fn paneherd_in(&self, args: &[&str], cwd: &Path) -> String {
        let out = self.cmd(Path::new(BIN), args, cwd).output().unwrap();
        assert!(out.status.success(), "paneherd {args:?}: {}", text(&out));
        String::from_utf8(out.stdout).unwrap()
    }

    fn write(&self, rel: &str, body: &str) -> PathBuf {
        let p = self.home.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, body).unwrap();
        p
    }
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn bak(p: &Path) -> PathBuf {
    PathBuf::from(format!("{}.paneherd-backup", p.display()))
}

const CLAUDE_JSON: &str = r#"{
  "numStartups": 12,
  "theme": "dark",
  "mcpServers": {
    "github": { "type": "stdio", "command": "gh-mcp", "args": [] }
  },
  "projects": { "/work": { "allowedTools": [] } }
}
"#;

const CLAUDE_SETTINGS: &str = r#"{
  "model": "opus",
  "hooks": {
    "PostToolUse": [
      { "matcher": "Write", "hooks": [{ "type": "command", "command": "cargo fmt" }] }
    ]
  },
  "permissions": { "allow": ["Bash(ls:*)"] }
}
"#;

const CODEX_TOML: &str = r#"# my Codex settings
model = "o3"   # the default model

[mcp_servers.docs]
command = "docs-mcp"
args = ["--port", "0"]
"#;

const OPENCODE_JSON: &str = r#"{
  "$schema": "https://opencode.ai/config.json",
  "model": "anthropic/claude-sonnet-4-5",
  "mcp": {
    "search": { "type": "remote", "url": "https://example.com/mcp" }
  }
}
"#;

#[test]
fn install_merges_once_and_uninstall_gives_back_the_original_bytes() {
    let h = Home::new();
    let claude_json = h.write(".claude.json", CLAUDE_JSON);
    let settings = h.write(".claude/settings.json", CLAUDE_SETTINGS);
    let codex = h.write(".codex/config.toml", CODEX_TOML);
    let opencode = h.write(".config/opencode/opencode.json", OPENCODE_JSON);
    let plugin = h.home.join(".config/opencode/plugins/paneherd.js");
    let originals = [
        (&claude_json, CLAUDE_JSON),
        (&settings, CLAUDE_SETTINGS),
        (&codex, CODEX_TOML),
        (&opencode, OPENCODE_JSON),
    ];

    // --dry-run: a diff, nothing written.
    let dry = h.paneherd(&["install", "claude", "--dry-run"]);
    assert!(dry.contains(&format!("+++ b{}", claude_json.display())), "{dry}");
    assert!(dry.contains("+      \"command\": \""), "{dry}");
    assert!(dry.contains("\"asyncRewake\": true"), "{dry}");
    assert_eq!(read(&claude_json), CLAUDE_JSON);
    assert!(!bak(&claude_json).exists());

    for agent in ["claude", "codex", "opencode"] {
        let said = h.paneherd(&["install", agent]);
        assert!(said.contains("updated ") || said.contains("created "), "{said}");
    }

    // Merged: the user's keys all there, in their order; paneherd's added.
    let c: serde_json::Value = serde_json::from_str(&read(&claude_json)).unwrap();
    let keys: Vec<&String> = c.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["numStartups", "theme", "mcpServers", "projects"]);
    assert_eq!(c["mcpServers"]["github"]["command"], "gh-mcp");
    assert_eq!(c["mcpServers"]["paneherd"]["command"], BIN);
    assert_eq!(c["mcpServers"]["paneherd"]["args"], serde_json::json!(["mcp"]));
    let s: serde_json::Value = serde_json::from_str(&read(&settings)).unwrap();
    assert_eq!(s["model"], "opus");
    assert_eq!(s["permissions"]["allow"][0], "Bash(ls:*)");
    let post = s["hooks"]["PostToolUse"].as_array().unwrap();
    assert_eq!(post[0]["hooks"][0]["command"], "cargo fmt", "the user's hook stays first");
    assert_eq!(post[1]["matcher"], "mcp__paneherd__task|Bash");
    let ours = &post[1]["hooks"][0];
    assert_eq!(ours["command"], format!("{BIN} hook claude"));
    assert_eq!((ours["async"].clone(), ours["asyncRewake"].clone()), (true.into(), true.into()));
    for event in ["UserPromptSubmit", "SessionStart", "Notification", "Stop"] {
        assert_eq!(s["hooks"][event][0]["hooks"][0]["command"], format!("{BIN} hook claude"));
    }
    let toml = read(&codex);
    assert!(
        toml.starts_with("# my Codex settings\nmodel = \"o3\"   # the default model\n"),
        "{toml}"
    );
    assert!(toml.contains("[mcp_servers.docs]\ncommand = \"docs-mcp\""), "{toml}");
    assert!(
        toml.contains(&format!("[mcp_servers.paneherd]\ncommand = \"{BIN}\"\nargs = [\"mcp\"]"))
    );
    assert!(toml.contains(&format!("notify = [\"{BIN}\", \"hook\", \"codex\"]")), "{toml}");
    let o: serde_json::Value = serde_json::from_str(&read(&opencode)).unwrap();
    assert_eq!(o["model"], "anthropic/claude-sonnet-4-5");
    assert_eq!(o["mcp"]["search"]["type"], "remote");
    assert_eq!(o["mcp"]["paneherd"]["command"], serde_json::json!([BIN, "mcp"]));
    let js = read(&plugin);
    assert!(
        js.contains(&format!("const PANEHERD_BIN = \"{BIN}\";")),
        "the plugin runs this binary"
    );

    // Backups hold the old bytes.
    for (p, orig) in originals {
        assert_eq!(read(&bak(p)), orig, "backup of {}", p.display());
    }

    // A second run changes nothing, byte for byte.
    let before: Vec<String> = originals.iter().map(|(p, _)| read(p)).collect();
    for agent in ["claude", "codex", "opencode"] {
        let said = h.paneherd(&["install", agent]);
        assert!(said.contains("already: nothing changed"), "{said}");
    }
    let after: Vec<String> = originals.iter().map(|(p, _)| read(p)).collect();
    assert_eq!(before, after);

    // Uninstall: the original bytes, no backup left, the plugin gone.
    for agent in ["claude", "codex", "opencode"] {
        let said = h.paneherd(&["uninstall", agent]);
        assert!(said.contains("restored "), "{said}");
    }
    for (p, orig) in originals {
        assert_eq!(read(p), orig, "{} restored", p.display());
        assert!(!bak(p).exists());
    }
    assert!(!plugin.exists());
    let again = h.paneherd(&["uninstall", "claude"]);
    assert!(again.contains("nothing to take out"), "{again}");
}

#[test]
fn files_the_install_made_go_again_and_project_scope_writes_at_the_repository_top() {
    let h = Home::new();
    let git = |args: &[&str]| {
        let out = h.cmd(Path::new("git"), args, &h.project).output().unwrap();
        assert!(out.status.success(), "git {args:?}: {}", text(&out));
    };
    git(&["init", "-q"]);
    let sub = h.project.join("src");
    h.paneherd_in(&["install", "claude", "--project"], &sub);
    h.paneherd_in(&["install", "codex", "--project"], &sub);
    h.paneherd_in(&["install", "opencode", "--project"], &sub);
    let made = [
        h.project.join(".mcp.json"),
        h.project.join(".claude/settings.json"),
        h.project.join(".codex/config.toml"),
        h.project.join("opencode.json"),
        h.project.join(".opencode/plugins/paneherd.js"),
    ];
    for p in &made {
        assert!(p.exists(), "{} made", p.display());
        assert!(!bak(p).exists(), "no backup of a file that was not there");
    }
    assert!(!h.home.join(".claude.json").exists(), "the user's config is not touched");
    for agent in ["claude", "codex", "opencode"] {
        h.paneherd_in(&["uninstall", agent, "--project"], &sub);
    }
    for p in &made {
        assert!(!p.exists(), "{} removed again", p.display());
    }

    // A user's own Codex notify is kept, and the install says so.
    h.write(".codex/config.toml", "notify = [\"notify-send\", \"Codex\"]\n");
    let said = h.paneherd(&["install", "codex"]);
    assert!(said.contains("Your `notify`"), "{said}");
    assert!(read(&h.home.join(".codex/config.toml")).starts_with("notify = [\"notify-send\""));

    // A file that is not plain JSON is refused with where and why; nothing is written.
    let bad = h.write(".claude/settings.json", "{ // my comment\n}\n");
    let out = h.cmd(Path::new(BIN), &["install", "claude"], &h.project).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out);
    assert!(err.contains(&bad.display().to_string()) && err.contains("not plain JSON"), "{err}");
    assert_eq!(read(&bad), "{ // my comment\n}\n");
}

#[test]
fn the_real_agent_clis_read_what_install_wrote() {
    let tools = ci_tools().join("agents/bin");
    let h = Home::new();
    for agent in ["claude", "codex", "opencode"] {
        h.paneherd(&["install", agent]);
    }
    let run = |program: &str, args: &[&str]| -> String {
        let out = h.cmd(&tools.join(program), args, &h.project).output().unwrap();
        assert!(out.status.success(), "{program} {args:?}: {}", text(&out));
        text(&out)
    };
    // Claude Code starts the server and completes the MCP handshake with it.
    let got = run("claude", &["mcp", "get", "paneherd"]);
    assert!(got.contains("Connected"), "{got}");
    assert!(got.contains(&format!("Command: {BIN}")), "{got}");
    // OpenCode too.
    let got = run("opencode", &["mcp", "list"]);
    assert!(got.contains("paneherd") && got.contains("connected"), "{got}");
    // Codex parses the TOML and lists the server.
    let got = run("codex", &["mcp", "list"]);
    assert!(got.lines().any(|l| l.starts_with("paneherd") && l.contains(BIN)), "{got}");

    // Claude Code wrote to its ~/.claude.json meanwhile: uninstall takes out only paneherd's
    // entries and keeps Claude Code's own.
    h.paneherd(&["uninstall", "claude"]);
    let c: serde_json::Value = serde_json::from_str(&read(&h.home.join(".claude.json")))
        .expect("Claude Code's own keys stay");
    assert!(c.get("mcpServers").is_none_or(|m| m.get("paneherd").is_none()), "{c}");
    let got = {
        let out = h.cmd(&tools.join("claude"), &["mcp", "list"], &h.project).output().unwrap();
        text(&out)
    };
    assert!(!got.contains("paneherd"), "{got}");
}

#[test]
fn a_linked_config_is_edited_where_it_lives_and_private_files_stay_private() {
    use std::os::unix::fs::PermissionsExt;
    let h = Home::new();
    // ~/.claude/settings.json is a link into a dotfiles checkout.
    let real = h.write("dotfiles/claude-settings.json", CLAUDE_SETTINGS);
    std::fs::create_dir_all(h.home.join(".claude")).unwrap();
    let link = h.home.join(".claude/settings.json");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    // ~/.claude.json is private (account data, MCP servers' secrets).
    let private = h.write(".claude.json", CLAUDE_JSON);
    std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o600)).unwrap();
    // A file of the user's that happens to have the backup's name.
    let theirs = h.write(".codex/config.toml.paneherd-backup", "MINE");
    h.write(".codex/config.toml", CODEX_TOML);

    for agent in ["claude", "codex"] {
        h.paneherd(&["install", agent]);
    }
    assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink(), "the link stays");
    assert!(read(&real).contains("hook claude"), "the linked file got the hooks");
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&private), 0o600);
    assert_eq!(mode(&bak(&private)), 0o600, "the backup is as private as the file");

    for agent in ["claude", "codex"] {
        h.paneherd(&["uninstall", agent]);
    }
    assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
    assert_eq!(read(&real), CLAUDE_SETTINGS, "restored through the link");
    assert_eq!(read(&private), CLAUDE_JSON);
    assert_eq!(read(&theirs), "MINE", "a backup paneherd did not write is not removed");
    assert_eq!(read(&h.home.join(".codex/config.toml")), CODEX_TOML);
}
