//! Pane geometry, planned by a pure function: (window size, layout, limits, number of running
//! agents) → where the main pane and each visible agent pane go. Agents that do not fit are not
//! shown (they run in the overflow window). No tmux here: tested on its own.
//!
//! Every layout is a main region and an agent region, split by tmux's one-cell border:
//!
//! | layout            | main          | agents                 |
//! |-------------------|---------------|------------------------|
//! | `main-vertical`   | left          | stacked in a column    |
//! | `main-horizontal` | top           | side by side in a row  |
//! | `tiled`           | left          | a grid                 |
//! | `even-horizontal` | left          | equal columns          |
//! | `even-vertical`   | top           | equal rows             |
//!
//! The main pane's share is `max(main_pane_size % of the window, main_pane_min_width)` across
//! (for the left layouts; a share of the height for the top ones); no visible agent pane is
//! narrower than `agent_pane_min_width` or shorter than `agent_pane_min_height`.
//!
//! Every layout adapts to a window too small for it: when its own geometry shows fewer than two
//! of the running agents (one, when only one runs), the plan tries, in order, a narrower main
//! pane (down to 80 columns, unless the user set `main_pane_min_width`), a shorter one (down to
//! 10 rows), then the agents on the other side of it (below instead of beside, or beside instead
//! of below) — and keeps the first that shows enough, else the one that shows the most.

use super::layout::{Cell, Rect};
pub use crate::config::tmux::{Geometry, LayoutKind};

/// The narrowest main pane an adapting layout makes: the dashboard works from 80 columns.
pub const MAIN_FLOOR: u16 = 80;
/// The shortest main pane an adapting layout makes, in rows (the dashboard's header, a few
/// tasks, its footer).
pub const MAIN_FLOOR_ROWS: u16 = 10;

/// How an adapting plan departs from the configured layout, to show agents at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fallback {
    /// The main pane (on the left) was narrowed to this many columns.
    NarrowMain(u16),
    /// The main pane (on top) was shortened to this many rows.
    ShortMain(u16),
    /// The agents go below the main pane instead (main-horizontal), the main pane this many
    /// rows when it was shortened too.
    Below(Option<u16>),
    /// The agents go beside the main pane instead (main-vertical), the main pane this many
    /// columns.
    Beside(u16),
}

impl Fallback {
    /// In words, for the dashboard's header and `daemon status`.
    pub fn describe(self) -> String {
        match self {
            Fallback::NarrowMain(w) => format!("main pane narrowed to {w} columns"),
            Fallback::ShortMain(h) => format!("main pane shortened to {h} rows"),
            Fallback::Below(None) => "agents below the main pane".into(),
            Fallback::Below(Some(h)) => format!("agents below the main pane of {h} rows"),
            Fallback::Beside(w) => format!("agents beside the main pane of {w} columns"),
        }
    }
}

/// How the agent region is divided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Arrangement {
    /// No agent pane.
    None,
    Column,
    Row,
    /// Rows of panes, each row a list of panes (for the layout string).
    Grid(Vec<usize>),
}

/// Where everything goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub window: (u16, u16),
    pub kind: LayoutKind,
    pub main: Rect,
    /// The visible agent panes, in order (the first agents get them).
    pub agents: Vec<Rect>,
    /// The agent region (when there are visible agents).
    pub region: Option<Rect>,
    pub arrangement: Arrangement,
    /// Set when an adapting layout had to depart from its settings to show any agent.
    pub fallback: Option<Fallback>,
}

impl Plan {
    /// How many of `n` agents are not shown.
    pub fn hidden(&self, n: usize) -> usize {
        n.saturating_sub(self.agents.len())
    }
}

/// Splits `total` cells into `k` parts separated by one-cell borders; earlier parts get the
/// remainder.
fn split(total: u16, k: u16) -> Vec<u16> {
    if k == 0 {
        return vec![];
    }
    let usable = total.saturating_sub(k - 1);
    let base = usable / k;
    let extra = usable % k;
    (0..k).map(|i| base + u16::from(i < extra)).collect()
}

