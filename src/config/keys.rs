//! The dashboard's key bindings, as data: each action has its place (the task list, the output
//! viewer, a confirmation), default keys and a description; the help screens and the footer
//! hints are built from this table. `[ui.keys]` in the config rebinds actions.

use std::collections::BTreeMap;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// Where a binding applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    List,
    Viewer,
    Confirm,
}

/// What a key can do.
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
    Diff,
    Merge,
    Discard,
    Help,
    Quit,
    StartDaemon,
    ViewerDown,
    ViewerUp,
    ViewerPageDown,
    ViewerPageUp,
    ViewerTop,
    ViewerEnd,
    ViewerSearch,
    ViewerNext,
    ViewerClose,
    Yes,
}

/// One binding: the command, where it applies, its config name, default keys (separated by
/// spaces) and what it does.
pub struct Binding {
    pub command: Command,
    pub place: Place,
    pub name: &'static str,
    pub keys: &'static str,
    pub what: &'static str,
}

const fn b(
    command: Command,
    place: Place,
    name: &'static str,
    keys: &'static str,
    what: &'static str,
) -> Binding {
    Binding { command, place, name, keys, what }
}

use Command as C;
use Place::{Confirm, List, Viewer};

pub const BINDINGS: [Binding; 32] = [
    b(C::Up, List, "up", "k Up", "move up"),
    b(C::Down, List, "down", "j Down", "move down"),
    b(C::First, List, "first", "g", "first task"),
    b(C::Last, List, "last", "G", "last task"),
    b(C::NextGroup, List, "next_group", "Tab", "next group"),
    b(C::Focus, List, "focus", "Enter", "focus the agent's tmux pane"),
    b(C::Output, List, "output", "o", "full output (its own keys: ? there)"),
    b(C::Cancel, List, "cancel", "c", "cancel the selected task"),
    b(C::CancelAll, List, "cancel_all", "C", "cancel every task"),
    b(C::Retry, List, "retry", "r", "retry the selected task"),
    b(C::New, List, "new", "n", "new task"),
    b(C::Layout, List, "layout", "l", "next tmux layout"),
    b(C::Filter, List, "filter", "/", "filter by text (Enter keeps it, Esc clears)"),
    b(C::CopyId, List, "copy_id", "y", "copy the id (OSC 52)"),
    b(C::HideOld, List, "hide_old", "h", "hide finished tasks older than a day"),
    b(C::AllFinished, List, "all_finished", "f", "every finished task / only the latest"),
    b(C::Diff, List, "diff", "d", "a worktree task's diff (the output viewer's keys)"),
    b(C::Merge, List, "merge", "m", "merge a worktree task into your branch (asks first)"),
    b(C::Discard, List, "discard", "x", "remove a worktree task's worktree (asks first)"),
    b(C::Help, List, "help", "?", "this help"),
    b(C::Quit, List, "quit", "q", "quit (agents keep running)"),
    b(C::StartDaemon, List, "start_daemon", "S", "start the daemon again after `daemon stop`"),
    b(C::ViewerDown, Viewer, "viewer_down", "j Down", "scroll down"),
    b(C::ViewerUp, Viewer, "viewer_up", "k Up", "scroll up"),
    b(C::ViewerPageDown, Viewer, "viewer_page_down", "Space PageDown", "page down"),
    b(C::ViewerPageUp, Viewer, "viewer_page_up", "PageUp", "page up"),
    b(C::ViewerTop, Viewer, "viewer_top", "g Home", "top"),
    b(C::ViewerEnd, Viewer, "viewer_end", "G End", "the end, following new output"),
    b(C::ViewerSearch, Viewer, "viewer_search", "/", "search (Enter finds, Esc stops)"),
    b(C::ViewerNext, Viewer, "viewer_next", "n", "next match"),
    b(C::ViewerClose, Viewer, "viewer_close", "Esc q o", "close"),
    b(C::Yes, Confirm, "yes", "y", "confirm (any other key declines)"),
];

