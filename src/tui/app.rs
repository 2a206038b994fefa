//! The dashboard's state and `update`, which turns an action into a new state and a list of
//! effects (requests to the daemon, a clipboard write). No I/O here: tested as a table.

use std::collections::{BTreeSet, HashMap};

use chrono::Offset;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseEvent, MouseEventKind};

use super::form::{Form, FormOutcome};
pub use super::rows::{Group, Row};
use super::viewer::Outcome;
pub use super::viewer::OutputView;
use crate::config::keys::{Command, Keymap, Place};
use crate::core::limits::GroupUsage;
use crate::core::task::{Task, TaskSpec};
use crate::core::timefmt::Timestamp;
use crate::proto::Event;

/// What asks for confirmation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Confirm {
    Cancel(String),
    CancelAll(usize),
    Merge(String),
    Discard(String),
}

/// A worktree task's worktree, for the effects that read or change it (git runs in the
/// runtime, off the render path).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorktreeRef {
    pub id: String,
    pub title: String,
    pub repo: std::path::PathBuf,
    pub path: std::path::PathBuf,
    pub branch: String,
    pub base: String,
    pub attached: bool,
}

impl WorktreeRef {
    /// A task's worktree on this machine (a host's is there: git is never run on its paths here).
    pub fn of(t: &Task) -> Option<WorktreeRef> {
        if t.host.is_some() {
            return None;
        }
        Some(WorktreeRef {
            id: t.id.clone(),
            title: t.title.clone(),
            repo: t.repo.clone()?,
            path: t.worktree.clone()?,
            branch: t.branch.clone()?,
            base: t.base.clone()?,
            attached: t.worktree_request.as_ref().is_some_and(|r| r.attach),
        })
    }
}

/// Where a worktree task's worktree stands, as last read: `+N −M in F files` against its base,
/// and its branch against the one checked out in the repository.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WorktreeInfo {
    /// The directory is there (not merged, discarded or removed by hand).
    pub exists: bool,
    pub stat: crate::worktree::state::Stat,
    pub target: String,
    pub dirty: bool,
    pub ahead: usize,
    pub merged: bool,
}

/// Why `d`, `m` or `x` has no worktree to act on (said in the footer).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoWorktree {
    #[error("no task selected")]
    NoSelection,
    #[error("{0}'s worktree is made when it starts")]
    NotYet(String),
    #[error("{0} has no worktree (run --worktree for one)")]
    None(String),
    #[error("{id} runs on host {host}: its worktree is there (`paneherd diff {id}` shows it)")]
    There { id: String, host: String },
}

#[derive(Debug, Clone)]
pub enum Mode {
    Normal,
    Help,
    Filter,
    Confirm(Confirm),
    Output(OutputView),
    NewTask(Box<Form>),
}

/// The selected task's output, as last fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detail {
    pub id: String,
    /// The result (ended) or the latest lines (running).
    pub text: String,
}

/// Everything that can happen to the dashboard.
#[derive(Debug, Clone)]
pub enum Action {
    Key(KeyEvent),
    Mouse(MouseEvent),
    /// The terminal's size changed.
    Resize(u16, u16),
    /// The whole task list (at start, or after the event stream lagged).
    Loaded(Vec<Task>),
    Event(Event),
    Detail(Detail),
    FullOutput(String, String),
    /// The daemon's status (limit groups, layout, panes, config health).
    Status(Box<crate::proto::StatusData>),
    Message(String),
    /// The line to the daemon changed.
    Daemon(Daemon),
    /// A worktree task's worktree as read now.
    Worktree(String, WorktreeInfo),
    /// A worktree task's diff (for the viewer).
    Diff(String, String),
}

/// The dashboard's line to the daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Daemon {
    Up,
    /// Stopped on purpose: started again only when the user asks.
    Stopped,
    /// Gone unasked (crashed, killed): the dashboard reconnects by itself.
    Lost,
}

