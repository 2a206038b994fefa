//! Who delegated a task: the agent process (Claude Code, Codex, OpenCode, …) under which a
//! client runs. Claude Code starts its MCP servers, its hooks and its Bash tool's commands as
//! its own children (hooks and Bash through a shell), so `paneherd mcp`, `paneherd hook claude`
//! and a `paneherd run` typed by the agent all find the same process by walking up their
//! ancestors past shells and paneherd itself. The process is named by its pid and its start
//! time (so a reused pid is another delegator). A person's shell finds no agent: no delegator.
//! `PANEHERD_DELEGATOR` names one explicitly (for an agent this walk does not know).

use std::path::Path;

use crate::core::task::Delegator;

/// Programs that are agents: a process whose name (or, for an interpreter, whose script) is
/// one of these delegates.
pub const AGENTS: [&str; 12] = [
    "claude",
    "codex",
    "opencode",
    "gemini",
    "aider",
    "goose",
    "amp",
    "crush",
    "qwen",
    "cursor-agent",
    "droid",
    "kiro",
];

/// Passed over on the way up: shells, interpreters' launchers, paneherd itself.
const PASS: [&str; 12] = [
    "sh", "bash", "dash", "zsh", "fish", "ksh", "env", "timeout", "nice", "nohup", "setsid",
    "stdbuf",
];

/// A process's facts, as `/proc` gives them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proc {
    pub pid: u32,
    pub ppid: u32,
    /// Clock ticks after boot at which it started.
    pub start: u64,
    /// `comm`: the executable's (or script's) file name, at most 15 bytes.
    pub name: String,
    pub argv: Vec<String>,
}

/// Interpreters whose script names the program (its arguments are read only for these).
const INTERPRETERS: [&str; 6] = ["node", "bun", "deno", "python", "python3", "MainThread"];

/// Reads `/proc/PID/stat` under `root` (`/proc`), and `cmdline` for an interpreter.
pub fn read_proc(root: &Path, pid: u32) -> Option<Proc> {
    let stat = std::fs::read_to_string(root.join(pid.to_string()).join("stat")).ok()?;
    let (head, rest) = stat.rsplit_once(')')?;
    let name = head.split_once('(')?.1.to_string();
    let f: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state(0) ppid(1) … starttime(19).
    let ppid = f.get(1)?.parse().ok()?;
    let start = f.get(19)?.parse().ok()?;
    let cmdline = if INTERPRETERS.contains(&name.as_str()) {
        std::fs::read(root.join(pid.to_string()).join("cmdline")).unwrap_or_default()
    } else {
        vec![]
    };
    let argv = cmdline
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    Some(Proc { pid, ppid, start, name, argv })
}

fn base(s: &str) -> &str {
    s.rsplit('/').next().unwrap_or(s)
}

/// Which agent a process is, if it is one: by its name, else (an interpreter such as `node`
/// running `…/claude` or `…/@anthropic-ai/claude-code/cli.js`) by its arguments.
pub fn agent_of(p: &Proc) -> Option<&'static str> {
    let by_name = |n: &str| AGENTS.iter().copied().find(|a| *a == n);
    if let Some(a) = by_name(&p.name) {
        return Some(a);
    }
    if INTERPRETERS.contains(&p.name.as_str()) {
        for arg in p.argv.iter().skip(1).take(3) {
            if let Some(a) = by_name(base(arg)) {
                return Some(a);
            }
            for (pkg, a) in [
                ("claude-code", "claude"),
                ("@openai/codex", "codex"),
                ("opencode", "opencode"),
                ("gemini-cli", "gemini"),
                ("aider", "aider"),
            ] {
                if arg.contains(pkg) {
                    return Some(a);
                }
            }
        }
    }
    None
}

/// Whether the walk goes on past this process.
fn passed(p: &Proc) -> bool {
    PASS.contains(&p.name.as_str()) || p.name.starts_with("paneherd")
}

/// The delegator above process `pid` (which is not itself considered), reading `root`.
pub fn find(root: &Path, pid: u32) -> Option<Delegator> {
    above(root, read_proc(root, pid)?.ppid)
}

/// The delegator at or above process `pid`.
fn above(root: &Path, pid: u32) -> Option<Delegator> {
    let mut p = read_proc(root, pid)?;
    for _ in 0..32 {
        if let Some(agent) = agent_of(&p) {
            return Some(Delegator {
                id: format!("{agent}@{}.{}", p.pid, p.start),
                agent: agent.to_string(),
                session: None,
            });
        }
        if !passed(&p) || p.ppid <= 1 {
            return None;
        }
        p = read_proc(root, p.ppid)?;
    }
    None
}