/// How many parts of at least `min` cells fit in `total` (with borders).
fn fit(total: u16, min: u16) -> u16 {
    ((total as u32 + 1) / (min.max(1) as u32 + 1)) as u16
}

/// Plans the panes of a `w`×`h` window for `n` running agents: with the layout's own geometry
/// when it shows two agents there, else with the first of its adaptations that does (see the
/// module's doc). The choice depends on the window alone, not on how many agents run, so the
/// layout does not change as agents come and go.
pub fn plan(w: u16, h: u16, g: &Geometry, n: usize) -> Plan {
    if n == 0 {
        return plan_fixed(w, h, g, n, None);
    }
    const ENOUGH: usize = 2;
    let shown = |geometry: &Geometry, main| plan_fixed(w, h, geometry, ENOUGH, main).agents.len();
    let mut best = (*g, None, None, shown(g, None));
    if best.3 < ENOUGH {
        for (geometry, main, how) in adaptations(w, h, g, ENOUGH) {
            let k = shown(&geometry, main);
            if k > best.3 {
                best = (geometry, main, Some(how), k);
                if k >= ENOUGH {
                    break;
                }
            }
        }
    }
    let (geometry, main, how, _) = best;
    let mut p = plan_fixed(w, h, &geometry, n, main);
    p.fallback = how.map(|how| match how {
        How::Narrow => Fallback::NarrowMain(p.main.w),
        How::Short => Fallback::ShortMain(p.main.h),
        How::Below => Fallback::Below(main.map(|_| p.main.h)),
        How::Beside => Fallback::Beside(p.main.w),
    });
    p
}

/// What an adaptation changes.
#[derive(Clone, Copy)]
enum How {
    Narrow,
    Short,
    Below,
    Beside,
}

/// The ways `g` may adapt to a `w`×`h` window to show `enough` agents, in the order tried: the
/// geometry, the main pane's size across (columns for a main pane on the left, rows for one on
/// top) when it is set, and what changed.
fn adaptations(w: u16, h: u16, g: &Geometry, enough: usize) -> Vec<(Geometry, Option<u16>, How)> {
    let (min_w, min_h) = (g.agent_pane_min_width.max(1), g.agent_pane_min_height.max(1));
    let enough = enough.max(1) as u16;
    let floor_w =
        if g.adapt { MAIN_FLOOR.min(g.main_pane_min_width) } else { g.main_pane_min_width };
    // A main pane on top short enough for the agents' rows below it (one row of agents side by
    // side, or `enough` stacked), not shorter than the floor.
    let short = |stacked: bool| {
        let rows = if stacked { enough * min_h + (enough - 1) } else { min_h };
        let main = h.checked_sub(1 + rows)?;
        let share = ((h as u32 * g.main_pane_size as u32 / 100) as u16).max(1);
        (main >= MAIN_FLOOR_ROWS && main < share).then_some(main)
    };
    let mut out = vec![];
    if g.kind.main_left() {
        if floor_w < g.main_pane_min_width {
            out.push((Geometry { main_pane_min_width: floor_w, ..*g }, None, How::Narrow));
        }
        let below = Geometry { kind: LayoutKind::MainHorizontal, ..*g };
        out.push((below, None, How::Below));
        if let Some(main) = short(false) {
            out.push((below, Some(main), How::Below));
        }
    } else {
        let stacked = g.kind == LayoutKind::EvenVertical;
        if let Some(main) = short(stacked) {
            out.push((*g, Some(main), How::Short));
        }
        let beside =
            Geometry { kind: LayoutKind::MainVertical, main_pane_min_width: floor_w, ..*g };
        let share = ((w as u32 * g.main_pane_size as u32 / 100) as u16).max(floor_w);
        if w > share && w - share > min_w {
            out.push((beside, Some(share), How::Beside));
        }
    }
    out
}

