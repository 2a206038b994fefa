//! Which agent panes are shown beside which main pane, and which wait in the overflow window.
//! Every change (a pane added or closed, a window resized) re-plans the window with the pure
//! planner and applies the plan: panes move between the main window and the overflow windows (`paneherd-agents`, `-2`, …), and
//! one `select-layout` sets every size. Changes are serialized by one async lock.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use tokio::sync::Mutex;

#[cfg(test)]
mod tests;
mod window;

use window::{MainWindow, beside, relayout, release, space};

use crate::tmux::adapter::Ticking;
use crate::tmux::planner::{Fallback, Geometry};
use crate::tmux::server::{PaneServer, RealServers, Servers};

/// A pane to open for a task.
#[derive(Debug, Clone, Copy)]
pub struct Open<'a> {
    /// The tmux server.
    pub socket: &'a Path,
    /// The pane to lay the agent out beside.
    pub main_pane: &'a str,
    pub task_id: &'a str,
    pub cwd: &'a Path,
    /// The pane's command (run by tmux's shell).
    pub command: &'a str,
    /// Run (with the window id appended) when the window is resized.
    pub resize_hook: &'a str,
    /// A word only this daemon's hooks contain (its socket), to find its own hooks.
    pub hook_mark: &'a str,
}

/// Where a task's pane is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placed {
    pub pane: String,
    pub pid: u32,
    pub visible: bool,
}

/// Where every agent pane is: beside which main pane, shown or waiting, and what paneherd set
/// in each window and session to show them.
#[derive(Debug)]
struct Placement<S> {
    /// By (socket, main pane).
    windows: HashMap<(PathBuf, String), MainWindow<S>>,
    /// Task id → (socket, main pane).
    owner: HashMap<String, (PathBuf, String)>,
    /// Main panes whose dashboard switched the layout (`l`): their geometry, instead of the
    /// configured one.
    layouts: HashMap<(PathBuf, String), Geometry>,
    /// Sessions told to redraw every second while they show agents (so that the borders'
    /// elapsed times run), by (socket, session): what to give back when the last goes.
    ticking: HashMap<(PathBuf, String), Ticking>,
}

impl<S> Default for Placement<S> {
    fn default() -> Self {
        Placement {
            windows: HashMap::new(),
            owner: HashMap::new(),
            layouts: HashMap::new(),
            ticking: HashMap::new(),
        }
    }
}

impl<S> Placement<S> {
    /// The geometry of main pane `key`'s window: its own, else `configured`.
    fn geometry(&self, key: &(PathBuf, String), configured: &Geometry) -> Geometry {
        self.layouts.get(key).copied().unwrap_or(*configured)
    }
}

/// The pane placement of the daemon, over the tmux servers of `C` (the real ones, or in unit tests
/// the recording one).
#[derive(Debug)]
pub struct Panes<C: Servers = RealServers> {
    servers: C,
    placement: Mutex<Placement<C::Server>>,
}

impl Default for Panes {
    fn default() -> Self {
        Panes::new(RealServers)
    }
}

impl<C: Servers> Panes<C> {
    /// A pane placement over `servers`.
    pub fn new(servers: C) -> Self {
        Panes { servers, placement: Mutex::new(Placement::default()) }
    }

