//! The engine's tasks: by id, in creation order, each shared (`Arc`) so that `list` hands out
//! the tasks without copying one; a task being changed while a listing still holds it is copied
//! then (copy on write), so a listing never sees a change.

use std::collections::HashMap;
use std::sync::Arc;

use crate::core::ids;
use crate::core::task::Task;
use crate::proto::{ErrorBody, ErrorKind, ListFilter};

#[derive(Debug, Default)]
pub struct Table {
    tasks: HashMap<String, Arc<Task>>,
    /// Ids in creation order.
    order: Vec<String>,
}

impl Table {
    pub fn get(&self, id: &str) -> Option<&Task> {
        self.tasks.get(id).map(|t| &**t)
    }

    pub fn contains(&self, id: &str) -> bool {
        self.tasks.contains_key(id)
    }

    /// A task to change (copied first if a listing still holds it).
    pub fn get_mut(&mut self, id: &str) -> Option<&mut Task> {
        self.tasks.get_mut(id).map(Arc::make_mut)
    }

    /// Adds a new task (at the end of the creation order) or replaces one.
    pub fn put(&mut self, task: Task) {
        if !self.tasks.contains_key(&task.id) {
            self.order.push(task.id.clone());
        }
        self.tasks.insert(task.id.clone(), Arc::new(task));
    }

    /// Forgets a task (one that was never recorded).
    pub fn remove(&mut self, id: &str) {
        if self.tasks.remove(id).is_some() {
            self.order.retain(|o| o != id);
        }
    }

    /// Every task, in no particular order.
    pub fn all(&self) -> impl Iterator<Item = &Task> + '_ {
        self.tasks.values().map(|t| &**t)
    }

    /// Ids in creation order.
    pub fn ids(&self) -> impl Iterator<Item = &String> + '_ {
        self.order.iter()
    }

    /// Resolves a user-typed id or unique prefix.
    pub fn resolve(&self, prefix: &str) -> Result<String, ErrorBody> {
        ids::resolve_id(prefix, self.tasks.keys().map(String::as_str)).map_err(|e| {
            let kind = match e {
                ids::IdError::Ambiguous { .. } => ErrorKind::AmbiguousId,
                _ => ErrorKind::UnknownId,
            };
            ErrorBody::new(kind, e.to_string())
        })
    }

    /// The tasks `filter` keeps, newest first (shared, not copied).
    pub fn list(&self, filter: &ListFilter) -> Vec<Arc<Task>> {
        let limit = filter.limit.unwrap_or(usize::MAX);
        let unfiltered = filter.is_empty();
        self.order
            .iter()
            .rev()
            .filter_map(|id| self.tasks.get(id))
            .filter(|t| unfiltered || filter.keeps(t))
            .take(limit)
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::task::TaskStatus;
    use crate::core::timefmt;

    fn task(id: &str, status: TaskStatus) -> Task {
        let log = format!("/data/tasks/{id}.log");
        let mut t = Task::pending(id, "shell", "p", "/".into(), log.into(), timefmt::now());
        t.status = status;
        t
    }

    #[test]
    fn a_listing_is_newest_first_filtered_limited_and_never_sees_a_later_change() {
        let mut table = Table::default();
        table.put(task("a", TaskStatus::Running));
        table.put(task("b", TaskStatus::Pending));
        table.put(task("c", TaskStatus::Running));
        let ids = |l: &[Arc<Task>]| l.iter().map(|t| t.id.clone()).collect::<Vec<_>>();
        let all = table.list(&ListFilter::default());
        assert_eq!(ids(&all), ["c", "b", "a"]);
        let running = ListFilter { status: vec![TaskStatus::Running], ..Default::default() };
        assert_eq!(ids(&table.list(&running)), ["c", "a"]);
        let one = ListFilter { limit: Some(1), ..Default::default() };
        assert_eq!(ids(&table.list(&one)), ["c"]);
        // Changed after the listing: the listing keeps what it was given.
        if let Some(t) = table.get_mut("a") {
            t.status = TaskStatus::Completed;
        }
        assert_eq!(all[2].status, TaskStatus::Running);
        assert_eq!(table.get("a").map(|t| t.status), Some(TaskStatus::Completed));
        table.remove("b");
        assert_eq!(ids(&table.list(&ListFilter::default())), ["c", "a"]);
        assert_eq!(table.ids().cloned().collect::<Vec<_>>(), ["a", "c"]);
    }
}
