//! tmux layout strings as trees: `#{window_layout}` parsed, changed, and written back for
//! `select-layout`. A window is a tree of cells: a pane, a row of cells side by side (`{…}`), or
//! a column of cells one above the other (`[…]`), with a one-cell border between neighbours.
//! Pure: tested without tmux.

/// A pane's cell rectangle in the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rect {
    pub x: u16,
    pub y: u16,
    pub w: u16,
    pub h: u16,
}

impl Rect {
    pub fn right(self) -> u32 {
        self.x as u32 + self.w as u32
    }
    pub fn bottom(self) -> u32 {
        self.y as u32 + self.h as u32
    }
    pub fn overlaps(self, o: Rect) -> bool {
        (self.x as u32) < o.right()
            && (o.x as u32) < self.right()
            && (self.y as u32) < o.bottom()
            && (o.y as u32) < self.bottom()
    }
}

/// A cell of a window's layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cell {
    pub rect: Rect,
    pub kind: Kind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// A pane, by its number (`%12` → 12).
    Pane(u32),
    /// Cells side by side, left to right.
    Row(Vec<Cell>),
    /// Cells one above the other, top to bottom.
    Column(Vec<Cell>),
}

impl Cell {
    pub fn pane(rect: Rect, pane: u32) -> Cell {
        Cell { rect, kind: Kind::Pane(pane) }
    }

    /// A row or column of `children` filling `rect`; a lone child is the cell itself.
    pub fn group(rect: Rect, side_by_side: bool, mut children: Vec<Cell>) -> Cell {
        if children.len() == 1 {
            let mut only = children.remove(0);
            only.rect = rect;
            return only;
        }
        let kind = if side_by_side { Kind::Row(children) } else { Kind::Column(children) };
        Cell { rect, kind }
    }

    /// Every pane in the tree with its rectangle, in layout order.
    pub fn panes(&self) -> Vec<(u32, Rect)> {
        let mut out = vec![];
        self.collect(&mut out);
        out
    }

    fn collect(&self, out: &mut Vec<(u32, Rect)>) {
        match &self.kind {
            Kind::Pane(p) => out.push((*p, self.rect)),
            Kind::Row(c) | Kind::Column(c) => c.iter().for_each(|c| c.collect(out)),
        }
    }

    /// The same tree moved by (`dx`, `dy`).
    pub fn moved(mut self, dx: u16, dy: u16) -> Cell {
        self.rect.x += dx;
        self.rect.y += dy;
        self.kind = match self.kind {
            Kind::Pane(p) => Kind::Pane(p),
            Kind::Row(c) => Kind::Row(c.into_iter().map(|c| c.moved(dx, dy)).collect()),
            Kind::Column(c) => Kind::Column(c.into_iter().map(|c| c.moved(dx, dy)).collect()),
        };
        self
    }

    fn write(&self, out: &mut String) {
        let r = self.rect;
        out.push_str(&format!("{}x{},{},{}", r.w, r.h, r.x, r.y));
        match &self.kind {
            Kind::Pane(p) => out.push_str(&format!(",{p}")),
            Kind::Row(c) | Kind::Column(c) => {
                let (open, close) =
                    if matches!(self.kind, Kind::Row(_)) { ('{', '}') } else { ('[', ']') };
                out.push(open);
                for (i, child) in c.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    child.write(out);
                }
                out.push(close);
            }
        }
    }

    /// The layout string for `select-layout`, with tmux's checksum.
    pub fn to_layout(&self) -> String {
        let mut body = String::new();
        self.write(&mut body);
        format!("{:04x},{body}", checksum(&body))
    }
}

/// tmux's layout checksum.
pub fn checksum(layout: &str) -> u16 {
    let mut csum: u16 = 0;
    for b in layout.bytes() {
        csum = (csum >> 1) | ((csum & 1) << 15);
        csum = csum.wrapping_add(b as u16);
    }
    csum
}

/// A layout string that is not one: what was expected where (a byte offset into the part
/// after the checksum), and the whole string.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} at {at} in layout {layout:?}")]
pub struct LayoutError {
    pub what: String,
    pub at: usize,
    pub layout: String,
}

