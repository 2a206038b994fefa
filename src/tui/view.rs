//! Drawing the dashboard: a pure function of the `App` (`impl Widget for &App`).

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Widget, Wrap};

use super::app::{App, Daemon, Mode, Row};
use super::geometry::{footer_rows, parts};
use crate::config::keys::{Command, Place};
use crate::core::task::{Task, TaskStatus};
use crate::core::text::{self, fit};
use crate::core::timefmt::human_duration;

mod overlays;
use overlays::{confirm, form, help, output};

/// The mark of a worktree task: `⎇`, or `wt` where the terminal may not have it — a locale
/// that is not UTF-8, or `PANEHERD_ASCII=1` for a font without it.
fn branch_mark() -> &'static str {
    static MARK: std::sync::OnceLock<&'static str> = std::sync::OnceLock::new();
    MARK.get_or_init(|| {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let locale = var("LC_ALL").or_else(|| var("LC_CTYPE")).or_else(|| var("LANG"));
        let utf8 = locale.is_none_or(|l| {
            let l = l.to_lowercase();
            l.contains("utf-8") || l.contains("utf8")
        });
        if !utf8 || var("PANEHERD_ASCII").is_some_and(|v| v != "0") { "wt" } else { "⎇" }
    })
}

/// Added and removed lines' colours (diff stats, the diff viewer), as the app draws.
pub(super) fn diff_style(app: &App, added: bool) -> Style {
    super::theme::diff_style(app.color, app.light, added)
}

/// A worktree task's marker and `+12 −3 in 4 files` (once read), as spans, and their width.
fn worktree_spans(app: &App, t: &Task, long: bool) -> (Vec<Span<'static>>, usize) {
    if t.worktree.is_none() && t.worktree_request.is_none() {
        return (vec![], 0);
    }
    let mut spans = vec![Span::raw(format!("{} ", branch_mark()))];
    let mut width = 2;
    if let Some(s) = app.worktrees.get(&t.id).filter(|i| i.exists).map(|i| i.stat) {
        let (plus, minus) = (format!("+{}", s.added), format!(" −{}", s.removed));
        let files = if long {
            if s.files == 1 { " in 1 file".to_string() } else { format!(" in {} files", s.files) }
        } else {
            String::new()
        };
        width += plus.chars().count() + minus.chars().count() + files.chars().count() + 1;
        spans.push(Span::styled(plus, diff_style(app, true)));
        spans.push(Span::styled(minus, diff_style(app, false)));
        spans.push(Span::raw(format!("{files} ")));
    }
    (spans, width)
}

fn status_style(app: &App, s: TaskStatus) -> Style {
    if !app.color {
        return Style::default();
    }
    let c = match (s, app.light) {
        (TaskStatus::Pending, false) => Color::Magenta,
        (TaskStatus::Pending, true) => Color::Indexed(127),
        (TaskStatus::Running, false) => Color::Cyan,
        (TaskStatus::Running, true) => Color::Indexed(25),
        (TaskStatus::Completed, false) => Color::Green,
        (TaskStatus::Completed, true) => Color::Indexed(28),
        (TaskStatus::Error, false) => Color::Red,
        (TaskStatus::Error, true) => Color::Indexed(160),
        (TaskStatus::Cancelled, _) => Color::Reset,
        (TaskStatus::Interrupted, false) => Color::Yellow,
        (TaskStatus::Interrupted, true) => Color::Indexed(130),
    };
    Style::default().fg(c)
}

fn agent_model(t: &Task) -> String {
    match &t.model {
        Some(m) => format!("{}/{}", t.agent, m.rsplit('/').next().unwrap_or(m)),
        None => t.agent.clone(),
    }
}

/// The list's columns for a width: id and title widths, and which optional columns fit: the
/// last output's age from 76 columns, the agent from 96.
struct Columns {
    id: usize,
    title: usize,
    agent: bool,
    last: bool,
}

impl Columns {
    fn for_width(width: u16) -> Columns {
        let agent = width >= 96;
        let last = width >= 76;
        let id = if agent { 22 } else { 18 };
        // marker+symbol (3), status (12), gaps, time (8), agent (16), last output
        // (`12m 30s ago`, 11).
        let fixed = 3
            + 12
            + 1
            + id
            + 1
            + 1
            + 8
            + if agent { 16 + 1 } else { 0 }
            + if last { 1 + 11 } else { 0 };
        Columns { id, title: (width as usize).saturating_sub(fixed).max(8), agent, last }
    }
}

