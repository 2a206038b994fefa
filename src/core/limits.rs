//! Concurrency limits: which group a task counts against, and a FIFO scheduler over the groups.
//!
//! A task's limit is its model's entry, else its provider's (the part of the model before `/`),
//! else the default. Tasks that resolve to the same entry share its slots; 0 means unlimited.
//! `max_running`, when set, caps all groups together. Within a group the queue is FIFO; across
//! groups, the oldest waiting task whose group has room starts first.

use std::collections::{BTreeMap, HashMap, VecDeque};

/// The limits as configured (a view of `[concurrency]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    pub default: u32,
    pub providers: BTreeMap<String, u32>,
    pub models: BTreeMap<String, u32>,
    pub max_running: Option<u32>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            default: 5,
            providers: BTreeMap::new(),
            models: BTreeMap::new(),
            max_running: None,
        }
    }
}

/// The entry a task counts against, and its number of slots (0 = unlimited).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LimitGroup {
    pub key: String,
    pub limit: u32,
}

impl Limits {
    /// Resolves a task's group: model > provider > default.
    pub fn group_for(&self, model: Option<&str>) -> LimitGroup {
        if let Some(model) = model {
            if let Some(&limit) = self.models.get(model) {
                return LimitGroup { key: format!("model:{model}"), limit };
            }
            if let Some((provider, _)) = model.split_once('/')
                && let Some(&limit) = self.providers.get(provider)
            {
                return LimitGroup { key: format!("provider:{provider}"), limit };
            }
        }
        LimitGroup { key: "default".into(), limit: self.default }
    }
}

/// Per-group counts, for display (`anthropic 2/3`, queued).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct GroupUsage {
    pub key: String,
    pub limit: u32,
    pub running: u32,
    pub queued: u32,
}

#[derive(Debug, Default)]
struct GroupState {
    limit: u32,
    running: u32,
    queue: VecDeque<(u64, String)>,
}

impl GroupState {
    fn has_room(&self) -> bool {
        self.limit == 0 || self.running < self.limit
    }
}

/// FIFO queues per limit group, and who holds a slot. Pure bookkeeping: the caller starts tasks.
#[derive(Debug, Default)]
pub struct Scheduler {
    groups: BTreeMap<String, GroupState>,
    /// Which group each queued or running task is in.
    member: HashMap<String, String>,
    running: HashMap<String, String>,
    max_running: Option<u32>,
    seq: u64,
}

impl Scheduler {
    pub fn new(max_running: Option<u32>) -> Self {
        Scheduler { max_running: max_running.filter(|&m| m > 0), ..Default::default() }
    }

    fn group_mut(&mut self, group: &LimitGroup) -> &mut GroupState {
        let g = self.groups.entry(group.key.clone()).or_default();
        g.limit = group.limit;
        g
    }

    /// Adds a task at the back of its group's queue.
    pub fn enqueue(&mut self, id: &str, group: &LimitGroup) {
        self.seq += 1;
        let seq = self.seq;
        self.group_mut(group).queue.push_back((seq, id.to_string()));
        self.member.insert(id.to_string(), group.key.clone());
    }

    /// Counts a task that is already running (e.g. re-adopted after a restart) against its group.
    pub fn mark_running(&mut self, id: &str, group: &LimitGroup) {
        self.group_mut(group).running += 1;
        self.running.insert(id.to_string(), group.key.clone());
    }

    /// Removes a queued task (cancelled before it started). Returns whether it was queued.
    pub fn remove_queued(&mut self, id: &str) -> bool {
        let Some(key) = self.member.remove(id) else {
            return false;
        };
        if let Some(g) = self.groups.get_mut(&key) {
            g.queue.retain(|(_, q)| q != id);
        }
        true
    }

    /// Frees the slot of a running task that ended.
    pub fn release(&mut self, id: &str) {
        if let Some(key) = self.running.remove(id)
            && let Some(g) = self.groups.get_mut(&key)
        {
            g.running = g.running.saturating_sub(1);
        }
    }

    fn total_running(&self) -> u32 {
        self.running.len() as u32
    }

    /// Takes the next task that may start now, marking it running; `None` when nothing can.
    pub fn next_ready(&mut self) -> Option<String> {
        self.next_ready_where(|_| true)
    }

    /// The same, among the tasks `may` allows now (another limit of theirs has room: their
    /// host's): the first of each group's queue that it allows, the longest-waiting of those.
    pub fn next_ready_where(&mut self, may: impl Fn(&str) -> bool) -> Option<String> {
        if let Some(max) = self.max_running
            && self.total_running() >= max
        {
            return None;
        }
        let (key, at) = self
            .groups
            .iter()
            .filter(|(_, g)| g.has_room())
            .filter_map(|(k, g)| {
                let (at, (seq, _)) = g.queue.iter().enumerate().find(|(_, (_, id))| may(id))?;
                Some((*seq, k, at))
            })
            .min()
            .map(|(_, k, at)| (k.clone(), at))?;
        let g = self.groups.get_mut(&key)?;
        let (_, id) = g.queue.remove(at)?;
        g.running += 1;
        self.member.remove(&id);
        self.running.insert(id.clone(), key);
        Some(id)
    }

