//! The dashboard's state and `update`, which turns an action into a new state and a list of
//! effects (requests to the daemon, a clipboard write). No I/O here: tested as a table.

use std::collections::{BTreeSet, HashMap};

use chrono::Offset;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseEvent, MouseEventKind};

use super::form::{Form, FormOutcome};
use crate::config::keys::{Command, Keymap};
use crate::core::limits::GroupUsage;
use crate::core::task::{Task, TaskSpec, TaskStatus};
use crate::core::timefmt::Timestamp;
use crate::proto::Event;

/// The three groups of the list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    Pending,
    Running,
    Finished,
}

impl Group {
    pub fn of(s: TaskStatus) -> Group {
        match s {
            TaskStatus::Pending => Group::Pending,
            TaskStatus::Running => Group::Running,
            _ => Group::Finished,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Group::Pending => "Pending",
            Group::Running => "Running",
            Group::Finished => "Finished",
        }
    }
}

/// A line of the task list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Row {
    Header(Group, usize),
    Task(String),
    /// Older finished tasks not shown (the list keeps running and pending ones in view).
    More(usize),
}

/// What asks for confirmation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Confirm {
    Cancel(String),
    CancelAll(usize),
}

/// The full-output viewer. It follows the end of the output (like `less +F`) until the user
/// scrolls up, and again once they are back at the end.
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
    fn scroll_by(&mut self, delta: isize, height: usize) {
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
}

/// What `update` asks the runtime to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
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
}