fn column_line(width: u16) -> Line<'static> {
    let c = Columns::for_width(width);
    let mut s =
        format!("   {:<12} {:<idw$} {:<tw$} ", "STATUS", "ID", "TITLE", idw = c.id, tw = c.title);
    if c.agent {
        s.push_str(&format!("{:<16} ", "AGENT"));
    }
    s.push_str(&format!("{:>8}", "TIME"));
    if c.last {
        s.push_str(&format!(" {:<11}", "LAST OUTPUT"));
    }
    Line::from(Span::styled(s, Style::default().add_modifier(Modifier::BOLD)))
}

fn task_line(app: &App, t: &Task, width: u16, selected: bool) -> Line<'static> {
    let (sym, label) = if t.needs_input.is_some() {
        ("?", "needs input".to_string())
    } else {
        (t.status.symbol(), t.status.as_str().to_string())
    };
    let time = match t.status {
        TaskStatus::Pending => human_duration((app.now - t.created_at).num_milliseconds()),
        _ => t.run_ms(app.now).map(human_duration).unwrap_or_default(),
    };
    // How long since the task last printed something, while it runs.
    let quiet = match (t.status, t.last_output_at) {
        (TaskStatus::Running, Some(at)) => {
            format!("{} ago", human_duration((app.now - at).num_milliseconds()))
        }
        _ => String::new(),
    };
    let c = Columns::for_width(width);
    let st = status_style(app, t.status);
    let marker = if selected { "›" } else { " " };
    let mut spans = vec![
        Span::styled(format!("{marker}{sym} "), st),
        Span::styled(fit(&label, 12), st),
        Span::raw(" "),
        Span::raw(fit(&t.id, c.id)),
        Span::raw(" "),
    ];
    // A worktree task: ⎇ and its `+N −M` before the title (the files too when there is room).
    let (mut wt, mut used) = worktree_spans(app, t, c.title >= 60);
    if used > c.title / 2 {
        (wt, used) = worktree_spans(app, t, false);
    }
    spans.extend(wt);
    // Another host's task: `@host` before its title.
    if let Some(h) = &t.host {
        let at = format!("@{} ", text::cut(h, 12));
        used += text::width(&at);
        spans.push(Span::styled(at, Style::default().add_modifier(Modifier::DIM)));
    }
    let tw = c.title.saturating_sub(used);
    spans.push(Span::raw(fit(&t.title, tw)));
    spans.push(Span::raw(" "));
    if c.agent {
        spans.push(Span::raw(format!("{} ", fit(&agent_model(t), 16))));
    }
    spans.push(Span::raw(format!("{time:>8}")));
    if c.last {
        spans.push(Span::raw(format!(" {quiet:<11}")));
    }
    let line = Line::from(spans);
    // The selection is the whole row, in reverse video (not a colour: kept under NO_COLOR).
    if selected { line.style(Style::default().add_modifier(Modifier::REVERSED)) } else { line }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    if n == 1 { format!("1 {one}") } else { format!("{n} {many}") }
}

/// A part of the header: its text in full and, where it has one, shorter; `keep` parts are
/// never dropped.
struct Part {
    full: String,
    short: Option<String>,
    style: Style,
    keep: bool,
}

fn part(full: String, short: Option<String>) -> Part {
    Part { full, short, style: Style::default(), keep: false }
}

