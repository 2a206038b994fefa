//! `paneherd sandbox check`: whether bubblewrap is here and makes each part of a task's
//! sandbox — a private view of the filesystem with its own PID namespace, and no network —
//! and whether podman's and docker's services answer, tried for real, with what to do when
//! one does not work.

use super::exit;
use super::out::{CmdResult, Fail, usage};
use crate::config::Config;
use crate::core::sandbox::ContainerEngine;
use crate::paths::Paths;
use crate::runner::programs;

pub(super) fn check(paths: &Paths) -> CmdResult {
    let config = Config::load(&paths.config).map_err(|e| usage(format!("{e}")))?.config;
    let bwrap = bwrap(&config.sandbox.bwrap)?;
    let containers = containers()?;
    Ok(if bwrap || containers { exit::OK } else { exit::TASK_FAILED })
}

/// Whether bubblewrap makes every part of a sandbox here (said as it is tried).
fn bwrap(name: &str) -> Result<bool, Fail> {
    let Ok(bwrap) = which::which(name) else {
        outln!("bwrap ({name}): not found — install bubblewrap (Debian: `apt install bubblewrap`)");
        outln!(
            "  until then a task asking for `--sandbox bwrap` ends in error (it never runs without)"
        );
        return Ok(false);
    };
    let version = programs::output(programs::command(&bwrap).arg("--version"))
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    outln!("bwrap: {} ({version})", bwrap.display());
    let base = ["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"];
    let parts: [(&str, &[&str]); 2] = [
        (
            "read-only filesystem, private /tmp, own PID namespace",
            &["--unshare-pid", "--die-with-parent"],
        ),
        ("no network (network = false)", &["--unshare-pid", "--unshare-net"]),
    ];
    let mut all = true;
    for (what, extra) in parts {
        let mut cmd = programs::command(&bwrap);
        cmd.args(base).args(extra).args(["--", "true"]);
        match programs::output(&mut cmd) {
            Ok(o) if o.status.success() => outln!("  works: {what}"),
            Ok(o) => {
                all = false;
                let said = String::from_utf8_lossy(&o.stderr);
                outln!("  FAILS: {what}: {}", said.trim());
                outln!(
                    "         (user namespaces may be off: `sysctl kernel.unprivileged_userns_clone` \
                     or the container's settings)"
                );
            }
            Err(e) => {
                all = false;
                outln!("  FAILS: {what}: {e}");
            }
        }
    }
    Ok(all)
}

/// Whether a container engine's service answers here (`podman:IMAGE`, `docker:IMAGE`).
fn containers() -> Result<bool, Fail> {
    let mut any = false;
    for engine in [ContainerEngine::Podman, ContainerEngine::Docker] {
        let name = engine.program();
        let Ok(program) = which::which(name) else {
            outln!("{name}: not found (`--sandbox {name}:IMAGE` needs it)");
            continue;
        };
        let mut cmd = programs::command(&program);
        cmd.args(["info", "--format", "{{json .}}"]);
        match programs::output(&mut cmd) {
            Ok(o) if o.status.success() => {
                any = true;
                outln!(
                    "{name}: {} — works: containers (`--sandbox {name}:IMAGE`, the image pulled first)",
                    program.display()
                );
            }
            Ok(o) => {
                let said = String::from_utf8_lossy(&o.stderr);
                let last = said.lines().rev().map(str::trim).find(|l| !l.is_empty());
                outln!("{name}: {} — FAILS: {}", program.display(), last.unwrap_or("no word why"));
                outln!("  (its service running? inside a container, {name} may not run at all)");
            }
            Err(e) => outln!("{name}: {} — FAILS: {e}", program.display()),
        }
    }
    Ok(any)
}
