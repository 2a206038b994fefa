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

/// The keys of one place, over `area`: one column when it fits, else two.
pub(super) fn help(app: &App, place: Place, area: Rect, buf: &mut Buffer) {
    let keys = app.keymap.help(place);
    let width = keys.iter().map(|(k, _)| k.chars().count()).max().unwrap_or(1).max(8);
    let entry = |(k, what): &(String, &'static str)| Line::from(format!(" {k:>width$}  {what}"));
    let mut tail = vec![];
    if place == Place::List {
        tail.push(Line::from(" ? in the output viewer lists its keys"));
    }
    tail.push(Line::from(" any key closes this help"));
    let title = if place == Place::List { " keys " } else { " output viewer keys " };
    let block = Block::default().borders(Borders::ALL).title(title);
    let rows = keys.len() + tail.len();
    if rows + 2 <= area.height as usize {
        let mut lines: Vec<Line> = keys.iter().map(entry).collect();
        lines.extend(tail);
        let r = centered(area, 64, lines.len() as u16 + 2);
        Clear.render(r, buf);
        Paragraph::new(lines).block(block).render(r, buf);
        return;
    }
    // Two columns (long descriptions wrap), the closing lines under both.
    let half = keys.len().div_ceil(2);
    let r = centered(area, area.width, area.height);
    Clear.render(r, buf);
    let inner = block.inner(r);
    block.render(r, buf);
    let [cols, foot] = Layout::default()
        .direction(Direction::Vertical)
        .constraints([Constraint::Min(1), Constraint::Length(tail.len() as u16)])
        .areas(inner);
    let [left, right] = Layout::default()
        .direction(Direction::Horizontal)
        .constraints([Constraint::Percentage(50), Constraint::Percentage(50)])
        .areas(cols);
    // Each description wrapped under itself, past its key.
    let column = |keys: &[(String, &str)], w: u16| -> Vec<Line<'static>> {
        let room = (w as usize).saturating_sub(width + 4).max(10);
        let mut lines = vec![];
        for (k, what) in keys {
            let mut row = String::new();
            let mut first = true;
            for word in what.split(' ') {
                if !row.is_empty() && row.chars().count() + 1 + word.chars().count() > room {
                    let key = if first { k.as_str() } else { "" };
                    lines.push(Line::from(format!(" {key:>width$}  {row}")));
                    row.clear();
                    first = false;
                }
                if !row.is_empty() {
                    row.push(' ');
                }
                row.push_str(word);
            }
            let key = if first { k.as_str() } else { "" };
            lines.push(Line::from(format!(" {key:>width$}  {row}")));
        }
        lines
    };
    Paragraph::new(column(&keys[..half], left.width)).render(left, buf);
    Paragraph::new(column(&keys[half..], right.width)).render(right, buf);
    Paragraph::new(tail).render(foot, buf);
}

pub(super) fn confirm(app: &App, c: &Confirm, area: Rect, buf: &mut Buffer) {
    let yes = app.keymap.label(Command::Yes);
    let info = |id: &str| app.worktrees.get(id).cloned().unwrap_or_default();
    let task = |id: &str| app.tasks.get(id);
    let text = match c {
        Confirm::Cancel(id) => format!("Cancel {id}? ({yes}/n)"),
        Confirm::CancelAll(n) => format!("Cancel all {n} pending and running tasks? ({yes}/n)"),
        Confirm::Merge(id) => {
            let i = info(id);
            let branch = task(id).and_then(|t| t.branch.clone()).unwrap_or_default();
            let into = if i.target.is_empty() { "your branch".into() } else { i.target.clone() };
            let pending = if i.dirty {
                " Its uncommitted work is committed on its branch first."
            } else {
                ""
            };
            let commits =
                if i.ahead == 1 { "1 commit".to_string() } else { format!("{} commits", i.ahead) };
            format!(
                "Merge {branch} ({}, {commits}) into {into} with a merge commit, then remove \
                 its worktree? The branch stays.{pending} Refused if your checkout has \
                 uncommitted changes; a conflict is aborted and nothing changes. ({yes}/n)",
                i.stat.words(),
            )
        }
        Confirm::Discard(id) => {
            let path = task(id)
                .and_then(|t| t.worktree.as_ref())
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            format!(
                "Remove {id}'s worktree {path}? Its branch stays. Refused if anything would be \
                 lost: uncommitted work, or commits {} does not have. ({yes}/n)",
                {
                    let t = info(id).target;
                    if t.is_empty() { "your branch".to_string() } else { t }
                }
            )
        }
    };
    // Short ones on one line; long ones wrapped in a box of at most 72 columns.
    let len = text.chars().count() as u16;
    let w = (len + 4).min(72).min(area.width);
    let inner = w.saturating_sub(2).max(1);
    let h = len.div_ceil(inner).max(1) + if len > inner { 1 } else { 0 } + 2;
    let r = centered(area, w, h);
    Clear.render(r, buf);
    Paragraph::new(text)
        .wrap(ratatui::widgets::Wrap { trim: true })
        .block(Block::default().borders(Borders::ALL).title(" confirm "))
        .render(r, buf);
}

pub(super) fn output(app: &App, v: &crate::tui::viewer::OutputView, area: Rect, buf: &mut Buffer) {
    Clear.render(area, buf);
    let state = if v.follow { "following" } else { "scrolled — G follows" };
    let what = if v.diff { "diff" } else { "output" };
    let title = if v.searching {
        format!(" {what} of {} — search: {}▏ ", v.id, v.query)
    } else if v.diff {
        let stat = app.worktrees.get(&v.id).map(|i| i.stat.words()).unwrap_or_default();
        format!(" diff of {} against its base — {stat} ", v.id)
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
            } else if v.diff {
                let style =
                    if l.starts_with("+++") || l.starts_with("---") || l.starts_with("diff ") {
                        Style::default().add_modifier(Modifier::BOLD)
                    } else if l.starts_with('+') {
                        crate::tui::theme::diff_style(app.color, app.light, true)
                    } else if l.starts_with('-') {
                        crate::tui::theme::diff_style(app.color, app.light, false)
                    } else if l.starts_with("@@") && app.color {
                        Style::default().fg(ratatui::style::Color::Cyan)
                    } else {
                        Style::default()
                    };
                Line::from(Span::styled(l.to_string(), style))
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
