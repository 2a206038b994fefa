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

fn env_path(name: &str) -> Option<PathBuf> {
    std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from)
}

impl Paths {
    /// `$PANEHERD_CONFIG` / `$PANEHERD_DATA_DIR` / `$PANEHERD_RUNTIME_DIR`, else the XDG places,
    /// else `/tmp/paneherd-$UID`.
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
            .or_else(|| env_path("XDG_RUNTIME_DIR").map(|d| d.join("paneherd")))
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
    /// Held by the running daemon for its whole life: one daemon per data dir.
    pub fn daemon_lock(&self) -> PathBuf {
        self.data.join("daemon.lock")
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
        let meta = std::fs::symlink_metadata(dir)
            .with_context(|| format!("cannot inspect runtime dir {}", dir.display()))?;
        if !meta.is_dir() {
            bail!("runtime dir {} is not a directory", dir.display());
        }
        let uid = nix::unistd::getuid().as_raw();
        if meta.uid() != uid {
            bail!(
                "refusing runtime dir {}: it belongs to uid {}, not to you (uid {uid})",
                dir.display(),
                meta.uid()
            );
        }
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            bail!(
                "refusing runtime dir {}: its mode is {mode:o}, so other users could replace the \
                 socket; run `chmod 700 {}` or choose another PANEHERD_RUNTIME_DIR",
                dir.display(),
                dir.display()
            );
        }
        Ok(())
    }
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
        assert!(e.contains("refusing runtime dir") && e.contains("777"), "{e}");
    }
}
