//! The task list's lines: its three groups and what a row shows (the list itself is
//! `list`'s).

use crate::core::task::TaskStatus;

/// The three groups of the list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    Pending,
    Running,
    Finished,
}

impl Group {
    pub fn of(s: TaskStatus) -> Group {
        match s {
            TaskStatus::Pending => Group::Pending,
            TaskStatus::Running => Group::Running,
            _ => Group::Finished,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Group::Pending => "Pending",
            Group::Running => "Running",
            Group::Finished => "Finished",
        }
    }
}

/// A line of the task list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Row {
    Header(Group, usize),
    Task(String),
    /// Older finished tasks not shown (the list keeps running and pending ones in view).
    More(usize),
}
