//! Dark or light: what the terminal's background is, so that the dashboard's colours read on
//! it.

use std::time::Duration;

/// Whether `COLORFGBG` (`"fg;bg"`, set by rxvt, Konsole and others) names a light background.
fn colorfgbg_is_light(v: &str) -> Option<bool> {
    let bg: u8 = v.rsplit(';').next()?.trim().parse().ok()?;
    Some(matches!(bg, 7 | 9..=15))
}

/// Whether the terminal has a light background: as configured, else as the terminal answers
/// (within 100 ms), else as `COLORFGBG` says; dark when nothing says.
pub fn light_terminal(theme: crate::config::Theme) -> bool {
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

/// Added and removed lines' colours (diff stats, the diff viewer): the terminal's own green and
/// red on a dark background, darker shades of the 256-colour palette on a light one; none
/// without colour.
pub fn diff_style(color: bool, light: bool, added: bool) -> ratatui::style::Style {
    use ratatui::style::{Color, Style};
    if !color {
        return Style::default();
    }
    Style::default().fg(match (added, light) {
        (true, false) => Color::Green,
        (true, true) => Color::Indexed(28),
        (false, false) => Color::Red,
        (false, true) => Color::Indexed(160),
    })
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