/// Parses `#{window_layout}` (`b25d,80x24,0,0,0`, `…{…,[…]}`).
pub fn parse(s: &str) -> Result<Cell, LayoutError> {
    let fail = |what: String, at: usize| LayoutError { what, at, layout: s.to_string() };
    let body = s.split_once(',').map(|(_, b)| b).ok_or_else(|| fail("no checksum".into(), 0))?;
    let mut p = Parser { s: body.as_bytes(), i: 0 };
    let cell = p.cell().map_err(|(what, at)| fail(what, at))?;
    if p.i != p.s.len() {
        return Err(fail("trailing text".into(), p.i));
    }
    Ok(cell)
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

/// What was expected, and where.
type Expected = (String, usize);

impl Parser<'_> {
    fn number(&mut self) -> Result<u32, Expected> {
        let start = self.i;
        while self.s.get(self.i).is_some_and(u8::is_ascii_digit) {
            self.i += 1;
        }
        std::str::from_utf8(&self.s[start..self.i])
            .ok()
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| ("a number expected".to_string(), start))
    }

    fn expect(&mut self, c: u8) -> Result<(), Expected> {
        if self.s.get(self.i) == Some(&c) {
            self.i += 1;
            Ok(())
        } else {
            Err((format!("'{}' expected", c as char), self.i))
        }
    }

    fn cell(&mut self) -> Result<Cell, Expected> {
        let at = self.i;
        let small = |n: u32| u16::try_from(n).map_err(|_| (format!("{n} is too large"), at));
        let w = small(self.number()?)?;
        self.expect(b'x')?;
        let h = small(self.number()?)?;
        self.expect(b',')?;
        let x = small(self.number()?)?;
        self.expect(b',')?;
        let y = small(self.number()?)?;
        let rect = Rect { x, y, w, h };
        match self.s.get(self.i) {
            Some(b',') => {
                self.i += 1;
                Ok(Cell::pane(rect, self.number()?))
            }
            Some(&open @ (b'{' | b'[')) => {
                self.i += 1;
                let close = if open == b'{' { b'}' } else { b']' };
                let mut children = vec![self.cell()?];
                while self.s.get(self.i) == Some(&b',') {
                    self.i += 1;
                    children.push(self.cell()?);
                }
                self.expect(close)?;
                let kind = if open == b'{' { Kind::Row(children) } else { Kind::Column(children) };
                Ok(Cell { rect, kind })
            }
            _ => Err(("',', '{' or '[' expected".to_string(), self.i)),
        }
    }
}

/// Builds the tree of an `area` from `pieces` (panes, or whole subtrees) that tile it exactly,
/// with one-cell borders between them, by cutting it along lines no piece crosses. `None` when
/// the pieces do not tile it so (they overlap, leave a gap, or interlock).
pub fn tile(area: Rect, mut pieces: Vec<Cell>) -> Option<Cell> {
    if pieces.len() == 1 {
        return (pieces[0].rect == area).then(|| pieces.remove(0));
    }
    if pieces.is_empty() {
        return None;
    }
    for side_by_side in [true, false] {
        // Where a piece ends, as a border line across the area (a column, or a row).
        let (start, len) = if side_by_side { (area.x, area.w) } else { (area.y, area.h) };
        let span = |r: &Rect| if side_by_side { (r.x, r.x + r.w) } else { (r.y, r.y + r.h) };
        let mut cuts: Vec<u16> = pieces
            .iter()
            .map(|p| span(&p.rect).1)
            .filter(|&c| c < start + len)
            .filter(|&c| pieces.iter().all(|q| span(&q.rect).1 <= c || span(&q.rect).0 > c))
            .collect();
        if cuts.is_empty() {
            continue;
        }
        cuts.sort_unstable();
        cuts.dedup();
        let mut children = vec![];
        let mut from = start;
        for end in cuts.into_iter().chain(std::iter::once(start + len)) {
            let (inside, rest): (Vec<Cell>, Vec<Cell>) =
                pieces.into_iter().partition(|p| span(&p.rect).0 >= from && span(&p.rect).1 <= end);
            pieces = rest;
            let part = if side_by_side {
                Rect { x: from, y: area.y, w: end - from, h: area.h }
            } else {
                Rect { x: area.x, y: from, w: area.w, h: end - from }
            };
            children.push(tile(part, inside)?);
            from = end + 1;
        }
        if !pieces.is_empty() {
            return None;
        }
        return Some(Cell::group(area, side_by_side, children));
    }
    None
}

