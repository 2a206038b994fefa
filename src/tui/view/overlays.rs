//! What opens over the dashboard: the help, a confirmation, the output viewer, the new-task
//! form.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Direction, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Widget};

use crate::config::keys::{Command, Place};
use crate::tui::app::{App, Confirm};
use crate::tui::form::Field;

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

/// The keys of one place, over `area`.
pub(super) fn help(app: &App, place: Place, area: Rect, buf: &mut Buffer) {
    let keys = app.keymap.help(place);
    let width = keys.iter().map(|(k, _)| k.chars().count()).max().unwrap_or(1).max(8);
    let mut lines: Vec<Line> =
        keys.iter().map(|(k, what)| Line::from(format!(" {k:>width$}  {what}"))).collect();
    if place == Place::List {
        lines.push(Line::from(" ? in the output viewer lists its keys"));
    }
    lines.push(Line::from(" any key closes this help"));
    let title = if place == Place::List { " keys " } else { " output viewer keys " };
    let r = centered(area, 64, lines.len() as u16 + 2);
    Clear.render(r, buf);
    Paragraph::new(lines).block(Block::default().borders(Borders::ALL).title(title)).render(r, buf);
}

pub(super) fn confirm(app: &App, c: &Confirm, area: Rect, buf: &mut Buffer) {
    let yes = app.keymap.label(Command::Yes);
    let text = match c {
        Confirm::Cancel(id) => format!("Cancel {id}? ({yes}/n)"),
        Confirm::CancelAll(n) => format!("Cancel all {n} pending and running tasks? ({yes}/n)"),
    };
    let r = centered(area, text.chars().count() as u16 + 6, 3);
    Clear.render(r, buf);
    Paragraph::new(text)
        .block(Block::default().borders(Borders::ALL).title(" confirm "))
        .render(r, buf);
}

pub(super) fn output(v: &crate::tui::viewer::OutputView, area: Rect, buf: &mut Buffer) {
    Clear.render(area, buf);
    let state = if v.follow { "following" } else { "scrolled — G follows" };
    let title = if v.searching {
        format!(" output of {} — search: {}▏ ", v.id, v.query)
    } else {
        format!(" output of {} — {state} ", v.id)
    };
    let block = Block::default().borders(Borders::ALL).title(title);
    let inner = block.inner(area);
    block.render(area, buf);
    let height = inner.height as usize;
    let q = v.query.to_lowercase();
    let lines: Vec<Line> = v
        .text
        .lines()
        .skip(v.first_line(height))
        .take(height)
        .map(|l| {
            if !q.is_empty() && l.to_lowercase().contains(&q) {
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

pub(super) fn form(app: &App, f: &crate::tui::form::Form, area: Rect, buf: &mut Buffer) {
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
