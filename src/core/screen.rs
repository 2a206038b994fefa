//! Output as a terminal would show it, line by line: escape sequences (colours, titles, cursor
//! keys) are dropped, text is kept exactly — tabs included — and a line that a carriage return
//! or a backspace rewrote (a progress bar) keeps its final state.

use vte::{Params, Parser, Perform};

/// The text that `raw` output leaves on a terminal, one line per line of output. Invalid UTF-8
/// becomes U+FFFD.
pub fn render(raw: &[u8]) -> String {
    let mut lines = Lines::with_capacity(raw.len());
    let mut parser = Parser::new();
    parser.advance(&mut lines, raw);
    lines.finish()
}

/// The renderer's state: the text of the lines ended so far, and the line being drawn.
struct Lines {
    out: String,
    /// The line being drawn, a character per cell.
    line: Vec<char>,
    /// The cursor's column in `line`.
    col: usize,
}

impl Lines {
    fn with_capacity(n: usize) -> Lines {
        Lines { out: String::with_capacity(n), line: Vec::new(), col: 0 }
    }

    /// Puts `c` in the cursor's cell and moves on (a gap the cursor jumped over is blank).
    fn put(&mut self, c: char) {
        if self.col < self.line.len() {
            self.line[self.col] = c;
        } else {
            self.line.resize(self.col, ' ');
            self.line.push(c);
        }
        self.col += 1;
    }

    fn end_line(&mut self) {
        self.out.extend(self.line.drain(..));
        self.out.push('\n');
        self.col = 0;
    }

    fn finish(mut self) -> String {
        self.out.extend(self.line.drain(..));
        self.out
    }
}

/// The first parameter of a control sequence, `default` when absent or zero.
fn arg(params: &Params, default: u16) -> usize {
    let n = params.iter().next().and_then(|p| p.first().copied()).unwrap_or(0);
    usize::from(if n == 0 { default } else { n })
}

impl Perform for Lines {
    fn print(&mut self, c: char) {
        self.put(c);
    }

    fn execute(&mut self, byte: u8) {
        match byte {
            b'\n' | 0x0b | 0x0c => self.end_line(),
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
        match c {
            // Erase in line: to its end, from its start, all of it.
            'K' => match params.iter().next().and_then(|p| p.first().copied()).unwrap_or(0) {
                0 => self.line.truncate(self.col),
                1 => {
                    let end = (self.col + 1).min(self.line.len());
                    self.line[..end].fill(' ');
                }
                _ => self.line.clear(),
            },
            // Cursor to a column; forward; back.
            'G' | '`' => self.col = arg(params, 1) - 1,
            'C' | 'a' => self.col += arg(params, 1),
            'D' => self.col = self.col.saturating_sub(arg(params, 1)),
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
}
