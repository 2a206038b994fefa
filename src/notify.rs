//! Desktop notifications when tasks end: what they say (`notice`), how bursts are merged
//! (`coalesce`), how they are delivered (`deliver`: notify-rust over D-Bus, else a tmux message
//! and bell), and what is known of the notification server (`server`). The daemon's notifier
//! (`daemon::notifier`) puts them together.

pub mod coalesce;
pub mod deliver;
pub mod notice;
pub mod server;

pub use crate::config::notify::{EVENTS, NotifyConfig};
