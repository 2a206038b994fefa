//! A tmux server in memory for the pane manager's unit tests: sessions of windows whose panes
//! are a layout tree, changed the way tmux changes them (a split halves a pane or gives the new
//! one the size asked for, a pane that goes gives its room to its neighbour, `select-layout`
//! takes a layout string only if it holds exactly the window's panes at the window's size, the
//! overflow windows are tiled), and a note of every operation that changes something.

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use anyhow::{Context, Result, bail};

use super::adapter::{Decoration, OVERFLOW_WINDOW, PaneInfo, Ticking, overflow_name};
use super::layout::{self, Cell, Kind, Rect};
use super::planner;
use super::server::{PaneServer, Servers};

/// One window of the recording server.
#[derive(Debug, Clone)]
struct Window {
    id: u32,
    session: String,
    name: String,
    tree: Cell,
    border: String,
}

#[derive(Debug, Default)]
struct World {
    windows: Vec<Window>,
    next_pane: u32,
    next_window: u32,
    notes: Vec<String>,
}

/// Where one more waiting agent goes: an overflow window (by index), or a new one (its name).
enum Room {
    In(usize),
    New(String),
}

/// The recording server (every socket is the same server).
#[derive(Debug, Clone, Default)]
pub struct Recording {
    world: Arc<Mutex<World>>,
}

impl Servers for Recording {
    type Server = Recording;
    fn at(&self, _socket: &Path) -> Recording {
        self.clone()
    }
}

fn number(id: &str) -> Result<u32> {
    id.trim_start_matches(['%', '@'])
        .parse()
        .with_context(|| format!("no such pane or window {id}"))
}

impl Recording {
    fn world(&self) -> MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A session `$0` with one window `w`×`h` holding one pane; returns the pane.
    pub fn new_session(&self, w: u16, h: u16) -> String {
        let mut world = self.world();
        let pane = world.new_window("$0", "main", Rect { x: 0, y: 0, w, h });
        format!("%{pane}")
    }

    /// Splits `pane` for a pane of the user's own (not the pane manager's); returns it.
    pub fn user_split(&self, pane: &str, beside: bool) -> Result<String> {
        let mut world = self.world();
        let new = world.split(number(pane)?, !beside, None, None)?;
        Ok(format!("%{new}"))
    }

    /// The user resizes the window of `pane` (tmux keeps the tree and scales it).
    pub fn resize(&self, pane: &str, w: u16, h: u16) -> Result<String> {
        let mut world = self.world();
        let (wi, _) = world.find(number(pane)?).context("no such pane")?;
        let win = &mut world.windows[wi];
        win.tree = scaled(&win.tree, Rect { x: 0, y: 0, w, h });
        Ok(format!("@{}", win.id))
    }

    /// Every pane in `pane`'s window with its rectangle, in layout order.
    pub fn panes_beside(&self, pane: &str) -> Vec<(String, Rect)> {
        let world = self.world();
        let Some((wi, _)) = number(pane).ok().and_then(|n| world.find(n)) else { return vec![] };
        world.windows[wi].tree.panes().into_iter().map(|(p, r)| (format!("%{p}"), r)).collect()
    }

    /// The names of the windows and how many panes each holds.
    pub fn windows(&self) -> Vec<(String, usize)> {
        self.world().windows.iter().map(|w| (w.name.clone(), w.tree.panes().len())).collect()
    }

    /// The operations noted so far (and forgets them).
    pub fn take_notes(&self) -> Vec<String> {
        std::mem::take(&mut self.world().notes)
    }
}

impl World {
    fn new_window(&mut self, session: &str, name: &str, rect: Rect) -> u32 {
        let pane = self.next_pane;
        self.next_pane += 1;
        let id = self.next_window;
        self.next_window += 1;
        let tree = Cell::pane(rect, pane);
        let border = "off".into();
        self.windows.push(Window { id, session: session.into(), name: name.into(), tree, border });
        pane
    }

