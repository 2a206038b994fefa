//! The only code that runs tmux. Every command names its server explicitly (`tmux -S SOCKET`),
//! never the default one (except `attach_new_session`, below). Commands are built with `tmux_interface` and run without blocking the
//! daemon. Only called when something happens (a task starts or ends, a window is resized):
//! nothing here polls.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use super::server::PaneServer;
use tmux_interface::{
    BreakPane, DisplayMessage, JoinPane, KillPane, ListPanes, NewSession, NewWindow, PaneSize,
    SelectLayout, SelectPane, SelectWindow, SendKeys, SetHook, SetOption, ShowHooks, ShowOptions,
    SplitWindow, Tmux as TmuxCmd, TmuxCommand,
};

/// Name of the background window where agents wait when the main window is full; more such
/// windows, when one would hold panes smaller than the minimums, are `paneherd-agents-2`, ….
pub const OVERFLOW_WINDOW: &str = "paneherd-agents";

/// An overflow window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overflow {
    pub window: String,
    pub name: String,
    pub panes: usize,
    pub width: u16,
    pub height: u16,
}

/// Where a waiting agent goes.
enum Room {
    In(String),
    New(String),
}

/// The name of the `k`th overflow window (1: `paneherd-agents`).
pub fn overflow_name(k: u32) -> String {
    if k <= 1 { OVERFLOW_WINDOW.to_string() } else { format!("{OVERFLOW_WINDOW}-{k}") }
}

/// Which overflow window a name is (0: none).
fn overflow_number(name: &str) -> u32 {
    match name.strip_prefix(OVERFLOW_WINDOW) {
        Some("") => 1,
        Some(rest) => {
            rest.strip_prefix('-').and_then(|n| n.parse().ok()).filter(|n| *n >= 2).unwrap_or(0)
        }
        None => 0,
    }
}

/// Whether a window is one of paneherd's overflow windows.
pub fn is_overflow_name(name: &str) -> bool {
    overflow_number(name) > 0
}

/// The pane border of windows with agents (`border_format`): `id · status · elapsed · title` for agent panes
/// (elapsed computed by tmux itself from the start time, so nothing has to tick), the title
/// alone for others.
fn border_format() -> String {
    // Seconds since the start (tmux expands `%s` to now; `%%` is a literal `%`), shown as the
    // rest of paneherd shows durations: `24s`, `1m 06s`, `2h 03m`.
    let e = "#{e|-:%s,#{@paneherd_started}}";
    let pad = |x: &str| format!("#{{?#{{e|<:{x},10}},0,}}{x}");
    let secs = format!("#{{e|%%:{e},60}}");
    let mins_total = format!("#{{e|/:{e},60}}");
    let mins = format!("#{{e|%%:{mins_total},60}}");
    let hours = format!("#{{e|/:{e},3600}}");
    let elapsed = format!(
        "#{{?#{{e|<:{e},60}},{e}s,#{{?#{{e|<:{e},3600}},{mins_total}m {}s,{hours}h {}m}}}}",
        pad(&secs),
        pad(&mins)
    );
    format!(
        " #{{?@paneherd_id,#{{@paneherd_id}} · #{{@paneherd_status}} · #{{?@paneherd_took,#{{@paneherd_took}},{elapsed}}} · ,}}#{{pane_title}} "
    )
}

/// A tmux server, addressed by its socket path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Tmux {
    pub socket: PathBuf,
}

/// Where a pane is and how big its window is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaneInfo {
    pub pane: String,
    pub pid: u32,
    pub window: String,
    pub session: String,
    pub window_width: u16,
    pub window_height: u16,
    pub window_name: String,
}

const INFO_FORMAT: &str = "#{pane_id}\t#{pane_pid}\t#{window_id}\t#{session_id}\t#{window_width}\t#{window_height}\t#{window_name}";