/// The plan of exactly the given geometry; `main`: the main pane's size across (columns, or
/// rows for a main pane on top) instead of its share.
fn plan_fixed(w: u16, h: u16, g: &Geometry, n: usize, main: Option<u16>) -> Plan {
    let whole = Rect { x: 0, y: 0, w, h };
    let none = || Plan {
        window: (w, h),
        kind: g.kind,
        main: whole,
        agents: vec![],
        region: None,
        arrangement: Arrangement::None,
        fallback: None,
    };
    if n == 0 || w == 0 || h == 0 {
        return none();
    }
    let (min_w, min_h) = (g.agent_pane_min_width.max(1), g.agent_pane_min_height.max(1));
    let pct = g.main_pane_size.clamp(1, 99) as u32;
    let (main, region) = if g.kind.main_left() {
        let share = (w as u32 * pct / 100) as u16;
        let mw = main.unwrap_or(share.max(g.main_pane_min_width));
        // Room for the border and one agent column?
        if mw as u32 + 1 + min_w as u32 > w as u32 || h < min_h {
            return none();
        }
        (Rect { x: 0, y: 0, w: mw, h }, Rect { x: mw + 1, y: 0, w: w - mw - 1, h })
    } else {
        let mh = main.unwrap_or(((h as u32 * pct / 100) as u16).max(1));
        if mh as u32 + 1 + min_h as u32 > h as u32 || w < min_w {
            return none();
        }
        (Rect { x: 0, y: 0, w, h: mh }, Rect { x: 0, y: mh + 1, w, h: h - mh - 1 })
    };
    let n16 = n.min(u16::MAX as usize) as u16;
    let (agents, arrangement) = match g.kind {
        LayoutKind::MainVertical | LayoutKind::EvenVertical => {
            let k = n16.min(fit(region.h, min_h));
            (column(region, k), Arrangement::Column)
        }
        LayoutKind::MainHorizontal | LayoutKind::EvenHorizontal => {
            let k = n16.min(fit(region.w, min_w));
            (row(region, k), Arrangement::Row)
        }
        LayoutKind::Tiled => grid(region, n16, min_w, min_h),
    };
    if agents.is_empty() {
        return none();
    }
    Plan {
        window: (w, h),
        kind: g.kind,
        main,
        agents,
        region: Some(region),
        arrangement,
        fallback: None,
    }
}

fn column(r: Rect, k: u16) -> Vec<Rect> {
    let mut y = r.y;
    split(r.h, k)
        .into_iter()
        .map(|ph| {
            let p = Rect { x: r.x, y, w: r.w, h: ph };
            y += ph + 1;
            p
        })
        .collect()
}

fn row(r: Rect, k: u16) -> Vec<Rect> {
    let mut x = r.x;
    split(r.w, k)
        .into_iter()
        .map(|pw| {
            let p = Rect { x, y: r.y, w: pw, h: r.h };
            x += pw + 1;
            p
        })
        .collect()
}

/// The most agents (≤ `n`) that fit in a grid, rows filled first, a short last row widened.
fn grid(r: Rect, n: u16, min_w: u16, min_h: u16) -> (Vec<Rect>, Arrangement) {
    let max_cols = fit(r.w, min_w);
    let max_rows = fit(r.h, min_h);
    let k = n.min(max_cols.saturating_mul(max_rows));
    if k == 0 {
        return (vec![], Arrangement::None);
    }
    // As square as the room allows: the fewest columns that still fit the rows.
    let mut cols = ((k as f64).sqrt().ceil() as u16).min(max_cols).max(1);
    while k.div_ceil(cols) > max_rows {
        cols += 1;
    }
    let rows = k.div_ceil(cols);
    let mut out = Vec::with_capacity(k as usize);
    let mut per_row = Vec::with_capacity(rows as usize);
    let mut left = k;
    for band in column(r, rows) {
        let in_row = left.min(cols);
        out.extend(row(band, in_row));
        per_row.push(in_row as usize);
        left -= in_row;
    }
    (out, Arrangement::Grid(per_row))
}

/// Where tmux draws the pane border line (`pane-border-status`), which takes a row of the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BorderRow {
    Top,
    Bottom,
}

/// How tmux's `tiled` layout arranges `n` panes: (rows, columns).
pub fn tiled_grid(n: usize) -> (usize, usize) {
    let (mut rows, mut cols) = (1, 1);
    while rows * cols < n {
        rows += 1;
        if rows * cols < n {
            cols += 1;
        }
    }
    (rows, cols)
}

