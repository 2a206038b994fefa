//! `paneherd mcp` driven by the official MCP Python SDK (`mcp`, pinned in `.ci/tools`): an
//! implementation nobody at paneherd wrote, which an rmcp client against an rmcp server could
//! not stand in for. Both of its handshakes: the legacy `initialize` (2025-11-25) and the newest
//! `server/discover` negotiation (2026-07-28). The checks are in `tests/python/mcp_sdk_check.py`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::Command;

use common::{BIN, Env, ci_tools, config_with};

fn sdk_check(mode: &str) {
    let env = Env::new(&config_with(""));
    let python = ci_tools().join("py/bin/python");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/mcp_sdk_check.py");
    let mut cmd = Command::new(&python);
    cmd.arg(&script).arg(mode).arg(BIN);
    env.apply(&mut cmd);
    let out = cmd.output().unwrap();
    let text =
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "the Python SDK's view ({mode}):\n{text}");
    assert!(text.contains("all checks passed"), "{text}");
    env.stop_daemon();
}

#[test]
fn the_python_sdk_with_the_legacy_initialize_handshake() {
    sdk_check("legacy");
}

#[test]
fn the_python_sdk_with_the_newest_negotiation() {
    sdk_check("modern");
}
