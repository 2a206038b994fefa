//! The dashboards open in tmux, as the engine knows them: the main pane each registered (the
//! newest hosts the panes of tasks from its server and from outside tmux), and the layout a
//! dashboard switched its own window to with `l` (for that window alone, while it is open).

use std::collections::HashMap;

use crate::core::task::TmuxOrigin;

/// Dashboards by connection.
#[derive(Debug, Default)]
pub(super) struct Dashboards {
    /// Main panes registered, newest last: (connection, pane).
    main_panes: Vec<(u64, TmuxOrigin)>,
    /// Layout presets switched to at run time, by the dashboard's connection.
    layouts: HashMap<u64, String>,
}

impl Dashboards {
    /// The dashboard on `conn` has its main pane at `origin` (registering again moves it).
    pub(super) fn register(&mut self, conn: u64, origin: TmuxOrigin) {
        self.main_panes.retain(|(c, _)| *c != conn);
        self.main_panes.push((conn, origin));
    }

    /// The connection of the dashboard that registered main pane `main` (a dashboard asks on
    /// connections of its own besides the one it registered with), else `conn`.
    pub(super) fn of(&self, conn: u64, main: Option<&TmuxOrigin>) -> u64 {
        main.and_then(|m| self.main_panes.iter().find(|(_, o)| o == m))
            .map(|(c, _)| *c)
            .unwrap_or(conn)
    }

    /// The main pane of the dashboard on `conn`.
    pub(super) fn main_of(&self, conn: u64) -> Option<&TmuxOrigin> {
        self.main_panes.iter().find(|(c, _)| *c == conn).map(|(_, o)| o)
    }

    /// The dashboard on `conn` lays its window out by preset `name` from now on.
    pub(super) fn switch(&mut self, conn: u64, name: String) {
        self.layouts.insert(conn, name);
    }

    /// The preset the dashboard on `conn` switched to, if it did.
    pub(super) fn layout(&self, conn: u64) -> Option<&str> {
        self.layouts.get(&conn).map(String::as_str)
    }

    /// Where a task's pane goes: the newest dashboard's window hosts tasks from its own tmux
    /// server and tasks from outside tmux; a task from another server keeps its own origin.
    pub(super) fn host(&self, from: Option<TmuxOrigin>) -> Option<TmuxOrigin> {
        match (from, self.main_panes.last()) {
            (Some(o), Some((_, m))) if o.socket == m.socket => Some(m.clone()),
            (None, Some((_, m))) => Some(m.clone()),
            (o, _) => o,
        }
    }

    /// The connection closed. Returns the main pane of a dashboard whose window had a layout
    /// of its own (it goes back to the configured one).
    pub(super) fn close(&mut self, conn: u64) -> Option<TmuxOrigin> {
        let switched = self.layouts.remove(&conn).is_some();
        let at = self.main_panes.iter().position(|(c, _)| *c == conn);
        let main = at.map(|i| self.main_panes.remove(i).1);
        main.filter(|_| switched)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn pane(socket: &str, pane: &str) -> TmuxOrigin {
        TmuxOrigin { socket: socket.into(), pane: pane.into() }
    }

    #[test]
    fn the_newest_dashboard_hosts_its_servers_tasks_and_those_from_outside_tmux() {
        let mut d = Dashboards::default();
        d.register(1, pane("/a", "%0"));
        d.register(2, pane("/a", "%5"));
        d.register(3, pane("/b", "%1"));
        // (where the task came from, where its pane goes)
        let cases = [
            (None, Some(pane("/b", "%1"))),
            (Some(pane("/b", "%9")), Some(pane("/b", "%1"))),
            (Some(pane("/a", "%7")), Some(pane("/a", "%7"))),
        ];
        for (from, want) in cases {
            assert_eq!(d.host(from.clone()), want, "from {from:?}");
        }
        // The newest gone: the one before it hosts.
        d.close(3);
        assert_eq!(d.host(None), Some(pane("/a", "%5")));
        assert_eq!(d.host(Some(pane("/a", "%7"))), Some(pane("/a", "%5")));
        // None open: a task keeps its origin, or has none.
        d.close(1);
        d.close(2);
        assert_eq!(d.host(None), None);
        assert_eq!(d.host(Some(pane("/a", "%7"))), Some(pane("/a", "%7")));
    }

    #[test]
    fn a_switched_layout_is_the_dashboards_own_and_ends_with_it() {
        let mut d = Dashboards::default();
        d.register(1, pane("/a", "%0"));
        d.register(2, pane("/a", "%3"));
        // Asked on another connection of dashboard 1, naming its main pane.
        let conn = d.of(9, Some(&pane("/a", "%0")));
        assert_eq!(conn, 1);
        d.switch(conn, "tiled".into());
        assert_eq!((d.layout(1), d.layout(2), d.layout(9)), (Some("tiled"), None, None));
        // An unknown main pane: the asking connection itself.
        assert_eq!(d.of(9, Some(&pane("/z", "%0"))), 9);
        // Dashboard 2 closing has nothing to undo; dashboard 1's window goes back.
        assert_eq!(d.close(2), None);
        assert_eq!(d.close(1), Some(pane("/a", "%0")));
        assert_eq!((d.layout(1), d.main_of(1)), (None, None));
        // Registering again moves a dashboard's main pane.
        d.register(4, pane("/a", "%1"));
        d.register(4, pane("/a", "%2"));
        assert_eq!(d.main_of(4), Some(&pane("/a", "%2")));
        assert_eq!(d.host(None), Some(pane("/a", "%2")));
    }
}