pub struct App {
    pub tasks: HashMap<String, Task>,
    /// Each group's tasks in display order, kept up to date as tasks change, so that a frame
    /// never sorts: (sort key, id).
    order: [BTreeSet<(i64, String)>; 3],
    pub selected: Option<String>,
    pub mode: Mode,
    pub filter: String,
    pub hide_old: bool,
    /// Every finished task listed, not only the latest that fit.
    pub all_finished: bool,
    pub detail: Option<Detail>,
    /// Lines the detail's output is scrolled back from its end (PageUp / PageDown).
    pub detail_scroll: usize,
    pub groups: Vec<GroupUsage>,
    /// Agent panes shown and waiting per main pane (to say when the window is too small).
    pub panes: Vec<crate::proto::PaneUsage>,
    pub layout: String,
    /// Why the daemon refused the config file's current content (it runs on the last good one).
    pub config_error: Option<String>,
    pub layouts: Vec<String>,
    pub targets: Vec<String>,
    pub message: Option<String>,
    pub keymap: Keymap,
    pub size: (u16, u16),
    /// Colours on (off with `NO_COLOR`).
    pub color: bool,
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
            detail_scroll: 0,
            groups: vec![],
            panes: vec![],
            layout: String::new(),
            config_error: None,
            layouts: vec![],
            targets: vec!["agent:shell".into()],
            message: None,
            keymap,
            size: (80, 24),
            color: true,
            quit: false,
            now,
            utc_offset: chrono::FixedOffset::east_opt(0).unwrap_or_else(|| chrono::Utc.fix()),
        }
    }

    /// A task's place in its group: pending by age, running by start, finished newest first.
    fn sort_key(t: &Task) -> (usize, (i64, String)) {
        let ms = |x: Option<Timestamp>| x.map(|t| t.timestamp_millis()).unwrap_or(0);
        match Group::of(t.status) {
            Group::Pending => (0, (t.created_at.timestamp_millis(), t.id.clone())),
            Group::Running => (1, (ms(t.started_at), t.id.clone())),
            Group::Finished => (2, (-ms(t.finished_at), t.id.clone())),
        }
    }

    /// Adds or replaces a task, keeping the group order.
    fn put(&mut self, task: Task) {
        if let Some(old) = self.tasks.get(&task.id) {
            let (g, k) = App::sort_key(old);
            self.order[g].remove(&k);
        }
        let (g, k) = App::sort_key(&task);
        self.order[g].insert(k);
        self.tasks.insert(task.id.clone(), task);
    }

    fn filtered(&self) -> bool {
        self.hide_old || !self.filter.is_empty()
    }

    fn index(g: Group) -> usize {
        match g {
            Group::Pending => 0,
            Group::Running => 1,
            Group::Finished => 2,
        }
    }

    /// A group's tasks that pass the filters, in order, without allocating.
    fn group_all(&self, g: Group) -> impl Iterator<Item = &Task> + '_ {
        self.order[App::index(g)]
            .iter()
            .filter_map(|(_, id)| self.tasks.get(id))
            .filter(|t| self.shown(t))
    }

    /// A group's listed tasks, in order: all of them, except the older finished ones that do
    /// not fit under the running and pending (see `finished_room`).
    pub fn group_iter(&self, g: Group) -> impl Iterator<Item = &Task> + '_ {
        let limit = if g == Group::Finished { self.finished_room() } else { usize::MAX };
        self.group_all(g).take(limit)
    }

    fn group_len(&self, g: Group) -> usize {
        if self.filtered() { self.group_all(g).count() } else { self.order[App::index(g)].len() }
    }

    /// How many finished tasks are listed: all of them when they fit (or when the user asked
    /// for all), else as many as fit below the pending and running ones — at least 3 — with a
    /// line saying how many more there are.
    pub fn finished_room(&self) -> usize {
        let total = self.group_len(Group::Finished);
        if self.all_finished {
            return total;
        }
        // The list's rows, less its column line, the three group headers and the others.
        let rows = super::view::list_inner(self.size.0, self.size.1).height as usize;
        let used = 1 + 3 + self.group_len(Group::Pending) + self.group_len(Group::Running);
        let room = rows.saturating_sub(used);
        if total <= room { total } else { room.saturating_sub(1).max(3).min(total) }
    }

    /// The rows from `start`, at most `n` of them (for drawing a window of the list).
    pub fn rows_window(&self, start: usize, n: usize) -> Vec<Row> {
        self.rows_iter().skip(start).take(n).collect()
    }

    fn rows_iter(&self) -> impl Iterator<Item = Row> + '_ {
        let more = self.group_len(Group::Finished).saturating_sub(self.finished_room());
        [Group::Pending, Group::Running, Group::Finished]
            .into_iter()
            .flat_map(move |g| {
                std::iter::once(Row::Header(g, self.group_len(g)))
                    .chain(self.group_iter(g).map(|t| Row::Task(t.id.clone())))
            })
            .chain((more > 0).then_some(Row::More(more)))
    }

    /// Ids of the shown tasks in list order.
    fn ids_iter(&self) -> impl Iterator<Item = &str> + '_ {
        [Group::Pending, Group::Running, Group::Finished]
            .into_iter()
            .flat_map(move |g| self.group_iter(g).map(|t| t.id.as_str()))
    }

    fn shown(&self, t: &Task) -> bool {
        if self.hide_old && t.status.is_terminal() {
            let day = chrono::Duration::hours(24);
            if t.finished_at.is_some_and(|f| self.now - f > day) {
                return false;
            }
        }
        if self.filter.is_empty() {
            return true;
        }
        let q = self.filter.to_lowercase();
        [&t.id, &t.title, &t.agent, &t.prompt].iter().any(|s| s.to_lowercase().contains(&q))
            || t.model.as_deref().is_some_and(|m| m.to_lowercase().contains(&q))
    }

    /// Tasks of a group in display order: pending by age, running by start, finished newest
    /// first.
    pub fn group(&self, g: Group) -> Vec<&Task> {
        self.group_iter(g).collect()
    }

    /// The list as shown: each group's header, then its tasks.
    pub fn rows(&self) -> Vec<Row> {
        self.rows_iter().collect()
    }

    pub fn selected_task(&self) -> Option<&Task> {
        self.selected.as_ref().and_then(|id| self.tasks.get(id))
    }

    /// The first visible row of a list `height` rows high, keeping the selection in view.
    pub fn scroll(&self, height: usize) -> usize {
        let sel = self
            .selected
            .as_ref()
            .and_then(|id| {
                // Its row: the tasks before it, plus the headers of its group and those before.
                let g = Group::of(self.tasks.get(id)?.status);
                let pos = self.ids_iter().position(|t| t == id)?;
                Some(pos + App::index(g) + 1)
            })
            .unwrap_or(0);
        if height == 0 || sel < height { 0 } else { sel + 1 - height }
    }

    /// Selects `id` and asks for its output.
    fn select(&mut self, id: Option<String>) -> Vec<Effect> {
        if id == self.selected {
            return vec![];
        }
        self.selected = id.clone();
        self.detail = None;
        self.detail_scroll = 0;
        id.map(|i| vec![Effect::FetchDetail(i)]).unwrap_or_default()
    }

    fn keep_selection_valid(&mut self) -> Vec<Effect> {
        let valid =
            self.selected.as_ref().and_then(|s| self.tasks.get(s)).is_some_and(|t| self.shown(t));
        if valid {
            return vec![];
        }
        let first = self.ids_iter().next().map(str::to_string);
        self.select(first)
    }

    fn move_by(&mut self, delta: isize) -> Vec<Effect> {
        let cur = match &self.selected {
            Some(s) => self.ids_iter().position(|i| i == s).unwrap_or(0),
            None => 0,
        };
        let target = if delta >= 0 {
            // Clamp to the last task without counting them all for a small step.
            let want = cur.saturating_add(delta as usize);
            let mut last = None;
            for (i, id) in self.ids_iter().enumerate() {
                last = Some(id);
                if i == want {
                    break;
                }
            }
            last.map(str::to_string)
        } else {
            let want = cur.saturating_sub(delta.unsigned_abs());
            self.ids_iter().nth(want).map(str::to_string)
        };
        match target {
            Some(id) => self.select(Some(id)),
            None => vec![],
        }
    }

    fn next_group(&mut self) -> Vec<Effect> {
        let current = self.selected_task().map(|t| Group::of(t.status));
        let order = [Group::Pending, Group::Running, Group::Finished];
        let start = current.and_then(|g| order.iter().position(|x| *x == g)).unwrap_or(2);
        for k in 1..=3 {
            let g = order[(start + k) % 3];
            if let Some(t) = self.group(g).first() {
                let id = t.id.clone();
                return self.select(Some(id));
            }
        }
        vec![]
    }

    pub fn update(&mut self, action: Action) -> Vec<Effect> {
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
                for t in tasks {
                    self.put(t);
                }
                let mut fx = self.keep_selection_valid();
                fx.push(Effect::FetchGroups);
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
                vec![]
            }
            Action::Message(m) => {
                self.message = Some(m);
                vec![]
            }
        }
    }

    fn event(&mut self, ev: Event) -> Vec<Effect> {
        match ev {
            Event::TaskCreated { task } | Event::TaskChanged { task } => {
                let id = task.id.clone();
                let status_changed = self.tasks.get(&id).map(|t| t.status) != Some(task.status);
                self.put(*task);
                let mut fx = self.keep_selection_valid();
                if status_changed {
                    fx.push(Effect::FetchGroups);
                    if self.selected.as_ref() == Some(&id) {
                        fx.push(Effect::FetchDetail(id));
                    }
                }
                fx
            }
            Event::Lagged { .. } => vec![Effect::Reload],
            Event::PanesChanged => vec![Effect::FetchGroups],
            Event::ConfigReloaded { error } => {
                self.config_error = error;
                vec![Effect::FetchGroups]
            }
            Event::Output { id, at, .. } => {
                if let Some(t) = self.tasks.get_mut(&id) {
                    t.last_output_at = Some(at);
                }
                // The output viewer of this task follows it.
                if let Mode::Output(v) = &self.mode
                    && v.id == id
                {
                    return vec![Effect::FetchOutput(id)];
                }
                if self.selected.as_ref() == Some(&id) {
                    return vec![Effect::FetchDetail(id)];
                }
                vec![]
            }
        }
    }

    fn mouse(&mut self, m: MouseEvent) -> Vec<Effect> {
        if !matches!(self.mode, Mode::Normal) {
            let height = super::view::output_inner(self.size.0, self.size.1).height as usize;
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
                let inner = super::view::list_inner(self.size.0, self.size.1);
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

    fn key(&mut self, k: KeyEvent) -> Vec<Effect> {
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
            Mode::Confirm(c) => match k.code {
                KeyCode::Char('y') | KeyCode::Char('Y') => match c {
                    Confirm::Cancel(id) => vec![Effect::Cancel(vec![id])],
                    Confirm::CancelAll(_) => vec![Effect::CancelAll],
                },
                _ => {
                    self.message = Some("not cancelled".into());
                    vec![]
                }
            },
            Mode::Output(mut v) => {
                let page = super::view::output_inner(self.size.0, self.size.1).height as usize;
                if v.searching {
                    match k.code {
                        KeyCode::Enter => {
                            v.searching = false;
                            v.find_next(page);
                        }
                        KeyCode::Esc => v.searching = false,
                        KeyCode::Backspace => {
                            v.query.pop();
                        }
                        KeyCode::Char(c) => v.query.push(c),
                        _ => {}
                    }
                    self.mode = Mode::Output(v);
                    return vec![];
                }
                let step = page.max(1) as isize;
                match k.code {
                    KeyCode::Esc | KeyCode::Char('q') | KeyCode::Char('o') => return vec![],
                    KeyCode::Char('j') | KeyCode::Down => v.scroll_by(1, page),
                    KeyCode::Char('k') | KeyCode::Up => v.scroll_by(-1, page),
                    KeyCode::PageDown | KeyCode::Char(' ') => v.scroll_by(step, page),
                    KeyCode::PageUp => v.scroll_by(-step, page),
                    KeyCode::Char('g') | KeyCode::Home => v.scroll_by(isize::MIN / 2, page),
                    KeyCode::Char('G') | KeyCode::End => v.follow = true,
                    KeyCode::Char('/') => {
                        v.searching = true;
                        v.query.clear();
                    }
                    KeyCode::Char('n') => v.find_next(page),
                    _ => {}
                }
                self.mode = Mode::Output(v);
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
                FormOutcome::Submit(spec) => vec![Effect::Submit(spec)],
            },
        }
    }

    fn normal_key(&mut self, k: KeyEvent) -> Vec<Effect> {
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
        let Some(cmd) = self.keymap.command(&k) else { return vec![] };
        let sel = self.selected.clone();
        match cmd {
            Command::Up => self.move_by(-1),
            Command::Down => self.move_by(1),
            Command::First => self.move_by(isize::MIN / 2),
            Command::Last => self.move_by(isize::MAX / 2),
            Command::NextGroup => self.next_group(),
            Command::Focus => sel.map(|id| vec![Effect::Focus(id)]).unwrap_or_default(),
            Command::Output => match sel {
                Some(id) => {
                    self.mode = Mode::Output(OutputView::new(id.clone()));
                    vec![Effect::FetchOutput(id)]
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
            Command::Retry => sel.map(|id| vec![Effect::Retry(id)]).unwrap_or_default(),
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
                vec![Effect::SetLayout(next)]
            }
            Command::Filter => {
                self.mode = Mode::Filter;
                vec![]
            }
            Command::CopyId => sel.map(|id| vec![Effect::Copy(id)]).unwrap_or_default(),
            Command::HideOld => {
                self.hide_old = !self.hide_old;
                self.keep_selection_valid()
            }
            Command::AllFinished => {
                self.all_finished = !self.all_finished;
                self.keep_selection_valid()
            }
            Command::Help => {
                self.mode = Mode::Help;
                vec![]
            }
            Command::Quit => {
                self.quit = true;
                vec![]
            }
        }
    }
}