/// Why a `[ui.keys]` binding is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error(
        "unknown key {0:?} (a character, Enter, Tab, Esc, Space, Up, PageDown, F1…, or ctrl-x; \
         several separated by spaces)"
    )]
    UnknownKey(String),
    #[error("no key given")]
    NoKey,
    #[error("unknown action {name:?} (actions: {actions})")]
    UnknownAction { name: String, actions: String },
}

/// A binding the config got wrong: the action's name (as written) and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("ui.keys.{action}: {error}")]
pub struct BindingError {
    pub action: String,
    pub error: KeyError,
}

/// A key as written in the config: `c`, `C`, `Enter`, `Tab`, `Esc`, `Space`, `F5`, `ctrl-x`.
pub fn parse_key(s: &str) -> Result<KeyEvent, KeyError> {
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
            KeyCode::F(f[1..].parse().map_err(|_| KeyError::UnknownKey(s.to_string()))?)
        }
        c if c.chars().count() == 1 => KeyCode::Char(c.chars().next().unwrap_or(' ')),
        _ => return Err(KeyError::UnknownKey(s.to_string())),
    };
    Ok(KeyEvent::new(code, mods))
}

/// Keys separated by spaces: `"j Down"`.
fn parse_keys(s: &str) -> Result<Vec<KeyEvent>, KeyError> {
    let keys: Vec<KeyEvent> = s.split_whitespace().map(parse_key).collect::<Result<_, _>>()?;
    if keys.is_empty() {
        return Err(KeyError::NoKey);
    }
    Ok(keys)
}

/// How a key reads on screen.
fn key_label(k: &KeyEvent) -> String {
    let base = match k.code {
        KeyCode::Char(' ') => "Space".to_string(),
        KeyCode::Char(c) => c.to_string(),
        KeyCode::F(n) => format!("F{n}"),
        KeyCode::Up => "↑".into(),
        KeyCode::Down => "↓".into(),
        KeyCode::PageUp => "PgUp".into(),
        KeyCode::PageDown => "PgDn".into(),
        other => format!("{other:?}"),
    };
    if k.modifiers.contains(KeyModifiers::CONTROL) { format!("ctrl-{base}") } else { base }
}

/// The bindings in force.
#[derive(Debug, Clone)]
pub struct Keymap {
    keys: BTreeMap<Command, Vec<KeyEvent>>,
}

fn same(a: &KeyEvent, b: &KeyEvent) -> bool {
    // Shift is implied by an upper-case character.
    let strip = |m: KeyModifiers| m - KeyModifiers::SHIFT;
    a.code == b.code && strip(a.modifiers) == strip(b.modifiers)
}

impl Default for Keymap {
    fn default() -> Self {
        let keys = BINDINGS
            .iter()
            .filter_map(|b| parse_keys(b.keys).ok().map(|k| (b.command, k)))
            .collect();
        Keymap { keys }
    }
}

impl Keymap {
    /// The defaults with `overrides` (config name → keys) laid over them; an error names the
    /// action whose binding is wrong, and why.
    pub fn with(overrides: &BTreeMap<String, String>) -> Result<Keymap, BindingError> {
        let mut km = Keymap::default();
        for (name, keys) in overrides {
            let wrong = |error| BindingError { action: name.clone(), error };
            let binding = BINDINGS.iter().find(|b| b.name == name).ok_or_else(|| {
                let names: Vec<&str> = BINDINGS.iter().map(|b| b.name).collect();
                wrong(KeyError::UnknownAction { name: name.clone(), actions: names.join(", ") })
            })?;
            km.keys.insert(binding.command, parse_keys(keys).map_err(wrong)?);
        }
        Ok(km)
    }

    /// The command a key press means in `place`.
    pub fn command(&self, place: Place, key: &KeyEvent) -> Option<Command> {
        BINDINGS
            .iter()
            .filter(|b| b.place == place)
            .map(|b| b.command)
            .find(|c| self.keys.get(c).is_some_and(|ks| ks.iter().any(|k| same(k, key))))
    }