/// What `update` asks the runtime to do.
#[derive(Debug, Clone, PartialEq)]
pub enum UiEffect {
    Cancel(Vec<String>),
    CancelAll,
    Retry(String),
    Submit(Box<TaskSpec>),
    Focus(String),
    FetchDetail(String),
    FetchOutput(String),
    Copy(String),
    SetLayout(String),
    /// Limit groups changed: ask for the status.
    FetchGroups,
    /// The event stream skipped events: fetch the whole list again.
    Reload,
    /// Start the stopped daemon again and connect to it.
    StartDaemon,
    /// Read a worktree's `+N −M` and state: `Action::Worktree`.
    FetchWorktree(WorktreeRef),
    /// Read a worktree's diff: `Action::Diff`.
    FetchDiff(WorktreeRef),
    Merge(WorktreeRef),
    Discard(WorktreeRef),
}

pub struct App {
    pub tasks: HashMap<String, Task>,
    /// Each group's tasks in display order, kept up to date as tasks change, so that a frame
    /// never sorts: (sort key, id).
    pub(super) order: [BTreeSet<(i64, String)>; 3],
    pub selected: Option<String>,
    pub mode: Mode,
    pub filter: String,
    pub hide_old: bool,
    /// Every finished task listed, not only the latest that fit.
    pub all_finished: bool,
    pub detail: Option<Detail>,
    /// Worktree tasks' worktrees, as last read.
    pub worktrees: HashMap<String, WorktreeInfo>,
    /// Lines the detail's output is scrolled back from its end (PageUp / PageDown).
    pub detail_scroll: usize,
    pub groups: Vec<GroupUsage>,
    /// Agent panes shown and waiting per main pane (to say when the window is too small).
    pub panes: Vec<crate::proto::PaneUsage>,
    pub layout: String,
    /// Why the daemon refused the config file's current content (it runs on the last good one).
    pub config_error: Option<String>,
    /// Hosts whose link is down (their tasks go on there; `paneherd hosts` says why).
    pub hosts_down: Vec<String>,
    pub layouts: Vec<String>,
    pub targets: Vec<String>,
    pub message: Option<String>,
    pub keymap: Keymap,
    pub size: (u16, u16),
    pub daemon: Daemon,
    /// Colours on (off with `NO_COLOR`).
    pub color: bool,
    /// The terminal's background is light (darker colours read better on it).
    pub light: bool,
    pub quit: bool,
    /// "Now" for elapsed times; the runtime sets it before each frame (tests fix it).
    pub now: Timestamp,
    /// The local time zone's offset, for times of day (the runtime sets it; tests keep UTC).
    pub utc_offset: chrono::FixedOffset,
}

impl App {
    pub fn new(keymap: Keymap, now: Timestamp) -> App {
        App {
            tasks: HashMap::new(),
            order: Default::default(),
            selected: None,
            mode: Mode::Normal,
            filter: String::new(),
            hide_old: false,
            all_finished: false,
            detail: None,
            worktrees: HashMap::new(),
            detail_scroll: 0,
            groups: vec![],
            panes: vec![],
            layout: String::new(),
            config_error: None,
            hosts_down: vec![],
            layouts: vec![],
            targets: vec!["agent:shell".into()],
            message: None,
            keymap,
            size: (80, 24),
            daemon: Daemon::Up,
            color: true,
            light: false,
            quit: false,
            now,
            utc_offset: chrono::FixedOffset::east_opt(0).unwrap_or_else(|| chrono::Utc.fix()),
        }
    }

    pub fn update(&mut self, action: Action) -> Vec<UiEffect> {
        match action {
            Action::Key(k) => self.key(k),
            Action::Mouse(m) => self.mouse(m),
            Action::Resize(w, h) => {
                self.size = (w, h);
                vec![]
            }
            Action::Loaded(tasks) => {
                self.tasks.clear();
                self.order = Default::default();
                let mut fx: Vec<UiEffect> = tasks
                    .iter()
                    .filter_map(|t| WorktreeRef::of(t).map(UiEffect::FetchWorktree))
                    .collect();
                for t in tasks {
                    self.put(t);
                }
                fx.extend(self.keep_selection_valid());
                fx.push(UiEffect::FetchGroups);
                fx
            }
            Action::Event(ev) => self.event(ev),
            Action::Detail(d) => {
                if self.selected.as_ref() == Some(&d.id) {
                    self.detail = Some(d);
                }
                vec![]
            }
            Action::FullOutput(id, text) => {
                if let Mode::Output(v) = &mut self.mode
                    && v.id == id
                {
                    v.text = text;
                }
                vec![]
            }
            Action::Status(s) => {
                let s = *s;
                self.groups = s.groups;
                self.layout = s.layout;
                self.panes = s.panes;
                self.config_error = s.config_error;
                self.hosts_down = s.hosts_unreachable.into_iter().map(|(h, _)| h).collect();
                vec![]
            }
            Action::Message(m) => {
                self.message = Some(m);
                vec![]
            }
            Action::Daemon(d) => {
                // Back: what was said while it was away (it is not running, it is starting) is
                // out of date.
                if d == Daemon::Up && self.daemon != Daemon::Up {
                    self.message = None;
                }
                // Told it stops on purpose, its stream's end is no loss.
                if !(d == Daemon::Lost && self.daemon == Daemon::Stopped) {
                    self.daemon = d;
                }
                vec![]
            }
            Action::Worktree(id, info) => {
                self.worktrees.insert(id, info);
                vec![]
            }
            Action::Diff(id, text) => {
                if let Mode::Output(v) = &mut self.mode
                    && v.diff
                    && v.id == id
                {
                    v.text = text;
                }
                vec![]
            }
        }
    }

