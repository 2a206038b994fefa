//! The task list: three groups (pending, running, finished) each kept in display order as
//! tasks change, the filters, which finished tasks fit, and moving the selection.

use super::app::{App, UiEffect};
use super::rows::{Group, Row};
use crate::core::task::Task;
use crate::core::timefmt::Timestamp;

impl App {
    /// A task's place in its group: pending by age, running by start, finished newest first.
    pub(super) fn sort_key(t: &Task) -> (usize, (i64, String)) {
        let ms = |x: Option<Timestamp>| x.map(|t| t.timestamp_millis()).unwrap_or(0);
        match Group::of(t.status) {
            Group::Pending => (0, (t.created_at.timestamp_millis(), t.id.clone())),
            Group::Running => (1, (ms(t.started_at), t.id.clone())),
            Group::Finished => (2, (-ms(t.finished_at), t.id.clone())),
        }
    }

    /// Adds or replaces a task, keeping the group order.
    pub(super) fn put(&mut self, task: Task) {
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

    pub(super) fn index(g: Group) -> usize {
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

    /// The rows the list would like: its column line, the group headers, every pending and
    /// running task, and a few finished ones (the list takes them from the detail panel below
    /// it when it can).
    pub fn list_wants(&self) -> usize {
        let finished = self.group_len(Group::Finished).min(3);
        1 + 3 + self.group_len(Group::Pending) + self.group_len(Group::Running) + finished
    }

    /// The list's rows on this screen.
    pub fn list_rows(&self) -> usize {
        super::geometry::list_inner(
            self.size.0,
            self.size.1,
            self.list_wants(),
            super::geometry::footer_rows(self.message.as_deref(), self.size.0),
        )
        .height as usize
    }

    /// How many finished tasks are listed: all of them when they fit (or when the user asked
    /// for all), else as many as fit below the pending and running ones, with a line saying
    /// how many more there are — the pending and running ones are never pushed out of view.
    pub fn finished_room(&self) -> usize {
        let total = self.group_len(Group::Finished);
        if self.all_finished {
            return total;
        }
        // The list's rows, less its column line, the group headers and the others.
        let headers = if self.headers() { 3 } else { 0 };
        let used = 1 + headers + self.group_len(Group::Pending) + self.group_len(Group::Running);
        let room = self.list_rows().saturating_sub(used);
        if total <= room { total } else { room.saturating_sub(1).min(total) }
    }

    /// Whether the list shows its group headers: not when they would push a pending or
    /// running task out of view (each row's status says its group).
    pub fn headers(&self) -> bool {
        let needed = 1 + 3 + self.group_len(Group::Pending) + self.group_len(Group::Running);
        self.list_rows() >= needed
    }

    /// The rows from `start`, at most `n` of them (for drawing a window of the list).
    pub fn rows_window(&self, start: usize, n: usize) -> Vec<Row> {
        self.rows_iter().skip(start).take(n).collect()
    }

    fn rows_iter(&self) -> impl Iterator<Item = Row> + '_ {
        let more = self.group_len(Group::Finished).saturating_sub(self.finished_room());
        let headers = self.headers();
        [Group::Pending, Group::Running, Group::Finished]
            .into_iter()
            .flat_map(move |g| {
                headers
                    .then(|| Row::Header(g, self.group_len(g)))
                    .into_iter()
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

    pub(super) fn shown(&self, t: &Task) -> bool {
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
                Some(if self.headers() { pos + App::index(g) + 1 } else { pos })
            })
            .unwrap_or(0);
        if height == 0 || sel < height { 0 } else { sel + 1 - height }
    }

    /// Selects `id` and asks for its output.
    pub(super) fn select(&mut self, id: Option<String>) -> Vec<UiEffect> {
        if id == self.selected {
            return vec![];
        }
        self.selected = id.clone();
        self.detail = None;
        self.detail_scroll = 0;
        id.map(|i| vec![UiEffect::FetchDetail(i)]).unwrap_or_default()
    }

    pub(super) fn keep_selection_valid(&mut self) -> Vec<UiEffect> {
        let valid =
            self.selected.as_ref().and_then(|s| self.tasks.get(s)).is_some_and(|t| self.shown(t));
        if valid {
            return vec![];
        }
        let first = self.ids_iter().next().map(str::to_string);
        self.select(first)
    }

    pub(super) fn move_by(&mut self, delta: isize) -> Vec<UiEffect> {
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

    pub(super) fn next_group(&mut self) -> Vec<UiEffect> {
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
}
