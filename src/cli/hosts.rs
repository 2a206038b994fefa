//! `paneherd hosts` (how each host is), `hosts add` (into the config), `hosts setup` (check a
//! host and install this paneherd there), and `dial`: what a host's link runs on the host —
//! its standard input and output bridged to the daemon there.

use std::io::Write;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use super::args::HostsCmd;
use super::exit;
use super::out::{CmdResult, Fail, print_json, usage};
use crate::client::{Blocking, Client};
use crate::config::Config;
use crate::core::hosts::Host;
use crate::paths::Paths;
use crate::proto::{HostInfo, ask};
use crate::runner::programs::{self, SshRole};

/// How long `hosts` waits for links it opened to say how they are.
const FIRST_WORD: Duration = Duration::from_secs(15);

pub(super) fn run(paths: &Paths, command: Option<HostsCmd>, json: bool) -> CmdResult {
    match command {
        None => list(paths, json),
        Some(HostsCmd::Add { name, ssh, ssh_args, max_tasks }) => {
            add(paths, &name, &ssh, &ssh_args, max_tasks)
        }
        Some(HostsCmd::Setup { name }) => setup(paths, &name),
    }
}

fn list(paths: &Paths, json: bool) -> CmdResult {
    let mut c = Blocking::connect(paths, true)?;
    let mut hosts: Vec<HostInfo> = c.ask(ask::Hosts)?;
    // Links opened just now: a moment to connect (ssh's own timeout is 10 s).
    let asked = Instant::now();
    while hosts.iter().any(|h| h.link.is_none()) && asked.elapsed() < FIRST_WORD {
        std::thread::sleep(Duration::from_millis(200));
        hosts = c.ask(ask::Hosts)?;
    }
    if json {
        print_json(&hosts)?;
        return Ok(exit::OK);
    }
    if hosts.is_empty() {
        outln!("No hosts. `paneherd hosts add NAME ssh://user@host` adds one.");
        return Ok(exit::OK);
    }
    let width = hosts.iter().map(|h| h.name.len()).max().unwrap_or(4).max(4);
    outln!(
        "{:width$}  {:11}  {:8}  {:>7}  {:>6}  {:>7}  SSH",
        "HOST",
        "STATE",
        "VERSION",
        "RUNNING",
        "QUEUED",
        "LATENCY"
    );
    for h in &hosts {
        let (state, version, latency) = match &h.link {
            Some(l) if l.reachable => (
                "reachable",
                l.version.clone().unwrap_or_default(),
                l.latency_ms.map(|ms| format!("{ms} ms")).unwrap_or_else(|| "-".into()),
            ),
            Some(_) => ("unreachable", "-".into(), "-".into()),
            None => ("connecting", "-".into(), "-".into()),
        };
        outln!(
            "{:width$}  {state:11}  {version:8}  {:>7}  {:>6}  {latency:>7}  {}",
            h.name,
            h.running,
            h.queued,
            h.ssh
        );
        if let Some(e) = h.link.as_ref().filter(|l| !l.reachable).and_then(|l| l.error.as_ref()) {
            outln!("{:width$}  {e}", "");
        }
        let ours = env!("CARGO_PKG_VERSION");
        if let Some(v) = h.link.as_ref().and_then(|l| l.version.as_ref()).filter(|v| *v != ours) {
            outln!(
                "{:width$}  paneherd {v} there, {ours} here: `paneherd hosts setup {}` installs this one",
                "",
                h.name
            );
        }
    }
    Ok(exit::OK)
}

/// `hosts add`: a `[hosts.NAME]` table written into the config file (made if need be), its
/// comments and order kept; refused when the name is taken or the result is not a valid config.
fn add(
    paths: &Paths,
    name: &str,
    ssh: &str,
    ssh_args: &[String],
    max_tasks: Option<u32>,
) -> CmdResult {
    if let Some(why) = crate::config::hosts::check(name, ssh) {
        return Err(usage(why));
    }
    let file = &paths.config;
    let before = match std::fs::read_to_string(file) {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(usage(format!("cannot read {}: {e}", file.display()))),
    };
    let mut doc: toml_edit::DocumentMut =
        before.parse().map_err(|e| usage(format!("{} is not valid TOML: {e}", file.display())))?;
    let hosts = doc
        .entry("hosts")
        .or_insert_with(|| {
            let mut t = toml_edit::Table::new();
            t.set_implicit(true);
            toml_edit::Item::Table(t)
        })
        .as_table_mut()
        .ok_or_else(|| usage(format!("{}: `hosts` is not a table", file.display())))?;
    if hosts.contains_key(name) {
        return Err(usage(format!(
            "there is a host {name:?} in {} already (edit it there)",
            file.display()
        )));
    }
    let mut t = toml_edit::Table::new();
    t.insert("ssh", toml_edit::value(ssh));
    if !ssh_args.is_empty() {
        let args: toml_edit::Array = ssh_args.iter().map(String::as_str).collect();
        t.insert("ssh_args", toml_edit::value(args));
    }
    if let Some(m) = max_tasks {
        t.insert("max_tasks", toml_edit::value(i64::from(m)));
    }
    hosts.insert(name, toml_edit::Item::Table(t));
    let after = doc.to_string();
    // The whole config checked as the daemon will read it, before it is written.
    Config::from_user_str(file, &after).map_err(|e| usage(format!("not added: {e}")))?;
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| usage(format!("cannot create {}: {e}", dir.display())))?;
    }
    write_atomically(file, after.as_bytes())
        .map_err(|e| usage(format!("cannot write {}: {e}", file.display())))?;
    outln!("added host {name} ({ssh}) to {}", file.display());
    outln!("next: `paneherd hosts setup {name}` checks it and installs paneherd there");
    Ok(exit::OK)
}