    /// Reads a worktree task's worktree again (its output showed it at work, or it changed).
    fn refresh_worktree(&self, id: &str) -> Vec<UiEffect> {
        let t = self.tasks.get(id);
        match t.filter(|t| t.worktree.is_some()).and_then(WorktreeRef::of) {
            Some(w) => {
                let mut fx = vec![UiEffect::FetchWorktree(w.clone())];
                if let Mode::Output(v) = &self.mode
                    && v.diff
                    && v.id == id
                {
                    fx.push(UiEffect::FetchDiff(w));
                }
                fx
            }
            None => vec![],
        }
    }

    fn event(&mut self, ev: Event) -> Vec<UiEffect> {
        match ev {
            Event::TaskCreated { task } | Event::TaskChanged { task } => {
                let id = task.id.clone();
                let old = self.tasks.get(&id);
                let status_changed = old.map(|t| t.status) != Some(task.status);
                let worktree_changed = old.map(|t| (&t.worktree, &t.worktree_note))
                    != Some((&task.worktree, &task.worktree_note));
                self.put(*task);
                let mut fx = self.keep_selection_valid();
                if status_changed || worktree_changed {
                    fx.extend(self.refresh_worktree(&id));
                }
                if status_changed {
                    fx.push(UiEffect::FetchGroups);
                    if self.selected.as_ref() == Some(&id) {
                        fx.push(UiEffect::FetchDetail(id));
                    }
                }
                fx
            }
            Event::Lagged { .. } => vec![UiEffect::Reload],
            Event::DaemonStopping => {
                self.daemon = Daemon::Stopped;
                vec![]
            }
            Event::PanesChanged | Event::HostsChanged => vec![UiEffect::FetchGroups],
            Event::ConfigReloaded { error } => {
                self.config_error = error;
                vec![UiEffect::FetchGroups]
            }
            Event::Output { id, at, .. } => {
                if let Some(t) = self.tasks.get_mut(&id) {
                    t.last_output_at = Some(at);
                }
                // A worktree task at work: its `+N −M` (and its diff, when open) read again.
                let mut fx = self.refresh_worktree(&id);
                if let Mode::Output(v) = &self.mode
                    && v.diff
                {
                    return fx;
                }
                // The output viewer of this task follows it.
                if let Mode::Output(v) = &self.mode
                    && v.id == id
                {
                    fx.push(UiEffect::FetchOutput(id));
                    return fx;
                }
                if self.selected.as_ref() == Some(&id) {
                    fx.push(UiEffect::FetchDetail(id));
                }
                fx
            }
        }
    }

    fn mouse(&mut self, m: MouseEvent) -> Vec<UiEffect> {
        if !matches!(self.mode, Mode::Normal) {
            let height = super::geometry::output_inner(self.size.0, self.size.1).height as usize;
            if let Mode::Output(v) = &mut self.mode {
                match m.kind {
                    MouseEventKind::ScrollDown => v.scroll_by(3, height),
                    MouseEventKind::ScrollUp => v.scroll_by(-3, height),
                    _ => {}
                }
            }
            return vec![];
        }
        match m.kind {
            MouseEventKind::ScrollDown => self.move_by(1),
            MouseEventKind::ScrollUp => self.move_by(-1),
            MouseEventKind::Down(_) => {
                // The list's first row is its column line.
                let inner = super::geometry::list_inner(
                    self.size.0,
                    self.size.1,
                    self.list_wants(),
                    super::geometry::footer_rows(self.message.as_deref(), self.size.0),
                );
                let height = inner.height.saturating_sub(1);
                let row =
                    m.row.checked_sub(inner.y + 1).filter(|r| *r < height).map(|r| r as usize);
                let rows = self.rows();
                match row.and_then(|r| rows.get(self.scroll(height as usize) + r)) {
                    Some(Row::Task(id)) => {
                        let id = id.clone();
                        self.select(Some(id))
                    }
                    _ => vec![],
                }
            }
            _ => vec![],
        }
    }

