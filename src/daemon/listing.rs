//! Each task's JSON for `list` replies, made once per version of the task: the engine hands
//! out its tasks shared (`Arc`), and a task it changes is a new `Arc` (copy on write while this
//! cache holds the old one), so the same `Arc` (by address) means the same JSON. Listing 10,000 tasks then
//! serializes only those changed since the last listing.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Arc, Mutex};

use crate::core::task::Task;
use crate::proto::{ErrorBody, ErrorKind};

/// A version of a task and its JSON.
type Made = (Arc<Task>, Arc<str>);

/// Hashes a task version's address (the map's key).
#[derive(Default)]
struct AddressHasher(u64);

impl Hasher for AddressHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    /// splitmix64's finalizer: every bit of the address reaches the low bits, which pick the
    /// bucket (allocations' addresses share their low bits).
    fn write_usize(&mut self, n: usize) {
        let mut z = n as u64;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        self.0 = z ^ (z >> 31);
    }
}

#[derive(Debug, Default)]
struct Cache {
    /// By the address of the version (kept alive by the entry, so never reused meanwhile).
    made: HashMap<usize, Made, BuildHasherDefault<AddressHasher>>,
    /// How many tasks the last whole listing held.
    whole_len: usize,
}

#[derive(Debug, Default)]
pub struct ListingCache {
    cache: Mutex<Cache>,
}

impl ListingCache {
    /// The JSON of each task, in the order given. A listing of every task (`whole`) also forgets
    /// the versions no longer listed.
    pub fn json(&self, tasks: &[Arc<Task>], whole: bool) -> Result<Vec<Arc<str>>, ErrorBody> {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = Vec::with_capacity(tasks.len());
        for t in tasks {
            let key = Arc::as_ptr(t) as usize;
            match cache.made.get(&key) {
                Some((_, j)) => out.push(j.clone()),
                None => {
                    let j: Arc<str> = serde_json::to_string(&**t)
                        .map_err(|e| ErrorBody::new(ErrorKind::Internal, e.to_string()))?
                        .into();
                    cache.made.insert(key, (t.clone(), j.clone()));
                    out.push(j);
                }
            }
        }
        if whole {
            cache.whole_len = tasks.len();
        }
        // Old versions go at a whole listing, or when they pile up between whole listings.
        if cache.made.len() > tasks.len()
            && (whole || cache.made.len() > 2 * cache.whole_len + 1024)
        {
            let listed: std::collections::HashSet<usize> =
                tasks.iter().map(|t| Arc::as_ptr(t) as usize).collect();
            cache.made.retain(|k, _| listed.contains(k));
        }
        Ok(out)
    }

    /// How many versions' JSON is kept.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.cache.lock().map(|c| c.made.len()).unwrap_or(0)
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
        // A filtered listing keeps the rest; a whole one forgets the versions gone.
        cache.json(std::slice::from_ref(&b), false).unwrap();
        assert_eq!(cache.len(), 2);
        cache.json(&[b], true).unwrap();
        assert_eq!(cache.len(), 1);
    }
}
