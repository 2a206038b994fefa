//! Titles, summaries and output clean-up: pure text helpers.

/// Longest title, in terminal columns.
pub const TITLE_MAX: usize = 60;
/// Longest summary, in terminal columns.
pub const SUMMARY_MAX: usize = 150;

/// Cuts `s` to at most `max` terminal columns, ending in `…` when cut.
pub fn cut(s: &str, max: usize) -> String {
    use unicode_width::UnicodeWidthChar;
    if width(s) <= max {
        return s.to_string();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in s.chars() {
        let w = c.width().unwrap_or(0);
        if used + w > max.saturating_sub(1) {
            break;
        }
        out.push(c);
        used += w;
    }
    out = out.trim_end().to_string();
    out.push('…');
    out
}

/// The columns `s` takes on a terminal (a CJK character two, a combining mark none).
pub fn width(s: &str) -> usize {
    unicode_width::UnicodeWidthStr::width(s)
}

/// `s` cut and padded to exactly `w` columns.
pub fn fit(s: &str, w: usize) -> String {
    let mut out = cut(s, w);
    let pad = w.saturating_sub(width(&out));
    out.extend(std::iter::repeat_n(' ', pad));
    out
}

/// The title of a task: the given one, else the prompt's first non-empty line, cut to 60
/// columns.
/// Terminal escapes and control characters are left out: titles are printed in tables, and a
/// prompt (an agent's, perhaps) must not colour or move a terminal that lists it.
pub fn title(explicit: Option<&str>, prompt: &str) -> String {
    let visible = |t: &str| -> String {
        // Spaces first: the stripping drops tabs and line breaks rather than keep a gap.
        let spaced: String = t.chars().map(|c| if c.is_whitespace() { ' ' } else { c }).collect();
        super::screen::render(spaced.as_bytes())
            .split(|c: char| c.is_whitespace() || c.is_control())
            .filter(|w| !w.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
    };
    let base = explicit
        .map(visible)
        .filter(|t| !t.is_empty())
        .or_else(|| prompt.lines().map(visible).find(|l| !l.is_empty()))
        .unwrap_or_else(|| "(empty prompt)".into());
    cut(&base, TITLE_MAX)
}

/// Whether a line says something: not blank, not only punctuation or box drawing.
fn meaningful(line: &str) -> bool {
    line.chars().any(|c| c.is_alphanumeric())
}

/// Whether a line reports progress rather than a finding: a spinner or arrow mark in front,
/// a step counter (`[3/8]`), a percentage, or a trailing ellipsis (`Reading files…`).
fn progress(line: &str) -> bool {
    let first = line.chars().next().unwrap_or(' ');
    let spinner = "▸▹►▶⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏|/-\\◐◓◑◒⣾⣽⣻⢿⡿⣟⣯⣷";
    let counter = line.split_whitespace().take(2).any(|w| {
        let w = w.trim_matches(|c| c == '[' || c == ']' || c == '(' || c == ')');
        w.split_once('/').is_some_and(|(a, b)| {
            !a.is_empty() && !b.is_empty() && a.chars().chain(b.chars()).all(|c| c.is_ascii_digit())
        })
    });
    let percent = line
        .split_whitespace()
        .any(|w| w.strip_suffix('%').is_some_and(|n| !n.is_empty() && n.parse::<f64>().is_ok()));
    (spinner.contains(first) && line.chars().nth(1).is_some_and(char::is_whitespace))
        || counter
        || percent
        || line.ends_with('…')
        || line.ends_with("...")
}

/// Whether a line only repeats the task back (a banner with its id, or `task: <prompt>`).
fn echo(line: &str, id: &str, prompt: &str) -> bool {
    if !id.is_empty() && line.contains(id) {
        return true;
    }
    let ask = prompt.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("");
    ask.chars().count() >= 8 && line.contains(ask) && line.len() - ask.len() <= 12
}

/// The summary of task `id`'s result: its first lines that say something, skipping banners,
/// echoes of the prompt and progress reports, joined and cut to 150 chars.
pub fn task_summary(result: &str, id: &str, prompt: &str) -> Option<String> {
    let found: Vec<&str> = result
        .lines()
        .map(str::trim)
        .filter(|l| meaningful(l) && !progress(l) && !echo(l, id, prompt))
        .collect();
    summary(&found.join("\n"))
}

/// The summary of a text: its first meaningful lines joined, cut to 150 chars.
pub fn summary(result: &str) -> Option<String> {
    let mut out = String::new();
    for line in result.lines().map(str::trim).filter(|l| meaningful(l)) {
        if !out.is_empty() {
            out.push_str(" · ");
        }
        out.push_str(line);
        if out.chars().count() >= SUMMARY_MAX {
            break;
        }
    }
    let out: String = out.split_whitespace().collect::<Vec<_>>().join(" ");
    if out.is_empty() { None } else { Some(cut(&out, SUMMARY_MAX)) }
}

/// The last meaningful line of some output, cut to `max` chars.
pub fn last_line(output: &str, max: usize) -> Option<String> {
    output.lines().rev().map(str::trim).find(|l| meaningful(l)).map(|l| cut(l, max))
}

/// Output as text: escape sequences removed, lines a carriage return rewrote in their final
/// state, invalid UTF-8 replaced; tabs and all other text exactly as printed.
pub fn clean_output(raw: &[u8]) -> String {
    super::screen::render(raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn title_prefers_explicit_then_first_line() {
        assert_eq!(title(Some("find auth code"), "whatever"), "find auth code");
        assert_eq!(title(Some("  "), "\n\n  Find all auth\tflows  \nmore"), "Find all auth flows");
        assert_eq!(title(None, ""), "(empty prompt)");
        // Escapes and control characters do not reach a table.
        assert_eq!(title(None, "echo \x1b[31mRED\x1b[0m\x07 done"), "echo RED done");
        assert_eq!(title(Some("\x1b]0;pwned\x07\x1b[2J"), "p"), "p");
        assert_eq!(title(None, "\x1b[1m\x1b[0m\nsecond\rline"), "second line");
        let long = "x".repeat(100);
        let t = title(None, &long);
        assert_eq!(t.chars().count(), 60);
        assert!(t.ends_with('…'));
    }

    #[test]
    fn summary_skips_noise_and_cuts() {
        let result = "\n=====\n  \nFound 3 auth flows\n- OAuth in src/oauth.rs\n";
        assert_eq!(summary(result).unwrap(), "Found 3 auth flows · - OAuth in src/oauth.rs");
        assert_eq!(summary("\n---\n\n"), None);
        let s = summary(&"word ".repeat(100)).unwrap();
        assert_eq!(s.chars().count(), 150);
    }

    #[test]
    fn a_task_summary_says_what_was_found_not_the_banner_or_the_progress() {
        let demo = "demo agent satisfied-thornbill\ntask: Explore the auth code\n\
                    ▸ [1/3] Reading the repository layout…\n▸ [2/3] Opening src/main.rs…\n\n\
                    Done. 3 findings for: Explore the auth code\n  1. finding 1 src/a.rs:10\n";
        let s = task_summary(demo, "satisfied-thornbill", "Explore the auth code").unwrap();
        assert!(s.starts_with("Done. 3 findings for: Explore the auth code · 1. finding 1"), "{s}");
        let failed = "demo agent x-y\ntask: Review it all\n▸ [1/2] Thinking…\nerror: gave up";
        assert_eq!(task_summary(failed, "x-y", "Review it all").unwrap(), "error: gave up");
        let tests = "Compiling paneherd\nrunning 3 tests\n 42% done\ntest result: ok. 3 passed";
        let s = task_summary(tests, "a-b", "cargo test").unwrap();
        assert_eq!(s, "Compiling paneherd · running 3 tests · test result: ok. 3 passed");
        assert_eq!(task_summary("Loading...\n", "a-b", "x"), None);
    }

    #[test]
    fn cut_is_char_safe() {
        assert_eq!(cut("ééééé", 3), "éé…");
        assert_eq!(cut("abc", 3), "abc");
        // Columns, not characters: a CJK character takes two.
        assert_eq!(cut("認証フローを調べる", 7), "認証フ…");
        assert_eq!(width(&cut("認証フローを調べる", 8)), 7);
        assert_eq!(fit("認証", 6), "認証  ");
        assert_eq!(fit("認証フローを調べる", 6), "認証… ");
        assert_eq!(width(&fit("認証フローを調べる", 6)), 6);
    }

    #[test]
    fn output_is_cleaned() {
        let raw = b"\x1b[32mok\x1b[0m test\nprogress 10%\rprogress 100%\n\xff\n";
        assert_eq!(clean_output(raw), "ok test\nprogress 100%\n\u{fffd}\n");
        // Tabs are text (they were dropped with the escapes once).
        assert_eq!(clean_output(b"col1\tcol2\n\tindented\n"), "col1\tcol2\n\tindented\n");
    }

    #[test]
    fn last_meaningful_line() {
        assert_eq!(last_line("a\nb\n\n---\n", 10).as_deref(), Some("b"));
        assert_eq!(last_line("", 10), None);
    }
}