fn parse_info(line: &str) -> Option<PaneInfo> {
    let f: Vec<&str> = line.trim_end_matches('\n').split('\t').collect();
    if f.len() < 7 {
        return None;
    }
    Some(PaneInfo {
        pane: f[0].to_string(),
        pid: f[1].parse().ok()?,
        window: f[2].to_string(),
        session: f[3].to_string(),
        window_width: f[4].parse().ok()?,
        window_height: f[5].parse().ok()?,
        window_name: f[6..].join("\t"),
    })
}

/// Quotes a word for the shell tmux runs pane commands with.
pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The server of a client inside tmux: the socket path from `$TMUX` (`path,pid,session`).
pub fn socket_from_env(tmux_var: &str) -> Option<PathBuf> {
    let path = tmux_var.split(',').next()?;
    (!path.is_empty()).then(|| PathBuf::from(path))
}

/// The pane this process runs in, from its `$TMUX` and `$TMUX_PANE`.
pub fn origin_from_env() -> Option<crate::core::task::TmuxOrigin> {
    origin_from(std::env::var("TMUX").ok().as_deref(), std::env::var("TMUX_PANE").ok().as_deref())
}

/// The pane a client runs in, from the values of its `$TMUX` and `$TMUX_PANE`.
pub fn origin_from(
    tmux_var: Option<&str>,
    pane: Option<&str>,
) -> Option<crate::core::task::TmuxOrigin> {
    let socket = socket_from_env(tmux_var?)?;
    let pane = pane.filter(|p| p.starts_with('%'))?.to_string();
    Some(crate::core::task::TmuxOrigin { socket, pane })
}

/// The pane process `pid` runs in, from its environment (`/proc/PID/environ`, readable for the
/// user's own processes): for a client whose host trimmed `$TMUX` from its environment.
pub fn origin_of_process(pid: u32) -> Option<crate::core::task::TmuxOrigin> {
    let environ = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    let var = |name: &str| {
        environ.split(|b| *b == 0).find_map(|kv| {
            let kv = std::str::from_utf8(kv).ok()?;
            kv.strip_prefix(name)?.strip_prefix('=').map(str::to_string)
        })
    };
    origin_from(var("TMUX").as_deref(), var("TMUX_PANE").as_deref())
}

/// Opens a tmux session `name` on the user's own (default) server running `argv` (no shell) with
/// `env` set in it, and attaches this terminal to it until it ends — the one command that uses
/// the default server, because the user asked for a session there (`paneherd demo` outside tmux).
/// `Err` when tmux cannot be run at all.
pub fn attach_new_session(
    name: &str,
    env: &[(&str, &Path)],
    argv: &[&std::ffi::OsStr],
) -> Result<std::process::ExitStatus, crate::runner::programs::SpawnError> {
    let mut cmd = crate::runner::programs::interactive("tmux");
    cmd.args(["new-session", "-s", name]);
    for (k, v) in env {
        cmd.arg("-e").arg(format!("{k}={}", v.display()));
    }
    crate::runner::programs::status(cmd.args(argv))
}

impl Tmux {
    pub fn new(socket: impl Into<PathBuf>) -> Tmux {
        Tmux { socket: socket.into() }
    }