    /// The window holding pane `n` and the pane's rectangle.
    fn find(&self, n: u32) -> Option<(usize, Rect)> {
        self.windows.iter().enumerate().find_map(|(i, w)| {
            w.tree.panes().into_iter().find(|(p, _)| *p == n).map(|(_, r)| (i, r))
        })
    }

    fn window(&self, id: &str) -> Result<usize> {
        let n = number(id)?;
        self.windows.iter().position(|w| w.id == n).with_context(|| format!("no window {id}"))
    }

    fn info(&self, n: u32) -> Option<PaneInfo> {
        let (wi, _) = self.find(n)?;
        let w = &self.windows[wi];
        Some(PaneInfo {
            pane: format!("%{n}"),
            pid: 10_000 + n,
            window: format!("@{}", w.id),
            session: w.session.clone(),
            window_width: w.tree.rect.w,
            window_height: w.tree.rect.h,
            window_name: w.name.clone(),
        })
    }

    /// Splits pane `target` (below it, or beside it), the new pane `size` cells high or wide
    /// (half, without); the new pane is `moved` or a new one. tmux refuses a split that leaves
    /// either pane without a cell.
    fn split(
        &mut self,
        target: u32,
        below: bool,
        size: Option<u16>,
        moved: Option<u32>,
    ) -> Result<u32> {
        let (wi, r) = self.find(target).context("no such pane")?;
        let len = if below { r.h } else { r.w };
        let new_len = size.unwrap_or(len.saturating_sub(1) / 2);
        if new_len == 0 || new_len + 1 >= len {
            bail!("create pane failed: pane too small");
        }
        let keep = len - new_len - 1;
        let (a, b) = if below {
            (Rect { h: keep, ..r }, Rect { y: r.y + keep + 1, h: new_len, ..r })
        } else {
            (Rect { w: keep, ..r }, Rect { x: r.x + keep + 1, w: new_len, ..r })
        };
        let new = moved.unwrap_or_else(|| {
            self.next_pane += 1;
            self.next_pane - 1
        });
        let win = &mut self.windows[wi];
        let mut pieces: Vec<Cell> = win
            .tree
            .panes()
            .into_iter()
            .filter(|(p, _)| *p != target)
            .map(|(p, r)| Cell::pane(r, p))
            .collect();
        pieces.push(Cell::pane(a, target));
        pieces.push(Cell::pane(b, new));
        win.tree = layout::tile(win.tree.rect, pieces).context("the split does not tile")?;
        Ok(new)
    }

    /// Takes pane `n` out of its window, its room going to its neighbour; a window left
    /// without panes goes.
    fn remove(&mut self, n: u32) -> Result<()> {
        let (wi, _) = self.find(n).context("no such pane")?;
        match without(&self.windows[wi].tree, n) {
            Some(tree) => self.windows[wi].tree = tree,
            None => {
                self.windows.remove(wi);
            }
        }
        Ok(())
    }

    /// An overflow window of `session` with room for one more pane of `min`, else the name of a
    /// new one.
    fn overflow_room(&self, session: &str, min: (u16, u16)) -> Room {
        let overflow: Vec<usize> = (0..self.windows.len())
            .filter(|&i| {
                self.windows[i].session == session
                    && super::adapter::is_overflow_name(&self.windows[i].name)
            })
            .collect();
        for &i in &overflow {
            let r = self.windows[i].tree.rect;
            if self.windows[i].tree.panes().len() < planner::tiled_capacity(r.w, r.h, min.0, min.1)
            {
                return Room::In(i);
            }
        }
        let taken: Vec<&str> = overflow.iter().map(|&i| self.windows[i].name.as_str()).collect();
        let k = (1..).find(|k| !taken.contains(&overflow_name(*k).as_str())).unwrap_or(1);
        Room::New(overflow_name(k))
    }

