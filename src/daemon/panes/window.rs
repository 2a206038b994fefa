//! One main pane's window: the agents shown beside the main pane and those waiting in the
//! overflow window, paneherd's part of the window's layout, and making it match the plan (the
//! user's own panes in the window never move).

use std::collections::VecDeque;

use anyhow::{Context, Result};

use crate::tmux::adapter::{Decoration, PaneInfo};
use crate::tmux::layout::{self, Cell, Rect};
use crate::tmux::planner::{self, BorderRow, Fallback, Geometry};
use crate::tmux::server::PaneServer;

/// The agents laid out beside one main pane.
#[derive(Debug)]
pub(super) struct MainWindow<S> {
    pub tmux: S,
    pub main_pane: String,
    /// The main pane's window, and what paneherd set in it (to take back when its agents are
    /// gone or the daemon stops).
    pub window: String,
    /// Its session (empty for panes taken back from a previous daemon).
    pub session: String,
    pub decoration: Option<Decoration>,
    pub hook: Option<String>,
    /// How the last plan departed from the layout to show agents at all.
    pub fallback: Option<Fallback>,
    /// Visible agent panes, in layout order: (task id, pane id).
    pub visible: Vec<(String, String)>,
    /// Agents waiting in the overflow window, longest-waiting first.
    pub hidden: VecDeque<(String, String)>,
}

/// The part of a main pane's window that is paneherd's: the cells of the main pane and of its
/// visible agents (which tmux made by splitting the main pane's cell). Panes of the user's own
/// in the window are outside it and are never moved or resized.
pub(super) struct Space {
    pub info: PaneInfo,
    pub tree: Cell,
    pub region: Rect,
    /// The window's row for the pane border line, when the region touches it.
    pub border: Option<BorderRow>,
}

/// Reads the window's layout and finds paneherd's part of it; `None` when the main pane is gone.
pub(super) async fn space<S: PaneServer>(mw: &MainWindow<S>) -> Result<Option<Space>> {
    let Some(info) = mw.tmux.pane_info(&mw.main_pane).await? else { return Ok(None) };
    let (layout, border) = mw.tmux.window_layout(&info.window).await?;
    let tree = layout::parse(&layout)?;
    let ours: Vec<u32> = std::iter::once(&mw.main_pane)
        .chain(mw.visible.iter().map(|(_, p)| p))
        .map(|p| pane_number(p))
        .collect();
    let leaves = tree.panes();
    let region = layout::bounding(leaves.iter().filter(|(p, _)| ours.contains(p)).map(|(_, r)| *r))
        .context("the main pane is not in its window's layout")?;
    if leaves.iter().any(|(p, r)| !ours.contains(p) && r.overlaps(region)) {
        anyhow::bail!("a pane of the user's own lies among the agents' panes");
    }
    let border = match border.as_str() {
        "top" if region.y == 0 => Some(BorderRow::Top),
        "bottom" if region.y + region.h == tree.rect.h => Some(BorderRow::Bottom),
        _ => None,
    };
    Ok(Some(Space { info, tree, region, border }))
}

/// Where a new agent pane goes so that the main pane never shrinks on the way: split off the
/// last shown agent when there is one, else off the main pane at the agents' planned size.
pub(super) fn beside<S>(mw: &MainWindow<S>, plan: &planner::Plan) -> (String, bool, Option<u16>) {
    let below_main = !plan.kind.main_left();
    match mw.visible.last() {
        Some((_, last)) => (last.clone(), plan.arrangement == planner::Arrangement::Column, None),
        None => {
            let size = plan.region.map(|r| if below_main { r.h } else { r.w });
            (mw.main_pane.clone(), below_main, size)
        }
    }
}

/// Where the next agent coming into view joins: off the main pane at its planned size when no
/// agent is shown, else off the largest agent pane shown, split along its longer side (taking
/// the minimum sizes into account) — never off the same pane again and again, which after a
/// window grew from small would leave panes of a row or two. The layout set afterwards gives
/// every pane its planned size.
async fn join_target<S: PaneServer>(
    mw: &MainWindow<S>,
    wanted: &planner::Plan,
    geometry: &Geometry,
) -> Result<(String, bool, Option<u16>)> {
    if mw.visible.is_empty() {
        return Ok(beside(mw, wanted));
    }
    let Some(sp) = space(mw).await? else { return Ok(beside(mw, wanted)) };
    let leaves = sp.tree.panes();
    let largest = mw
        .visible
        .iter()
        .filter_map(|(_, p)| {
            let n = pane_number(p);
            leaves.iter().find(|(id, _)| *id == n).map(|(_, r)| (p.clone(), *r))
        })
        .max_by_key(|(_, r)| u32::from(r.w) * u32::from(r.h));
    let Some((pane, r)) = largest else { return Ok(beside(mw, wanted)) };
    let across = f32::from(r.w) / f32::from(geometry.agent_pane_min_width.max(1));
    let down = f32::from(r.h) / f32::from(geometry.agent_pane_min_height.max(1));
    Ok((pane, down > across, None))
}