    /// A command's first key, for hints.
    pub fn label(&self, cmd: Command) -> String {
        self.keys.get(&cmd).and_then(|k| k.first()).map(key_label).unwrap_or_else(|| "-".into())
    }

    /// All of a command's keys, for the help.
    pub fn labels(&self, cmd: Command) -> String {
        match self.keys.get(&cmd) {
            Some(ks) => ks.iter().map(key_label).collect::<Vec<_>>().join(" "),
            None => "-".into(),
        }
    }

    /// The help of one place: (keys, what they do).
    pub fn help(&self, place: Place) -> Vec<(String, &'static str)> {
        BINDINGS
            .iter()
            .filter(|b| b.place == place)
            .map(|b| (self.labels(b.command), b.what))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(c: KeyCode, m: KeyModifiers) -> KeyEvent {
        KeyEvent::new(c, m)
    }

    #[test]
    fn defaults_and_overrides() {
        let km = Keymap::default();
        let none = KeyModifiers::NONE;
        assert_eq!(km.command(List, &key(KeyCode::Char('c'), none)), Some(C::Cancel));
        assert_eq!(
            km.command(List, &key(KeyCode::Char('C'), KeyModifiers::SHIFT)),
            Some(C::CancelAll)
        );
        assert_eq!(km.command(List, &key(KeyCode::Down, none)), Some(C::Down));
        // The same key means what its place says.
        assert_eq!(km.command(Viewer, &key(KeyCode::Char('n'), none)), Some(C::ViewerNext));
        assert_eq!(km.command(List, &key(KeyCode::Char('n'), none)), Some(C::New));
        assert_eq!(km.command(Viewer, &key(KeyCode::Char('c'), none)), None);
        let over = [
            ("quit".to_string(), "ctrl-x".to_string()),
            ("viewer_close".to_string(), "x F2".to_string()),
        ];
        let km = Keymap::with(&over.into()).unwrap();
        assert_eq!(
            km.command(List, &key(KeyCode::Char('x'), KeyModifiers::CONTROL)),
            Some(C::Quit)
        );
        assert_eq!(km.command(List, &key(KeyCode::Char('q'), none)), None);
        assert_eq!(km.command(Viewer, &key(KeyCode::F(2), none)), Some(C::ViewerClose));
        assert_eq!(km.command(Viewer, &key(KeyCode::Esc, none)), None);
        assert_eq!(km.label(C::Quit), "ctrl-x");
        assert_eq!(km.labels(C::ViewerClose), "x F2");
        let err =
            |k: &str, v: &str| Keymap::with(&[(k.to_string(), v.to_string())].into()).unwrap_err();
        let unknown = err("explode", "x");
        assert_eq!(unknown.action, "explode");
        assert!(
            matches!(&unknown.error, KeyError::UnknownAction { name, .. } if name == "explode")
        );
        assert!(unknown.to_string().starts_with("ui.keys.explode: unknown action"), "{unknown}");
        assert_eq!(err("quit", "Hyper").error, KeyError::UnknownKey("Hyper".into()));
        assert_eq!(err("quit", "F99x").error, KeyError::UnknownKey("F99x".into()));
        assert_eq!(err("quit", " ").error, KeyError::NoKey);
    }

    #[test]
    fn every_binding_has_valid_default_keys_and_a_unique_name() {
        for b in &BINDINGS {
            assert!(parse_keys(b.keys).is_ok(), "{}: {:?}", b.name, b.keys);
            assert_eq!(BINDINGS.iter().filter(|o| o.name == b.name).count(), 1, "{}", b.name);
        }
        // No key means two things in one place.
        let km = Keymap::default();
        for place in [List, Viewer, Confirm] {
            let mut seen: Vec<KeyEvent> = vec![];
            for b in BINDINGS.iter().filter(|b| b.place == place) {
                for k in &km.keys[&b.command] {
                    assert!(!seen.iter().any(|s| same(s, k)), "{} clashes", b.name);
                    seen.push(*k);
                }
            }
        }
    }
}
