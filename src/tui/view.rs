//! Drawing the dashboard: a pure function of the `App` (`impl Widget for &App`).

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Direction, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Widget, Wrap};

use super::app::{App, Confirm, Mode, Row};
use super::form::Field;
use super::keymap::{BINDINGS, Command};
use crate::core::task::{Task, TaskStatus};
use crate::core::text::cut;
use crate::core::timefmt::human_duration;

/// Whether the detail panel goes beside the list (else below it).
fn wide(area: Rect) -> bool {
    area.width >= 110
}

/// The screen's parts: header, list, detail, footer.
fn parts(area: Rect) -> [Rect; 4] {
    let outer = Layout::default()
        .direction(Direction::Vertical)
        .constraints([Constraint::Length(1), Constraint::Min(3), Constraint::Length(1)])
        .split(area);
    let body = if wide(area) {
        Layout::default()
            .direction(Direction::Horizontal)
            .constraints([Constraint::Percentage(62), Constraint::Percentage(38)])
            .split(outer[1])
    } else {
        Layout::default()
            .direction(Direction::Vertical)
            .constraints([Constraint::Percentage(55), Constraint::Percentage(45)])
            .split(outer[1])
    };
    [outer[0], body[0], body[1], outer[2]]
}

/// Where the task list's rows are drawn on a `w`×`h` screen (inside its border).
pub fn list_inner(w: u16, h: u16) -> Rect {
    Block::default().borders(Borders::ALL).inner(parts(Rect::new(0, 0, w, h))[1])
}

fn status_style(app: &App, s: TaskStatus) -> Style {
    if !app.color {
        return Style::default();
    }
    let c = match s {
        TaskStatus::Pending => Color::Gray,
        TaskStatus::Running => Color::Cyan,
        TaskStatus::Completed => Color::Green,
        TaskStatus::Error => Color::Red,
        TaskStatus::Cancelled => Color::DarkGray,
        TaskStatus::Interrupted => Color::Yellow,
    };
    Style::default().fg(c)
}

fn agent_model(t: &Task) -> String {
    match &t.model {
        Some(m) => format!("{}/{}", t.agent, m.rsplit('/').next().unwrap_or(m)),
        None => t.agent.clone(),
    }
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
    let quiet = match (t.status, t.last_output_at) {
        (TaskStatus::Running, Some(at)) => {
            format!("↳{}", human_duration((app.now - at).num_milliseconds()))
        }
        _ => String::new(),
    };
    // Narrow screens drop the agent and last-output columns and shorten the id.
    let roomy = width >= 96;
    let id_w = if roomy { 22 } else { 18 };
    let fixed = 3 + 12 + 1 + id_w + 1 + 1 + 8 + if roomy { 16 + 1 + 1 + 9 } else { 0 };
    let title_w = (width as usize).saturating_sub(fixed).max(8);
    let st = status_style(app, t.status);
    let base = if selected && app.color {
        Style::default().add_modifier(Modifier::REVERSED)
    } else if selected {
        Style::default().add_modifier(Modifier::BOLD)
    } else {
        Style::default()
    };
    let marker = if selected { "›" } else { " " };
    let mut spans = vec![
        Span::styled(format!("{marker}{sym} "), st),
        Span::styled(format!("{:<12}", cut(&label, 12)), st),
        Span::raw(" "),
        Span::styled(format!("{:<id_w$}", cut(&t.id, id_w)), base),
        Span::raw(" "),
        Span::styled(format!("{:<w$}", cut(&t.title, title_w), w = title_w), base),
        Span::raw(" "),
    ];
    if roomy {
        spans.push(Span::raw(format!("{:<16} ", cut(&agent_model(t), 16))));
    }
    spans.push(Span::raw(format!("{time:>8}")));
    if roomy {
        spans.push(Span::raw(format!(" {quiet:<9}")));
    }
    Line::from(spans)
}

