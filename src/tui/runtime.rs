//! The dashboard's event loop: terminal input, the daemon's event stream and the results of
//! requests all become `Action`s; `update` returns `UiEffect`s, run as requests (`link`). A frame
//! is drawn only when something changed (at most one per 16 ms), plus once a second while tasks
//! run (elapsed times, output ages), never on a fixed frame loop. When the daemon goes away
//! unasked the loop connects again by itself; after `daemon stop` it waits to be asked.

use std::time::Duration;

use anyhow::{Context as _, Result};
use crossterm::event::{
    DisableMouseCapture, EnableMouseCapture, Event as TermEvent, EventStream, KeyEventKind,
};
use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::app::{Action, App, Daemon, UiEffect};
use super::link::{Effects, Link};
use super::theme::light_terminal;
use crate::config::Config;
use crate::config::keys::Keymap;
use crate::core::task::{Task, TaskStatus, TmuxOrigin};
use crate::core::timefmt;
use crate::paths::Paths;
use crate::proto::Event;

const FRAME: Duration = Duration::from_millis(16);

/// Runs the dashboard until the user quits. Agents keep running.
pub fn run(paths: Paths, origin: Option<TmuxOrigin>) -> Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(main_loop(paths, origin))
}

async fn main_loop(paths: Paths, origin: Option<TmuxOrigin>) -> Result<()> {
    let config = Config::load(&paths.config).map_err(|e| anyhow::anyhow!("{e}"))?.config;
    let keymap = Keymap::with(&config.ui_keys()).map_err(|e| anyhow::anyhow!("config {e}"))?;
    let (link, tasks) = Link::open(&paths, origin.as_ref(), true).await?;
    let mut link = Some(link);
    let mut app = App::new(keymap, timefmt::now());
    app.utc_offset = *chrono::Local::now().offset();
    app.color = std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    app.light = app.color && light_terminal(config.ui.theme.unwrap_or_default());
    app.layouts = config.presets.0.keys().cloned().collect();
    // The shell and demo agents first: they work everywhere.
    let mut agents: Vec<&String> = config.agents.keys().collect();
    agents.sort_by_key(|a| (!matches!(a.as_str(), "shell" | "demo"), a.as_str() != "shell"));
    app.targets = agents
        .into_iter()
        .map(|a| format!("agent:{a}"))
        .chain(config.categories.keys().map(|c| format!("category:{c}")))
        .collect();
    let (tx, mut rx) = mpsc::unbounded_channel::<Action>();
    // A link made again (after a restart) arrives here.
    let (relinked_tx, mut relinked) = mpsc::unbounded_channel::<(Link, Vec<Task>)>();
    let effects = Effects::new(&paths, &tx);
    let fx = app.update(Action::Loaded(tasks));
    effects.run_effects(fx);

    let mut terminal = ratatui::try_init().context("cannot set up the terminal")?;
    // The pane's title (tmux shows it on the pane's border).
    let _ = crossterm::execute!(std::io::stdout(), crossterm::terminal::SetTitle("paneherd"));
    let _ = crossterm::execute!(std::io::stdout(), EnableMouseCapture);
    if let Ok(size) = terminal.size() {
        app.update(Action::Resize(size.width, size.height));
    }
    let mut term_events = EventStream::new();
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut dirty = true;
    let mut last_draw = Instant::now() - FRAME;
    let mut result = Ok(());
    loop {
        if dirty && last_draw.elapsed() >= FRAME {
            app.now = timefmt::now();
            terminal.draw(|f| f.render_widget(&app, f.area()))?;
            last_draw = Instant::now();
            dirty = false;
        }
        if app.quit {
            break;
        }
        let running = app.tasks.values().any(|t| t.status == TaskStatus::Running);
        let wake = if dirty {
            last_draw + FRAME
        } else if running {
            last_draw + Duration::from_secs(1)
        } else {
            Instant::now() + Duration::from_secs(3600)
        };
        let action = tokio::select! {
            ev = term_events.next() => match ev {
                Some(Ok(TermEvent::Key(k))) if k.kind != KeyEventKind::Release => Some(Action::Key(k)),
                Some(Ok(TermEvent::Mouse(m))) => Some(Action::Mouse(m)),
                Some(Ok(TermEvent::Resize(w, h))) => Some(Action::Resize(w, h)),
                Some(Ok(_)) => None,
                Some(Err(e)) => { result = Err(e.into()); break; }
                None => break,
            },
            ev = next_event(&mut link) => match ev {
                Some(e) => Some(Action::Event(e)),
                None => {
                    // The stream ended: stopped on purpose (it said so), or lost.
                    link = None;
                    if app.daemon != Daemon::Stopped {
                        let (paths, origin, back) = (paths.clone(), origin.clone(), relinked_tx.clone());
                        tokio::spawn(async move {
                            let _ = back.send(Link::reopen(&paths, origin.as_ref()).await);
                        });
                    }
                    Some(Action::Daemon(Daemon::Lost))
                }
            },
            Some((l, tasks)) = relinked.recv() => {
                link = Some(l);
                app.update(Action::Daemon(Daemon::Up));
                Some(Action::Loaded(tasks))
            }
            Some(a) = rx.recv() => Some(a),
            _ = sigterm.recv() => break,
            _ = tokio::time::sleep_until(wake) => { dirty = true; None }
        };
        if let Some(a) = action {
            // A task's output changes no more than its row's age, which the once-a-second
            // frame shows; what shows the output itself (the detail, the viewer) is fetched and
            // drawn when it arrives.
            let urgent = !matches!(a, Action::Event(Event::Output { .. }));
            let fx = app.update(a);
            for f in &fx {
                if *f == UiEffect::StartDaemon && link.is_none() {
                    let (paths, origin, back, tx) =
                        (paths.clone(), origin.clone(), relinked_tx.clone(), tx.clone());
                    tokio::spawn(async move {
                        match Link::open(&paths, origin.as_ref(), true).await {
                            Ok(l) => {
                                let _ = back.send(l);
                            }
                            Err(e) => {
                                let _ = tx.send(Action::Message(format!("{e:#}")));
                            }
                        }
                    });
                }
            }
            effects.run_effects(fx);
            dirty |= urgent;
        }
    }
    let _ = crossterm::execute!(std::io::stdout(), DisableMouseCapture);
    ratatui::restore();
    drop(link);
    result
}

/// The next event of the link's stream; `None` when it ended. Without a link: never.
async fn next_event(link: &mut Option<Link>) -> Option<Event> {
    match link {
        Some(l) => l.events.next_event().await.ok().flatten(),
        None => std::future::pending().await,
    }
}
