//! Pure task model: tasks, their state machine, limit groups, ids and text helpers, and the
//! data the engine exchanges with the components (launches, records, worktrees). No I/O.

pub mod argv;
pub mod hosts;
pub mod ids;
pub mod launch;
pub mod limits;
pub mod records;
pub mod sandbox;
pub mod screen;
pub mod task;
pub mod text;
pub mod timefmt;
pub mod worktrees;

pub use ids::{IdError, resolve_id};
pub use limits::{LimitGroup, Scheduler};
pub use task::{Outcome, Task, TaskSpec, TaskStatus, TransitionError};
