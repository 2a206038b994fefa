//! A task's sandbox: what its agent may see and write (its directory, its own state dirs, what
//! `[sandbox] read_write` adds; nothing of `hide`), whether it has a network, and how that
//! becomes a bubblewrap or container (podman, docker) command line around the agent's — pure,
//! so it is tested without either.

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
    /// Seen read-only although under the private `/tmp`: where the agent's program and
    /// paneherd's own are installed, when that is there ([`under_tmp`]).
    pub readable: Vec<PathBuf>,
}

/// The directory right under `/tmp` that holds `path`, when it is there: hidden by a
/// sandbox's private `/tmp`, it is bound back read-only for a program that lives in it.
pub fn under_tmp(path: &Path) -> Option<PathBuf> {
    let mut parts = path.strip_prefix("/tmp").ok()?.components();
    match parts.next()? {
        std::path::Component::Normal(top) => Some(Path::new("/tmp").join(top)),
        _ => None,
    }
}

/// The kinds of sandbox paneherd makes, as named in the config and `run --sandbox`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// `none`.
    None,
    /// `bwrap`: bubblewrap.
    Bwrap,
    /// `podman:IMAGE`, `docker:IMAGE`: a container of that image.
    Container { engine: ContainerEngine, image: String },
}

/// The container engines paneherd runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerEngine {
    Podman,
    Docker,
}

impl ContainerEngine {
    /// Its program (found on the daemon's `PATH`).
    pub fn program(self) -> &'static str {
        match self {
            ContainerEngine::Podman => "podman",
            ContainerEngine::Docker => "docker",
        }
    }
}

/// Why a sandbox's name is not one paneherd makes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KindError {
    #[error("sandbox {0:?} names no image (write it `podman:IMAGE` or `docker:IMAGE`)")]
    NoImage(String),
    #[error(
        "unknown sandbox {0:?} (allowed: \"bwrap\", \"podman:IMAGE\", \"docker:IMAGE\", \"none\")"
    )]
    Unknown(String),
}

impl std::str::FromStr for Kind {
    type Err = KindError;

    fn from_str(s: &str) -> Result<Kind, KindError> {
        let container = |engine, image: &str| {
            // An image is one word: no option, no space (`docker run IMAGE` reads it so).
            let fine = !image.is_empty()
                && !image.starts_with('-')
                && !image.chars().any(|c| c.is_whitespace() || c.is_control());
            match fine {
                true => Ok(Kind::Container { engine, image: image.to_string() }),
                false => Err(KindError::NoImage(s.to_string())),
            }
        };
        match s {
            "none" => Ok(Kind::None),
            "bwrap" => Ok(Kind::Bwrap),
            _ => match (s.strip_prefix("podman:"), s.strip_prefix("docker:")) {
                (Some(image), _) => container(ContainerEngine::Podman, image),
                (_, Some(image)) => container(ContainerEngine::Docker, image),
                _ => Err(KindError::Unknown(s.to_string())),
            },
        }
    }
}

