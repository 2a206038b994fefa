//! Where the dashboard's parts go on a screen of a given size: header, list, detail, footer,
//! the viewer. Pure arithmetic on sizes, shared by drawing (`view`) and by the keys that page
//! or click (`app`, `list`).

use ratatui::layout::{Constraint, Direction, Layout, Rect};
use ratatui::widgets::{Block, Borders};

/// Whether the detail panel goes beside the list (else below it).
pub fn wide(area: Rect) -> bool {
    area.width >= 110
}

/// The screen's parts: header, list, detail, footer.
/// Header, list, detail, footer. `want`: the rows the list would show (its column line, group
/// headers, the pending and running tasks): above the detail panel, the list takes them if it
/// can, leaving the detail at least 6 rows — or, when they need more, as many as they need.
pub fn parts(area: Rect, want: usize, footer: u16) -> [Rect; 4] {
    let outer = Layout::default()
        .direction(Direction::Vertical)
        .constraints([Constraint::Length(1), Constraint::Min(3), Constraint::Length(footer)])
        .split(area);
    let body = if wide(area) {
        Layout::default()
            .direction(Direction::Horizontal)
            .constraints([Constraint::Percentage(62), Constraint::Percentage(38)])
            .split(outer[1])
    } else {
        let h = outer[1].height;
        let share = h * 55 / 100;
        let wanted = u16::try_from(want + 2).unwrap_or(u16::MAX);
        let mut list = wanted.clamp(share, h.saturating_sub(6).max(share));
        // On a short dashboard (agents below it in a small window) the pending and running
        // tasks come before the detail panel: it yields the rows they need, down to none
        // (`o` still shows the selected task's output).
        if wanted > list {
            list = wanted.min(h);
            if h - list < 3 {
                list = h;
            }
        }
        Layout::default()
            .direction(Direction::Vertical)
            .constraints([Constraint::Length(list), Constraint::Min(0)])
            .split(outer[1])
    };
    [outer[0], body[0], body[1], outer[2]]
}

/// Where the task list is drawn on a `w`×`h` screen (inside its border; its first row is the
/// column line), for a list that would show `want` rows.
pub fn list_inner(w: u16, h: u16, want: usize, footer: u16) -> Rect {
    Block::default().borders(Borders::ALL).inner(parts(Rect::new(0, 0, w, h), want, footer)[1])
}

/// The most rows a message in the footer takes (a longer one is cut there, and is in the
/// daemon's log or the command's own output in full).
const FOOTER_MAX_ROWS: usize = 4;

/// The rows `text` takes when its words are wrapped at `width` columns (a word wider than
/// the row is broken, as `Wrap` does).
fn wrapped_rows(text: &str, width: usize) -> usize {
    let width = width.max(1);
    let (mut rows, mut used) = (1, 0);
    for word in text.split(' ') {
        let w = crate::core::text::width(word);
        let need = if used == 0 { w } else { used + 1 + w };
        if need <= width {
            used = need;
        } else {
            rows += usize::from(used > 0);
            rows += w.saturating_sub(1) / width;
            used = if w == 0 { 0 } else { (w - 1) % width + 1 };
        }
    }
    rows
}

/// The footer's height on a screen `width` columns wide: one row, or as many as a long
/// `message` needs (up to `FOOTER_MAX_ROWS`), so that it is read whole, not cut at the edge.
pub fn footer_rows(message: Option<&str>, width: u16) -> u16 {
    let rows = match message {
        Some(m) => wrapped_rows(&format!(" {m}"), usize::from(width)),
        None => 1,
    };
    u16::try_from(rows.min(FOOTER_MAX_ROWS)).unwrap_or(1)
}

/// Where the output viewer's lines are drawn on a `w`×`h` screen.
pub fn output_inner(w: u16, h: u16) -> Rect {
    let body = Rect { x: 0, y: 1, width: w, height: h.saturating_sub(2) };
    Block::default().borders(Borders::ALL).inner(body)
}

#[cfg(test)]
mod tests {
    use super::wrapped_rows;

    #[test]
    fn rows_are_counted_as_the_words_wrap() {
        assert_eq!(wrapped_rows("", 10), 1);
        assert_eq!(wrapped_rows("abc def", 7), 1);
        assert_eq!(wrapped_rows("abc defg", 7), 2);
        // A word wider than the row is broken over rows.
        assert_eq!(wrapped_rows("abcdefghijklmnop", 5), 4);
        assert_eq!(wrapped_rows("ab abcdefghij", 5), 3);
        // Wide characters take two columns each.
        assert_eq!(wrapped_rows("日本語 日本語", 6), 2);
    }
}