/// The pid in a delegator's id (`claude@PID.START`), while that process still runs (its start
/// time matches).
pub fn live_pid(root: &Path, id: &str) -> Option<u32> {
    let (pid, start) = id.split_once('@')?.1.split_once('.')?;
    let pid: u32 = pid.parse().ok()?;
    let start: u64 = start.parse().ok()?;
    (read_proc(root, pid)?.start == start).then_some(pid)
}

/// Whether the delegator is a Claude Code in print mode (`claude -p`, `--print`): it exits at
/// the end of its turn, and nothing it runs may hold it up.
pub fn in_print_mode(root: &Path, id: &str) -> bool {
    let Some(pid) = live_pid(root, id) else { return false };
    let cmdline = std::fs::read(root.join(pid.to_string()).join("cmdline")).unwrap_or_default();
    let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
    // Its own options only: up to a `--` (a prompt may say "-p").
    args.iter().skip(1).take_while(|a| *a != b"--").any(|a| *a == b"-p" || *a == b"--print")
}

/// This process's delegator: `PANEHERD_DELEGATOR` when set, else the agent above it.
pub fn current() -> Option<Delegator> {
    if let Some(id) = std::env::var("PANEHERD_DELEGATOR").ok().filter(|v| !v.trim().is_empty()) {
        let agent = id.split('@').next().unwrap_or("agent").to_string();
        return Some(Delegator { id, agent, session: None });
    }
    // This process's parent, without reading its own `/proc` entry (a short command such as
    // `paneherd run` does this at every start).
    above(Path::new("/proc"), std::os::unix::process::parent_id())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake `/proc` of (pid, ppid, start, name, argv).
    fn tree(procs: &[(u32, u32, u64, &str, &[&str])]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (pid, ppid, start, name, argv) in procs {
            let d = dir.path().join(pid.to_string());
            std::fs::create_dir(&d).unwrap();
            let mut fields = vec!["S".to_string(), ppid.to_string()];
            fields.extend((2..19).map(|_| "0".to_string()));
            fields.push(start.to_string());
            std::fs::write(d.join("stat"), format!("{pid} ({name}) {}", fields.join(" "))).unwrap();
            let cmd: Vec<u8> = argv.iter().flat_map(|a| [a.as_bytes(), b"\0"].concat()).collect();
            std::fs::write(d.join("cmdline"), cmd).unwrap();
        }
        dir
    }

    #[test]
    fn the_agent_above_shells_and_paneherd_is_the_delegator() {
        let procs: &[(u32, u32, u64, &str, &[&str])] = &[
            (1, 0, 1, "init", &["init"]),
            (
                100,
                1,
                5000,
                "node",
                &["node", "/usr/lib/node_modules/@anthropic-ai/claude-code/cli.js"],
            ),
            (200, 100, 6000, "paneherd", &["paneherd", "mcp"]),
            (300, 100, 6100, "bash", &["bash", "-c", "paneherd run x"]),
            (301, 300, 6101, "paneherd", &["paneherd", "run", "x"]),
            (400, 100, 6200, "sh", &["sh", "-c", "paneherd hook claude"]),
            (401, 400, 6201, "paneherd", &["paneherd", "hook", "claude"]),
            (500, 1, 7000, "tmux: server", &["tmux"]),
            (501, 500, 7001, "bash", &["bash"]),
            (502, 501, 7002, "paneherd", &["paneherd", "run", "y"]),
            (600, 1, 8000, "codex", &["codex"]),
            (601, 600, 8001, "paneherd", &["paneherd", "mcp"]),
        ];
        let root = tree(procs);
        // The MCP server, a command of the agent's Bash tool and a hook: one delegator.
        let mcp = find(root.path(), 200).unwrap();
        assert_eq!(mcp.id, "claude@100.5000");
        assert_eq!(mcp.agent, "claude");
        assert_eq!(find(root.path(), 301).unwrap(), mcp);
        assert_eq!(find(root.path(), 401).unwrap(), mcp);
        // A person's shell: no agent above it.
        assert_eq!(find(root.path(), 502), None);
        // Another agent is another delegator.
        assert_eq!(find(root.path(), 601).unwrap().id, "codex@600.8000");
        // A process gone: none.
        assert_eq!(find(root.path(), 999), None);
    }
}