    /// The size of `session`'s first window (tmux's new windows take the session's size).
    fn session_rect(&self, session: &str) -> Rect {
        self.windows.iter().find(|w| w.session == session).map(|w| w.tree.rect).unwrap_or(Rect {
            x: 0,
            y: 0,
            w: 80,
            h: 24,
        })
    }

    /// Puts pane `n` (new when `None`) in an overflow window; returns the pane and the window.
    fn put_in_overflow(
        &mut self,
        session: &str,
        min: (u16, u16),
        moved: Option<u32>,
    ) -> Result<(u32, u32)> {
        if let Some(n) = moved {
            self.remove(n)?;
        }
        match self.overflow_room(session, min) {
            Room::In(i) => {
                let anchor = self.windows[i].tree.panes()[0].0;
                let n = self
                    .split(anchor, false, None, moved)
                    .or_else(|_| self.split(anchor, true, None, moved))?;
                let win = &mut self.windows[i];
                win.tree =
                    tiled(win.tree.rect, win.tree.panes().into_iter().map(|(p, _)| p).collect());
                Ok((n, win.id))
            }
            Room::New(name) => {
                let rect = self.session_rect(session);
                let fresh = self.new_window(session, &name, rect);
                let win = self.windows.last_mut().context("the new window")?;
                let n = match moved {
                    Some(n) => {
                        win.tree = Cell::pane(rect, n);
                        n
                    }
                    None => fresh,
                };
                Ok((n, win.id))
            }
        }
    }
}

/// `tree` without pane `n`, the pane's room given to the cell before it (after it, for the
/// first); `None` when `n` was the only pane.
fn without(tree: &Cell, n: u32) -> Option<Cell> {
    match &tree.kind {
        Kind::Pane(p) if *p == n => None,
        Kind::Pane(_) => Some(tree.clone()),
        Kind::Row(children) | Kind::Column(children) => {
            let side_by_side = matches!(tree.kind, Kind::Row(_));
            let Some(at) = children.iter().position(|c| c.panes().iter().any(|(p, _)| *p == n))
            else {
                return Some(tree.clone());
            };
            let mut kids: Vec<Cell> = children.clone();
            match without(&kids[at], n) {
                Some(c) => kids[at] = c,
                None => {
                    let gone = kids.remove(at).rect;
                    let into = if at > 0 { at - 1 } else { 0 };
                    let r = kids[into].rect;
                    let grown = if side_by_side {
                        Rect { x: r.x.min(gone.x), w: r.w + gone.w + 1, ..r }
                    } else {
                        Rect { y: r.y.min(gone.y), h: r.h + gone.h + 1, ..r }
                    };
                    kids[into] = scaled(&kids[into], grown);
                }
            }
            Some(Cell::group(tree.rect, side_by_side, kids))
        }
    }
}

/// `cell` fitted to `rect`, each child keeping its share along the cell's axis (at least one
/// cell each where there is room).
fn scaled(cell: &Cell, rect: Rect) -> Cell {
    match &cell.kind {
        Kind::Pane(p) => Cell::pane(rect, *p),
        Kind::Row(children) | Kind::Column(children) => {
            let side_by_side = matches!(cell.kind, Kind::Row(_));
            let old = |c: &Cell| u32::from(if side_by_side { c.rect.w } else { c.rect.h });
            let total_old: u32 = children.iter().map(old).sum::<u32>().max(1);
            let borders = children.len() as u16 - 1;
            let room = (if side_by_side { rect.w } else { rect.h }).saturating_sub(borders);
            let mut at = if side_by_side { rect.x } else { rect.y };
            let mut left = room;
            let mut kids = vec![];
            for (i, c) in children.iter().enumerate() {
                let last = i + 1 == children.len();
                let share = if last {
                    left
                } else {
                    ((u32::from(room) * old(c) / total_old) as u16).clamp(1, left.max(1))
                };
                let r = if side_by_side {
                    Rect { x: at, y: rect.y, w: share, h: rect.h }
                } else {
                    Rect { x: rect.x, y: at, w: rect.w, h: share }
                };
                kids.push(scaled(c, r));
                at += share + 1;
                left = left.saturating_sub(share);
            }
            Cell::group(rect, side_by_side, kids)
        }
    }
}

