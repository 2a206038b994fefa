//! The full-output viewer: a task's whole output, following its end as it grows (like
//! `less +F`) until the user scrolls up, with a search. Its keys are the keymap's `Viewer` ones.

use crossterm::event::{KeyCode, KeyEvent};

use crate::config::keys::{Command, Keymap, Place};

/// The viewer's state. It follows the end of the output until the user scrolls up, and again
/// once they are back at the end.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OutputView {
    pub id: String,
    pub text: String,
    /// The first line shown, when not following.
    pub top: usize,
    /// Showing the last lines, as they come.
    pub follow: bool,
    pub query: String,
    pub searching: bool,
    /// Its keys are shown over it.
    pub help: bool,
    /// A worktree task's diff, not its output (coloured by line).
    pub diff: bool,
}

impl OutputView {
    pub fn new(id: String) -> OutputView {
        OutputView { id, follow: true, ..Default::default() }
    }

    fn lines(&self) -> usize {
        self.text.lines().count()
    }

    /// The first line shown in a viewer `height` lines high.
    pub fn first_line(&self, height: usize) -> usize {
        let last_page = self.lines().saturating_sub(height);
        if self.follow { last_page } else { self.top.min(last_page) }
    }

    /// Scrolls by `delta` lines; reaching the end follows the output again.
    pub fn scroll_by(&mut self, delta: isize, height: usize) {
        let first = self.first_line(height) as isize;
        let last_page = self.lines().saturating_sub(height) as isize;
        let to = (first + delta).clamp(0, last_page);
        self.top = to as usize;
        self.follow = to >= last_page;
    }

    /// Moves to the next line (after the first shown) containing the query.
    fn find_next(&mut self, height: usize) {
        if self.query.is_empty() {
            return;
        }
        let q = self.query.to_lowercase();
        let lines: Vec<&str> = self.text.lines().collect();
        let n = lines.len();
        let from = self.first_line(height);
        for k in 1..=n {
            let i = (from + k) % n.max(1);
            if lines.get(i).is_some_and(|l| l.to_lowercase().contains(&q)) {
                self.top = i;
                self.follow = false;
                return;
            }
        }
    }
}

/// What a key did to the viewer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Open,
    Closed,
}

impl OutputView {
    /// Handles a key in a viewer `page` lines high.
    pub fn key(&mut self, keymap: &Keymap, k: KeyEvent, page: usize) -> Outcome {
        if self.help {
            self.help = false;
            return Outcome::Open;
        }
        if self.searching {
            match k.code {
                KeyCode::Enter => {
                    self.searching = false;
                    self.find_next(page);
                }
                KeyCode::Esc => self.searching = false,
                KeyCode::Backspace => {
                    self.query.pop();
                }
                KeyCode::Char(c) => self.query.push(c),
                _ => {}
            }
            return Outcome::Open;
        }
        if keymap.command(Place::List, &k) == Some(Command::Help) {
            self.help = true;
            return Outcome::Open;
        }
        let step = page.max(1) as isize;
        match keymap.command(Place::Viewer, &k) {
            Some(Command::ViewerClose) => return Outcome::Closed,
            Some(Command::ViewerDown) => self.scroll_by(1, page),
            Some(Command::ViewerUp) => self.scroll_by(-1, page),
            Some(Command::ViewerPageDown) => self.scroll_by(step, page),
            Some(Command::ViewerPageUp) => self.scroll_by(-step, page),
            Some(Command::ViewerTop) => self.scroll_by(isize::MIN / 2, page),
            Some(Command::ViewerEnd) => self.follow = true,
            Some(Command::ViewerSearch) => {
                self.searching = true;
                self.query.clear();
            }
            Some(Command::ViewerNext) => self.find_next(page),
            _ => {}
        }
        Outcome::Open
    }
}