/// The header: the limit groups, the layout, agents out of view, a refused config, the filter.
/// What does not fit in full is shortened, from the end; then the least needed parts go.
fn header(app: &App, area: Rect, buf: &mut Buffer) {
    let bold = Style::default().add_modifier(Modifier::BOLD);
    let mut parts = vec![Part { full: " paneherd ".into(), short: None, style: bold, keep: true }];
    let red = if app.color { Style::default().fg(Color::Red) } else { Style::default() };
    match app.daemon {
        Daemon::Up => {}
        Daemon::Stopped => parts.push(Part {
            full: format!(
                "│ the daemon was stopped: {} starts it ",
                app.keymap.label(Command::StartDaemon)
            ),
            short: Some(format!("│ stopped: {} starts ", app.keymap.label(Command::StartDaemon))),
            style: red,
            keep: true,
        }),
        Daemon::Lost => parts.push(Part {
            full: "│ the daemon went away: connecting again… ".into(),
            short: Some("│ reconnecting… ".into()),
            style: red,
            keep: true,
        }),
    }
    if app.config_error.is_some() {
        let style = red;
        parts.push(Part {
            full: "│ config error: running on the last good config ".into(),
            short: Some("│ config error ".into()),
            style,
            keep: true,
        });
    }
    if !app.hosts_down.is_empty() {
        let hosts = app.hosts_down.join(", ");
        parts.push(Part {
            full: format!("│ host {hosts} unreachable (paneherd hosts) "),
            short: Some(format!("│ {hosts} down ")),
            style: red,
            keep: true,
        });
    }
    if !app.filter.is_empty() || matches!(app.mode, Mode::Filter) {
        // The cursor only while typing; after Enter the filter is just shown.
        let cursor = if matches!(app.mode, Mode::Filter) { "▏" } else { "" };
        parts.push(Part {
            keep: true, ..part(format!("│ filter: {}{cursor} ", app.filter), None)
        });
    }
    if app.groups.is_empty() {
        parts.push(part("│ no task running ".into(), None));
    }
    for g in &app.groups {
        let name = g.key.trim_start_matches("model:").trim_start_matches("provider:");
        let limit = if g.limit == 0 { "∞".to_string() } else { g.limit.to_string() };
        let queued = if g.queued > 0 { format!(" +{} queued", g.queued) } else { String::new() };
        let short = (g.queued > 0).then(|| format!("│ {name} {}/{limit}+{} ", g.running, g.queued));
        parts.push(part(format!("│ {name} {}/{limit}{queued} ", g.running), short));
    }
    let (shown, waiting) = app.panes.iter().fold((0, 0), |(s, w), p| (s + p.visible, w + p.hidden));
    if waiting > 0 {
        let focus = app.keymap.label(Command::Focus);
        let why = if shown == 0 { " (window too small)" } else { "" };
        parts.push(part(
            format!(
                "│ {} out of view{why}: {focus} shows one ",
                plural(waiting, "agent", "agents")
            ),
            Some(format!("│ +{waiting} out of view ")),
        ));
    }
    if !app.layout.is_empty() {
        let how = app.panes.iter().find_map(|p| p.fallback.clone());
        let full = match how {
            Some(how) => format!("│ layout {} ({how}) ", app.layout),
            None => format!("│ layout {} ", app.layout),
        };
        parts.push(part(full, Some(format!("│ {} ", app.layout))));
    }
    if app.hide_old {
        parts.push(part("│ hiding finished > 1 day ".into(), Some("│ hiding old ".into())));
    }
    let width = area.width as usize;
    let len = |ps: &[Part], short: &[bool]| -> usize {
        ps.iter()
            .zip(short)
            .map(|(p, s)| if *s { p.short.as_ref().unwrap_or(&p.full) } else { &p.full })
            .map(|t| t.chars().count())
            .sum()
    };
    let mut short = vec![false; parts.len()];
    for i in (0..parts.len()).rev() {
        if len(&parts, &short) <= width {
            break;
        }
        short[i] = parts[i].short.is_some();
    }
    while len(&parts, &short) > width {
        let Some(i) = parts.iter().rposition(|p| !p.keep) else { break };
        parts.remove(i);
        short.remove(i);
    }
    let spans: Vec<Span> = parts
        .into_iter()
        .zip(short)
        .map(|(p, s)| Span::styled(if s { p.short.unwrap_or(p.full) } else { p.full }, p.style))
        .collect();
    Paragraph::new(Line::from(spans)).render(area, buf);
}