fn write_atomically(file: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = file.with_extension("toml.paneherd-tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, file)
}

/// What a host says of itself.
#[derive(Debug, Default)]
struct There {
    os: String,
    tmux: String,
    paneherd: String,
}

/// Asks the host what it is and has (one ssh session, over the link's connection if it is up).
fn ask_host(host: &Host, control: &Path) -> Result<There, Fail> {
    let script = "printf 'os=%s\\n' \"$(uname -sm)\"; printf 'tmux=%s\\n' \"$(tmux -V 2>/dev/null)\"; \
                  PATH=\"$HOME/.local/bin:$PATH\"; printf 'paneherd=%s\\n' \"$(paneherd-full --version 2>/dev/null | head -n 1)\"";
    let mut cmd = programs::ssh(host, control, SshRole::Shared, script);
    let out = programs::output(&mut cmd).map_err(|e| usage(e.to_string()))?;
    if !out.status.success() {
        let said = String::from_utf8_lossy(&out.stderr);
        let last = said.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").trim();
        return Err(Fail {
            code: exit::TASK_FAILED,
            message: format!("ssh {} failed ({}): {last}", host.ssh, out.status),
        });
    }
    let mut there = There::default();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        match line.split_once('=') {
            Some(("os", v)) => there.os = v.trim().to_string(),
            Some(("tmux", v)) => there.tmux = v.trim().to_string(),
            Some(("paneherd", v)) => there.paneherd = v.trim().to_string(),
            _ => {}
        }
    }
    Ok(there)
}

/// This machine as `uname -sm` says it.
fn here_os() -> String {
    let os = match std::env::consts::OS {
        "linux" => "Linux",
        "macos" => "Darwin",
        other => other,
    };
    format!("{os} {}", std::env::consts::ARCH)
}

