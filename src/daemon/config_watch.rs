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

/// Starts watching; failures are logged (the daemon works on without reloads).
pub fn spawn(hub: HubHandle, config: PathBuf) {
    let (tx, mut rx) = mpsc::unbounded_channel::<()>();
    let watcher = notify::recommended_watcher(move |ev: notify::Result<notify::Event>| {
        if ev.is_ok() {
            let _ = tx.send(());
        }
    });
    let mut watcher = match watcher {
        Ok(w) => w,
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch the config file: edits need a restart");
            return;
        }
    };
    let mut watched: Vec<PathBuf> = vec![];
    let path = config.clone();
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
            let loaded =
                crate::config::Config::load(&path).map(Box::new).map_err(|e| e.to_string());
            hub.input(Input::ConfigLoaded(loaded));
        }
    });
}
