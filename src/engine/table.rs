//! The engine's tasks: by id, in creation order, each with its JSON kept for `list` (remade only
//! for the tasks changed since), so that listing 10,000 tasks copies no task.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use crate::core::ids;
use crate::core::task::Task;
use crate::proto::{ErrorBody, ErrorKind, ListFilter};

#[derive(Debug, Default)]
pub struct Table {
    tasks: HashMap<String, Task>,
    /// Ids in creation order.
    order: Vec<String>,
    /// Each task's JSON, by position in `order`; `pos` finds a task's position and `dirty`
    /// names the tasks changed since their JSON was made.
    json: Vec<Arc<str>>,
    pos: HashMap<String, usize>,
    dirty: HashSet<String>,
}

impl Table {
    pub fn get(&self, id: &str) -> Option<&Task> {
        self.tasks.get(id)
    }

    pub fn contains(&self, id: &str) -> bool {
        self.tasks.contains_key(id)
    }

    /// A task to change; its JSON is remade on the next `list`.
    pub fn get_mut(&mut self, id: &str) -> Option<&mut Task> {
        self.dirty.insert(id.to_string());
        self.tasks.get_mut(id)
    }

    /// Adds a new task (at the end of the creation order) or replaces one.
    pub fn put(&mut self, task: Task) {
        if !self.pos.contains_key(&task.id) {
            self.pos.insert(task.id.clone(), self.order.len());
            self.order.push(task.id.clone());
            self.json.push(Arc::from("null"));
        }
        self.dirty.insert(task.id.clone());
        self.tasks.insert(task.id.clone(), task);
    }

    /// Forgets a task (one that was never recorded).
    pub fn remove(&mut self, id: &str) {
        if self.tasks.remove(id).is_none() {
            return;
        }
        self.dirty.remove(id);
        if let Some(at) = self.pos.remove(id) {
            self.order.remove(at);
            self.json.remove(at);
            for (i, later) in self.order.iter().enumerate().skip(at) {
                self.pos.insert(later.clone(), i);
            }
        }
    }

    /// Every task, in no particular order.
    pub fn all(&self) -> impl Iterator<Item = &Task> + '_ {
        self.tasks.values()
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

    /// The tasks, newest first, each as its cached JSON object (shared, not copied).
    pub fn list_json(&mut self, filter: &ListFilter) -> Result<Vec<Arc<str>>, ErrorBody> {
        for id in std::mem::take(&mut self.dirty) {
            let (Some(t), Some(&i)) = (self.tasks.get(&id), self.pos.get(&id)) else {
                continue;
            };
            let j = serde_json::to_string(t)
                .map_err(|e| ErrorBody::new(ErrorKind::Internal, e.to_string()))?;
            self.json[i] = Arc::from(j);
        }
        let unfiltered = filter.is_empty();
        let limit = filter.limit.unwrap_or(usize::MAX);
        let mut out = Vec::with_capacity(self.order.len().min(limit));
        for (i, id) in self.order.iter().enumerate().rev() {
            if out.len() >= limit {
                break;
            }
            if !unfiltered {
                let Some(t) = self.tasks.get(id) else { continue };
                if !filter.keeps(t) {
                    continue;
                }
            }
            out.push(self.json[i].clone());
        }
        Ok(out)
    }
}
