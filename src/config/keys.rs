//! The dashboard's key bindings, as data: each action has a default key and a description (the
//! help screen is built from this table). `[ui.keys]` in the config rebinds actions.

use std::collections::BTreeMap;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// What a key can do in the task list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Command {
    Up,
    Down,
    First,
    Last,
    NextGroup,
    Focus,
    Output,
    Cancel,
    CancelAll,
    Retry,
    New,
    Layout,
    Filter,
    CopyId,
    HideOld,
    AllFinished,
    Help,
    Quit,
}

/// (command, config name, default key, description).
pub const BINDINGS: [(Command, &str, &str, &str); 18] = [
    (Command::Up, "up", "k", "move up (also ↑)"),
    (Command::Down, "down", "j", "move down (also ↓)"),
    (Command::First, "first", "g", "first task"),
    (Command::Last, "last", "G", "last task"),
    (Command::NextGroup, "next_group", "Tab", "next group"),
    (Command::Focus, "focus", "Enter", "focus the agent's tmux pane"),
    (Command::Output, "output", "o", "full output (/ search, n next)"),
    (Command::Cancel, "cancel", "c", "cancel the selected task"),
    (Command::CancelAll, "cancel_all", "C", "cancel every task"),
    (Command::Retry, "retry", "r", "retry the selected task"),
    (Command::New, "new", "n", "new task"),
    (Command::Layout, "layout", "l", "next tmux layout"),
    (Command::Filter, "filter", "/", "filter tasks by text"),
    (Command::CopyId, "copy_id", "y", "copy the id (OSC 52)"),
    (Command::HideOld, "hide_old", "h", "hide finished tasks older than a day"),
    (Command::AllFinished, "all_finished", "f", "list every finished task / only the latest"),
    (Command::Help, "help", "?", "this help"),
    (Command::Quit, "quit", "q", "quit (agents keep running)"),
];

/// The output viewer's keys (fixed), as (keys, description), for the help screen.
pub const VIEWER_KEYS: [(&str, &str); 6] = [
    ("j/k", "scroll"),
    ("Space/PgUp", "page"),
    ("g/G", "top/end"),
    ("/", "search"),
    ("n", "next"),
    ("Esc", "close"),
];

/// A key as written in the config: `c`, `C`, `Enter`, `Tab`, `Esc`, `Space`, `F5`, `ctrl-x`.
pub fn parse_key(s: &str) -> Result<KeyEvent, String> {
    let (mods, name) = match s.strip_prefix("ctrl-") {
        Some(rest) => (KeyModifiers::CONTROL, rest),
        None => (KeyModifiers::NONE, s),
    };
    let code = match name {
        "Enter" => KeyCode::Enter,
        "Tab" => KeyCode::Tab,
        "Esc" => KeyCode::Esc,
        "Space" => KeyCode::Char(' '),
        "Backspace" => KeyCode::Backspace,
        "Up" => KeyCode::Up,
        "Down" => KeyCode::Down,
        "Left" => KeyCode::Left,
        "Right" => KeyCode::Right,
        "Home" => KeyCode::Home,
        "End" => KeyCode::End,
        "PageUp" => KeyCode::PageUp,
        "PageDown" => KeyCode::PageDown,
        f if f.len() > 1 && f.starts_with('F') => {
            KeyCode::F(f[1..].parse().map_err(|_| format!("unknown key {s:?}"))?)
        }
        c if c.chars().count() == 1 => KeyCode::Char(c.chars().next().unwrap_or(' ')),
        _ => {
            return Err(format!(
                "unknown key {s:?} (a character, Enter, Tab, Esc, Space, F1…, or ctrl-x)"
            ));
        }
    };
    Ok(KeyEvent::new(code, mods))
}

/// The bindings in force.
#[derive(Debug, Clone)]
pub struct Keymap {
    keys: BTreeMap<Command, KeyEvent>,
}

fn same(a: &KeyEvent, b: &KeyEvent) -> bool {
    // Shift is implied by an upper-case character.
    let strip = |m: KeyModifiers| m - KeyModifiers::SHIFT;
    a.code == b.code && strip(a.modifiers) == strip(b.modifiers)
}

impl Default for Keymap {
    fn default() -> Self {
        let keys =
            BINDINGS.iter().filter_map(|(c, _, k, _)| parse_key(k).ok().map(|k| (*c, k))).collect();
        Keymap { keys }
    }
}

impl Keymap {
    /// The defaults with `overrides` (config name → key) laid over them; an error names the
    /// action whose binding is wrong, and why.
    pub fn with(overrides: &BTreeMap<String, String>) -> Result<Keymap, (String, String)> {
        let mut km = Keymap::default();
        for (name, key) in overrides {
            let cmd =
                BINDINGS.iter().find(|(_, n, _, _)| n == name).map(|(c, _, _, _)| *c).ok_or_else(
                    || {
                        let names: Vec<&str> = BINDINGS.iter().map(|b| b.1).collect();
                        (
                            name.clone(),
                            format!("unknown action {name:?} (actions: {})", names.join(", ")),
                        )
                    },
                )?;
            km.keys.insert(cmd, parse_key(key).map_err(|e| (name.clone(), e))?);
        }
        Ok(km)
    }

    /// The command bound to a key press.
    pub fn command(&self, key: &KeyEvent) -> Option<Command> {
        if let Some((c, _)) = self.keys.iter().find(|(_, k)| same(k, key)) {
            return Some(*c);
        }
        match key.code {
            KeyCode::Up => Some(Command::Up),
            KeyCode::Down => Some(Command::Down),
            _ => None,
        }
    }

    /// How a command's key reads, for the help and footer.
    pub fn label(&self, cmd: Command) -> String {
        let Some(k) = self.keys.get(&cmd) else { return "-".into() };
        let base = match k.code {
            KeyCode::Char(' ') => "Space".to_string(),
            KeyCode::Char(c) => c.to_string(),
            KeyCode::F(n) => format!("F{n}"),
            other => format!("{other:?}"),
        };
        if k.modifiers.contains(KeyModifiers::CONTROL) { format!("ctrl-{base}") } else { base }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_overrides() {
        let km = Keymap::default();
        assert_eq!(
            km.command(&KeyEvent::new(KeyCode::Char('c'), KeyModifiers::NONE)),
            Some(Command::Cancel)
        );
        assert_eq!(
            km.command(&KeyEvent::new(KeyCode::Char('C'), KeyModifiers::SHIFT)),
            Some(Command::CancelAll)
        );
        assert_eq!(
            km.command(&KeyEvent::new(KeyCode::Down, KeyModifiers::NONE)),
            Some(Command::Down)
        );
        let km = Keymap::with(&[("quit".to_string(), "ctrl-x".to_string())].into()).unwrap();
        assert_eq!(
            km.command(&KeyEvent::new(KeyCode::Char('x'), KeyModifiers::CONTROL)),
            Some(Command::Quit)
        );
        assert_eq!(km.command(&KeyEvent::new(KeyCode::Char('q'), KeyModifiers::NONE)), None);
        assert_eq!(km.label(Command::Quit), "ctrl-x");
        assert!(
            Keymap::with(&[("explode".to_string(), "x".to_string())].into())
                .unwrap_err()
                .1
                .contains("unknown action")
        );
        assert!(
            Keymap::with(&[("quit".to_string(), "Hyper".to_string())].into())
                .unwrap_err()
                .1
                .contains("unknown key")
        );
    }
}