fn header(app: &App, area: Rect, buf: &mut Buffer) {
    let mut spans = vec![Span::styled(" paneherd ", Style::default().add_modifier(Modifier::BOLD))];
    if app.groups.is_empty() {
        spans.push(Span::raw("│ no task running "));
    }
    for g in &app.groups {
        let name = g.key.trim_start_matches("model:").trim_start_matches("provider:");
        let limit = if g.limit == 0 { "∞".to_string() } else { g.limit.to_string() };
        let queued = if g.queued > 0 { format!(" +{} queued", g.queued) } else { String::new() };
        spans.push(Span::raw(format!("│ {name} {}/{limit}{queued} ", g.running)));
    }
    if !app.layout.is_empty() {
        spans.push(Span::raw(format!("│ layout {} ", app.layout)));
    }
    let (shown, waiting) = app.panes.iter().fold((0, 0), |(s, w), p| (s + p.visible, w + p.hidden));
    if waiting > 0 {
        let why = if shown == 0 { " — window too small to show any" } else { "" };
        spans.push(Span::raw(format!("│ {waiting} agents in paneherd-agents{why} ")));
    }
    if app.config_error.is_some() {
        let style = if app.color { Style::default().fg(Color::Red) } else { Style::default() };
        spans.push(Span::styled("│ config error: running on the last good config ", style));
    }
    if !app.filter.is_empty() || matches!(app.mode, Mode::Filter) {
        spans.push(Span::raw(format!("│ filter: {}▏", app.filter)));
    }
    if app.hide_old {
        spans.push(Span::raw("│ hiding finished > 1 day "));
    }
    Paragraph::new(Line::from(spans)).render(area, buf);
}

fn footer(app: &App, area: Rect, buf: &mut Buffer) {
    let text = if let Some(m) = &app.message {
        m.clone()
    } else {
        let k = |c| app.keymap.label(c);
        match &app.mode {
            Mode::Filter => "type to filter · Enter keep · Esc clear".to_string(),
            _ => format!(
                " {}/{} move · {} group · {} focus · {} output · {} cancel · {} retry · {} new · {} filter · {} help · {} quit",
                k(Command::Down),
                k(Command::Up),
                k(Command::NextGroup),
                k(Command::Focus),
                k(Command::Output),
                k(Command::Cancel),
                k(Command::Retry),
                k(Command::New),
                k(Command::Filter),
                k(Command::Help),
                k(Command::Quit),
            ),
        }
    };
    let style = if app.color { Style::default().fg(Color::DarkGray) } else { Style::default() };
    Paragraph::new(Span::styled(text, style)).render(area, buf);
}