    /// Runs one tmux command and returns its standard output.
    async fn run<'a>(&self, cmd: impl Into<TmuxCommand<'a>>) -> Result<String> {
        let socket = self.socket.to_string_lossy().into_owned();
        // `-u`: its output in UTF-8 whatever the locale — without it, a client with no UTF-8 locale
        // (an ssh session with no LANG) prints the tabs of our formats as `_`.
        let std_cmd: std::process::Command =
            TmuxCmd::new().force_utf8().socket_path(socket).command(cmd).into();
        let mut cmd = crate::runner::programs::async_command(std_cmd);
        let out = tokio::time::timeout(std::time::Duration::from_secs(10), cmd.output())
            .await
            .context("tmux did not answer within 10 s")?
            .with_context(|| format!("cannot run tmux for server {}", self.socket.display()))?;
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            bail!("tmux ({}): {}", self.socket.display(), err.trim());
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// The first pane of session `name` (its first window's), if the session is there.
    pub async fn first_pane(&self, name: &str) -> Option<String> {
        let exact = format!("={name}");
        self.list_session_panes(&exact).await.ok()?.into_iter().next().map(|p| p.pane)
    }

    /// A detached session `name`, `w`×`h`, running `command` (by tmux's shell): its pane.
    pub async fn new_detached_session(
        &self,
        name: &str,
        (w, h): (u16, u16),
        command: &str,
    ) -> Result<String> {
        let cmd = NewSession::new()
            .detached()
            .print()
            .format("#{pane_id}")
            .session_name(name.to_string())
            .width(w as usize)
            .height(h as usize)
            .shell_command(command.to_string());
        Ok(self.run(cmd.build()).await?.trim().to_string())
    }

    /// A window after `pane`'s, named `name`, running `command` (by tmux's shell), selected.
    pub async fn open_window_after(&self, pane: &str, name: &str, command: &str) -> Result<()> {
        let window =
            DisplayMessage::new().print().target_pane(pane.to_string()).message("#{window_id}");
        let window = self.run(window).await?.trim().to_string();
        let cmd = NewWindow::new()
            .after()
            .target_window(window)
            .window_name(name.to_string())
            .shell_command(command.to_string());
        self.run(cmd.build()).await.map(|_| ())
    }

    /// All panes of a session, across windows.
    pub async fn list_session_panes(&self, session: &str) -> Result<Vec<PaneInfo>> {
        let cmd = ListPanes::new().session().target(session.to_string()).format(INFO_FORMAT);
        let out = self.run(cmd).await?;
        Ok(out.lines().filter_map(parse_info).collect())
    }

    /// Whether new windows get `window-size manual`, under which tmux 3.3a's server dies on
    /// `new-window` ("server exited unexpectedly"); `break-pane` is not affected.
    async fn manual_window_size(&self) -> Result<bool> {
        let show = ShowOptions::new().global().window().quiet().value().option("window-size");
        Ok(self.run(show).await?.trim() == "manual")
    }

    /// Makes a new window holding `command` without `new-window`: splits the session's largest
    /// pane, breaks the new pane out to a window of its own, and gives the split window back
    /// the layout it had.
    async fn split_and_break(
        &self,
        session: &str,
        dir: &str,
        command: &str,
        name: &str,
    ) -> Result<PaneInfo> {
        let cmd = ListPanes::new()
            .session()
            .target(session.to_string())
            .format("#{pane_id}\t#{window_id}\t#{pane_width}\t#{pane_height}");
        let listing = self.run(cmd).await?;
        let (host, window) = listing
            .lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split('\t').collect();
                let area = f.get(2)?.parse::<u32>().ok()? * f.get(3)?.parse::<u32>().ok()?;
                Some((area, f[0].to_string(), f[1].to_string()))
            })
            .max_by_key(|(area, _, _)| *area)
            .map(|(_, pane, window)| (pane, window))
            .with_context(|| format!("tmux session {session} has no pane to split"))?;
        let (layout, _) = self.window_layout(&window).await?;
        let cmd = SplitWindow::new()
            .detached()
            .print()
            .format("#{pane_id}")
            .start_directory(dir.to_string())
            .target_pane(host)
            .shell_command(command.to_string());
        let pane = self.run(cmd).await?.trim().to_string();
        self.break_out(&pane, name, session).await?;
        if let Err(e) = self.select_layout(&window, &layout).await {
            tracing::warn!("cannot give window {window} its layout back: {e:#}");
        }
        self.pane_info(&pane).await?.with_context(|| format!("pane {pane} went away at once"))
    }

    /// The session's overflow windows (`paneherd-agents`, `paneherd-agents-2`, …), in order.
    pub async fn overflow_windows(&self, session: &str) -> Result<Vec<Overflow>> {
        let mut out: Vec<Overflow> = vec![];
        for p in self.list_session_panes(session).await? {
            if !is_overflow_name(&p.window_name) {
                continue;
            }
            match out.iter_mut().find(|w| w.window == p.window) {
                Some(w) => w.panes += 1,
                None => out.push(Overflow {
                    window: p.window,
                    name: p.window_name,
                    panes: 1,
                    width: p.window_width,
                    height: p.window_height,
                }),
            }
        }
        out.sort_by_key(|w| overflow_number(&w.name));
        Ok(out)
    }

    /// Where one more waiting agent goes: the first overflow window with room for a pane of
    /// at least `min` in its tiled layout, else a new window (with the first free name).
    async fn overflow_room(&self, session: &str, min: (u16, u16)) -> Result<Room> {
        let windows = self.overflow_windows(session).await?;
        for w in &windows {
            if w.panes < crate::tmux::planner::tiled_capacity(w.width, w.height, min.0, min.1) {
                return Ok(Room::In(w.window.clone()));
            }
        }
        let taken: Vec<u32> = windows.iter().map(|w| overflow_number(&w.name)).collect();
        let k = (1..).find(|k| !taken.contains(k)).unwrap_or(1);
        Ok(Room::New(overflow_name(k)))
    }

    /// Breaks `pane` out to a new window `name` of `session` (in the background); returns the
    /// window's id.
    async fn break_out(&self, pane: &str, name: &str, session: &str) -> Result<String> {
        let cmd = BreakPane::new()
            .detached()
            .print()
            .format("#{window_id}")
            .src_pane(pane.to_string())
            .window_name(name.to_string())
            .dst_window(format!("{session}:"));
        Ok(self.run(cmd).await?.trim().to_string())
    }

    /// Types `text` into the pane (its terminal's input), then Enter: byte for byte, in hex
    /// (`send-keys -H`), so that nothing in it is taken for a key name or an option; each
    /// newline is an Enter too.
    pub async fn type_text(&self, pane: &str, text: &str) -> Result<()> {
        let mut cmd = SendKeys::new().hex().target_pane(pane.to_string());
        for b in text.bytes().map(|b| if b == b'\n' { b'\r' } else { b }).chain([b'\r']) {
            cmd = cmd.key(format!("{b:02x}"));
        }
        self.run(cmd).await.map(|_| ())
    }

    /// Sets the pane's title (shown in its border).
    pub async fn set_title(&self, pane: &str, title: &str) -> Result<()> {
        let cmd = SelectPane::new().target_pane(pane.to_string()).title(title.to_string());
        self.run(cmd).await.map(|_| ())
    }

    /// Sets the border fields of an agent pane: its task id, status, and start (Unix seconds)
    /// or, once it has ended, how long it took.
    pub async fn mark(&self, pane: &str, fields: &[(&str, &str)]) -> Result<()> {
        for (k, v) in fields {
            let cmd = SetOption::new()
                .pane()
                .target_pane(pane.to_string())
                .option(format!("@paneherd_{k}"))
                .value(v.to_string());
            self.run(cmd).await?;
        }
        Ok(())
    }

    /// Puts `text` in tmux's paste buffer and the clipboard (`set-buffer -w`).
    pub async fn set_buffer(&self, text: &str) -> Result<()> {
        let cmd = tmux_interface::SetBuffer::new().send_to_clipboard().data(text.to_string());
        self.run(cmd).await.map(|_| ())
    }

    /// Shows a message in the status line of the clients of `pane`'s session.
    pub async fn message(&self, pane: &str, text: &str) -> Result<()> {
        let cmd =
            DisplayMessage::new().target_pane(pane.to_string()).message(text.replace('#', "##"));
        self.run(cmd).await.map(|_| ())
    }

    /// The terminal of a client attached to `pane`'s session, if any.
    pub async fn client_tty(&self, pane: &str) -> Result<Option<String>> {
        let cmd =
            DisplayMessage::new().print().target_pane(pane.to_string()).message("#{client_tty}");
        let out = self.run(cmd).await?;
        let tty = out.trim();
        Ok((!tty.is_empty()).then(|| tty.to_string()))
    }

    /// Whether `pane` is in the active window of a session a client is attached to.
    pub async fn in_view(&self, pane: &str) -> Result<bool> {
        let cmd = DisplayMessage::new()
            .print()
            .target_pane(pane.to_string())
            .message("#{window_active} #{session_attached}");
        let out = self.run(cmd).await?;
        let mut f = out.split_whitespace();
        Ok(f.next() == Some("1") && f.next().and_then(|n| n.parse::<u32>().ok()).unwrap_or(0) > 0)
    }
}