/// The smallest rectangle holding all of `rects`.
pub fn bounding(rects: impl IntoIterator<Item = Rect>) -> Option<Rect> {
    rects.into_iter().fold(None, |acc: Option<Rect>, r| {
        Some(match acc {
            None => r,
            Some(a) => {
                let x = a.x.min(r.x);
                let y = a.y.min(r.y);
                let right = (a.x + a.w).max(r.x + r.w);
                let bottom = (a.y + a.h).max(r.y + r.h);
                Rect { x, y, w: right - x, h: bottom - y }
            }
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(w: u16, h: u16, x: u16, y: u16) -> Rect {
        Rect { x, y, w, h }
    }

    #[test]
    fn parses_and_writes_back_tmuxs_own_strings() {
        // Taken from `list-windows -F '#{window_layout}'` of a real tmux 3.3a.
        for s in [
            "b25d,80x24,0,0,0",
            "77dd,100x30,0,0{50x30,0,0,0,49x30,51,0[49x15,51,0,1,49x14,51,16,2]}",
        ] {
            let cell = parse(s).unwrap();
            assert_eq!(cell.to_layout(), s);
        }
        let c =
            parse("77dd,100x30,0,0{50x30,0,0,0,49x30,51,0[49x15,51,0,1,49x14,51,16,2]}").unwrap();
        assert_eq!(
            c.panes(),
            vec![(0, r(50, 30, 0, 0)), (1, r(49, 15, 51, 0)), (2, r(49, 14, 51, 16))]
        );
        // Each bad string says what was expected where.
        let cases = [
            ("", "no checksum", 0),
            ("x", "no checksum", 0),
            ("b25d,80x24,0,0", "',', '{' or '[' expected", 9),
            ("b25d,80x24,0,0{80x24,0,0,1", "'}' expected", 21),
            ("b25d,80x24,0,0,0junk", "trailing text", 11),
            ("b25d,80x99999,0,0,0", "99999 is too large", 0),
        ];
        for (bad, what, at) in cases {
            let e = parse(bad).unwrap_err();
            assert_eq!((e.what.as_str(), e.at, e.layout.as_str()), (what, at, bad), "{bad:?}");
        }
    }

    #[test]
    fn tiling_rebuilds_a_tree_from_its_leaves() {
        let c =
            parse("77dd,100x30,0,0{50x30,0,0,0,49x30,51,0[49x15,51,0,1,49x14,51,16,2]}").unwrap();
        let pieces = c.panes().into_iter().map(|(p, r)| Cell::pane(r, p)).collect();
        assert_eq!(tile(r(100, 30, 0, 0), pieces).unwrap(), c);
    }

    #[test]
    fn a_block_of_ours_beside_the_users_panes() {
        // The user's pane %5 on the left stays exactly where it is; ours is the right part.
        let ours = Cell::group(
            r(59, 40, 61, 0),
            true,
            vec![Cell::pane(r(30, 40, 61, 0), 0), Cell::pane(r(28, 40, 92, 0), 7)],
        );
        let t = tile(r(120, 40, 0, 0), vec![Cell::pane(r(60, 40, 0, 0), 5), ours]).unwrap();
        assert_eq!(t.panes()[0], (5, r(60, 40, 0, 0)));
        assert_eq!(t.panes().len(), 3);
        // Gaps and overlaps are refused.
        assert!(tile(r(120, 40, 0, 0), vec![Cell::pane(r(60, 40, 0, 0), 5)]).is_none());
        let overlap = vec![Cell::pane(r(70, 40, 0, 0), 5), Cell::pane(r(59, 40, 61, 0), 6)];
        assert!(tile(r(120, 40, 0, 0), overlap).is_none());
    }

    #[test]
    fn bounding_box() {
        let b = bounding([r(10, 5, 0, 0), r(10, 5, 11, 6)]).unwrap();
        assert_eq!(b, r(21, 11, 0, 0));
        assert!(bounding([]).is_none());
    }
}
