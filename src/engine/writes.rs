//! The writes the engine asks of the store: each record with a token, so that what waits for
//! it (an answer, an announcement) happens once it is written; and the ended tasks whose record
//! could not be written (a full disk), kept to be written again until it is.

use std::collections::HashMap;

use super::AfterWrite;
use super::messages::Effect;
use crate::core::records::{Durability, SecretOp};
use crate::core::task::Task;

#[derive(Debug)]
pub(super) struct Writes {
    /// What waits for each write, by token.
    waiting: HashMap<u64, AfterWrite>,
    /// The next token (from 1: token 0 is the store's for writes nothing waits for).
    next: u64,
    /// Ended tasks whose record could not be written, with their result.
    unwritten: HashMap<String, Option<String>>,
}

impl Default for Writes {
    fn default() -> Writes {
        Writes { waiting: HashMap::new(), next: 1, unwritten: HashMap::new() }
    }
}

impl Writes {
    /// A record to write, with its secret file as `secret` says, and what to do once it is
    /// written.
    pub fn record(
        &mut self,
        task: Task,
        result: Option<String>,
        durability: Durability,
        secret: SecretOp,
        after: Option<AfterWrite>,
    ) -> Effect {
        let token = self.next;
        self.next += 1;
        if let Some(a) = after {
            self.waiting.insert(token, a);
        }
        Effect::Write { token, task: Box::new(task), result, durability, secret }
    }

    /// What waited for write `token` (once: a token is answered once).
    pub fn written(&mut self, token: u64) -> Option<AfterWrite> {
        self.waiting.remove(&token)
    }

    /// An ended task's record could not be written: its result is kept to write it again.
    pub fn keep_unwritten(&mut self, id: &str, result: Option<String>) {
        self.unwritten.insert(id.to_string(), result);
    }

    /// The result of an ended task still to be written again (`None`: none is).
    pub fn unwritten(&self, id: &str) -> Option<&Option<String>> {
        self.unwritten.get(id)
    }

    /// An ended task's record is written at last.
    pub fn rewritten(&mut self, id: &str) {
        self.unwritten.remove(id);
    }
}

impl super::Engine {
    /// A record to write (its secret file left as it is), and what to do once it is written.
    pub(super) fn write(
        &mut self,
        task: &Task,
        result: Option<String>,
        durability: Durability,
        after: Option<AfterWrite>,
    ) -> Effect {
        self.writes.record(task.clone(), result, durability, SecretOp::Keep, after)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::timefmt;

    fn task(id: &str) -> Task {
        let log = format!("/data/tasks/{id}.log");
        Task::pending(id, "shell", "p", "/".into(), log.into(), timefmt::now())
    }

    fn token(e: &Effect) -> u64 {
        match e {
            Effect::Write { token, .. } => *token,
            other => panic!("not a write: {other:?}"),
        }
    }

    #[test]
    fn each_write_has_its_own_token_and_what_waits_for_it_comes_back_once() {
        let mut w = Writes::default();
        let a = w.record(task("a"), None, Durability::Now, SecretOp::Keep, None);
        let after = AfterWrite::Rewritten { id: "b".into() };
        let b =
            w.record(task("b"), Some("r".into()), Durability::Soon, SecretOp::Clear, Some(after));
        assert_ne!(token(&a), token(&b));
        assert!(token(&a) > 0 && token(&b) > 0, "token 0 is the store's own");
        assert!(w.written(token(&a)).is_none(), "nothing waited for the first");
        assert!(matches!(w.written(token(&b)), Some(AfterWrite::Rewritten { id }) if id == "b"));
        assert!(w.written(token(&b)).is_none(), "answered twice");
        match b {
            Effect::Write { task, result, durability, secret, .. } => {
                assert_eq!(
                    (task.id.as_str(), result.as_deref(), durability, secret),
                    ("b", Some("r"), Durability::Soon, SecretOp::Clear)
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_unwritten_end_is_kept_until_it_is_written() {
        let mut w = Writes::default();
        assert_eq!(w.unwritten("t"), None);
        w.keep_unwritten("t", Some("the result".into()));
        assert_eq!(w.unwritten("t"), Some(&Some("the result".to_string())));
        w.keep_unwritten("u", None);
        w.rewritten("t");
        assert_eq!(w.unwritten("t"), None);
        assert_eq!(w.unwritten("u"), Some(&None));
    }
}