/// The pane manager's operations on a real tmux server (the trait's doc says what each does).
impl PaneServer for Tmux {
    /// Facts about a pane (`None` when it does not exist).
    async fn pane_info(&self, pane: &str) -> Result<Option<PaneInfo>> {
        let cmd = DisplayMessage::new().print().target_pane(pane.to_string()).message(INFO_FORMAT);
        match self.run(cmd).await {
            Ok(out) => Ok(parse_info(&out)),
            Err(e) if e.to_string().contains("can't find") => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The panes of a window, in tmux's order.
    async fn list_panes(&self, window: &str) -> Result<Vec<PaneInfo>> {
        let cmd = ListPanes::new().target(window.to_string()).format(INFO_FORMAT);
        let out = self.run(cmd).await?;
        Ok(out.lines().filter_map(parse_info).collect())
    }

    /// Starts `command` (run by tmux's shell) in a new pane beside `target` (below it, for
    /// `below`), `size` cells across (or high), without focusing it.
    async fn split(
        &self,
        target: &str,
        cwd: &Path,
        command: &str,
        below: bool,
        size: Option<u16>,
    ) -> Result<PaneInfo> {
        let size = size.map(|s| PaneSize::Size(s as usize));
        let mut cmd = SplitWindow::new()
            .detached()
            .print()
            .format(INFO_FORMAT)
            .start_directory(cwd.to_string_lossy().into_owned())
            .target_pane(target.to_string())
            .shell_command(command.to_string());
        cmd = if below { cmd.vertical() } else { cmd.horizontal() };
        if let Some(sz) = &size {
            cmd = cmd.size(sz);
        }
        let out = self.run(cmd.build()).await?;
        parse_info(&out).context("tmux did not say which pane it made")
    }

    /// Starts `command` in a new pane of an overflow window with room for it (`min` the
    /// smallest a pane may be), made if there is none. Returns the pane.
    async fn split_in_overflow(
        &self,
        session: &str,
        cwd: &Path,
        command: &str,
        min: (u16, u16),
    ) -> Result<PaneInfo> {
        let dir = cwd.to_string_lossy().into_owned();
        let out = match self.overflow_room(session, min).await? {
            Room::In(w) => {
                let cmd = SplitWindow::new()
                    .detached()
                    .print()
                    .format(INFO_FORMAT)
                    .start_directory(dir)
                    .target_pane(w.clone())
                    .shell_command(command.to_string());
                let out = self.run(cmd).await?;
                self.select_layout(&w, "tiled").await?;
                out
            }
            Room::New(name) if self.manual_window_size().await? => {
                return self.split_and_break(session, &dir, command, &name).await;
            }
            Room::New(name) => {
                let cmd = NewWindow::new()
                    .detached()
                    .print()
                    .format(INFO_FORMAT)
                    .start_directory(dir)
                    .window_name(name)
                    .target_window(format!("{session}:"))
                    .shell_command(command.to_string());
                self.run(cmd).await?
            }
        };
        parse_info(&out).context("tmux did not say which pane it made")
    }

    /// Moves a pane into the window of `target` (beside it, or below it), `size` cells across
    /// (or high), without focusing it.
    async fn join(&self, pane: &str, target: &str, below: bool, size: Option<u16>) -> Result<()> {
        let size = size.map(|s| PaneSize::Size(s as usize));
        let mut cmd =
            JoinPane::new().detached().src_pane(pane.to_string()).dst_pane(target.to_string());
        cmd = if below { cmd.vertical() } else { cmd.horizontal() };
        if let Some(sz) = &size {
            cmd = cmd.size(sz);
        }
        self.run(cmd.build()).await.map(|_| ())
    }

    /// Moves a pane out to an overflow window with room for it (`min` the smallest a pane
    /// may be), made if there is none. Returns the window.
    async fn hide(&self, pane: &str, session: &str, min: (u16, u16)) -> Result<String> {
        match self.overflow_room(session, min).await? {
            Room::In(w) => {
                let cmd = JoinPane::new().detached().src_pane(pane.to_string()).dst_pane(w.clone());
                self.run(cmd).await?;
                self.select_layout(&w, "tiled").await?;
                Ok(w)
            }
            Room::New(name) => self.break_out(pane, &name, session).await,
        }
    }

    /// The window's layout string (`#{window_layout}`) and where its pane border line is
    /// (`pane-border-status`: `off`, `top` or `bottom`).
    async fn window_layout(&self, window: &str) -> Result<(String, String)> {
        let cmd = DisplayMessage::new()
            .print()
            .target_pane(window.to_string())
            .message("#{window_layout}\t#{pane-border-status}");
        let out = self.run(cmd).await?;
        let (layout, border) = out.trim_end().split_once('\t').unwrap_or((out.trim_end(), "off"));
        Ok((layout.to_string(), border.to_string()))
    }

    /// Applies a layout (a name or a layout string) to a window.
    async fn select_layout(&self, window: &str, layout: &str) -> Result<()> {
        let cmd =
            SelectLayout::new().target_pane(window.to_string()).layout_name(layout.to_string());
        self.run(cmd).await.map(|_| ())
    }

    async fn kill_pane(&self, pane: &str) -> Result<()> {
        self.run(KillPane::new().target_pane(pane.to_string())).await.map(|_| ())
    }

    /// Selects the pane and its window (so the user sees it).
    async fn focus(&self, pane: &str, window: &str) -> Result<()> {
        self.run(SelectWindow::new().target_window(window.to_string())).await?;
        self.run(SelectPane::new().target_pane(pane.to_string())).await.map(|_| ())
    }

    /// Turns on the agent border (see `border_format`) for a window; returns what it replaced,
    /// for `undecorate`.
    async fn decorate(&self, window: &str) -> Result<Decoration> {
        let mut previous = Vec::new();
        for (option, value) in
            [("pane-border-status", "top".to_string()), ("pane-border-format", border_format())]
        {
            let show = ShowOptions::new()
                .window()
                .quiet()
                .value()
                .target_pane(window.to_string())
                .option(option);
            let before = self.run(show).await?.trim_end_matches('\n').to_string();
            previous.push((option, (!before.is_empty()).then_some(before)));
            let cmd = SetOption::new()
                .window()
                .target_pane(window.to_string())
                .option(option)
                .value(value);
            self.run(cmd).await?;
        }
        Ok(Decoration { previous })
    }

    /// Gives a window back the border options it had before `decorate`.
    async fn undecorate(&self, window: &str, d: &Decoration) -> Result<()> {
        for (option, before) in &d.previous {
            let cmd = SetOption::new().window().target_pane(window.to_string()).option(*option);
            let cmd = match before {
                Some(v) => cmd.value(v.clone()),
                None => cmd.unset(),
            };
            self.run(cmd).await?;
        }
        Ok(())
    }

    /// Has tmux redraw `session`'s status line and pane borders every second while agents are
    /// shown there: an agent border's elapsed time is computed by tmux at each redraw, and at
    /// tmux's default `status-interval` (15 s) it would stand still that long. Returns what to
    /// give back with `untick`, or `None` when the session redraws that often already.
    async fn tick_each_second(&self, session: &str) -> Result<Option<Ticking>> {
        let shown = DisplayMessage::new()
            .print()
            .target_pane(session.to_string())
            .message("#{status-interval}");
        if self.run(shown).await?.trim() == "1" {
            return Ok(None);
        }
        let own = ShowOptions::new()
            .quiet()
            .value()
            .target_pane(session.to_string())
            .option("status-interval");
        let before = self.run(own).await?.trim_end_matches('\n').to_string();
        let set =
            SetOption::new().target_pane(session.to_string()).option("status-interval").value("1");
        self.run(set).await?;
        Ok(Some(Ticking {
            session: session.to_string(),
            previous: (!before.is_empty()).then_some(before),
        }))
    }

    /// Gives a session back the `status-interval` it had before `tick_each_second`.
    async fn untick(&self, t: &Ticking) -> Result<()> {
        let cmd = SetOption::new().target_pane(t.session.clone()).option("status-interval");
        let cmd = match &t.previous {
            Some(v) => cmd.value(v.clone()),
            None => cmd.unset(),
        };
        self.run(cmd).await.map(|_| ())
    }

    /// Runs `command` whenever the window changes size, beside any hook the user has; returns
    /// the hook's slot (`window-resized[N]`) for `remove_hook`. A hook left behind by a daemon
    /// that crashed (its command holds `mark` too) is replaced.
    async fn on_resize(&self, window: &str, command: &str, mark: &str) -> Result<String> {
        let ours = |hooks: &str| -> Vec<String> {
            hooks
                .lines()
                .filter(|l| l.starts_with("window-resized[") && l.contains("tmux-resized"))
                .filter(|l| l.contains(mark))
                .filter_map(|l| l.split_whitespace().next().map(str::to_string))
                .collect()
        };
        let show = || ShowHooks::new().window().target_pane(window.to_string());
        for stale in ours(&self.run(show()).await?) {
            self.remove_hook(window, &stale).await?;
        }
        let line = format!("run-shell -b {}", shell_quote(command));
        let cmd = SetHook::new()
            .append()
            .window()
            .target_session(window.to_string())
            .hook_name("window-resized")
            .command(line);
        self.run(cmd).await?;
        ours(&self.run(show()).await?).pop().context("tmux did not list the hook it was given")
    }

    /// Removes a hook set by `on_resize`; the window's hook list goes too when it was the only
    /// one (so that nothing of paneherd's is left, not even an empty list).
    async fn remove_hook(&self, window: &str, slot: &str) -> Result<()> {
        let unset = |name: String| {
            SetHook::new().unset().window().target_session(window.to_string()).hook_name(name)
        };
        self.run(unset(slot.to_string())).await?;
        let hooks = self.run(ShowHooks::new().window().target_pane(window.to_string())).await?;
        if !hooks.lines().any(|l| l.starts_with("window-resized[")) {
            self.run(unset("window-resized".to_string())).await?;
        }
        Ok(())
    }
}

/// A session's `status-interval` before `tick_each_second` changed it (`None`: it had none of
/// its own and inherited the global one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ticking {
    pub session: String,
    previous: Option<String>,
}

impl Ticking {
    /// A session that had no `status-interval` of its own (for the recording server).
    #[cfg(test)]
    pub(crate) fn of(session: &str) -> Ticking {
        Ticking { session: session.to_string(), previous: None }
    }
}

/// The window options `decorate` replaced: each with the window's own value before (`None`:
/// it had none and inherited its session's).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Decoration {
    previous: Vec<(&'static str, Option<String>)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_path_from_tmux_var() {
        assert_eq!(
            socket_from_env("/tmp/tmux-0/default,123,0"),
            Some(PathBuf::from("/tmp/tmux-0/default"))
        );
        assert_eq!(socket_from_env(""), None);
    }

    #[test]
    fn quoting_survives_hostile_words() {
        assert_eq!(shell_quote("it's $(x)"), r"'it'\''s $(x)'");
    }

    #[test]
    fn info_lines_parse() {
        let i = parse_info("%3\t42\t@1\t$0\t200\t50\tmy\twin\n").unwrap();
        assert_eq!(
            (i.pane.as_str(), i.pid, i.window_width, i.window_name.as_str()),
            ("%3", 42, 200, "my\twin")
        );
        assert!(parse_info("garbage").is_none());
    }
}