/// How many panes a `w`×`h` window holds in tmux's `tiled` layout with none smaller than
/// `min_w`×`min_h` (each pane's border line not counted in its height); at least one.
pub fn tiled_capacity(w: u16, h: u16, min_w: u16, min_h: u16) -> usize {
    let fits = |n: usize| {
        let (rows, cols) = tiled_grid(n);
        let (w, h) = (w as usize, h as usize);
        let cell_w = w.saturating_sub(cols - 1) / cols;
        // A border line above each row of panes.
        let cell_h = h.saturating_sub(rows - 1).saturating_sub(rows) / rows;
        cell_w >= min_w.max(1) as usize && cell_h >= min_h.max(1) as usize
    };
    let mut n = 1;
    while n < 10_000 && fits(n + 1) {
        n += 1;
    }
    n
}

/// The same plan in a window one row taller whose top (or bottom) row holds tmux's pane border
/// line: panes touching that edge absorb it, and with the line on top the others move down. Plan
/// for the height without the border line, then lay out with this.
pub fn with_border_row(p: &Plan, at: BorderRow) -> Plan {
    let h = p.window.1;
    let grow = |r: Rect| match at {
        BorderRow::Top if r.y == 0 => Rect { h: r.h + 1, ..r },
        BorderRow::Top => Rect { y: r.y + 1, ..r },
        BorderRow::Bottom if r.y + r.h == h => Rect { h: r.h + 1, ..r },
        BorderRow::Bottom => r,
    };
    Plan {
        window: (p.window.0, h + 1),
        kind: p.kind,
        main: grow(p.main),
        agents: p.agents.iter().map(|r| grow(*r)).collect(),
        region: p.region.map(grow),
        arrangement: p.arrangement.clone(),
        fallback: p.fallback,
    }
}

/// The layout tree for a plan, given the main pane's and the visible agents' tmux pane numbers
/// (`%12` → 12), in plan order.
pub fn plan_tree(p: &Plan, main_pane: u32, agent_panes: &[u32]) -> Cell {
    let (w, h) = p.window;
    let root = Rect { x: 0, y: 0, w, h };
    let (Some(region), false) = (&p.region, p.agents.is_empty()) else {
        return Cell::pane(p.main, main_pane);
    };
    let ids = agent_panes.iter().copied().chain(std::iter::repeat(0));
    let leaves: Vec<Cell> = p.agents.iter().zip(ids).map(|(r, id)| Cell::pane(*r, id)).collect();
    let agents = match &p.arrangement {
        Arrangement::Column => Cell::group(*region, false, leaves),
        Arrangement::Row | Arrangement::None => Cell::group(*region, true, leaves),
        Arrangement::Grid(per_row) => {
            let mut rows = Vec::new();
            let mut it = leaves.into_iter();
            for &n in per_row {
                let cells: Vec<Cell> = it.by_ref().take(n).collect();
                let band = Rect {
                    x: region.x,
                    y: cells.first().map(|c| c.rect.y).unwrap_or(region.y),
                    w: region.w,
                    h: cells.first().map(|c| c.rect.h).unwrap_or(region.h),
                };
                rows.push(Cell::group(band, true, cells));
            }
            Cell::group(*region, false, rows)
        }
    };
    Cell::group(root, p.kind.main_left(), vec![Cell::pane(p.main, main_pane), agents])
}

