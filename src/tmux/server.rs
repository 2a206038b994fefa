//! The tmux server as the pane manager sees it: the operations it lays agents out with, as a
//! trait. [`Tmux`] (the adapter) runs them on a real server; the recording server of the pane
//! manager's unit tests (`recording.rs`) keeps windows, panes and layouts in memory and notes
//! every operation, so that window planning is tested without tmux.

use std::future::Future;
use std::path::Path;

use anyhow::Result;

use super::adapter::{Decoration, PaneInfo, Ticking, Tmux};

/// One tmux server: the operations of `daemon::panes` on it (implemented for the adapter's
/// [`Tmux`] in `adapter.rs`, where each says what it does).
pub trait PaneServer: Clone + Send + Sync + std::fmt::Debug + 'static {
    fn pane_info(&self, pane: &str) -> impl Future<Output = Result<Option<PaneInfo>>> + Send;
    fn list_panes(&self, window: &str) -> impl Future<Output = Result<Vec<PaneInfo>>> + Send;
    fn split(
        &self,
        target: &str,
        cwd: &Path,
        command: &str,
        below: bool,
        size: Option<u16>,
    ) -> impl Future<Output = Result<PaneInfo>> + Send;
    fn split_in_overflow(
        &self,
        session: &str,
        cwd: &Path,
        command: &str,
        min: (u16, u16),
    ) -> impl Future<Output = Result<PaneInfo>> + Send;
    fn join(
        &self,
        pane: &str,
        target: &str,
        below: bool,
        size: Option<u16>,
    ) -> impl Future<Output = Result<()>> + Send;
    fn hide(
        &self,
        pane: &str,
        session: &str,
        min: (u16, u16),
    ) -> impl Future<Output = Result<String>> + Send;
    fn window_layout(&self, window: &str) -> impl Future<Output = Result<(String, String)>> + Send;
    fn select_layout(&self, window: &str, layout: &str) -> impl Future<Output = Result<()>> + Send;
    fn kill_pane(&self, pane: &str) -> impl Future<Output = Result<()>> + Send;
    fn focus(&self, pane: &str, window: &str) -> impl Future<Output = Result<()>> + Send;
    fn decorate(&self, window: &str) -> impl Future<Output = Result<Decoration>> + Send;
    fn undecorate(&self, window: &str, d: &Decoration) -> impl Future<Output = Result<()>> + Send;
    fn tick_each_second(
        &self,
        session: &str,
    ) -> impl Future<Output = Result<Option<Ticking>>> + Send;
    fn untick(&self, t: &Ticking) -> impl Future<Output = Result<()>> + Send;
    fn on_resize(
        &self,
        window: &str,
        command: &str,
        mark: &str,
    ) -> impl Future<Output = Result<String>> + Send;
    fn remove_hook(&self, window: &str, slot: &str) -> impl Future<Output = Result<()>> + Send;
}

/// Where the pane manager finds the server of a socket.
pub trait Servers: Send + Sync + std::fmt::Debug + 'static {
    type Server: PaneServer;
    fn at(&self, socket: &Path) -> Self::Server;
}

/// The real tmux servers, by socket.
#[derive(Debug, Default, Clone, Copy)]
pub struct RealServers;

impl Servers for RealServers {
    type Server = Tmux;
    fn at(&self, socket: &Path) -> Tmux {
        Tmux::new(socket)
    }
}
