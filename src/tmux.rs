//! Everything about tmux: the pure pane planner and layout trees, the layout presets, and the
//! adapter, the only code that runs tmux commands.

pub mod adapter;
pub mod layout;
pub mod planner;
#[cfg(test)]
pub mod recording;
pub mod server;

pub use crate::config::tmux::{Preset, Presets, TmuxSettings};
pub use adapter::Tmux;
pub use planner::{Geometry, LayoutKind, Plan, plan};
