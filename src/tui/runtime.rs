//! The dashboard's event loop: terminal input, the daemon's event stream and the results of
//! requests all become `Action`s; `update` returns `Effect`s, run here as requests. A frame is
//! drawn only when something changed (at most one per 16 ms), plus once a second while tasks
//! run (elapsed times), never on a fixed frame loop.

use std::io::Write;
use std::time::Duration;

use anyhow::{Context, Result};
use crossterm::event::{
    DisableMouseCapture, EnableMouseCapture, Event as TermEvent, EventStream, KeyEventKind,
};
use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::app::{Action, App, Detail, Effect};
use crate::client::Client;
use crate::config::Config;
use crate::config::keys::Keymap;
use crate::core::task::{Task, TaskStatus, TmuxOrigin};
use crate::core::timefmt;
use crate::paths::Paths;
use crate::proto::{ListFilter, OutputData, Request, StatusData};

const FRAME: Duration = Duration::from_millis(16);

/// Whether `COLORFGBG` (`"fg;bg"`, set by rxvt, Konsole and others) names a light background.
fn colorfgbg_is_light(v: &str) -> Option<bool> {
    let bg: u8 = v.rsplit(';').next()?.trim().parse().ok()?;
    Some(matches!(bg, 7 | 9..=15))
}

/// Whether the terminal has a light background: as configured, else as the terminal answers
/// (within 100 ms), else as `COLORFGBG` says; dark when nothing says.
fn light_terminal(theme: crate::config::Theme) -> bool {
    use crate::config::Theme;
    match theme {
        Theme::Dark => false,
        Theme::Light => true,
        Theme::Auto => {
            let mut opts = terminal_colorsaurus::QueryOptions::default();
            opts.timeout = Duration::from_millis(100);
            match terminal_colorsaurus::theme_mode(opts) {
                Ok(mode) => mode == terminal_colorsaurus::ThemeMode::Light,
                Err(e) => {
                    tracing::debug!(error = %e, "the terminal did not say its background");
                    std::env::var("COLORFGBG")
                        .ok()
                        .and_then(|v| colorfgbg_is_light(&v))
                        .unwrap_or(false)
                }
            }
        }
    }
}

/// Runs the dashboard until the user quits. Agents keep running.
pub fn run(paths: Paths, origin: Option<TmuxOrigin>) -> Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(main_loop(paths, origin))
}

async fn main_loop(paths: Paths, origin: Option<TmuxOrigin>) -> Result<()> {
    let config = Config::load(&paths.config).map_err(|e| anyhow::anyhow!("{e}"))?.config;
    let keymap = Keymap::with(&config.ui_keys())
        .map_err(|(k, e)| anyhow::anyhow!("config ui.keys.{k}: {e}"))?;
    let mut control = Client::connect(&paths, true).await.context("cannot reach the daemon")?;
    if let Some(o) = &origin {
        // While the dashboard is open, agents get panes beside it.
        control
            .request_raw(Request::RegisterMain { socket: o.socket.clone(), pane: o.pane.clone() })
            .await
            .context("cannot register the dashboard's pane")?;
    }
    let mut events = Client::connect(&paths, true).await?;
    events.subscribe().await?;
    let tasks: Vec<Task> = control.request(Request::List { filter: ListFilter::default() }).await?;

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
    let fx = app.update(Action::Loaded(tasks));
    run_effects(&paths, fx, &tx);

    let mut terminal = ratatui::init();
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
            ev = events.next_event() => match ev {
                Ok(Some(e)) => Some(Action::Event(e)),
                _ => {
                    result = Err(anyhow::anyhow!("the daemon went away"));
                    break;
                }
            },
            Some(a) = rx.recv() => Some(a),
            _ = sigterm.recv() => break,
            _ = tokio::time::sleep_until(wake) => { dirty = true; None }
        };
        if let Some(a) = action {
            let fx = app.update(a);
            run_effects(&paths, fx, &tx);
            dirty = true;
        }
    }
    let _ = crossterm::execute!(std::io::stdout(), DisableMouseCapture);
    ratatui::restore();
    drop(control);
    result
}