/// The footer: the hints of the mode, as many as fit, and always `? help · q quit` (the way
/// out and the way to learn the rest).
fn footer(app: &App, area: Rect, buf: &mut Buffer) {
    // A message (the answer to a key) is read whole: the footer has the rows it needs.
    if let Some(m) = &app.message {
        Paragraph::new(format!(" {m}")).wrap(Wrap { trim: false }).render(area, buf);
        return;
    }
    let k = |c| app.keymap.label(c);
    let essentials = match app.mode {
        // `q` closes the viewer; ctrl-c quits anywhere.
        Mode::Output(_) => format!("{} help", k(Command::Help)),
        _ => format!("{} help · {} quit", k(Command::Help), k(Command::Quit)),
    };
    let hints: Vec<String> = match &app.mode {
        Mode::Filter => vec!["type to filter".into(), "Enter keep".into(), "Esc clear".into()],
        Mode::Output(_) => vec![
            format!("{}/{} scroll", k(Command::ViewerDown), k(Command::ViewerUp)),
            format!("{}/{} top/end", k(Command::ViewerTop), k(Command::ViewerEnd)),
            format!("{} search", k(Command::ViewerSearch)),
            format!("{} next", k(Command::ViewerNext)),
            format!("{} close", k(Command::ViewerClose)),
        ],
        _ => {
            let mut h = vec![
                format!("{}/{} move", k(Command::Down), k(Command::Up)),
                format!("{} output", k(Command::Output)),
                format!("{} show pane", k(Command::Focus)),
                format!("{} new", k(Command::New)),
                format!("{} cancel", k(Command::Cancel)),
                format!("{} retry", k(Command::Retry)),
                format!("{} filter", k(Command::Filter)),
                format!("{} group", k(Command::NextGroup)),
            ];
            if !app.filter.is_empty() {
                h.insert(0, "Esc clear filter".into());
            }
            // A worktree task selected: its own keys first.
            if app.selected_task().is_some_and(|t| t.worktree.is_some()) {
                let wt = [
                    format!("{} diff", k(Command::Diff)),
                    format!("{} merge", k(Command::Merge)),
                    format!("{} discard", k(Command::Discard)),
                ];
                h.splice(1..1, wt);
            }
            h
        }
    };
    let room = (area.width as usize).saturating_sub(essentials.chars().count() + 4);
    let mut shown = String::new();
    for h in hints {
        let add = if shown.is_empty() { h } else { format!(" · {h}") };
        if shown.chars().count() + add.chars().count() > room {
            break;
        }
        shown.push_str(&add);
    }
    let text = if shown.is_empty() {
        format!(" {essentials}")
    } else {
        format!(" {shown} · {essentials}")
    };
    Paragraph::new(Span::raw(text)).render(area, buf);
}

fn list(app: &App, area: Rect, buf: &mut Buffer) {
    let block = Block::default().borders(Borders::ALL).title(" tasks ");
    let inner = block.inner(area);
    block.render(area, buf);
    let mut lines = vec![column_line(inner.width)];
    let height = (inner.height as usize).saturating_sub(1);
    let start = app.scroll(height);
    for row in app.rows_window(start, height).iter() {
        match row {
            Row::More(n) => lines.push(Line::from(format!(
                "  … {n} more finished — {} lists them all",
                app.keymap.label(Command::AllFinished)
            ))),
            Row::Header(g, n) => {
                let style = Style::default().add_modifier(Modifier::BOLD);
                lines.push(Line::from(Span::styled(format!("{} ({n})", g.name()), style)));
            }
            Row::Task(id) => {
                if let Some(t) = app.tasks.get(id) {
                    let sel = app.selected.as_ref() == Some(id);
                    lines.push(task_line(app, t, inner.width, sel));
                }
            }
        }
    }
    if app.tasks.is_empty() {
        lines.push(Line::from(""));
        lines.push(Line::from(format!(
            "  No tasks yet. Press {} for a new one, or run `paneherd run …` anywhere.",
            app.keymap.label(Command::New)
        )));
    }
    Paragraph::new(lines).render(inner, buf);
}

/// Local time of day, and how long ago: `14:03:22 (2m 06s ago)`.
fn when(app: &App, t: crate::core::timefmt::Timestamp) -> String {
    let local = t.with_timezone(&app.utc_offset).format("%H:%M:%S");
    format!("{local} ({} ago)", human_duration((app.now - t).num_milliseconds()))
}

/// Where the task runs (or ran), in words.
fn place(app: &App, t: &Task) -> String {
    if let Some(h) = &t.host {
        return match t.status {
            // Waiting for the host, or queued there: its reason (above) says which.
            TaskStatus::Pending => format!("for host {h}"),
            TaskStatus::Running => {
                format!(
                    "on host {h} ({} attaches to its pane there)",
                    app.keymap.label(Command::Focus)
                )
            }
            _ => format!("ran on host {h}"),
        };
    }
    match (t.status, &t.pane_id) {
        (TaskStatus::Pending, _) => {
            let group = t.limit_group.trim_start_matches("model:").trim_start_matches("provider:");
            format!("queued: waits for a free slot of {group}")
        }
        (TaskStatus::Running, Some(p)) => {
            format!("in tmux pane {p} ({} shows it)", app.keymap.label(Command::Focus))
        }
        (TaskStatus::Running, None) => "headless (no tmux pane)".into(),
        (_, Some(_)) => "ran in a tmux pane".into(),
        (_, None) => "ran headless".into(),
    }
}