fn list(app: &App, area: Rect, buf: &mut Buffer) {
    let block = Block::default().borders(Borders::ALL).title(" tasks ");
    let inner = block.inner(area);
    block.render(area, buf);
    let height = inner.height as usize;
    let start = app.scroll(height);
    let mut lines = vec![];
    for row in app.rows_window(start, height).iter() {
        match row {
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

fn detail(app: &App, area: Rect, buf: &mut Buffer) {
    let block = Block::default().borders(Borders::ALL).title(" detail ");
    let inner = block.inner(area);
    block.render(area, buf);
    let Some(t) = app.selected_task() else { return };
    let bold = Style::default().add_modifier(Modifier::BOLD);
    let mut lines = vec![
        Line::from(vec![Span::styled(t.id.clone(), bold), Span::raw(format!(" · {}", t.title))]),
        Line::from(vec![
            Span::styled(
                format!("{} {}", t.status.symbol(), t.status),
                status_style(app, t.status),
            ),
            Span::raw(t.reason.as_ref().map(|r| format!(" — {r}")).unwrap_or_default()),
        ]),
        Line::from(format!(
            "agent {} · {}",
            agent_model(t),
            t.pane_id.as_deref().map(|p| format!("pane {p}")).unwrap_or_else(|| "headless".into())
        )),
    ];
    if let Some(q) = &t.needs_input {
        lines.push(Line::from(Span::styled(format!("needs input: {q}"), bold)));
    }
    if let Some(s) = &t.summary {
        lines.push(Line::from(format!("summary: {s}")));
    }
    lines.push(Line::from(Span::styled("prompt", bold)));
    for l in t.prompt.lines().take(4) {
        lines.push(Line::from(format!("  {l}")));
    }
    let label = if t.status.is_terminal() { "result" } else { "output" };
    lines.push(Line::from(Span::styled(label, bold)));
    let used = lines.len();
    let room = (inner.height as usize).saturating_sub(used);
    if let Some(d) = app.detail.as_ref().filter(|d| d.id == t.id) {
        let out: Vec<&str> = d.text.lines().collect();
        let end = out.len().saturating_sub(app.detail_scroll);
        if app.detail_scroll > 0 {
            lines.push(Line::from(format!(
                "  (scrolled back {} lines — PageDown)",
                app.detail_scroll
            )));
        }
        let room = room.saturating_sub(usize::from(app.detail_scroll > 0));
        for l in &out[end.saturating_sub(room)..end] {
            lines.push(Line::from(format!("  {l}")));
        }
    }
    Paragraph::new(lines).wrap(Wrap { trim: false }).render(inner, buf);
}

fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}

fn help(app: &App, area: Rect, buf: &mut Buffer) {
    let r = centered(area, 64, BINDINGS.len() as u16 + 4);
    Clear.render(r, buf);
    let mut lines: Vec<Line> = BINDINGS
        .iter()
        .map(|(c, _, _, desc)| Line::from(format!(" {:>8}  {desc}", app.keymap.label(*c))))
        .collect();
    lines.push(Line::from(" any key closes this help"));
    Paragraph::new(lines)
        .block(Block::default().borders(Borders::ALL).title(" keys "))
        .render(r, buf);
}

fn confirm(c: &Confirm, area: Rect, buf: &mut Buffer) {
    let text = match c {
        Confirm::Cancel(id) => format!("Cancel {id}? (y/n)"),
        Confirm::CancelAll(n) => format!("Cancel all {n} pending and running tasks? (y/n)"),
    };
    let r = centered(area, text.chars().count() as u16 + 6, 3);
    Clear.render(r, buf);
    Paragraph::new(text)
        .block(Block::default().borders(Borders::ALL).title(" confirm "))
        .render(r, buf);
}

fn output(v: &super::app::OutputView, area: Rect, buf: &mut Buffer) {
    Clear.render(area, buf);
    let title = if v.searching {
        format!(" output of {} — search: {}▏ ", v.id, v.query)
    } else {
        format!(" output of {} — j/k scroll · / search · n next · Esc close ", v.id)
    };
    let block = Block::default().borders(Borders::ALL).title(title);
    let inner = block.inner(area);
    block.render(area, buf);
    let lines: Vec<Line> = v
        .text
        .lines()
        .skip(v.scroll.saturating_sub(inner.height as usize / 2))
        .take(inner.height as usize)
        .map(|l| {
            if !v.query.is_empty() && l.to_lowercase().contains(&v.query.to_lowercase()) {
                Line::from(Span::styled(
                    l.to_string(),
                    Style::default().add_modifier(Modifier::REVERSED),
                ))
            } else {
                Line::from(l.to_string())
            }
        })
        .collect();
    Paragraph::new(lines).render(inner, buf);
}

fn form(app: &App, f: &super::form::Form, area: Rect, buf: &mut Buffer) {
    let r = centered(area, 76, 18);
    Clear.render(r, buf);
    let block = Block::default()
        .borders(Borders::ALL)
        .title(" new task — Tab next field · ctrl-s submit · Esc cancel ");
    let inner = block.inner(r);
    block.render(r, buf);
    let parts = Layout::default()
        .direction(Direction::Vertical)
        .constraints([
            Constraint::Length(1),
            Constraint::Length(3),
            Constraint::Min(5),
            Constraint::Length(3),
        ])
        .split(inner);
    let focus = |fld: Field| {
        let s = if f.field == fld {
            Style::default().add_modifier(Modifier::BOLD)
        } else {
            Style::default()
        };
        let mark = if f.field == fld { "▶ " } else { "  " };
        (s, mark)
    };
    let (s, m) = focus(Field::Target);
    Paragraph::new(Line::from(vec![
        Span::styled(format!("{m}run with: "), s),
        Span::styled(format!("◀ {} ▶", f.target_label()), s),
    ]))
    .render(parts[0], buf);
    let boxed = |ta: &ratatui_textarea::TextArea<'static>,
                 fld: Field,
                 title: &str,
                 area: Rect,
                 buf: &mut Buffer| {
        let (s, m) = focus(fld);
        let mut ta = ta.clone();
        ta.set_block(
            Block::default().borders(Borders::ALL).title(Span::styled(format!("{m}{title}"), s)),
        );
        if f.field != fld {
            ta.set_cursor_style(Style::default());
        }
        ta.render(area, buf);
    };
    boxed(&f.title, Field::Title, "title", parts[1], buf);
    boxed(&f.prompt, Field::Prompt, "prompt", parts[2], buf);
    boxed(&f.skills, Field::Skills, "skills", parts[3], buf);
    let _ = app;
}

impl Widget for &App {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let [head, list_area, detail_area, foot] = parts(area);
        header(self, head, buf);
        list(self, list_area, buf);
        detail(self, detail_area, buf);
        footer(self, foot, buf);
        let body = Rect { height: area.height.saturating_sub(2), y: area.y + 1, ..area };
        match &self.mode {
            Mode::Help => help(self, area, buf),
            Mode::Confirm(c) => confirm(c, area, buf),
            Mode::Output(v) => output(v, body, buf),
            Mode::NewTask(f) => form(self, f, area, buf),
            Mode::Normal | Mode::Filter => {}
        }
    }
}
