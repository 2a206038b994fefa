//! Where paneherd keeps things: config file, data dir, runtime dir (socket), logs.

use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// The paths in use, resolved once from the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    pub config: PathBuf,
    pub data: PathBuf,
    pub runtime: PathBuf,
}

/// The whole program's name (`paneherd-full`), beside the small `paneherd` that becomes it for
/// the commands it does not answer itself.
pub const FULL_PROGRAM: &str = "paneherd-full";
/// The pane wrapper's small program, beside the others.
pub const PANE_PROGRAM: &str = "paneherd-pane";

/// `paneherd-full` beside the running program.
pub fn full_exe() -> PathBuf {
    let me = std::env::current_exe().unwrap_or_else(|_| "paneherd".into());
    me.with_file_name(FULL_PROGRAM)
}

/// The program users run (`paneherd`), beside the running one: what printed commands and
/// installed entries name.
pub fn front_exe() -> PathBuf {
    let me = std::env::current_exe().unwrap_or_else(|_| "paneherd".into());
    let front = me.with_file_name("paneherd");
    if front.exists() { front } else { me }
}

/// The program the daemon's internal commands run (tmux's hooks, the pane fallback): the whole
/// program, directly (the small `paneherd` would only exec it).
pub fn internal_exe() -> PathBuf {
    std::env::current_exe().unwrap_or_else(|_| full_exe())
}

/// The pane wrapper beside `exe`, when it is installed there.
pub fn pane_exe(exe: &Path) -> Option<PathBuf> {
    Some(exe.with_file_name(PANE_PROGRAM)).filter(|p| p.is_file())
}

fn env_path(name: &str) -> Option<PathBuf> {
    std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from)
}

impl Paths {
    /// `$PANEHERD_CONFIG` / `$PANEHERD_DATA_DIR` / `$PANEHERD_RUNTIME_DIR`, else the XDG places.
    /// With no `PANEHERD_RUNTIME_DIR`, the runtime dir is where the data dir's live daemon
    /// listens (its lock file says), so that a client started with a trimmed environment (an
    /// MCP host's) finds the same daemon as the user's shell; else `$XDG_RUNTIME_DIR/paneherd`,
    /// else `/run/user/$UID/paneherd` when that is the user's own, else `/tmp/paneherd-$UID`.
    pub fn from_env() -> Paths {
        let dirs = directories::ProjectDirs::from("", "", "paneherd");
        let uid = nix::unistd::getuid();
        let tmp = PathBuf::from(format!("/tmp/paneherd-{uid}"));
        let config = env_path("PANEHERD_CONFIG").unwrap_or_else(|| match &dirs {
            Some(d) => d.config_dir().join("config.toml"),
            None => tmp.join("config.toml"),
        });
        let data = env_path("PANEHERD_DATA_DIR").unwrap_or_else(|| match &dirs {
            Some(d) => d.data_dir().to_path_buf(),
            None => tmp.join("data"),
        });
        let runtime = env_path("PANEHERD_RUNTIME_DIR")
            .or_else(|| recorded_runtime(&data))
            .or_else(|| env_path("XDG_RUNTIME_DIR").map(|d| d.join("paneherd")))
            .or_else(|| user_run_dir(uid.as_raw()).map(|d| d.join("paneherd")))
            .unwrap_or(tmp);
        Paths { config, data, runtime }
    }