    fn key(&mut self, k: KeyEvent) -> Vec<UiEffect> {
        if k.code == KeyCode::Char('c') && k.modifiers.contains(KeyModifiers::CONTROL) {
            self.quit = true;
            return vec![];
        }
        self.message = None;
        match std::mem::replace(&mut self.mode, Mode::Normal) {
            Mode::Normal => self.normal_key(k),
            Mode::Help => vec![],
            Mode::Filter => {
                match k.code {
                    KeyCode::Esc => self.filter.clear(),
                    KeyCode::Enter => {}
                    KeyCode::Backspace => {
                        self.filter.pop();
                        self.mode = Mode::Filter;
                    }
                    KeyCode::Char(c) => {
                        self.filter.push(c);
                        self.mode = Mode::Filter;
                    }
                    _ => self.mode = Mode::Filter,
                }
                self.keep_selection_valid()
            }
            Mode::Confirm(c) => match self.keymap.command(Place::Confirm, &k) {
                Some(Command::Yes) => match c {
                    Confirm::Cancel(id) => vec![UiEffect::Cancel(vec![id])],
                    Confirm::CancelAll(_) => vec![UiEffect::CancelAll],
                    Confirm::Merge(id) => {
                        self.worktree_of(&id).map(UiEffect::Merge).into_iter().collect()
                    }
                    Confirm::Discard(id) => {
                        self.worktree_of(&id).map(UiEffect::Discard).into_iter().collect()
                    }
                },
                _ => {
                    self.message = Some(match c {
                        Confirm::Merge(_) => "not merged".into(),
                        Confirm::Discard(_) => "nothing discarded".into(),
                        _ => "not cancelled".into(),
                    });
                    vec![]
                }
            },
            Mode::Output(mut v) => {
                let page = super::geometry::output_inner(self.size.0, self.size.1).height as usize;
                if v.key(&self.keymap, k, page) == Outcome::Open {
                    self.mode = Mode::Output(v);
                }
                vec![]
            }
            Mode::NewTask(mut form) => match form.key(k) {
                FormOutcome::Editing => {
                    self.mode = Mode::NewTask(form);
                    vec![]
                }
                FormOutcome::Cancelled => vec![],
                FormOutcome::Invalid(e) => {
                    self.message = Some(e);
                    self.mode = Mode::NewTask(form);
                    vec![]
                }
                FormOutcome::Submit(spec) => vec![UiEffect::Submit(spec)],
            },
        }
    }

    fn worktree_of(&self, id: &str) -> Option<WorktreeRef> {
        self.tasks.get(id).and_then(WorktreeRef::of)
    }

    fn worktree_of_selected(&self) -> Result<WorktreeRef, NoWorktree> {
        let t = self.selected_task().ok_or(NoWorktree::NoSelection)?;
        WorktreeRef::of(t).ok_or_else(|| {
            if let Some(h) = &t.host {
                NoWorktree::There { id: t.id.clone(), host: h.clone() }
            } else if t.worktree_request.is_some() {
                NoWorktree::NotYet(t.id.clone())
            } else {
                NoWorktree::None(t.id.clone())
            }
        })
    }

