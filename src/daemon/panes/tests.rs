//! The pane manager on the recording tmux server: what it shows, hides, re-plans and gives back.

use std::path::Path;

use super::*;
use crate::tmux::layout::Rect;
use crate::tmux::planner::Geometry;
use crate::tmux::recording::Recording;

fn geometry() -> Geometry {
    Geometry { adapt: true, ..Geometry::default() }
}

/// A window of the recording server with a main pane, and the pane manager over it.
struct Desk {
    tmux: Recording,
    panes: Panes<Recording>,
    main: String,
}

impl Desk {
    fn new(w: u16, h: u16) -> Desk {
        let tmux = Recording::default();
        let main = tmux.new_session(w, h);
        Desk { panes: Panes::new(tmux.clone()), tmux, main }
    }

    async fn open(&self, task: &str) -> Placed {
        let command = format!("run {task}");
        let open = Open {
            socket: Path::new("/recorded"),
            main_pane: &self.main,
            task_id: task,
            cwd: Path::new("/"),
            command: &command,
            resize_hook: "resized",
            hook_mark: "mark",
        };
        self.panes.open(&geometry(), &open).await.unwrap()
    }

    /// The main window's panes' rectangles, in layout order (the main pane's first).
    fn shape(&self) -> Vec<Rect> {
        self.tmux.panes_beside(&self.main).into_iter().map(|(_, r)| r).collect()
    }

    async fn resize(&self, w: u16, h: u16) {
        let window = self.tmux.resize(&self.main, w, h).unwrap();
        self.panes.resized(&geometry(), Path::new("/recorded"), &window).await.unwrap();
    }

    async fn shown_and_waiting(&self) -> (usize, usize) {
        let usage = self.panes.usage().await;
        usage.first().map(|u| (u.visible, u.hidden)).unwrap_or((0, 0))
    }
}

/// How many agents the planner shows in a `w`×`h` window (the border line takes a row).
fn fits(w: u16, h: u16, n: usize) -> usize {
    crate::tmux::planner::plan(w, h - 1, &geometry(), n).agents.len()
}

#[tokio::test]
async fn agents_fill_the_window_as_planned_and_the_rest_wait_in_the_overflow_window() {
    for (w, h) in [(120, 35), (160, 45), (220, 55)] {
        let desk = Desk::new(w, h);
        for i in 0..7 {
            desk.open(&format!("t{i}")).await;
        }
        let shown = fits(w, h, 7);
        assert!(shown >= 2, "{w}×{h}: the planner shows {shown}");
        assert_eq!(desk.shown_and_waiting().await, (shown, 7 - shown), "{w}×{h}");
        let shape = desk.shape();
        assert_eq!(shape.len(), shown + 1, "{w}×{h}: {shape:?}");
        for r in &shape[1..] {
            assert!(r.w >= 40 && r.h >= 7, "{w}×{h}: an agent pane of {}×{}", r.w, r.h);
        }
        let waiting: usize = desk
            .tmux
            .windows()
            .iter()
            .filter(|(name, _)| name.starts_with("paneherd-agents"))
            .map(|(_, n)| n)
            .sum();
        assert_eq!(waiting, 7 - shown, "{w}×{h}: {:?}", desk.tmux.windows());
    }
}

#[tokio::test]
async fn after_any_resizes_the_window_is_laid_out_as_if_it_had_always_been_that_size() {
    let sequences: [&[(u16, u16)]; 4] = [
        &[(220, 55)],
        &[(80, 24), (220, 55)],
        &[(220, 55), (80, 24), (160, 45)],
        &[(160, 45), (120, 35), (220, 55), (200, 50)],
    ];
    for start in [(120, 35), (80, 24)] {
        for seq in sequences {
            let desk = Desk::new(start.0, start.1);
            for i in 0..5 {
                desk.open(&format!("t{i}")).await;
            }
            for &(w, h) in seq {
                desk.resize(w, h).await;
            }
            let (w, h) = *seq.last().unwrap();
            let fresh = Desk::new(w, h);
            for i in 0..5 {
                fresh.open(&format!("t{i}")).await;
            }
            assert_eq!(desk.shape(), fresh.shape(), "{start:?} then {seq:?}");
            assert_eq!(desk.shown_and_waiting().await, fresh.shown_and_waiting().await);
        }
    }
}

#[tokio::test]
async fn a_closed_agent_makes_room_for_the_longest_waiting_and_the_last_gives_the_window_back() {
    let desk = Desk::new(160, 45);
    let mut placed = vec![];
    for i in 0..6 {
        placed.push(desk.open(&format!("t{i}")).await);
    }
    let shown = fits(160, 45, 6);
    assert!(placed[..shown].iter().all(|p| p.visible) && !placed[shown].visible);
    desk.panes.close(&geometry(), "t0").await.unwrap();
    // t{shown} waited longest: it is in view now, in the main window.
    let beside: Vec<String> =
        desk.tmux.panes_beside(&desk.main).into_iter().map(|(p, _)| p).collect();
    assert!(beside.contains(&placed[shown].pane), "{beside:?}");
    assert!(!beside.contains(&placed[0].pane));
    let notes = desk.tmux.take_notes();
    assert!(notes.contains(&format!("kill {}", placed[0].pane)), "{notes:?}");
    for i in 1..6 {
        desk.panes.close(&geometry(), &format!("t{i}")).await.unwrap();
    }
    assert_eq!(desk.shape(), vec![Rect { x: 0, y: 0, w: 160, h: 45 }]);
    let notes = desk.tmux.take_notes();
    for given_back in ["undecorate @0", "unhook @0", "untick $0"] {
        assert!(notes.iter().any(|n| n == given_back), "{given_back} not in {notes:?}");
    }
    assert!(desk.panes.usage().await.is_empty());
    assert_eq!(
        desk.tmux.windows().len(),
        1,
        "an overflow window was left: {:?}",
        desk.tmux.windows()
    );
}

#[tokio::test]
async fn focus_brings_a_waiting_agent_into_view_and_selects_it() {
    let desk = Desk::new(160, 45);
    let mut placed = vec![];
    for i in 0..6 {
        placed.push(desk.open(&format!("t{i}")).await);
    }
    let waiting = placed.iter().position(|p| !p.visible).unwrap();
    assert!(desk.panes.focus(&geometry(), &format!("t{waiting}")).await.unwrap());
    let beside: Vec<String> =
        desk.tmux.panes_beside(&desk.main).into_iter().map(|(p, _)| p).collect();
    assert!(beside.contains(&placed[waiting].pane), "{beside:?}");
    assert!(desk.tmux.take_notes().contains(&format!("focus {}", placed[waiting].pane)));
    let shown = fits(160, 45, 6);
    assert_eq!(desk.shown_and_waiting().await, (shown, 6 - shown));
    assert!(!desk.panes.focus(&geometry(), "nobody").await.unwrap());
}

#[tokio::test]
async fn a_pane_of_the_users_own_never_moves() {
    let desk = Desk::new(220, 55);
    let own = desk.tmux.user_split(&desk.main, false).unwrap();
    let mine = |d: &Desk| d.tmux.panes_beside(&d.main).into_iter().find(|(p, _)| *p == own);
    let before = mine(&desk);
    for i in 0..4 {
        desk.open(&format!("t{i}")).await;
    }
    desk.panes.close(&geometry(), "t1").await.unwrap();
    assert_eq!(mine(&desk), before);
    // No border line over the user's panes: the window was not decorated.
    assert!(!desk.tmux.take_notes().iter().any(|n| n == "decorate @0"));
}
