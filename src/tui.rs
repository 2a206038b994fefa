//! The interactive dashboard: a client of the daemon that holds no task state of its own.
//! `app` is the state and its `update`, `view` draws it, the key bindings are `config::keys`,
//! `form` the new-task form, `runtime` the event loop that does the I/O.

pub mod app;
pub mod form;
pub mod geometry;
pub mod link;
pub mod list;
pub mod rows;
pub mod runtime;
pub mod theme;
pub mod view;
pub mod viewer;

pub use app::{Action, App, UiEffect};
pub use runtime::run;

#[cfg(test)]
mod tests;
