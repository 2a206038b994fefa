//! Output as a terminal would show it, line by line: escape sequences (colours, titles, links)
//! are dropped, text is kept exactly — tabs included — and lines that a carriage return, a
//! backspace or cursor moves rewrote (a progress bar, a multi-line status) keep their final
//! state. Memory stays bounded whatever the escapes say: the cursor never goes more than
//! `MAX_GAP` cells past a line's end, nor up further than the last `LIVE` lines.

use vte::{Params, Parser, Perform};

/// How many of the last lines the cursor can still go back up to (a multi-line progress
/// display redraws a few; an older line is final).
const LIVE: usize = 256;
/// How far past a line's end the cursor may jump (a terminal is a few hundred columns wide).
const MAX_GAP: usize = 1024;

/// The text that `raw` output leaves on a terminal, one line per line of output. Invalid UTF-8
/// becomes U+FFFD.
pub fn render(raw: &[u8]) -> String {
    let mut screen = Screen::with_capacity(raw.len());
    let mut parser = Parser::new();
    parser.advance(&mut screen, raw);
    screen.finish()
}

/// The renderer's state: the final lines, and the last few lines that the cursor can still
/// change, a character per cell.
struct Screen {
    out: String,
    live: std::collections::VecDeque<Vec<char>>,
    /// The cursor: a line of `live`, a column in it.
    row: usize,
    col: usize,
}

impl Screen {
    fn with_capacity(n: usize) -> Screen {
        let mut live = std::collections::VecDeque::new();
        live.push_back(Vec::new());
        Screen { out: String::with_capacity(n), live, row: 0, col: 0 }
    }

    fn line(&mut self) -> &mut Vec<char> {
        let row = self.row.min(self.live.len() - 1);
        &mut self.live[row]
    }

    /// Puts `c` in the cursor's cell and moves on (a gap the cursor jumped over is blank).
    fn put(&mut self, c: char) {
        let col = self.col;
        let line = self.line();
        if col < line.len() {
            line[col] = c;
        } else {
            line.resize(col, ' ');
            line.push(c);
        }
        self.col += 1;
    }

    /// The cursor to column `col`, not further than `MAX_GAP` past its line's end.
    fn move_to(&mut self, col: usize) {
        let end = self.line().len();
        self.col = col.min(end + MAX_GAP);
    }

    /// A line feed: the next line (made when the cursor was on the last); lines the cursor can
    /// no longer reach are final.
    fn down(&mut self) {
        self.row += 1;
        if self.row == self.live.len() {
            self.live.push_back(Vec::new());
        }
        while self.live.len() > LIVE {
            if let Some(first) = self.live.pop_front() {
                self.out.extend(first);
                self.out.push('\n');
            }
            self.row -= 1;
        }
    }

    fn finish(mut self) -> String {
        let last = self.live.len() - 1;
        for (i, line) in self.live.drain(..).enumerate() {
            self.out.extend(line);
            if i < last {
                self.out.push('\n');
            }
        }
        self.out
    }
}

/// The first parameter of a control sequence, `default` when absent or zero.
fn arg(params: &Params, default: u16) -> usize {
    let n = params.iter().next().and_then(|p| p.first().copied()).unwrap_or(0);
    usize::from(if n == 0 { default } else { n })
}

impl Perform for Screen {
    fn print(&mut self, c: char) {
        self.put(c);
    }

    fn execute(&mut self, byte: u8) {
        match byte {
            // Output's line ends: the cursor to the next line's start, as a terminal does with
            // the line discipline's newline translation.
            b'\n' | 0x0b | 0x0c => {
                self.down();
                self.col = 0;
            }
            b'\r' => self.col = 0,
            // A tab is text: kept as the character it is.
            b'\t' => self.put('\t'),
            0x08 => self.col = self.col.saturating_sub(1),
            _ => {}
        }
    }

