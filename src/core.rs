//! Pure task model: tasks, their state machine, limit groups, ids and text helpers. No I/O.

pub mod ids;
pub mod limits;
pub mod screen;
pub mod task;
pub mod text;
pub mod timefmt;

pub use ids::{IdError, resolve_id};
pub use limits::{LimitGroup, Scheduler};
pub use task::{Outcome, Task, TaskSpec, TaskStatus, TransitionError};