    /// Usage of every group that has been used, in key order.
    pub fn usage(&self) -> Vec<GroupUsage> {
        self.groups
            .iter()
            .map(|(k, g)| GroupUsage {
                key: k.clone(),
                limit: g.limit,
                running: g.running,
                queued: g.queue.len() as u32,
            })
            .collect()
    }

    pub fn queued_len(&self) -> usize {
        self.member.len()
    }

    /// Applies new limits: every queued and running task is put in the group `group_of` gives
    /// it, queued tasks keeping their order; groups left empty are forgotten.
    pub fn regroup(&mut self, max_running: Option<u32>, group_of: impl Fn(&str) -> LimitGroup) {
        let mut queued: Vec<(u64, String)> =
            self.groups.values().flat_map(|g| g.queue.iter().cloned()).collect();
        queued.sort();
        let running: Vec<String> = self.running.keys().cloned().collect();
        let seq = self.seq;
        *self = Scheduler::new(max_running);
        self.seq = seq;
        for id in running {
            self.mark_running(&id, &group_of(&id));
        }
        for (seq, id) in queued {
            let group = group_of(&id);
            self.group_mut(&group).queue.push_back((seq, id.clone()));
            self.member.insert(id, group.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn limits() -> Limits {
        Limits {
            default: 5,
            providers: [("anthropic".to_string(), 3), ("openai".to_string(), 0)].into(),
            models: [("anthropic/claude-opus-4-6".to_string(), 2)].into(),
            max_running: None,
        }
    }

    #[test]
    fn resolution_model_then_provider_then_default() {
        let l = limits();
        let cases = [
            (Some("anthropic/claude-opus-4-6"), "model:anthropic/claude-opus-4-6", 2),
            (Some("anthropic/claude-haiku-4-5"), "provider:anthropic", 3),
            (Some("openai/gpt-5"), "provider:openai", 0),
            (Some("google/gemini-3"), "default", 5),
            (Some("no-slash-model"), "default", 5),
            (None, "default", 5),
        ];
        for (model, key, limit) in cases {
            let g = l.group_for(model);
            assert_eq!((g.key.as_str(), g.limit), (key, limit), "model {model:?}");
        }
    }

    #[test]
    fn a_model_entry_without_provider_form_still_matches() {
        let mut l = limits();
        l.models.insert("local-llama".into(), 1);
        assert_eq!(l.group_for(Some("local-llama")).key, "model:local-llama");
    }

    #[test]
    fn regrouping_applies_new_limits_and_keeps_the_queue_order() {
        let mut s = Scheduler::new(None);
        for id in ["a", "b", "c", "d"] {
            s.enqueue(id, &g("default", 1));
        }
        assert_eq!(s.next_ready().as_deref(), Some("a"));
        assert_eq!(s.next_ready(), None, "a limit of 1");
        // The limit is raised to 3: two more start, in their old order.
        s.regroup(None, |_| g("default", 3));
        assert_eq!(s.next_ready().as_deref(), Some("b"));
        assert_eq!(s.next_ready().as_deref(), Some("c"));
        assert_eq!(s.next_ready(), None, "a, b and c run");
        // Lowered to 1: nothing more starts until two have ended.
        s.regroup(None, |_| g("default", 1));
        s.release("a");
        assert_eq!(s.next_ready(), None);
        s.release("b");
        s.release("c");
        assert_eq!(s.next_ready().as_deref(), Some("d"));
        // A group of its own for one task.
        s.enqueue("e", &g("default", 1));
        s.regroup(None, |id| if id == "e" { g("model:x", 1) } else { g("default", 1) });
        assert_eq!(s.next_ready().as_deref(), Some("e"));
    }

    fn g(key: &str, limit: u32) -> LimitGroup {
        LimitGroup { key: key.into(), limit }
    }

    #[test]
    fn group_limit_and_fifo() {
        let mut s = Scheduler::new(None);
        for id in ["a", "b", "c"] {
            s.enqueue(id, &g("p", 2));
        }
        assert_eq!(s.next_ready().as_deref(), Some("a"));
        assert_eq!(s.next_ready().as_deref(), Some("b"));
        assert_eq!(s.next_ready(), None, "group p is full");
        s.release("a");
        assert_eq!(s.next_ready().as_deref(), Some("c"));
    }

    #[test]
    fn zero_is_unlimited() {
        let mut s = Scheduler::new(None);
        for i in 0..100 {
            s.enqueue(&i.to_string(), &g("u", 0));
        }
        let started = std::iter::from_fn(|| s.next_ready()).count();
        assert_eq!(started, 100);
    }

    #[test]
    fn max_running_caps_all_groups_and_oldest_goes_first() {
        let mut s = Scheduler::new(Some(2));
        s.enqueue("x1", &g("x", 5));
        s.enqueue("y1", &g("y", 5));
        s.enqueue("x2", &g("x", 5));
        assert_eq!(s.next_ready().as_deref(), Some("x1"));
        assert_eq!(s.next_ready().as_deref(), Some("y1"));
        assert_eq!(s.next_ready(), None, "global cap of 2");
        s.release("y1");
        assert_eq!(s.next_ready().as_deref(), Some("x2"));
    }

    #[test]
    fn a_full_group_does_not_block_others() {
        let mut s = Scheduler::new(None);
        s.enqueue("a1", &g("a", 1));
        s.enqueue("a2", &g("a", 1));
        s.enqueue("b1", &g("b", 1));
        assert_eq!(s.next_ready().as_deref(), Some("a1"));
        assert_eq!(s.next_ready().as_deref(), Some("b1"));
        assert_eq!(s.next_ready(), None);
    }

    #[test]
    fn cancelled_pending_never_starts() {
        let mut s = Scheduler::new(None);
        s.enqueue("a", &g("p", 1));
        s.enqueue("b", &g("p", 1));
        s.enqueue("c", &g("p", 1));
        assert!(s.remove_queued("b"));
        assert!(!s.remove_queued("b"));
        assert_eq!(s.next_ready().as_deref(), Some("a"));
        s.release("a");
        assert_eq!(s.next_ready().as_deref(), Some("c"));
        assert_eq!(s.queued_len(), 0);
    }

    #[test]
    fn usage_reports_running_and_queued() {
        let mut s = Scheduler::new(None);
        s.enqueue("a", &g("p", 1));
        s.enqueue("b", &g("p", 1));
        s.next_ready();
        assert_eq!(
            s.usage(),
            vec![GroupUsage { key: "p".into(), limit: 1, running: 1, queued: 1 }]
        );
    }

    proptest! {
        // Under any interleaving of enqueue / start / finish, no group exceeds its limit, the
        // global cap holds, and each group starts its tasks in the order they were queued.
        #[test]
        fn limits_and_fifo_hold(ops in proptest::collection::vec((0u8..3, 0u8..3), 1..200),
                                limits in proptest::collection::vec(0u32..4, 3),
                                max in proptest::option::of(1u32..5)) {
            let mut s = Scheduler::new(max);
            let mut running: Vec<(String, usize)> = vec![];
            let mut queued_order: Vec<Vec<String>> = vec![vec![], vec![], vec![]];
            let mut started_order: Vec<Vec<String>> = vec![vec![], vec![], vec![]];
            let mut n = 0;
            for (op, grp) in ops {
                let gi = grp as usize;
                match op {
                    0 => {
                        n += 1;
                        let id = format!("t{n}");
                        s.enqueue(&id, &g(&format!("g{gi}"), limits[gi]));
                        queued_order[gi].push(id);
                    }
                    1 => {
                        while let Some(id) = s.next_ready() {
                            let gi = queued_order.iter().position(|q| q.contains(&id)).unwrap();
                            started_order[gi].push(id.clone());
                            running.push((id, gi));
                        }
                    }
                    _ => {
                        if !running.is_empty() {
                            let (id, _) = running.remove(0);
                            s.release(&id);
                        }
                    }
                }
                for (gi, &limit) in limits.iter().enumerate() {
                    let r = running.iter().filter(|(_, g)| *g == gi).count() as u32;
                    prop_assert!(limit == 0 || r <= limit);
                }
                if let Some(m) = max { prop_assert!(running.len() as u32 <= m); }
            }
            for gi in 0..3 {
                let k = started_order[gi].len();
                prop_assert_eq!(&started_order[gi][..], &queued_order[gi][..k]);
            }
        }
    }

    #[test]
    fn a_task_another_limit_holds_back_lets_the_next_one_of_its_group_start() {
        let mut s = Scheduler::new(None);
        let g = LimitGroup { key: "default".into(), limit: 2 };
        for id in ["far-1", "far-2", "here-1"] {
            s.enqueue(id, &g);
        }
        // Its host takes one at a time: the second waits, the one here goes first.
        let host_full = |id: &str| id.starts_with("far") && id != "far-1";
        assert_eq!(s.next_ready_where(|id| !host_full(id)).as_deref(), Some("far-1"));
        assert_eq!(s.next_ready_where(|id| !host_full(id)).as_deref(), Some("here-1"));
        assert_eq!(s.next_ready_where(|id| !host_full(id)), None, "the group is full");
        s.release("far-1");
        assert_eq!(
            s.next_ready_where(|_| true).as_deref(),
            Some("far-2"),
            "still queued, in order"
        );
    }
}