impl Space {
    /// The plan for `n` agents in paneherd's region, in the region's own coordinates, without the
    /// pane border line's row.
    pub fn plan(&self, geometry: &Geometry, n: usize) -> planner::Plan {
        let row = u16::from(self.border.is_some());
        planner::plan(self.region.w, self.region.h.saturating_sub(row), geometry, n)
    }
}

pub(super) fn pane_number(id: &str) -> u32 {
    id.trim_start_matches('%').parse().unwrap_or(0)
}

/// Gives the window back what paneherd set in it.
pub(super) async fn release<S: PaneServer>(mw: &MainWindow<S>) {
    if mw.window.is_empty() {
        return;
    }
    if let Some(slot) = &mw.hook
        && let Err(e) = mw.tmux.remove_hook(&mw.window, slot).await
    {
        tracing::debug!(error = %format!("{e:#}"), "cannot remove the resize hook");
    }
    if let Some(d) = &mw.decoration
        && let Err(e) = mw.tmux.undecorate(&mw.window, d).await
    {
        tracing::debug!(error = %format!("{e:#}"), "cannot restore the pane borders");
    }
}

/// Makes the window match the plan: as many agents visible as fit in paneherd's part of it (the
/// visible ones stay, the longest-waiting hidden ones come in), the rest in the overflow
/// window, then one layout that leaves every other pane of the window exactly where it is.
pub(super) async fn relayout<S: PaneServer>(
    mw: &mut MainWindow<S>,
    geometry: &Geometry,
) -> Result<()> {
    let sp = match space(mw).await {
        Ok(Some(sp)) => sp,
        // The main pane is gone: the agents stay where they are.
        Ok(None) => return Ok(()),
        Err(e) => {
            tracing::warn!(error = %format!("{e:#}"), "cannot lay the agents out");
            return Ok(());
        }
    };
    let n = mw.visible.len() + mw.hidden.len();
    let fits = sp.plan(geometry, n).agents.len();
    let changed = mw.visible.len() != fits.min(n);
    while mw.visible.len() > fits {
        if let Some(entry) = mw.visible.pop() {
            let min = (geometry.agent_pane_min_width, geometry.agent_pane_min_height);
            let w = mw.tmux.hide(&entry.1, &sp.info.session, min).await?;
            if let Err(e) = mw.tmux.decorate(&w).await {
                tracing::warn!(error = %format!("{e:#}"), "cannot set the pane borders");
            }
            mw.hidden.push_front(entry);
        }
    }
    let wanted = sp.plan(geometry, fits.max(1));
    while mw.visible.len() < fits {
        let Some(entry) = mw.hidden.pop_front() else { break };
        let (target, below, size) = join_target(mw, &wanted, geometry).await?;
        if let Err(e) = mw.tmux.join(&entry.1, &target, below, size).await {
            // It waits out of view; the layout below is still made right for the others.
            tracing::warn!(error = %format!("{e:#}"), "an agent could not come into view");
            mw.hidden.push_front(entry);
            break;
        }
        mw.visible.push(entry);
    }
    // Panes moved in or out: read the layout again.
    let sp = if changed {
        match space(mw).await? {
            Some(sp) => sp,
            None => return Ok(()),
        }
    } else {
        sp
    };
    let region = sp.region;
    let plan = sp.plan(geometry, mw.visible.len());
    mw.fallback = plan.fallback;
    let shown = match sp.border {
        Some(at) => planner::with_border_row(&plan, at),
        None => plan,
    };
    let agents: Vec<u32> = mw.visible.iter().map(|(_, p)| pane_number(p)).collect();
    let ours =
        planner::plan_tree(&shown, pane_number(&mw.main_pane), &agents).moved(region.x, region.y);
    let mut ours_ids = agents.clone();
    ours_ids.push(pane_number(&mw.main_pane));
    let others: Vec<Cell> = sp
        .tree
        .panes()
        .into_iter()
        .filter(|(p, _)| !ours_ids.contains(p))
        .map(|(p, r)| Cell::pane(r, p))
        .collect();
    let whole = sp.tree.rect;
    let tree = if others.is_empty() {
        Some(ours)
    } else {
        let mut pieces = others;
        pieces.push(ours);
        layout::tile(whole, pieces)
    };
    match tree {
        Some(t) => mw.tmux.select_layout(&sp.info.window, &t.to_layout()).await,
        None => {
            tracing::warn!("the window's panes do not tile around the agents; layout left alone");
            Ok(())
        }
    }
}