    /// Opens a pane for a task beside `main_pane` (or in the overflow window when the main
    /// window is full) running `command`, and re-plans the window.
    pub async fn open(&self, configured: &Geometry, req: &Open<'_>) -> Result<Placed> {
        let Open { socket, main_pane, task_id, cwd, command, resize_hook, hook_mark } = *req;
        let mut placement = self.placement.lock().await;
        let tmux = self.servers.at(socket);
        let geometry =
            &placement.geometry(&(socket.to_path_buf(), main_pane.to_string()), configured);
        let info = tmux
            .pane_info(main_pane)
            .await?
            .with_context(|| format!("tmux pane {main_pane} is gone"))?;
        let key = (socket.to_path_buf(), main_pane.to_string());
        if !placement.windows.contains_key(&key) {
            // Re-plan whenever the user resizes the window.
            let hook = format!("{resize_hook} {}", info.window);
            let hook = match tmux.on_resize(&info.window, &hook, hook_mark).await {
                Ok(slot) => Some(slot),
                Err(e) => {
                    tracing::warn!(error = %format!("{e:#}"), "cannot watch the window's size");
                    None
                }
            };
            // The agents' border line (id, status, time) takes a row of every pane: only in a
            // window where the main pane is alone, never at the cost of the user's own panes.
            let alone = tmux.list_panes(&info.window).await.map(|p| p.len() == 1).unwrap_or(false);
            let decoration = if !alone {
                None
            } else {
                match tmux.decorate(&info.window).await {
                    Ok(d) => Some(d),
                    Err(e) => {
                        tracing::warn!(error = %format!("{e:#}"), "cannot set the pane borders");
                        None
                    }
                }
            };
            let session = (socket.to_path_buf(), info.session.clone());
            if let std::collections::hash_map::Entry::Vacant(slot) =
                placement.ticking.entry(session)
            {
                match tmux.tick_each_second(&info.session).await {
                    Ok(Some(t)) => {
                        slot.insert(t);
                    }
                    Ok(None) => {}
                    Err(e) => {
                        tracing::warn!(error = %format!("{e:#}"), "the borders' times will lag");
                    }
                }
            }
            placement.windows.insert(
                key.clone(),
                MainWindow {
                    tmux: tmux.clone(),
                    main_pane: main_pane.to_string(),
                    window: info.window.clone(),
                    session: info.session.clone(),
                    decoration,
                    hook,
                    fallback: None,
                    visible: vec![],
                    hidden: VecDeque::new(),
                },
            );
        }
        let mw = placement.windows.get_mut(&key).context("the main pane's entry vanished")?;
        let n = mw.visible.len() + mw.hidden.len() + 1;
        let plan = match space(mw).await {
            Ok(Some(sp)) => Some(sp.plan(geometry, n)),
            Ok(None) => None,
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "agents wait out of view");
                None
            }
        };
        let fits = plan.as_ref().map(|p| p.agents.len()).unwrap_or(0);
        let placed = if let Some(plan) = plan.as_ref().filter(|_| mw.visible.len() < fits) {
            let (target, below, size) = beside(mw, plan);
            let p = tmux.split(&target, cwd, command, below, size).await?;
            mw.visible.push((task_id.to_string(), p.pane.clone()));
            Placed { pane: p.pane, pid: p.pid, visible: true }
        } else {
            let min = (geometry.agent_pane_min_width, geometry.agent_pane_min_height);
            let p = tmux.split_in_overflow(&info.session, cwd, command, min).await?;
            if let Err(e) = tmux.decorate(&p.window).await {
                tracing::warn!(error = %format!("{e:#}"), "cannot set the pane borders");
            }
            mw.hidden.push_back((task_id.to_string(), p.pane.clone()));
            Placed { pane: p.pane, pid: p.pid, visible: false }
        };
        placement.owner.insert(task_id.to_string(), key.clone());
        // The pane is made and runs the task's wrapper: a re-plan that fails now leaves the
        // layout for the next one to mend, never the task without its pane.
        if let Some(mw) = placement.windows.get_mut(&key)
            && let Err(e) = relayout(mw, geometry).await
        {
            tracing::warn!(task = task_id, error = %format!("{e:#}"), "cannot re-plan the window");
        }
        Ok(placed)
    }

    /// Closes a task's pane (if it is still there) and re-plans its window: the longest-waiting
    /// hidden agent comes into view.
    pub async fn close(&self, configured: &Geometry, task_id: &str) -> Result<()> {
        let mut placement = self.placement.lock().await;
        let Some(key) = placement.owner.remove(task_id) else { return Ok(()) };
        let geometry = &placement.geometry(&key, configured);
        let Some(mw) = placement.windows.get_mut(&key) else { return Ok(()) };
        let pane = mw
            .visible
            .iter()
            .chain(mw.hidden.iter())
            .find(|(t, _)| t == task_id)
            .map(|(_, p)| p.clone());
        mw.visible.retain(|(t, _)| t != task_id);
        mw.hidden.retain(|(t, _)| t != task_id);
        if let Some(p) = pane
            && let Err(e) = mw.tmux.kill_pane(&p).await
        {
            tracing::debug!(task = task_id, error = %format!("{e:#}"), "pane already gone");
        }
        let r = relayout(mw, geometry).await;
        release_if_empty(&mut placement, &key).await;
        r
    }

    /// Where a task's pane is: its tmux server and pane.
    pub async fn where_is(&self, task_id: &str) -> Option<(PathBuf, String)> {
        let placement = self.placement.lock().await;
        let key = placement.owner.get(task_id)?;
        let mw = placement.windows.get(key)?;
        let (_, pane) = mw.visible.iter().chain(mw.hidden.iter()).find(|(t, _)| t == task_id)?;
        Some((key.0.clone(), pane.clone()))
    }

    /// Takes back a pane of a previous daemon into the placement (no tmux change).
    pub async fn adopt(
        &self,
        socket: &Path,
        main_pane: &str,
        task_id: &str,
        pane: &str,
        visible: bool,
    ) {
        let mut placement = self.placement.lock().await;
        let key = (socket.to_path_buf(), main_pane.to_string());
        let mw = placement.windows.entry(key.clone()).or_insert_with(|| MainWindow {
            tmux: self.servers.at(socket),
            main_pane: main_pane.to_string(),
            window: String::new(),
            session: String::new(),
            decoration: None,
            hook: None,
            fallback: None,
            visible: vec![],
            hidden: VecDeque::new(),
        });
        let entry = (task_id.to_string(), pane.to_string());
        if visible {
            mw.visible.push(entry);
        } else {
            mw.hidden.push_back(entry);
        }
        placement.owner.insert(task_id.to_string(), key);
    }

    /// Forgets a task's pane without touching tmux (it closed by itself).
    pub async fn forget(&self, configured: &Geometry, task_id: &str) -> Result<()> {
        let mut placement = self.placement.lock().await;
        let Some(key) = placement.owner.remove(task_id) else { return Ok(()) };
        let geometry = &placement.geometry(&key, configured);
        let Some(mw) = placement.windows.get_mut(&key) else { return Ok(()) };
        mw.visible.retain(|(t, _)| t != task_id);
        mw.hidden.retain(|(t, _)| t != task_id);
        let r = relayout(mw, geometry).await;
        release_if_empty(&mut placement, &key).await;
        r
    }

    /// The daemon is stopping: closes every agent pane it still has and gives each window back
    /// what paneherd set in it (pane borders, the resize hook).
    pub async fn shutdown(&self) {
        let mut placement = self.placement.lock().await;
        placement.owner.clear();
        for (_, mut mw) in placement.windows.drain() {
            for (task, pane) in mw.visible.drain(..).chain(mw.hidden.drain(..)) {
                if let Err(e) = mw.tmux.kill_pane(&pane).await {
                    tracing::debug!(%task, error = %format!("{e:#}"), "pane already gone");
                }
            }
            release(&mw).await;
        }
        for ((socket, _), t) in placement.ticking.drain() {
            if let Err(e) = self.servers.at(&socket).untick(&t).await {
                tracing::debug!(error = %format!("{e:#}"), "cannot restore status-interval");
            }
        }
    }

    /// Re-plans every main window shown in `window` of the server at `socket` (after a resize).
    pub async fn resized(&self, configured: &Geometry, socket: &Path, window: &str) -> Result<()> {
        let mut guard = self.placement.lock().await;
        let placement = &mut *guard;
        for (key, mw) in placement.windows.iter_mut() {
            let (s, geometry) =
                (&key.0, &placement.layouts.get(key).copied().unwrap_or(*configured));
            if s != socket {
                continue;
            }
            let info = mw.tmux.pane_info(&mw.main_pane).await?;
            if info.is_some_and(|i| i.window == window) {
                relayout(mw, geometry).await?;
            }
        }
        Ok(())
    }

    /// Brings a task's pane into view (swapping out the most recently shown agent if the
    /// window is full) and selects it. Returns false if the task has no pane here.
    pub async fn focus(&self, configured: &Geometry, task_id: &str) -> Result<bool> {
        let mut placement = self.placement.lock().await;
        let Some(key) = placement.owner.get(task_id).cloned() else { return Ok(false) };
        let geometry = &placement.geometry(&key, configured);
        let Some(mw) = placement.windows.get_mut(&key) else { return Ok(false) };
        let plan_one = match space(mw).await {
            Ok(Some(sp)) => Some(sp.plan(geometry, mw.visible.len().max(1))),
            _ => None,
        };
        if let Some(plan) = plan_one.filter(|p| !p.agents.is_empty())
            && let Some(i) = mw.hidden.iter().position(|(t, _)| t == task_id)
            && let Some(entry) = mw.hidden.remove(i)
        {
            // Into the main window now; the re-plan moves the last shown agent out if needed.
            let (target, below, size) = beside(mw, &plan);
            mw.tmux.join(&entry.1, &target, below, size).await?;
            mw.visible.insert(0, entry);
        }
        relayout(mw, geometry).await?;
        let pane = mw.visible.iter().chain(mw.hidden.iter()).find(|(t, _)| t == task_id);
        let Some((_, pane)) = pane.cloned() else { return Ok(false) };
        let info = mw.tmux.pane_info(&pane).await?.context("the task's pane is gone")?;
        mw.tmux.focus(&pane, &info.window).await?;
        Ok(true)
    }

    /// Lays the agents beside main pane `key` out with `geometry` from now on (`None`: with the
    /// configured one again).
    pub async fn set_layout(&self, key: (PathBuf, String), geometry: Option<Geometry>) {
        let mut placement = self.placement.lock().await;
        match geometry {
            Some(g) => placement.layouts.insert(key, g),
            None => placement.layouts.remove(&key),
        };
    }

    /// Re-plans every window with agents (after a layout switch).
    pub async fn relayout_all(&self, configured: &Geometry) {
        let mut guard = self.placement.lock().await;
        let placement = &mut *guard;
        for (key, mw) in placement.windows.iter_mut() {
            let geometry = &placement.layouts.get(key).copied().unwrap_or(*configured);
            if let Err(e) = relayout(mw, geometry).await {
                tracing::warn!(error = %format!("{e:#}"), "cannot re-plan a window");
            }
        }
    }

    /// Shown and waiting agent panes per main pane.
    pub async fn usage(&self) -> Vec<crate::proto::PaneUsage> {
        let placement = self.placement.lock().await;
        let mut out: Vec<_> = placement
            .windows
            .iter()
            .filter(|(_, m)| !m.visible.is_empty() || !m.hidden.is_empty())
            .map(|((socket, main), m)| crate::proto::PaneUsage {
                socket: socket.clone(),
                main_pane: main.clone(),
                visible: m.visible.len(),
                hidden: m.hidden.len(),
                fallback: m.fallback.map(Fallback::describe),
            })
            .collect();
        out.sort_by(|a, b| (&a.socket, &a.main_pane).cmp(&(&b.socket, &b.main_pane)));
        out
    }
}

/// Forgets a main pane with no agents left, giving its window back what paneherd set in it.
async fn release_if_empty<S: PaneServer>(placement: &mut Placement<S>, key: &(PathBuf, String)) {
    if placement.windows.get(key).is_some_and(|m| m.visible.is_empty() && m.hidden.is_empty())
        && let Some(mw) = placement.windows.remove(key)
    {
        release(&mw).await;
        let session = (key.0.clone(), mw.session.clone());
        let shown =
            placement.windows.iter().any(|((s, _), m)| *s == session.0 && m.session == session.1);
        if !shown
            && let Some(t) = placement.ticking.remove(&session)
            && let Err(e) = mw.tmux.untick(&t).await
        {
            tracing::debug!(error = %format!("{e:#}"), "cannot restore status-interval");
        }
    }
}