    pub fn socket(&self) -> PathBuf {
        self.runtime.join("daemon.sock")
    }
    /// Taken by a client while it starts a daemon, so that two clients start only one.
    pub fn start_lock(&self) -> PathBuf {
        self.runtime.join("start.lock")
    }
    /// Held by the running daemon for its whole life: one daemon per data dir. It holds the
    /// daemon's pid.
    pub fn daemon_lock(&self) -> PathBuf {
        self.data.join("daemon.lock")
    }
    /// The runtime dir of the data dir's last daemon, where clients find its socket.
    pub fn daemon_runtime(&self) -> PathBuf {
        self.data.join("daemon.runtime")
    }
    pub fn tasks_dir(&self) -> PathBuf {
        self.data.join("tasks")
    }
    pub fn log_dir(&self) -> PathBuf {
        self.data.join("logs")
    }
    /// Layout presets of the user.
    pub fn config_dir(&self) -> PathBuf {
        self.config.parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("."))
    }

    /// Creates the runtime dir (0700) if needed and refuses one that others could write to or
    /// that belongs to another user: a socket there could be swapped for someone else's.
    pub fn secure_runtime_dir(&self) -> Result<()> {
        let dir = &self.runtime;
        if !dir.exists() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .with_context(|| format!("cannot create runtime dir {}", dir.display()))?;
        }
        check_private(dir, Kind::Dir)?;
        Ok(())
    }

    /// Before a client sends anything: the runtime dir and the socket in it must be the user's
    /// own, with no access for group or others — else the socket may be another user's, who
    /// would receive the prompts and the environment sent. `Ok(false)`: there is no socket.
    pub fn check_socket(&self) -> Result<bool> {
        match std::fs::symlink_metadata(&self.runtime) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            _ => check_private(&self.runtime, Kind::Dir)?,
        }
        let sock = self.socket();
        match std::fs::symlink_metadata(&sock) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            _ => check_private(&sock, Kind::Socket).map(|()| true),
        }
    }
}

/// What a private path must be.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Dir,
    Socket,
}

/// Refuses `path` unless it is a `kind` of the user's own that group and others cannot use.
fn check_private(path: &Path, kind: Kind) -> Result<()> {
    use std::os::unix::fs::FileTypeExt;
    let what = if kind == Kind::Dir { "runtime dir" } else { "socket" };
    let meta = std::fs::symlink_metadata(path)
        .with_context(|| format!("cannot inspect the {what} {}", path.display()))?;
    let right_type = match kind {
        Kind::Dir => meta.is_dir(),
        Kind::Socket => meta.file_type().is_socket(),
    };
    let fix = format!(
        "remove it (`rm -r {}`) if you did not make it, or set PANEHERD_RUNTIME_DIR to a private \
         directory",
        path.display()
    );
    if !right_type {
        let is = if meta.file_type().is_symlink() { "a symbolic link" } else { "something else" };
        bail!(
            "refusing the {what} {}: it is {is}, not a {}; {fix}",
            path.display(),
            kind_name(kind)
        );
    }
    let uid = nix::unistd::getuid().as_raw();
    if meta.uid() != uid {
        bail!(
            "refusing the {what} {}: it belongs to uid {}, not to you (uid {uid}), so a daemon \
             there would be another user's and would receive what you send; {fix}",
            path.display(),
            meta.uid()
        );
    }
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        bail!(
            "refusing the {what} {}: its mode is {mode:03o}, so other users could use or replace \
             it; run `chmod 700 {}` (or remove it), or set PANEHERD_RUNTIME_DIR to a private \
             directory",
            path.display(),
            path.display()
        );
    }
    Ok(())
}

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Dir => "directory",
        Kind::Socket => "socket",
    }
}

/// The runtime dir that the data dir's daemon recorded (`daemon.runtime`), while its socket is
/// there (the record is in the user's private data dir: only the user writes it).
fn recorded_runtime(data: &Path) -> Option<PathBuf> {
    let text = std::fs::read_to_string(data.join("daemon.runtime")).ok()?;
    let dir = PathBuf::from(text.trim());
    (dir.is_absolute() && dir.join("daemon.sock").exists()).then_some(dir)
}

/// `/run/user/$UID`, when it is there and the user's own (0700).
fn user_run_dir(uid: u32) -> Option<PathBuf> {
    let dir = PathBuf::from(format!("/run/user/{uid}"));
    let meta = std::fs::symlink_metadata(&dir).ok()?;
    (meta.is_dir() && meta.uid() == uid && meta.permissions().mode() & 0o077 == 0).then_some(dir)
}

/// This process's environment as a client sends it with a task (the task runs in it). A
/// variable whose name or value is not UTF-8 cannot travel as JSON and is left out.
pub fn client_env<C: FromIterator<(String, String)>>() -> C {
    std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect()
}

/// Creates `dir` and its missing parents 0700 (a data dir holds prompts and results).
pub fn private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)
}

/// Opens `path` for appending, creating it 0600 (a task's log, the daemon's log).
pub fn append_private(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new().create(true).append(true).mode(0o600).open(path)
}

