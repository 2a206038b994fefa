//! Each task's JSON for `list` replies, made once per version of the task: the engine hands
//! out its tasks shared (`Arc`), and a task it changes is a new `Arc` (copy on write while this
//! cache holds the old one), so the same `Arc` means the same JSON. Listing 10,000 tasks then
//! serializes only those changed since the last listing.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::core::task::Task;
use crate::proto::{ErrorBody, ErrorKind};

/// A version of a task and its JSON.
type Made = (Arc<Task>, Arc<str>);

#[derive(Debug, Default)]
pub struct ListingCache {
    /// By task id.
    made: Mutex<HashMap<String, Made>>,
}

impl ListingCache {
    /// The JSON of each task, in the order given. A listing of every task also forgets the
    /// tasks no longer in it.
    pub fn json(&self, tasks: &[Arc<Task>], whole: bool) -> Result<Vec<Arc<str>>, ErrorBody> {
        let mut made = self.made.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = Vec::with_capacity(tasks.len());
        for t in tasks {
            match made.get(&t.id) {
                Some((v, j)) if Arc::ptr_eq(v, t) => out.push(j.clone()),
                _ => {
                    let j: Arc<str> = serde_json::to_string(&**t)
                        .map_err(|e| ErrorBody::new(ErrorKind::Internal, e.to_string()))?
                        .into();
                    made.insert(t.id.clone(), (t.clone(), j.clone()));
                    out.push(j);
                }
            }
        }
        if whole && made.len() > tasks.len() {
            let listed: std::collections::HashSet<&str> =
                tasks.iter().map(|t| t.id.as_str()).collect();
            made.retain(|id, _| listed.contains(id.as_str()));
        }
        Ok(out)
    }

    /// How many tasks' JSON is kept.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.made.lock().map(|m| m.len()).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::timefmt;

    fn task(id: &str, title: &str) -> Arc<Task> {
        let log = format!("/data/tasks/{id}.log");
        let mut t = Task::pending(id, "shell", "p", "/".into(), log.into(), timefmt::now());
        t.title = title.into();
        Arc::new(t)
    }

    #[test]
    fn the_json_is_remade_only_for_a_new_version_of_a_task() {
        let cache = ListingCache::default();
        let (a, b) = (task("a", "first"), task("b", "second"));
        let one = cache.json(&[a.clone(), b.clone()], true).unwrap();
        assert!(one[0].contains("\"title\":\"first\""), "{}", one[0]);
        let again = cache.json(&[a.clone(), b.clone()], true).unwrap();
        assert!(Arc::ptr_eq(&one[0], &again[0]), "the same version was serialized again");
        // A new version of `a` (what the engine's copy on write makes): new JSON.
        let mut changed = Task::clone(&a);
        changed.title = "renamed".into();
        let a2 = Arc::new(changed);
        let three = cache.json(&[a2, b.clone()], true).unwrap();
        assert!(three[0].contains("\"title\":\"renamed\""), "{}", three[0]);
        assert!(Arc::ptr_eq(&one[1], &three[1]));
        // A filtered listing keeps the rest; a whole one forgets the tasks gone.
        cache.json(std::slice::from_ref(&b), false).unwrap();
        assert_eq!(cache.len(), 2);
        cache.json(&[b], true).unwrap();
        assert_eq!(cache.len(), 1);
    }
}