/// The `select-layout` string for a plan (see `plan_tree`).
pub fn layout_string(p: &Plan, main_pane: u32, agent_panes: &[u32]) -> String {
    plan_tree(p, main_pane, agent_panes).to_layout()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overflow_windows_hold_only_panes_of_the_minimum_size() {
        assert_eq!(tiled_grid(1), (1, 1));
        assert_eq!(tiled_grid(20), (5, 4));
        // 200×50 with panes of at least 40×8: 4 columns, 5 rows of 8 lines and a border each.
        let n = tiled_capacity(200, 50, 40, 8);
        let (rows, cols) = tiled_grid(n);
        assert!((200 - (cols - 1)) / cols >= 40 && (50 - (rows - 1) - rows) / rows >= 8, "{n}");
        let (rows, cols) = tiled_grid(n + 1);
        assert!((200 - (cols - 1)) / cols < 40 || (50 - (rows - 1) - rows) / rows < 8, "{n}");
        assert_eq!(n, 20);
        // A window too small for one still takes one.
        assert_eq!(tiled_capacity(20, 5, 40, 8), 1);
    }
    use crate::tmux::layout::checksum;
    use proptest::prelude::*;

    fn geo(kind: LayoutKind) -> Geometry {
        Geometry { kind, ..Geometry::default() }
    }

    fn check_invariants(p: &Plan, g: &Geometry, n: usize) -> Result<(), String> {
        // What the plan actually followed, when the layout adapted, and the smallest its main
        // pane may then be across.
        let (w, h) = p.window;
        let share_w = (w as u32 * g.main_pane_size as u32 / 100) as u16;
        let share_h = ((h as u32 * g.main_pane_size as u32 / 100) as u16).max(1);
        let floor_w =
            if g.adapt { MAIN_FLOOR.min(g.main_pane_min_width) } else { g.main_pane_min_width };
        let (g, want) = match p.fallback {
            None if g.kind.main_left() => (*g, share_w.max(g.main_pane_min_width).min(w)),
            None => (*g, share_h.min(h)),
            Some(Fallback::NarrowMain(_)) => (*g, share_w.max(floor_w).min(w)),
            Some(Fallback::ShortMain(_)) => (*g, MAIN_FLOOR_ROWS.min(share_h)),
            Some(Fallback::Below(None)) => {
                (Geometry { kind: LayoutKind::MainHorizontal, ..*g }, share_h.min(h))
            }
            Some(Fallback::Below(Some(_))) => {
                (Geometry { kind: LayoutKind::MainHorizontal, ..*g }, MAIN_FLOOR_ROWS.min(share_h))
            }
            Some(Fallback::Beside(_)) => {
                (Geometry { kind: LayoutKind::MainVertical, ..*g }, share_w.max(floor_w).min(w))
            }
        };
        let g = &g;
        let win = Rect { x: 0, y: 0, w, h };
        if p.agents.len() > n {
            return Err("more panes than agents".into());
        }
        let main_across = if g.kind.main_left() { p.main.w } else { p.main.h };
        if main_across < want {
            return Err(format!("main pane {main_across} < {want}"));
        }
        for (i, a) in p.agents.iter().enumerate() {
            if a.w < g.agent_pane_min_width || a.h < g.agent_pane_min_height {
                return Err(format!("agent {i} is {}x{}", a.w, a.h));
            }
            if a.right() > win.right() || a.bottom() > win.bottom() {
                return Err(format!("agent {i} outside the window"));
            }
            if a.overlaps(p.main) {
                return Err(format!("agent {i} overlaps the main pane"));
            }
            for (j, b) in p.agents.iter().enumerate().skip(i + 1) {
                if a.overlaps(*b) {
                    return Err(format!("agents {i} and {j} overlap"));
                }
            }
        }
        if p.main.right() > win.right() || p.main.bottom() > win.bottom() {
            return Err("main outside the window".into());
        }
        Ok(())
    }

    /// (layout, window) → visible agents for 1..=12 running.
    #[test]
    fn visible_counts_per_layout_and_window() {
        use LayoutKind::*;
        let table: [(LayoutKind, (u16, u16), [usize; 12]); 25] = [
            (MainVertical, (240, 60), [1, 2, 3, 4, 5, 6, 6, 6, 6, 6, 6, 6]),
            (MainVertical, (200, 50), [1, 2, 3, 4, 5, 5, 5, 5, 5, 5, 5, 5]),
            (MainVertical, (160, 50), [1, 2, 3, 4, 5, 5, 5, 5, 5, 5, 5, 5]),
            (MainVertical, (120, 40), [1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2]),
            (MainVertical, (80, 24), [1; 12]),
            (MainHorizontal, (240, 60), [1, 2, 3, 4, 5, 5, 5, 5, 5, 5, 5, 5]),
            (MainHorizontal, (200, 50), [1, 2, 3, 4, 4, 4, 4, 4, 4, 4, 4, 4]),
            (MainHorizontal, (160, 50), [1, 2, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3]),
            (MainHorizontal, (120, 40), [1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2]),
            (MainHorizontal, (80, 24), [1; 12]),
            (Tiled, (240, 60), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]),
            (Tiled, (200, 50), [1, 2, 3, 4, 5, 5, 5, 5, 5, 5, 5, 5]),
            (Tiled, (160, 50), [1, 2, 3, 4, 5, 5, 5, 5, 5, 5, 5, 5]),
            (Tiled, (120, 40), [1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2]),
            (Tiled, (80, 24), [1; 12]),
            (EvenHorizontal, (240, 60), [1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2]),
            (EvenHorizontal, (200, 50), [1, 2, 3, 4, 4, 4, 4, 4, 4, 4, 4, 4]),
            (EvenHorizontal, (160, 50), [1, 2, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3]),
            (EvenHorizontal, (120, 40), [1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2]),
            (EvenHorizontal, (80, 24), [1; 12]),
            (EvenVertical, (240, 60), [1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2]),
            (EvenVertical, (200, 50), [1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2]),
            (EvenVertical, (160, 50), [1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2]),
            (EvenVertical, (120, 40), [1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2]),
            (EvenVertical, (80, 24), [1; 12]),
        ];
        for (kind, (w, h), want) in table {
            let g = Geometry { adapt: true, ..geo(kind) };
            let got: Vec<usize> = (1..=12).map(|n| plan(w, h, &g, n).agents.len()).collect();
            assert_eq!(got, want, "{} at {w}x{h}", kind.name());
            for n in 1..=12 {
                check_invariants(&plan(w, h, &g, n), &g, n).unwrap();
            }
        }
    }

    #[test]
    fn main_vertical_240x60_geometry() {
        let p = plan(240, 60, &geo(LayoutKind::MainVertical), 3);
        assert_eq!(p.main, Rect { x: 0, y: 0, w: 144, h: 60 });
        assert_eq!(
            p.agents,
            vec![
                Rect { x: 145, y: 0, w: 95, h: 20 },
                Rect { x: 145, y: 21, w: 95, h: 19 },
                Rect { x: 145, y: 41, w: 95, h: 19 },
            ]
        );
    }

    #[test]
    fn tiled_fills_a_grid() {
        let g = Geometry {
            kind: LayoutKind::Tiled,
            main_pane_size: 30,
            main_pane_min_width: 60,
            ..Geometry::default()
        };
        let p = plan(240, 60, &g, 7);
        assert_eq!(p.arrangement, Arrangement::Grid(vec![3, 3, 1]));
        assert_eq!(p.agents.len(), 7);
        check_invariants(&p, &g, 7).unwrap();
        assert_eq!(p.agents[6].w, p.region.unwrap().w, "a short last row is widened");
    }

    #[test]
    fn layout_string_matches_tmux_format() {
        // Main pane alone (no agent fits: none is narrower than 100 columns).
        let wide = Geometry { agent_pane_min_width: 100, ..geo(LayoutKind::MainVertical) };
        let p = plan(80, 24, &wide, 2);
        assert_eq!(
            layout_string(&p, 0, &[]),
            format!("{:04x},80x24,0,0,0", checksum("80x24,0,0,0"))
        );
        // Two agents stacked beside the main pane.
        let p = plan(240, 60, &geo(LayoutKind::MainVertical), 2);
        let s = layout_string(&p, 1, &[5, 9]);
        let body = "240x60,0,0{144x60,0,0,1,95x60,145,0[95x30,145,0,5,95x29,145,31,9]}";
        assert_eq!(s, format!("{:04x},{body}", checksum(body)));
    }

    #[test]
    fn border_row_shifts_and_grows() {
        let p = plan(240, 59, &geo(LayoutKind::MainVertical), 2);
        let b = with_border_row(&p, BorderRow::Top);
        assert_eq!(b.window, (240, 60));
        assert_eq!(b.main, Rect { x: 0, y: 0, w: 144, h: 60 });
        // The top pane absorbs the border line (29 rows of content, as planned); the next moves down.
        assert_eq!(
            b.agents,
            vec![Rect { x: 145, y: 0, w: 95, h: 30 }, Rect { x: 145, y: 31, w: 95, h: 29 }]
        );
    }

    #[test]
    fn checksum_is_tmuxs() {
        // Taken from `tmux list-windows -F '#{window_layout}'` of a 80x24 window, one pane.
        assert_eq!(format!("{:04x}", checksum("80x24,0,0,0")), "b25d");
    }

    /// The default config (main-vertical, adapting) at the sizes people use, the dashboard as
    /// the main pane; the top row of the window is the pane border line.
    #[test]
    fn the_default_layout_shows_agents_at_common_sizes() {
        let g = Geometry { adapt: true, ..Geometry::default() };
        let table: [((u16, u16), usize, Option<Fallback>); 6] = [
            ((120, 35), 2, Some(Fallback::Below(None))),
            ((160, 45), 3, Some(Fallback::NarrowMain(96))),
            ((220, 55), 5, None),
            ((80, 24), 1, Some(Fallback::Below(None))),
            ((200, 50), 5, None),
            ((140, 40), 3, Some(Fallback::NarrowMain(84))),
        ];
        for ((w, h), at_least, fallback) in table {
            let p = plan(w, h - 1, &g, 12);
            assert!(
                p.agents.len() >= at_least,
                "{w}x{h}: {} agents, want ≥ {at_least}",
                p.agents.len()
            );
            assert_eq!(p.fallback, fallback, "{w}x{h}");
            check_invariants(&p, &g, 12).unwrap();
            assert!(p.main.w >= MAIN_FLOOR, "{w}x{h}: the dashboard keeps 80 columns");
            for a in &p.agents {
                assert!(
                    a.w >= g.agent_pane_min_width && a.h >= g.agent_pane_min_height,
                    "{w}x{h}: {a:?}"
                );
            }
        }
        // A main pane's width the user set is kept: the agents go below it instead.
        let pinned = Geometry { adapt: false, ..Geometry::default() };
        let p = plan(160, 44, &pinned, 3);
        assert_eq!((p.fallback, p.agents.len(), p.main.w), (Some(Fallback::Below(None)), 3, 160));
    }

    /// Every preset shipped in `layouts/` shows at least two agents at the sizes people use
    /// (the top row is the pane border line), with its panes within the minimum sizes, and the
    /// same geometry whatever the number of agents; at 80×24 at least one.
    #[test]
    fn every_preset_shows_agents_at_common_sizes() {
        let presets = crate::config::tmux::Presets::builtin();
        let knobs = crate::config::tmux::Knobs::default();
        for name in presets.0.keys() {
            let mut g = presets.settings(name, &knobs).unwrap().geometry;
            g.adapt = true;
            for (w, h, want) in [(120, 35, 2), (160, 45, 2), (220, 55, 2), (80, 24, 1)] {
                let p = plan(w, h - 1, &g, 12);
                assert!(p.agents.len() >= want, "{name} at {w}x{h}: {} agents", p.agents.len());
                check_invariants(&p, &g, 12).unwrap_or_else(|e| panic!("{name} {w}x{h}: {e}"));
                let one = plan(w, h - 1, &g, 1);
                assert_eq!((one.kind, one.main), (p.kind, p.main), "{name} {w}x{h}");
            }
        }
    }

    proptest! {
        #[test]
        fn invariants_hold(w in 1u16..400, h in 1u16..120, n in 0usize..40,
                           kind in 0usize..5, size in 20u16..=80, main_min in 40u16..200,
                           min_w in 20u16..80, min_h in 3u16..20, adapt: bool) {
            let g = Geometry { kind: LayoutKind::ALL[kind], main_pane_size: size,
                               main_pane_min_width: main_min, agent_pane_min_width: min_w,
                               agent_pane_min_height: min_h, adapt };
            let p = plan(w, h, &g, n);
            prop_assert!(check_invariants(&p, &g, n).is_ok(), "{:?}", check_invariants(&p, &g, n));
            // More agents never show fewer panes.
            let more = plan(w, h, &g, n + 1);
            prop_assert!(more.agents.len() >= p.agents.len());
        }
    }
}