/// Runs each effect as a request on its own connection, so that a slow one (a cancel waits for
/// the process to stop) holds up nothing; results come back as actions.
fn run_effects(paths: &Paths, fx: Vec<Effect>, tx: &mpsc::UnboundedSender<Action>) {
    for effect in fx {
        if let Effect::Copy(text) = &effect {
            use base64::Engine as _;
            let b64 = base64::engine::general_purpose::STANDARD.encode(text);
            let mut out = std::io::stdout();
            let _ = write!(out, "\x1b]52;c;{b64}\x07");
            let _ = out.flush();
            // Inside tmux, also through tmux's buffer (it forwards to the terminal's clipboard
            // by its own `set-clipboard` rules).
            if let Some(socket) =
                std::env::var("TMUX").ok().and_then(|t| crate::tmux::adapter::socket_from_env(&t))
            {
                let text = text.clone();
                tokio::spawn(async move {
                    let _ = crate::tmux::Tmux::new(socket).set_buffer(&text).await;
                });
            }
            let _ = tx.send(Action::Message(format!("copied {text}")));
            continue;
        }
        let paths = paths.clone();
        let tx = tx.clone();
        tokio::spawn(async move {
            if let Err(e) = run_effect(&paths, effect, &tx).await {
                let _ = tx.send(Action::Message(format!("{e}")));
            }
        });
    }
}

async fn run_effect(
    paths: &Paths,
    effect: Effect,
    tx: &mpsc::UnboundedSender<Action>,
) -> Result<()> {
    let mut c = Client::connect(paths, true).await?;
    match effect {
        Effect::FetchDetail(id) => {
            let o: OutputData = c
                .request(Request::Output {
                    id: id.clone(),
                    wait: false,
                    timeout_ms: None,
                    full: false,
                })
                .await?;
            let text = o.result.or(o.tail).unwrap_or_default();
            let _ = tx.send(Action::Detail(Detail { id, text }));
        }
        Effect::FetchOutput(id) => {
            // All of it: the result of an ended task, everything so far of a running one.
            let o: OutputData = c
                .request(Request::Output {
                    id: id.clone(),
                    wait: false,
                    timeout_ms: None,
                    full: true,
                })
                .await?;
            let text = o.result.or(o.tail).unwrap_or_default();
            let _ = tx.send(Action::FullOutput(id, text));
        }
        Effect::FetchGroups => {
            let s: StatusData = c.request(Request::Status).await?;
            let _ = tx.send(Action::Status(Box::new(s)));
        }
        Effect::Cancel(ids) => {
            let done: Vec<Task> = c.request(Request::Cancel { ids, all: false }).await?;
            let names: Vec<String> =
                done.iter().map(|t| format!("{} {}", t.id, t.status)).collect();
            let _ = tx.send(Action::Message(names.join(", ")));
        }
        Effect::CancelAll => {
            let done: Vec<Task> = c.request(Request::Cancel { ids: vec![], all: true }).await?;
            let _ = tx.send(Action::Message(format!("cancelled {} tasks", done.len())));
        }
        Effect::Retry(id) => {
            let t: Task = c.request(Request::Retry { id }).await?;
            let _ = tx.send(Action::Message(format!("retrying as {}", t.id)));
        }
        Effect::Submit(mut spec) => {
            spec.client_cwd = std::env::current_dir().ok();
            spec.env = Some(std::env::vars().collect());
            let t: Task = c.request(Request::Submit { spec }).await?;
            let _ = tx.send(Action::Message(format!("submitted {}", t.id)));
        }
        Effect::Focus(id) => {
            let t: Task = c.request(Request::Focus { id }).await?;
            let _ = tx.send(Action::Message(format!(
                "{} is in pane {}",
                t.id,
                t.pane_id.unwrap_or_default()
            )));
        }
        Effect::SetLayout(name) => {
            c.request_raw(Request::SetLayout { name: name.clone() }).await?;
            let _ = tx.send(Action::Message(format!("layout {name}")));
        }
        Effect::Reload => {
            let tasks: Vec<Task> =
                c.request(Request::List { filter: ListFilter::default() }).await?;
            let _ = tx.send(Action::Loaded(tasks));
        }
        Effect::Copy(_) => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn colorfgbg_names_the_background() {
        use super::colorfgbg_is_light as light;
        assert_eq!(light("15;0"), Some(false));
        assert_eq!(light("0;15"), Some(true));
        assert_eq!(light("0;default;7"), Some(true));
        assert_eq!(light("12;8"), Some(false));
        assert_eq!(light("nonsense"), None);
    }
}
