//! Watches the config file (and the user's layout presets beside it) and has the engine reload
//! it when it changes: an edit is in force for what happens next without a restart. Editors
//! that save by writing a new file and renaming it are seen too, since the directory is
//! watched, not the file.

use std::path::{Path, PathBuf};
use std::time::Duration;

use notify::{RecursiveMode, Watcher};
use tokio::sync::mpsc;

use super::hub::HubHandle;
use crate::engine::Input;

/// Changes closer together than this are one change (an editor's write, rename and chmod).
const SETTLE: Duration = Duration::from_millis(100);

/// The directories to watch: the config's own (or, while it does not exist, its nearest
/// existing ancestor, to see it created) and its `layouts/`.
fn targets(config: &Path) -> Vec<PathBuf> {
    let dir = config.parent().unwrap_or(Path::new(".")).to_path_buf();
    let mut out = vec![];
    let mut d = Some(dir.as_path());
    while let Some(p) = d {
        if p.is_dir() {
            out.push(p.to_path_buf());
            break;
        }
        d = p.parent();
    }
    let layouts = dir.join("layouts");
    if layouts.is_dir() {
        out.push(layouts);
    }
    out
}

/// Whether an event can change what the config says: a write, create, rename or removal of the
/// config file or of something in `layouts/` (or, while the config's directory does not exist,
/// anything made on the way to it). Opens and reads are not changes — the reload itself opens
/// the file, so counting them would reload for ever — nor are other files in the same directory.
fn is_change(event: &notify::Event, config: &Path) -> bool {
    use notify::EventKind;
    if matches!(event.kind, EventKind::Access(_)) {
        return false;
    }
    let dir = config.parent().unwrap_or(Path::new("."));
    if !dir.is_dir() {
        return true;
    }
    let layouts = dir.join("layouts");
    event.paths.is_empty() || event.paths.iter().any(|p| p == config || p.starts_with(&layouts))
}

/// Starts watching; failures are logged (the daemon works on without reloads).
pub fn spawn(hub: HubHandle, config: PathBuf) {
    let path = config.clone();
    watch(config, move || {
        let loaded = crate::config::Config::load(&path).map(Box::new);
        hub.input(Input::ConfigLoaded(loaded));
    });
}

/// Calls `reload` once for each settled change of the config (see `is_change`).
fn watch(config: PathBuf, mut reload: impl FnMut() + Send + 'static) {
    let (tx, mut rx) = mpsc::unbounded_channel::<()>();
    let filter = config.clone();
    let watcher = notify::recommended_watcher(move |ev: notify::Result<notify::Event>| match ev {
        Ok(ev) if is_change(&ev, &filter) => {
            let _ = tx.send(());
        }
        Ok(_) => {}
        Err(e) => tracing::debug!(error = %e, "config watch error"),
    });
    let mut watcher = match watcher {
        Ok(w) => w,
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch the config file: edits need a restart");
            return;
        }
    };
    let mut watched: Vec<PathBuf> = vec![];
    let mut rearm = move |watcher: &mut notify::RecommendedWatcher| {
        let want = targets(&config);
        for old in watched.iter().filter(|w| !want.contains(w)) {
            let _ = watcher.unwatch(old);
        }
        for new in want.iter().filter(|w| !watched.contains(w)) {
            if let Err(e) = watcher.watch(new, RecursiveMode::NonRecursive) {
                tracing::warn!(dir = %new.display(), error = %e, "cannot watch for config changes");
            }
        }
        watched = want;
    };
    rearm(&mut watcher);
    tokio::spawn(async move {
        while rx.recv().await.is_some() {
            // Let the burst of events one save makes settle, then read once.
            tokio::time::sleep(SETTLE).await;
            while rx.try_recv().is_ok() {}
            rearm(&mut watcher);
            reload();
        }
    });
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Reloads counted while `steps` act on a config in a fresh directory.
    async fn reloads(steps: impl FnOnce(&Path)) -> usize {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config.toml");
        std::fs::write(&config, "[tmux]\n").unwrap();
        let count = Arc::new(AtomicUsize::new(0));
        let seen = count.clone();
        let path = config.clone();
        // Reads the file as the daemon's reload does (an open and a read of the watched dir).
        watch(config.clone(), move || {
            let _ = std::fs::read_to_string(&path);
            seen.fetch_add(1, Ordering::SeqCst);
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        steps(dir.path());
        // Long enough for ten reloads in a row if a reload caused the next.
        tokio::time::sleep(SETTLE * 12).await;
        count.load(Ordering::SeqCst)
    }

    #[tokio::test]
    async fn one_edit_is_one_reload_not_a_reload_for_ever() {
        let n =
            reloads(|d| std::fs::write(d.join("config.toml"), "[tmux]\nlayout = \"x\"\n").unwrap())
                .await;
        assert_eq!(n, 1);
    }

    #[tokio::test]
    async fn other_files_beside_the_config_and_reads_of_it_are_not_edits() {
        let n = reloads(|d| {
            std::fs::write(d.join("notes.txt"), "x").unwrap();
            let _ = std::fs::read_to_string(d.join("config.toml")).unwrap();
        })
        .await;
        assert_eq!(n, 0);
    }

    #[tokio::test]
    async fn a_saved_layout_preset_is_an_edit() {
        let n = reloads(|d| {
            std::fs::create_dir(d.join("layouts")).unwrap();
            std::fs::write(d.join("layouts").join("mine.toml"), "x").unwrap();
        })
        .await;
        assert!(n >= 1, "{n}");
    }
}
