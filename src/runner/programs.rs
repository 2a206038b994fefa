//! The helper programs paneherd runs besides tasks — git, tmux, a worktree's set-up command,
//! paneherd itself (its completer, `paneherd-full`, the daemon) — are all built here, one way:
//! by argv (never through a shell), with standard input closed (a helper never waits on the
//! user's terminal), and an error that names the program and, when it is missing, says so.
//! Tasks' own processes are started by `headless` and `pane`, from a [`super::Launch`].

use std::ffi::OsStr;
use std::process::{Command, Stdio};

/// A helper program that could not be run.
#[derive(Debug, thiserror::Error)]
#[error("cannot run {program}: {cause}{hint}")]
pub struct SpawnError {
    pub program: String,
    pub cause: std::io::Error,
    /// What to do about it, when it is known (the program is not installed).
    hint: &'static str,
}

impl SpawnError {
    pub fn new(program: &OsStr, cause: std::io::Error) -> SpawnError {
        let hint = if cause.kind() == std::io::ErrorKind::NotFound {
            " (is it installed and on PATH?)"
        } else {
            ""
        };
        SpawnError { program: program.to_string_lossy().into_owned(), cause, hint }
    }
}

/// `program` to be run with arguments added by the caller, its standard input closed.
pub fn command(program: impl AsRef<OsStr>) -> Command {
    let mut c = Command::new(program);
    c.stdin(Stdio::null());
    c
}

/// The same for the daemon's async code: killed if the caller stops waiting for it.
pub fn async_command(built: Command) -> tokio::process::Command {
    let mut c = tokio::process::Command::from(built);
    c.stdin(Stdio::null()).kill_on_drop(true);
    c
}

/// Runs `cmd` to its end and returns what it printed.
pub fn output(cmd: &mut Command) -> Result<std::process::Output, SpawnError> {
    cmd.output().map_err(|e| SpawnError::new(cmd.get_program(), e))
}

/// Runs `cmd` to its end and returns how it ended.
pub fn status(cmd: &mut Command) -> Result<std::process::ExitStatus, SpawnError> {
    cmd.status().map_err(|e| SpawnError::new(cmd.get_program(), e))
}

/// How an `ssh` to a host of `[hosts]` is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SshRole {
    /// The host's one long-lived connection: it opens the control socket others share.
    Master,
    /// A session over the master's connection (or its own, when there is none).
    Shared,
    /// The same on a terminal (`ssh -t`): what a user watches and types into.
    Terminal,
}

/// `ssh` to `host` running `remote` there (a command line for its login shell — built by the
/// caller from quoted parts), over the control socket `control`. The system's ssh, with the
/// user's config, keys, agent and `known_hosts`; never a password prompt (batch mode).
pub fn ssh(
    host: &crate::core::hosts::Host,
    control: &std::path::Path,
    role: SshRole,
    remote: &str,
) -> Command {
    let mut c = command("ssh");
    c.arg(if role == SshRole::Terminal { "-t" } else { "-T" });
    c.args(["-o", "BatchMode=yes", "-o", "ConnectTimeout=10"]);
    c.args(["-o", "ServerAliveInterval=15", "-o", "ServerAliveCountMax=3"]);
    match role {
        SshRole::Master => c.args(["-M", "-o", "ControlPersist=no"]),
        SshRole::Shared | SshRole::Terminal => c.args(["-o", "ControlMaster=no"]),
    };
    c.arg("-S").arg(control);
    c.args(&host.ssh_args);
    c.arg("--").arg(&host.ssh).arg(remote);
    c
}

/// `word` quoted for a host's POSIX shell (a word with a NUL, which no shell can take, as
/// nothing).
pub fn quote_there(word: &str) -> String {
    shlex::try_quote(word).map(|q| q.into_owned()).unwrap_or_default()
}

/// `paneherd-full ARGS` as a command line for a host's login shell: found on its `PATH` or in
/// `~/.local/bin` (where `hosts setup` installs it), with the host's data dir; every part
/// quoted for the shell there.
pub fn paneherd_there(host: &crate::core::hosts::Host, args: &[&str]) -> String {
    let quote = quote_there;
    let mut line = String::from("PATH=\"$HOME/.local/bin:$PATH\" ");
    if let Some(d) = &host.data_dir {
        line.push_str(&format!("PANEHERD_DATA_DIR={} ", quote(d)));
    }
    line.push_str("exec paneherd-full");
    for a in args {
        line.push(' ');
        line.push_str(&quote(a));
    }
    line
}

/// `program` run on this terminal (standard input too): what the user watches or answers.
pub fn interactive(program: impl AsRef<OsStr>) -> Command {
    Command::new(program)
}

/// Becomes `program` with `args`, named `arg0` (the process image is replaced, the terminal
/// kept); returns only if it could not.
pub fn become_program(
    program: &std::path::Path,
    arg0: &str,
    args: impl IntoIterator<Item = impl AsRef<OsStr>>,
) -> SpawnError {
    use std::os::unix::process::CommandExt;
    let e = Command::new(program).arg0(arg0).args(args).exec();
    SpawnError::new(program.as_os_str(), e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_program_is_named_with_what_to_do_and_input_is_closed() {
        let e = output(&mut command("paneherd-no-such-program")).unwrap_err();
        assert_eq!(e.program, "paneherd-no-such-program");
        assert!(e.to_string().contains("is it installed and on PATH?"), "{e}");
        // `cat` with a closed stdin ends at once with nothing.
        let o = output(&mut command("cat")).unwrap();
        assert!(o.status.success() && o.stdout.is_empty());
    }
}