/// Copies `file` to `~/.local/bin/NAME` there (through a temporary name, then renamed).
fn install_one(host: &Host, control: &Path, file: &Path, name: &str) -> Result<(), Fail> {
    let part = format!("\"$HOME/.local/bin/.{name}.part\"");
    let script = format!(
        "mkdir -p \"$HOME/.local/bin\" && cat > {part} && chmod 755 {part} && mv -f {part} \"$HOME/.local/bin/{name}\""
    );
    let input = std::fs::File::open(file)
        .map_err(|e| usage(format!("cannot read {}: {e}", file.display())))?;
    let mut cmd = programs::ssh(host, control, SshRole::Shared, &script);
    cmd.stdin(Stdio::from(input));
    let out = programs::output(&mut cmd).map_err(|e| usage(e.to_string()))?;
    if !out.status.success() {
        return Err(Fail {
            code: exit::TASK_FAILED,
            message: format!(
                "could not install {name} on {}: {}",
                host.name,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        });
    }
    Ok(())
}

/// Host `name` of the config in force.
fn host_named(paths: &Paths, name: &str) -> Result<Host, Fail> {
    let config = Config::load(&paths.config).map_err(|e| usage(format!("{e}")))?.config;
    let h = config.hosts.get(name);
    h.map(|h| h.to_host(name))
        .ok_or_else(|| usage(crate::config::hosts::unknown(name, &config.hosts)))
}

fn setup(paths: &Paths, name: &str) -> CmdResult {
    let host = host_named(paths, name)?;
    let control = host.control(&paths.runtime);
    let there = ask_host(&host, &control)?;
    outln!("{name}: ssh reaches {} ({})", host.ssh, there.os);
    match there.tmux.as_str() {
        "" => outln!("{name}: no tmux there (its tasks run headless)"),
        t => outln!("{name}: {t}"),
    }
    let ours = format!("paneherd {}", env!("CARGO_PKG_VERSION"));
    if there.paneherd == ours {
        outln!("{name}: {ours} is installed: ready (`paneherd run --host {name} …`)");
        return Ok(exit::OK);
    }
    let what =
        if there.paneherd.is_empty() { "no paneherd".to_string() } else { there.paneherd.clone() };
    if there.os != here_os() {
        return Err(Fail {
            code: exit::TASK_FAILED,
            message: format!(
                "{name} has {what} and is {} (this machine: {}), so this binary cannot run there: \
                 build paneherd there (`cargo install --path .` in its source) and put \
                 paneherd-full on its PATH or in ~/.local/bin",
                there.os,
                here_os()
            ),
        });
    }
    outln!("{name}: has {what}; installing {ours} in ~/.local/bin there");
    let full = crate::paths::full_exe();
    let mut programs = vec![(full.clone(), crate::paths::FULL_PROGRAM)];
    if let Some(pane) = crate::paths::pane_exe(&full) {
        programs.push((pane, crate::paths::PANE_PROGRAM));
    }
    let front = full.with_file_name("paneherd");
    if front.is_file() {
        programs.push((front, "paneherd"));
    }
    for (file, program) in programs {
        install_one(&host, &control, &file, program)?;
        outln!("  {program}");
    }
    let again = ask_host(&host, &control)?;
    if again.paneherd != ours {
        return Err(Fail {
            code: exit::TASK_FAILED,
            message: format!(
                "{name}: installed, but paneherd-full there says {:?}, not {ours:?}",
                again.paneherd
            ),
        });
    }
    outln!("{name}: {ours} is installed: ready (`paneherd run --host {name} …`)");
    Ok(exit::OK)
}

/// Runs `paneherd ARGS` on `host` (over its connection when it is up), on this terminal: for
/// what a host's task has there alone (its worktree, its log as it grows). Its exit code.
pub(super) fn forward(paths: &Paths, host: &str, args: &[&str]) -> CmdResult {
    there(paths, host, args, None)
}

/// The same, its standard output also kept (and still shown), for what it says.
pub(super) fn forward_keeping(
    paths: &Paths,
    host: &str,
    args: &[&str],
) -> Result<(i32, String), Fail> {
    let mut kept = String::new();
    let code = there(paths, host, args, Some(&mut kept))?;
    Ok((code, kept))
}

fn there(paths: &Paths, host: &str, args: &[&str], keep: Option<&mut String>) -> CmdResult {
    let host = host_named(paths, host)?;
    let control = host.control(&paths.runtime);
    let mut cmd =
        programs::ssh(&host, &control, SshRole::Shared, &programs::paneherd_there(&host, args));
    // Its output and answers straight to this terminal (kept too, when asked).
    cmd.stderr(Stdio::inherit());
    let status = match keep {
        None => {
            cmd.stdout(Stdio::inherit());
            programs::status(&mut cmd).map_err(|e| usage(e.to_string()))?
        }
        Some(kept) => {
            let out = programs::output(&mut cmd).map_err(|e| usage(e.to_string()))?;
            *kept = String::from_utf8_lossy(&out.stdout).into_owned();
            super::out::bytes(&out.stdout)?;
            out.status
        }
    };
    match status.code() {
        Some(255) => Err(Fail {
            code: exit::DAEMON,
            message: format!("ssh {} failed (`paneherd hosts` says how the host is)", host.ssh),
        }),
        Some(code) => Ok(code),
        None => Ok(exit::DAEMON),
    }
}

/// `dial`: standard input to the daemon (started if need be), its lines to standard output,
/// until either side ends. Nothing is read or changed on the way.
pub(super) async fn dial(paths: &Paths) -> CmdResult {
    let stream = Client::connect_stream(paths, true).await?;
    let (mut from, mut to) = stream.into_split();
    let up = async {
        let mut stdin = tokio::io::stdin();
        let r = tokio::io::copy(&mut stdin, &mut to).await;
        // The other side sees the end of what was sent.
        let _ = tokio::io::AsyncWriteExt::shutdown(&mut to).await;
        r
    };
    let down = async {
        let mut stdout = tokio::io::stdout();
        let r = tokio::io::copy(&mut from, &mut stdout).await;
        let _ = tokio::io::AsyncWriteExt::flush(&mut stdout).await;
        r
    };
    // Either end closing ends the bridge.
    tokio::select! {
        r = up => r.map(|_| ()),
        r = down => r.map(|_| ()),
    }
    .map_err(|e| Fail { code: exit::DAEMON, message: format!("dial: {e}") })?;
    Ok(exit::OK)
}