/// Makes the data dir private again where it is not (a data dir of an older paneherd was
/// made 0755, its files 0644): the dir and what paneherd keeps in it, `tasks/` and `logs/`,
/// become 0700, their files 0600. Returns how many modes changed.
pub fn tighten_data_dir(data: &Path) -> std::io::Result<usize> {
    let mut changed = 0;
    let mut fix = |path: &Path, mode: u32| -> std::io::Result<()> {
        let meta = std::fs::symlink_metadata(path)?;
        if meta.file_type().is_symlink() || meta.uid() != nix::unistd::getuid().as_raw() {
            return Ok(());
        }
        if meta.permissions().mode() & 0o077 != 0 {
            let keep = meta.permissions().mode() & 0o700;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(keep | (mode & 0o700)))?;
            changed += 1;
        }
        Ok(())
    };
    fix(data, 0o700)?;
    for entry in std::fs::read_dir(data)? {
        let entry = entry?;
        let path = entry.path();
        let is_dir = entry.file_type()?.is_dir();
        let ours = ["tasks", "logs"].iter().any(|n| entry.file_name() == *n);
        if is_dir && !ours {
            continue;
        }
        fix(&path, if is_dir { 0o700 } else { 0o600 })?;
        if is_dir {
            for inner in std::fs::read_dir(&path)? {
                let inner = inner?;
                if inner.file_type()?.is_file() {
                    fix(&inner.path(), 0o600)?;
                }
            }
        }
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_or_world_writable_runtime_dir_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("rt");
        let p = Paths { config: "c".into(), data: "d".into(), runtime: dir.clone() };
        p.secure_runtime_dir().unwrap();
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700, "created private");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        let e = p.secure_runtime_dir().unwrap_err().to_string();
        assert!(e.contains("refusing the runtime dir") && e.contains("777"), "{e}");
    }

    #[test]
    fn a_socket_must_be_private_before_anything_is_sent() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("rt");
        let p = Paths { config: "c".into(), data: "d".into(), runtime: dir.clone() };
        assert!(!p.check_socket().unwrap(), "no dir: no socket");
        p.secure_runtime_dir().unwrap();
        assert!(!p.check_socket().unwrap(), "no socket yet");
        let _l = std::os::unix::net::UnixListener::bind(p.socket()).unwrap();
        std::fs::set_permissions(p.socket(), std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(p.check_socket().unwrap());
        std::fs::set_permissions(p.socket(), std::fs::Permissions::from_mode(0o666)).unwrap();
        let e = p.check_socket().unwrap_err().to_string();
        assert!(e.contains("refusing the socket") && e.contains("666"), "{e}");
        // A symbolic link in the socket's place is not followed.
        std::fs::remove_file(p.socket()).unwrap();
        std::os::unix::fs::symlink("/nowhere", p.socket()).unwrap();
        let e = p.check_socket().unwrap_err().to_string();
        assert!(e.contains("symbolic link"), "{e}");
    }

    #[test]
    fn an_old_data_dir_is_made_private() {
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("data");
        let tasks = data.join("tasks");
        std::fs::create_dir_all(&tasks).unwrap();
        std::fs::create_dir_all(data.join("elsewhere")).unwrap();
        for (path, mode) in [(&data, 0o755), (&tasks, 0o755), (&data.join("elsewhere"), 0o755)] {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
        }
        std::fs::write(tasks.join("a.md"), "x").unwrap();
        std::fs::set_permissions(tasks.join("a.md"), std::fs::Permissions::from_mode(0o644))
            .unwrap();
        std::fs::write(data.join("daemon.lock"), "1").unwrap();
        std::fs::set_permissions(data.join("daemon.lock"), std::fs::Permissions::from_mode(0o644))
            .unwrap();
        assert_eq!(tighten_data_dir(&data).unwrap(), 4);
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&data), 0o700);
        assert_eq!(mode(&tasks), 0o700);
        assert_eq!(mode(&tasks.join("a.md")), 0o600);
        assert_eq!(mode(&data.join("daemon.lock")), 0o600);
        assert_eq!(mode(&data.join("elsewhere")), 0o755, "not paneherd's own: left alone");
        assert_eq!(tighten_data_dir(&data).unwrap(), 0, "once is enough");
    }
}