/// tmux's `tiled`: rows of columns, as even as the cells allow.
fn tiled(rect: Rect, panes: Vec<u32>) -> Cell {
    let (cols, rows) = planner::tiled_grid(panes.len());
    let even = |len: u16, n: usize, i: usize| -> (u16, u16) {
        let n16 = n as u16;
        let each = (len.saturating_sub(n16 - 1)) / n16;
        let start = i as u16 * (each + 1);
        let size = if i + 1 == n { len - start } else { each };
        (start, size)
    };
    let mut row_cells = vec![];
    for (ri, chunk) in panes.chunks(cols.max(1)).enumerate() {
        let (y, h) = even(rect.h, rows.max(1), ri);
        let cells: Vec<Cell> = chunk
            .iter()
            .enumerate()
            .map(|(ci, p)| {
                let (x, w) = even(rect.w, chunk.len(), ci);
                Cell::pane(Rect { x: rect.x + x, y: rect.y + y, w, h }, *p)
            })
            .collect();
        row_cells.push(Cell::group(Rect { x: rect.x, y: rect.y + y, w: rect.w, h }, true, cells));
    }
    Cell::group(rect, false, row_cells)
}

impl PaneServer for Recording {
    async fn pane_info(&self, pane: &str) -> Result<Option<PaneInfo>> {
        Ok(self.world().info(number(pane)?))
    }

    async fn list_panes(&self, window: &str) -> Result<Vec<PaneInfo>> {
        let world = self.world();
        let wi = world.window(window)?;
        Ok(world.windows[wi].tree.panes().iter().filter_map(|(p, _)| world.info(*p)).collect())
    }

    async fn split(
        &self,
        target: &str,
        _cwd: &Path,
        command: &str,
        below: bool,
        size: Option<u16>,
    ) -> Result<PaneInfo> {
        let mut world = self.world();
        let n = world.split(number(target)?, below, size, None)?;
        world.notes.push(format!("split {target} {command}"));
        world.info(n).context("the new pane")
    }

    async fn split_in_overflow(
        &self,
        session: &str,
        _cwd: &Path,
        command: &str,
        min: (u16, u16),
    ) -> Result<PaneInfo> {
        let mut world = self.world();
        let (n, _) = world.put_in_overflow(session, min, None)?;
        world.notes.push(format!("overflow {command}"));
        world.info(n).context("the new pane")
    }

    async fn join(&self, pane: &str, target: &str, below: bool, size: Option<u16>) -> Result<()> {
        let mut world = self.world();
        let (n, t) = (number(pane)?, number(target)?);
        let before = world.windows.clone();
        world.remove(n)?;
        if let Err(e) = world.split(t, below, size, Some(n)) {
            world.windows = before;
            return Err(e);
        }
        world.notes.push(format!("join {pane} {target}"));
        Ok(())
    }

    async fn hide(&self, pane: &str, session: &str, min: (u16, u16)) -> Result<String> {
        let mut world = self.world();
        let (_, w) = world.put_in_overflow(session, min, Some(number(pane)?))?;
        world.notes.push(format!("hide {pane}"));
        Ok(format!("@{w}"))
    }

    async fn window_layout(&self, window: &str) -> Result<(String, String)> {
        let world = self.world();
        let w = &world.windows[world.window(window)?];
        Ok((w.tree.to_layout(), w.border.clone()))
    }

