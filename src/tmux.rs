//! Everything about tmux: the pure pane planner, the layout presets, and (later) the adapter,
//! the only code that runs tmux commands.

pub mod adapter;
pub mod planner;
pub mod presets;

pub use adapter::Tmux;
pub use planner::{Geometry, LayoutKind, Plan, plan};
pub use presets::{Preset, Presets, TmuxSettings};
