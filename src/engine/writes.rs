//! The writes the engine asks of the store: each record with a token, so that what waits for
//! it (an answer, an announcement) happens once it is written.

use super::*;
use crate::core::records::{Durability, SecretOp};

impl Engine {
    /// A write's token.
    pub(super) fn next_token(&mut self) -> u64 {
        let t = self.next_write;
        self.next_write += 1;
        t
    }

    /// A record to write (its secret file left as it is), and what to do once it is written.
    pub(super) fn write(
        &mut self,
        task: &Task,
        result: Option<String>,
        durability: Durability,
        after: Option<AfterWrite>,
    ) -> Effect {
        self.write_secret(task, result, durability, SecretOp::Keep, after)
    }

    /// A record to write with its secret file set or cleared.
    pub(super) fn write_secret(
        &mut self,
        task: &Task,
        result: Option<String>,
        durability: Durability,
        secret: SecretOp,
        after: Option<AfterWrite>,
    ) -> Effect {
        let token = self.next_token();
        if let Some(a) = after {
            self.writes.insert(token, a);
        }
        Effect::Write { token, task: Box::new(task.clone()), result, durability, secret }
    }
}