    async fn select_layout(&self, window: &str, layout_string: &str) -> Result<()> {
        let mut world = self.world();
        let wi = world.window(window)?;
        let win = &mut world.windows[wi];
        let mut have: Vec<u32> = win.tree.panes().into_iter().map(|(p, _)| p).collect();
        let tree = if layout_string == "tiled" {
            tiled(win.tree.rect, have)
        } else {
            let tree = layout::parse(layout_string)?;
            let mut given: Vec<u32> = tree.panes().into_iter().map(|(p, _)| p).collect();
            have.sort_unstable();
            given.sort_unstable();
            if given != have || tree.rect != win.tree.rect {
                bail!("invalid layout: {layout_string}");
            }
            tree
        };
        win.tree = tree;
        world.notes.push(format!("select-layout {window}"));
        Ok(())
    }

    async fn kill_pane(&self, pane: &str) -> Result<()> {
        let mut world = self.world();
        world.remove(number(pane)?)?;
        world.notes.push(format!("kill {pane}"));
        Ok(())
    }

    async fn focus(&self, pane: &str, _window: &str) -> Result<()> {
        self.world().notes.push(format!("focus {pane}"));
        Ok(())
    }

    async fn decorate(&self, window: &str) -> Result<Decoration> {
        let mut world = self.world();
        let wi = world.window(window)?;
        world.windows[wi].border = "top".into();
        world.notes.push(format!("decorate {window}"));
        Ok(Decoration::default())
    }

    async fn undecorate(&self, window: &str, _d: &Decoration) -> Result<()> {
        let mut world = self.world();
        if let Ok(wi) = world.window(window) {
            world.windows[wi].border = "off".into();
        }
        world.notes.push(format!("undecorate {window}"));
        Ok(())
    }

    async fn tick_each_second(&self, session: &str) -> Result<Option<Ticking>> {
        self.world().notes.push(format!("tick {session}"));
        Ok(Some(Ticking::of(session)))
    }

    async fn untick(&self, t: &Ticking) -> Result<()> {
        self.world().notes.push(format!("untick {}", t.session));
        Ok(())
    }

    async fn on_resize(&self, window: &str, _command: &str, _mark: &str) -> Result<String> {
        self.world().notes.push(format!("hook {window}"));
        Ok("window-resized[0]".into())
    }

    async fn remove_hook(&self, window: &str, _slot: &str) -> Result<()> {
        self.world().notes.push(format!("unhook {window}"));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_recording_server_splits_removes_and_scales_as_tmux_does() {
        let r = Recording::default();
        let main = r.new_session(100, 30);
        let right = r.user_split(&main, true).unwrap();
        let panes = r.panes_beside(&main);
        assert_eq!(panes[0].1, Rect { x: 0, y: 0, w: 50, h: 30 });
        assert_eq!(panes[1], (right.clone(), Rect { x: 51, y: 0, w: 49, h: 30 }));
        r.resize(&main, 200, 50).unwrap();
        let panes = r.panes_beside(&main);
        assert_eq!(panes[0].1.h, 50);
        assert_eq!(panes[0].1.w + panes[1].1.w + 1, 200);
        let mut world = r.world();
        world.remove(number(&right).unwrap()).unwrap();
        assert_eq!(world.windows[0].tree, Cell::pane(Rect { x: 0, y: 0, w: 200, h: 50 }, 0));
        assert!(
            world.split(0, true, Some(49), None).is_err(),
            "a split leaving no room is refused"
        );
    }

    #[test]
    fn tiled_fills_the_window() {
        let rect = Rect { x: 0, y: 0, w: 200, h: 50 };
        let t = tiled(rect, (0..7).collect());
        assert_eq!(t.rect, rect);
        let area: u32 = t.panes().iter().map(|(_, r)| u32::from(r.w) * u32::from(r.h)).sum();
        assert!(area > 200 * 50 * 9 / 10, "{area}");
        assert!(layout::parse(&t.to_layout()).is_ok());
        assert_eq!(OVERFLOW_WINDOW, overflow_name(1));
    }
}
