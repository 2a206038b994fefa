//! Exit codes, the same for every command (scripts rely on them; see the README).

pub const OK: i32 = 0;
/// A waited-for task ended in a state other than completed.
pub const TASK_FAILED: i32 = 1;
/// Usage error or unknown id.
pub const USAGE: i32 = 2;
/// The daemon could not be reached or started.
pub const DAEMON: i32 = 3;
/// A `--timeout` expired.
pub const TIMEOUT: i32 = 124;
