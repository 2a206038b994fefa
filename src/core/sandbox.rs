//! A task's sandbox: what its agent may see and write (its directory, its own state dirs, what
//! `[sandbox] read_write` adds; nothing of `hide`), whether it has a network, and how that
//! becomes a bubblewrap command line around the agent's — pure, so it is tested without bwrap.

use std::path::{Path, PathBuf};

use super::launch::{ConfineError, Launch};

/// What one sandboxed task may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sandbox {
    /// Its network: `false` leaves it loopback only, in a namespace of its own.
    pub network: bool,
    /// Writable for it (its directory first); the rest of the filesystem is read-only.
    pub writable: Vec<PathBuf>,
    /// Replaced by empty directories: not visible at all.
    pub hidden: Vec<PathBuf>,
    /// The daemon's socket, reachable inside (the agent's hooks and `paneherd signal`).
    pub socket: PathBuf,
    /// The home directory, seen read-only even where `/tmp` is private (a home under it).
    pub home: Option<PathBuf>,
}

/// Why a sandbox's name is not one paneherd makes (`None`: `bwrap` or `none`).
pub fn refuse_kind(kind: &str) -> Option<String> {
    match kind {
        "bwrap" | "none" => None,
        k if k.starts_with("podman:") || k.starts_with("docker:") => Some(format!(
            "sandbox {k:?}: containers are not supported yet; use \"bwrap\" (bubblewrap) or \"none\""
        )),
        k => Some(format!("unknown sandbox {k:?} (allowed: \"bwrap\", \"none\")")),
    }
}

/// `~` and `~/…` as the home directory `home`; other paths as they are.
pub fn expand_home(path: &str, home: Option<&Path>) -> Option<PathBuf> {
    match (path.strip_prefix('~'), home) {
        (Some(""), Some(h)) => Some(h.to_path_buf()),
        (Some(rest), Some(h)) if rest.starts_with('/') => Some(h.join(&rest[1..])),
        (Some(_), _) => None,
        (None, _) => Some(PathBuf::from(path)),
    }
}

/// `launch` run inside bubblewrap (`bwrap` found at `bwrap`): the whole filesystem read-only,
/// `/dev` and `/proc` its own, a private `/tmp`, the writable paths bound back writable (those
/// that exist), the hidden ones replaced by empty directories, a PID namespace of its own, no
/// network unless allowed, and it dies with its parent.
pub fn wrap(launch: Launch, sandbox: &Sandbox, bwrap: &Path) -> Result<Launch, ConfineError> {
    let fail = |why: String| ConfineError { kind: "bwrap", why };
    if !launch.cwd.is_absolute() {
        return Err(fail(format!("its directory {} is not absolute", launch.cwd.display())));
    }
    let mut argv: Vec<String> = vec!["bwrap".into()];
    let mut add = |words: &[&str]| argv.extend(words.iter().map(|w| w.to_string()));
    add(&["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"]);
    // No `--new-session`: it would take the agent's controlling terminal (its pane's, a pty
    // of paneherd's own wrapper, not the user's), and with it job control and needs-input.
    add(&["--unshare-pid", "--die-with-parent"]);
    if !sandbox.network {
        add(&["--unshare-net"]);
    }
    if let Some(h) = &sandbox.home {
        let h = h.to_string_lossy();
        add(&["--ro-bind-try", &h, &h]);
    }
    for w in &sandbox.writable {
        let w = w.to_string_lossy();
        // Missing ones would make bwrap fail: `--bind-try` leaves them out.
        add(&["--bind-try", &w, &w]);
    }
    for h in &sandbox.hidden {
        let h = h.to_string_lossy();
        if !sandbox.writable.iter().any(|w| w.as_os_str() == h.as_ref()) {
            add(&["--tmpfs", &h]);
        }
    }
    // The daemon's socket, after the private /tmp (it may be under it).
    let socket = sandbox.socket.to_string_lossy();
    add(&["--bind-try", &socket, &socket]);
    add(&["--chdir", &launch.cwd.to_string_lossy(), "--"]);
    // The agent's own program, as found on its PATH (not searched again inside).
    let mut inner = launch.argv.clone();
    match inner.first_mut() {
        Some(first) => *first = launch.program.to_string_lossy().into_owned(),
        None => return Err(fail("the agent's command is empty".into())),
    }
    argv.extend(inner);
    Ok(Launch { program: bwrap.to_path_buf(), argv, ..launch })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn launch() -> Launch {
        Launch {
            task_id: "t".into(),
            program: "/usr/bin/claude".into(),
            argv: vec!["claude".into(), "-p".into(), "--flag-like prompt".into()],
            base_env: None,
            env: vec![],
            cwd: "/work/repo".into(),
            log_path: "/data/t.log".into(),
            stdin: None,
        }
    }

    #[test]
    fn the_agent_runs_inside_bwrap_with_its_directory_writable_and_the_rest_read_only() {
        let s = Sandbox {
            network: false,
            writable: vec!["/work/repo".into(), "/home/me/.claude".into()],
            hidden: vec!["/home/me/.ssh".into()],
            socket: "/tmp/paneherd-0/daemon.sock".into(),
            home: Some("/home/me".into()),
        };
        let l = wrap(launch(), &s, Path::new("/usr/bin/bwrap")).unwrap();
        assert_eq!(l.program, Path::new("/usr/bin/bwrap"));
        let a = l.argv.join(" ");
        assert!(a.starts_with("bwrap --ro-bind / / --dev /dev --proc /proc --tmpfs /tmp"), "{a}");
        assert!(a.contains("--unshare-pid --die-with-parent --unshare-net"), "{a}");
        // The home read-only, then what is writable in it, then what is hidden.
        assert!(a.contains("--ro-bind-try /home/me /home/me --bind-try /work/repo /work/repo --bind-try /home/me/.claude"), "{a}");
        assert!(a.contains("--tmpfs /home/me/.ssh"), "{a}");
        // The socket after /tmp is made private; the agent's argv whole, after `--`.
        let sock = a.find("--bind-try /tmp/paneherd-0/daemon.sock").unwrap();
        assert!(sock > a.find("--tmpfs /tmp").unwrap());
        assert!(a.ends_with("--chdir /work/repo -- /usr/bin/claude -p --flag-like prompt"), "{a}");
        assert_eq!(l.argv.last().unwrap(), "--flag-like prompt", "the prompt is one argument");
        // With its network.
        let open = wrap(launch(), &Sandbox { network: true, ..s }, Path::new("bwrap")).unwrap();
        assert!(!open.argv.iter().any(|a| a == "--unshare-net"));
    }

    #[test]
    fn home_is_expanded_only_when_known() {
        let h = Some(Path::new("/home/me"));
        assert_eq!(expand_home("~", h), Some("/home/me".into()));
        assert_eq!(expand_home("~/.ssh", h), Some("/home/me/.ssh".into()));
        assert_eq!(expand_home("/etc", None), Some("/etc".into()));
        assert_eq!(expand_home("~/.ssh", None), None);
        assert_eq!(expand_home("~bob/x", h), None, "another user's home is not guessed");
    }
}
