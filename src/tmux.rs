//! Everything about tmux: the pure pane planner, the layout presets, and (later) the adapter,
//! the only code that runs tmux commands.

pub mod planner;
pub mod presets;

pub use planner::{Geometry, LayoutKind, Plan, plan};
pub use presets::{Preset, Presets, TmuxSettings};