/// Why a sandbox's name is not one paneherd makes (`None`: it is one).
pub fn refuse_kind(kind: &str) -> Option<String> {
    kind.parse::<Kind>().err().map(|e| e.to_string())
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
    for r in &sandbox.readable {
        let r = r.to_string_lossy();
        add(&["--ro-bind-try", &r, &r]);
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
    // Files it must write (made before it starts), and the daemon's socket: after the
    // private /tmp (they may be under it).
    for f in &launch.touch {
        let f = f.to_string_lossy();
        add(&["--bind-try", &f, &f]);
    }
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

/// How a container is run for one task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Container<'a> {
    pub engine: ContainerEngine,
    /// The engine's program, as found.
    pub program: &'a Path,
    pub image: &'a str,
    /// Its standard input is a terminal (a pane's): `-t`, so the agent has one too.
    pub tty: bool,
    /// The user and group it runs as (docker; rootless podman keeps the user's id).
    pub user: (u32, u32),
    /// paneherd's own program, mounted read-only so the agent's hooks can run it.
    pub paneherd: &'a Path,
}

/// `launch` run in a container of `c.image`, removed when it ends: its directory, the
/// writable paths and the files it must write mounted at the same paths (nothing else of this
/// machine's filesystem is there), the daemon's socket and paneherd's program too, its
/// environment's additions passed by name (their values never on a command line), no network
/// unless allowed. The agent's program is the image's, found on the image's `PATH`.
pub fn contain(launch: Launch, sandbox: &Sandbox, c: &Container) -> Result<Launch, ConfineError> {
    let kind = c.engine.program();
    let fail = |why: String| ConfineError { kind, why };
    if !launch.cwd.is_absolute() {
        return Err(fail(format!("its directory {} is not absolute", launch.cwd.display())));
    }
    let mut argv: Vec<String> = [kind, "run", "--rm", "-i", "--init", "--pull=never"]
        .iter()
        .map(|w| w.to_string())
        .collect();
    if c.tty {
        argv.push("-t".into());
    }
    argv.extend(["--name".into(), format!("paneherd-{}", launch.task_id)]);
    match c.engine {
        ContainerEngine::Docker => {
            argv.extend(["--user".into(), format!("{}:{}", c.user.0, c.user.1)])
        }
        ContainerEngine::Podman => argv.push("--userns=keep-id".into()),
    }
    if !sandbox.network {
        argv.extend(["--network".into(), "none".into()]);
    }
    let mut mount = |path: &Path, read_only: bool| -> Result<(), ConfineError> {
        let p = path.to_string_lossy();
        // `--mount` is a comma-separated list: a path with a comma or quote would be misread.
        if p.contains([',', '"', '\n']) {
            return Err(fail(format!("cannot mount {p}: its name has a comma, quote or newline")));
        }
        let ro = if read_only { ",readonly" } else { "" };
        argv.extend(["--mount".into(), format!("type=bind,source={p},target={p}{ro}")]);
        Ok(())
    };
    for w in &sandbox.writable {
        mount(w, false)?;
    }
    for f in &launch.touch {
        mount(f, false)?;
    }
    mount(&sandbox.socket, false)?;
    mount(c.paneherd, true)?;
    argv.extend(["-w".into(), launch.cwd.to_string_lossy().into_owned()]);
    // By name: the engine takes each value from its own environment (the task's).
    let mut names: Vec<&str> = vec![];
    for n in launch.env.iter().map(|(k, _)| k.as_str()).chain(["HOME", "TERM", "LANG", "LC_ALL"]) {
        if !names.contains(&n) {
            names.push(n);
        }
    }
    for n in names {
        argv.extend(["-e".into(), n.to_string()]);
    }
    argv.extend(["--".into(), c.image.to_string()]);
    if launch.argv.is_empty() {
        return Err(fail("the agent's command is empty".into()));
    }
    argv.extend(launch.argv.iter().cloned());
    Ok(Launch { program: c.program.to_path_buf(), argv, ..launch })
}

/// What a container's engine said when it could not make the container (it exits 125 then,
/// before the agent runs): its last line, for the task's reason.
pub fn engine_failure(engine: ContainerEngine, code: Option<i32>, output: &str) -> Option<String> {
    if code != Some(125) {
        return None;
    }
    let program = engine.program();
    // Its own error line (`docker: …`, `Error: …`), not the "see --help" after it.
    let mut lines = output.lines().rev().map(str::trim).filter(|l| !l.is_empty());
    let own = |l: &&str| l.starts_with(&format!("{program}:")) || l.starts_with("Error");
    let said = lines.clone().find(own).or_else(|| lines.next()).unwrap_or("no word why");
    Some(format!(
        "its container could not be made: {said} — `paneherd sandbox check` says what works here \
         (the {program} service running? the image pulled: `{program} pull IMAGE`?); it was not \
         run without one"
    ))
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
            touch: vec![],
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
            readable: vec!["/tmp/tools".into()],
        };
        let l = wrap(launch(), &s, Path::new("/usr/bin/bwrap")).unwrap();
        assert_eq!(l.program, Path::new("/usr/bin/bwrap"));
        let a = l.argv.join(" ");
        assert!(a.starts_with("bwrap --ro-bind / / --dev /dev --proc /proc --tmpfs /tmp"), "{a}");
        assert!(a.contains("--unshare-pid --die-with-parent --unshare-net"), "{a}");
        // The home read-only, then what is writable in it, then what is hidden.
        assert!(a.contains("--ro-bind-try /home/me /home/me --ro-bind-try /tmp/tools /tmp/tools --bind-try /work/repo /work/repo --bind-try /home/me/.claude"), "{a}");
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
    fn a_container_mounts_what_it_may_write_and_passes_its_environment_by_name() {
        let s = Sandbox {
            network: false,
            writable: vec!["/work/repo".into(), "/home/me/.codex".into()],
            hidden: vec!["/home/me/.ssh".into()],
            socket: "/run/user/1000/paneherd/daemon.sock".into(),
            home: Some("/home/me".into()),
            readable: vec![],
        };
        let mut l = launch();
        l.env = vec![("PANEHERD_TASK_TOKEN".into(), "s3cret".into()), ("HOME".into(), "/h".into())];
        l.touch = vec!["/data/logs/t.answer".into()];
        let c = Container {
            engine: ContainerEngine::Docker,
            program: Path::new("/usr/bin/docker"),
            image: "alpine:3",
            tty: true,
            user: (1000, 100),
            paneherd: Path::new("/usr/bin/paneherd"),
        };
        let out = contain(l, &s, &c).unwrap();
        assert_eq!(out.program, Path::new("/usr/bin/docker"));
        let a = out.argv.join(" ");
        assert!(a.starts_with("docker run --rm -i --init --pull=never -t --name paneherd-t --user 1000:100 --network none"), "{a}");
        for m in [
            "type=bind,source=/work/repo,target=/work/repo",
            "type=bind,source=/home/me/.codex,target=/home/me/.codex",
            "type=bind,source=/data/logs/t.answer,target=/data/logs/t.answer",
            "type=bind,source=/run/user/1000/paneherd/daemon.sock,target=/run/user/1000/paneherd/daemon.sock",
            "type=bind,source=/usr/bin/paneherd,target=/usr/bin/paneherd,readonly",
        ] {
            assert!(a.contains(&format!("--mount {m} ")), "{m}: {a}");
        }
        assert!(!a.contains(".ssh"), "nothing else of the machine is there: {a}");
        assert!(!a.contains("s3cret"), "values never on its command line: {a}");
        assert!(
            a.contains("-e PANEHERD_TASK_TOKEN -e HOME -e TERM -e LANG -e LC_ALL -- alpine:3"),
            "{a}"
        );
        // Its own program, the image's: the name, not this machine's path.
        assert!(a.ends_with("-w /work/repo -e PANEHERD_TASK_TOKEN -e HOME -e TERM -e LANG -e LC_ALL -- alpine:3 claude -p --flag-like prompt"), "{a}");
        // Podman keeps the user's id its own way; with a network, none is unshared.
        let p = Container { engine: ContainerEngine::Podman, tty: false, ..c };
        let out = contain(launch(), &Sandbox { network: true, ..s.clone() }, &p).unwrap();
        let a = out.argv.join(" ");
        assert!(
            a.starts_with(
                "podman run --rm -i --init --pull=never --name paneherd-t --userns=keep-id --mount"
            ),
            "{a}"
        );
        // A path a mount option would misread is refused, not mangled.
        let odd = Sandbox { writable: vec!["/work/a,b".into()], ..s };
        assert!(contain(launch(), &odd, &c).unwrap_err().why.contains("comma"));
    }

    #[test]
    fn sandbox_kinds_and_what_a_container_engine_said() {
        assert_eq!("bwrap".parse(), Ok(Kind::Bwrap));
        assert_eq!("none".parse(), Ok(Kind::None));
        assert_eq!(
            "docker:ghcr.io/me/agent:1".parse(),
            Ok(Kind::Container {
                engine: ContainerEngine::Docker,
                image: "ghcr.io/me/agent:1".into()
            })
        );
        assert_eq!("podman:".parse::<Kind>(), Err(KindError::NoImage("podman:".into())));
        assert_eq!(
            "podman:--privileged".parse::<Kind>(),
            Err(KindError::NoImage("podman:--privileged".into()))
        );
        assert_eq!("podman:a b".parse::<Kind>(), Err(KindError::NoImage("podman:a b".into())));
        assert!(matches!("firejail".parse::<Kind>(), Err(KindError::Unknown(_))));
        let said = "\nUnable to find image 'x:1' locally\ndocker: Error response from daemon: No such image: x:1\n\nRun 'docker run --help' for more information\n";
        let why = engine_failure(ContainerEngine::Docker, Some(125), said).unwrap();
        assert!(why.starts_with("its container could not be made: docker: Error response from daemon: No such image: x:1 — "), "{why}");
        assert!(why.contains("not run without one"));
        assert_eq!(
            engine_failure(ContainerEngine::Docker, Some(1), said),
            None,
            "the agent's own failure"
        );
    }

    #[test]
    fn a_program_under_tmp_keeps_its_install_dir_visible() {
        let p = Path::new("/tmp/ci/target/ci-tools/agents/bin/codex");
        assert_eq!(under_tmp(p), Some("/tmp/ci".into()));
        assert_eq!(under_tmp(Path::new("/usr/bin/claude")), None);
        assert_eq!(under_tmp(Path::new("/tmpx/a")), None);
        assert_eq!(under_tmp(Path::new("/tmp")), None);
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