    fn normal_key(&mut self, k: KeyEvent) -> Vec<UiEffect> {
        // PageUp / PageDown scroll the detail's output; Esc clears a kept filter.
        let page = (self.size.1 as usize / 3).max(1);
        match k.code {
            KeyCode::Esc if !self.filter.is_empty() => {
                self.filter.clear();
                return self.keep_selection_valid();
            }
            KeyCode::PageUp => {
                let lines = self.detail.as_ref().map(|d| d.text.lines().count()).unwrap_or(0);
                self.detail_scroll = (self.detail_scroll + page).min(lines.saturating_sub(1));
                return vec![];
            }
            KeyCode::PageDown => {
                self.detail_scroll = self.detail_scroll.saturating_sub(page);
                return vec![];
            }
            _ => {}
        }
        let Some(cmd) = self.keymap.command(Place::List, &k) else { return vec![] };
        let sel = self.selected.clone();
        match cmd {
            Command::Up => self.move_by(-1),
            Command::Down => self.move_by(1),
            Command::First => self.move_by(isize::MIN / 2),
            Command::Last => self.move_by(isize::MAX / 2),
            Command::NextGroup => self.next_group(),
            Command::Focus => sel.map(|id| vec![UiEffect::Focus(id)]).unwrap_or_default(),
            Command::Output => match sel {
                Some(id) => {
                    self.mode = Mode::Output(OutputView::new(id.clone()));
                    vec![UiEffect::FetchOutput(id)]
                }
                None => vec![],
            },
            Command::Cancel => {
                match self.selected_task() {
                    Some(t) if !t.status.is_terminal() => {
                        self.mode = Mode::Confirm(Confirm::Cancel(t.id.clone()));
                    }
                    Some(t) => self.message = Some(format!("{} has already ended", t.id)),
                    None => {}
                }
                vec![]
            }
            Command::CancelAll => {
                let n = self.tasks.values().filter(|t| !t.status.is_terminal()).count();
                if n == 0 {
                    self.message = Some("nothing to cancel".into());
                } else {
                    self.mode = Mode::Confirm(Confirm::CancelAll(n));
                }
                vec![]
            }
            Command::Retry => sel.map(|id| vec![UiEffect::Retry(id)]).unwrap_or_default(),
            Command::New => {
                self.mode = Mode::NewTask(Box::new(Form::new(self.targets.clone())));
                vec![]
            }
            Command::Layout => {
                if self.layouts.is_empty() {
                    return vec![];
                }
                let i =
                    self.layouts.iter().position(|l| *l == self.layout).map(|i| i + 1).unwrap_or(0);
                let next = self.layouts[i % self.layouts.len()].clone();
                self.layout = next.clone();
                vec![UiEffect::SetLayout(next)]
            }
            Command::Filter => {
                self.mode = Mode::Filter;
                vec![]
            }
            Command::CopyId => sel.map(|id| vec![UiEffect::Copy(id)]).unwrap_or_default(),
            Command::HideOld => {
                self.hide_old = !self.hide_old;
                self.keep_selection_valid()
            }
            Command::AllFinished => {
                self.all_finished = !self.all_finished;
                self.keep_selection_valid()
            }
            Command::Diff => match self.worktree_of_selected() {
                Ok(w) => {
                    let mut v = OutputView::new(w.id.clone());
                    v.diff = true;
                    v.follow = false;
                    self.mode = Mode::Output(v);
                    vec![UiEffect::FetchDiff(w)]
                }
                Err(why) => {
                    self.message = Some(why.to_string());
                    vec![]
                }
            },
            Command::Merge | Command::Discard => {
                match self.worktree_of_selected() {
                    Ok(w) => match self.tasks.get(&w.id) {
                        Some(t) if !t.status.is_terminal() => {
                            self.message =
                                Some(format!("{} is still {}: wait for it to end", t.id, t.status));
                        }
                        _ if self.worktrees.get(&w.id).is_some_and(|i| !i.exists) => {
                            self.message = Some(format!("{}'s worktree is gone already", w.id));
                        }
                        _ if cmd == Command::Merge => {
                            self.mode = Mode::Confirm(Confirm::Merge(w.id))
                        }
                        _ => self.mode = Mode::Confirm(Confirm::Discard(w.id)),
                    },
                    Err(why) => self.message = Some(why.to_string()),
                }
                vec![]
            }
            Command::Help => {
                self.mode = Mode::Help;
                vec![]
            }
            Command::Quit => {
                self.quit = true;
                vec![]
            }
            Command::StartDaemon if self.daemon == Daemon::Stopped => {
                self.message = Some("starting the daemon…".into());
                vec![UiEffect::StartDaemon]
            }
            // The output viewer's and the confirmation's (`Place::List` never gives them).
            _ => vec![],
        }
    }
}