fn detail(app: &App, area: Rect, buf: &mut Buffer) {
    let block = Block::default().borders(Borders::ALL).title(" detail ");
    let inner = block.inner(area);
    block.render(area, buf);
    let Some(t) = app.selected_task() else { return };
    let bold = Style::default().add_modifier(Modifier::BOLD);
    let mut times = format!("created {}", when(app, t.created_at));
    if let Some(s) = t.started_at {
        times = format!("started {}", when(app, s));
    }
    if let Some(f) = t.finished_at {
        times = format!("ended {}", when(app, f));
    }
    let mut lines = vec![
        Line::from(vec![Span::styled(t.id.clone(), bold), Span::raw(format!(" · {}", t.title))]),
        Line::from(vec![
            Span::styled(
                format!("{} {}", t.status.symbol(), t.status),
                status_style(app, t.status),
            ),
            Span::raw(t.reason.as_ref().map(|r| format!(" — {r}")).unwrap_or_default()),
        ]),
        Line::from(format!("{} · {}", agent_model(t), place(app, t))),
        Line::from(times),
    ];
    if let Some(q) = &t.needs_input {
        lines.push(Line::from(Span::styled(format!("needs input: {q}"), bold)));
    }
    if let (Some(path), Some(branch)) = (&t.worktree, &t.branch) {
        let mut spans = vec![Span::raw(format!("{} {branch} ", branch_mark()))];
        match app.worktrees.get(&t.id) {
            Some(i) if i.exists => {
                spans.extend(worktree_spans(app, t, true).0.into_iter().skip(1));
                let state = if i.dirty { "uncommitted work" } else { "committed" };
                spans.push(Span::raw(format!(
                    "· {state} · {} ahead of {} · {}",
                    i.ahead,
                    i.target,
                    path.display()
                )));
            }
            Some(_) => spans.push(Span::raw(match &t.worktree_note {
                Some(_) => "· its worktree was removed (below)".to_string(),
                None => format!("· its worktree is gone (removed by hand) · {}", path.display()),
            })),
            None => spans.push(Span::raw(format!("· {}", path.display()))),
        }
        lines.push(Line::from(spans));
        if let Some(n) = &t.worktree_note {
            lines.push(Line::from(format!("  {n}")));
        }
    } else if t.worktree_request.is_some() && !t.status.is_terminal() {
        lines.push(Line::from(format!("{} its worktree is made when it starts", branch_mark())));
    }
    if let Some(s) = &t.summary {
        lines.push(Line::from(format!("summary: {s}")));
    }
    // The output comes before the prompt (whose first line is the title already); the prompt
    // gets what room is left.
    let prompt: Vec<&str> = t.prompt.lines().take(4).collect();
    let room = (inner.height as usize).saturating_sub(lines.len() + 1);
    let prompt_room = if room >= 12 { prompt.len() + 1 } else { 0 };
    let label = if t.status.is_terminal() { "result" } else { "output" };
    lines.push(Line::from(Span::styled(label, bold)));
    if let Some(d) = app.detail.as_ref().filter(|d| d.id == t.id) {
        let out: Vec<&str> = d.text.lines().collect();
        let end = out.len().saturating_sub(app.detail_scroll);
        let mut room = room.saturating_sub(prompt_room);
        if app.detail_scroll > 0 {
            lines.push(Line::from(format!(
                "  (scrolled back {} lines — PageDown)",
                app.detail_scroll
            )));
            room = room.saturating_sub(1);
        }
        for l in &out[end.saturating_sub(room)..end] {
            lines.push(Line::from(format!("  {l}")));
        }
    }
    if prompt_room > 0 {
        lines.push(Line::from(Span::styled("prompt", bold)));
        for l in prompt {
            lines.push(Line::from(format!("  {l}")));
        }
    }
    Paragraph::new(lines).wrap(Wrap { trim: false }).render(inner, buf);
}

impl Widget for &App {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let [head, list_area, detail_area, foot] =
            parts(area, self.list_wants(), footer_rows(self.message.as_deref(), area.width));
        header(self, head, buf);
        list(self, list_area, buf);
        detail(self, detail_area, buf);
        footer(self, foot, buf);
        let body = Rect { height: area.height.saturating_sub(2), y: area.y + 1, ..area };
        match &self.mode {
            Mode::Help => help(self, Place::List, area, buf),
            Mode::Confirm(c) => confirm(self, c, area, buf),
            Mode::Output(v) => {
                output(self, v, body, buf);
                if v.help {
                    help(self, Place::Viewer, area, buf);
                }
            }
            Mode::NewTask(f) => form(self, f, area, buf),
            Mode::Normal | Mode::Filter => {}
        }
    }
}