    fn csi_dispatch(&mut self, params: &Params, intermediates: &[u8], _ignore: bool, c: char) {
        if !intermediates.is_empty() {
            return;
        }
        let first = params.iter().next().and_then(|p| p.first().copied()).unwrap_or(0);
        match c {
            // Erase in line: to its end, from its start, all of it.
            'K' => {
                let col = self.col;
                let line = self.line();
                match first {
                    0 => line.truncate(col),
                    1 => {
                        let end = (col + 1).min(line.len());
                        line[..end].fill(' ');
                    }
                    _ => line.clear(),
                }
            }
            // Erase in display, below the cursor (the lines above are kept: output is a log).
            'J' if first == 0 => {
                let (row, col) = (self.row, self.col);
                self.line().truncate(col);
                self.live.truncate(row + 1);
            }
            // Cursor to a column; forward; back.
            'G' | '`' => self.move_to(arg(params, 1) - 1),
            'C' | 'a' => self.move_to(self.col.saturating_add(arg(params, 1))),
            'D' => self.col = self.col.saturating_sub(arg(params, 1)),
            // Cursor up and down, within the lines still live; up to a line's start (`F`).
            'A' => self.row = self.row.saturating_sub(arg(params, 1)),
            'F' => {
                self.row = self.row.saturating_sub(arg(params, 1));
                self.col = 0;
            }
            // Down, not past the last line (only a line feed makes lines).
            'B' | 'E' => {
                self.row = self.row.saturating_add(arg(params, 1)).min(self.live.len() - 1);
                if c == 'E' {
                    self.col = 0;
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tabs_and_text_are_kept_exactly() {
        assert_eq!(render(b"col1\tcol2\n\tindented\n"), "col1\tcol2\n\tindented\n");
        assert_eq!(render(b"  two spaces  \n"), "  two spaces  \n");
        assert_eq!(render("né 認証 🦀\n".as_bytes()), "né 認証 🦀\n");
        assert_eq!(render(b"no newline"), "no newline");
        assert_eq!(render(b""), "");
        assert_eq!(render(b"\n\n"), "\n\n");
    }

    #[test]
    fn escapes_are_dropped_and_nothing_else() {
        assert_eq!(render(b"\x1b[32mok\x1b[0m test\n"), "ok test\n");
        assert_eq!(render(b"\x1b]0;a title\x07text\n"), "text\n");
        assert_eq!(render(b"\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\\n"), "link\n");
        assert_eq!(render(b"a\x07b\x00c\n"), "abc\n");
        assert_eq!(render(b"\xff\n"), "\u{fffd}\n");
    }

    #[test]
    fn a_rewritten_line_keeps_its_final_state() {
        // A progress bar redrawn with a carriage return.
        assert_eq!(render(b"progress 10%\rprogress 100%\n"), "progress 100%\n");
        // A shorter redraw leaves what it did not cover, as on a terminal ...
        assert_eq!(render(b"downloading\rdone\n"), "doneloading\n");
        // ... unless the line is erased first.
        assert_eq!(render(b"downloading\r\x1b[Kdone\n"), "done\n");
        assert_eq!(render(b"downloading\x1b[2K\rdone\n"), "done\n");
        // A terminal's line ends (CR LF) end lines, nothing more.
        assert_eq!(render(b"one\r\ntwo\r\n"), "one\ntwo\n");
        // Backspaces, cursor moves.
        assert_eq!(render(b"abc\x08\x08X\n"), "aXc\n");
        assert_eq!(render(b"abc\x1b[2DX\x1b[3Gz\n"), "aXz\n");
        assert_eq!(render(b"a\x1b[3Cb\n"), "a   b\n");
    }

    #[test]
    fn lines_redrawn_from_below_keep_their_final_state() {
        // A two-line status redrawn in place (docker, npm): up, to the start, erased.
        let raw = b"line1\nline2\x1b[1A\r\x1b[2Kreplaced1\n\x1b[2Kreplaced2\n";
        assert_eq!(render(raw), "replaced1\nreplaced2\n");
        // Up one line, rewrite its start: the line below stays.
        assert_eq!(render(b"line1\nline2\x1b[1A\rL\n"), "Line1\nline2");
        // Erased below: gone.
        assert_eq!(render(b"a\nb\nc\x1b[2A\r\x1b[J"), "");
        assert_eq!(render(b"keep\na\nb\x1b[1F\x1b[Jnew\n"), "keep\nnew\n");
        // Not above the first line.
        assert_eq!(render(b"x\x1b[9Ay\n"), "xy\n");
    }

    #[test]
    fn escapes_cannot_make_the_screen_grow_without_end() {
        // Forward and absolute moves past a line's end stop at MAX_GAP blanks.
        let hostile = "\x1b[65535C".repeat(4000) + "x";
        let out = render(hostile.as_bytes());
        assert_eq!(out.chars().count(), MAX_GAP + 1);
        assert!(out.ends_with('x'));
        let out = render(b"\x1b[65535Gy");
        assert_eq!(out.chars().count(), MAX_GAP + 1);
        // Many lines down, many up: bounded too, and the text survives.
        let raw = "a\n".repeat(1000) + "\x1b[60000A" + "top";
        let out = render(raw.as_bytes());
        assert_eq!(out.lines().count(), 1000);
        assert!(out.lines().all(|l| l == "a" || l == "top"));
        assert_eq!(render("\x1b[60000B".repeat(50).as_bytes()), "", "down makes no lines");
        assert_eq!(render(b"a\nb\x1b[1A\x1b[5Bc\n"), "a\nbc\n");
    }
}
