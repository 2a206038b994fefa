//! The typed `[tmux]` section and the layout presets it picks from: one TOML file per preset in
//! `layouts/` (embedded in the binary) and in the user's `<config dir>/layouts/`. `[tmux] layout
//! = "NAME"` picks one; keys set beside it in `[tmux]` override the preset. The pane planner
//! (`crate::tmux::planner`) plans with these types.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use toml::Spanned;

use super::ConfigError;

/// The arrangement of panes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LayoutKind {
    MainVertical,
    MainHorizontal,
    Tiled,
    EvenHorizontal,
    EvenVertical,
}

impl LayoutKind {
    pub const ALL: [LayoutKind; 5] = [
        LayoutKind::MainVertical,
        LayoutKind::MainHorizontal,
        LayoutKind::Tiled,
        LayoutKind::EvenHorizontal,
        LayoutKind::EvenVertical,
    ];

    pub fn name(self) -> &'static str {
        match self {
            LayoutKind::MainVertical => "main-vertical",
            LayoutKind::MainHorizontal => "main-horizontal",
            LayoutKind::Tiled => "tiled",
            LayoutKind::EvenHorizontal => "even-horizontal",
            LayoutKind::EvenVertical => "even-vertical",
        }
    }

    /// tmux's built-in layout closest to this one.
    pub fn tmux_layout(self) -> &'static str {
        self.name()
    }

    /// Main pane on the left (else on top).
    pub fn main_left(self) -> bool {
        matches!(self, LayoutKind::MainVertical | LayoutKind::Tiled | LayoutKind::EvenHorizontal)
    }
}

/// The geometry settings of `[tmux]` (after presets are applied).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    pub kind: LayoutKind,
    /// Percent of the window for the main pane, 20–80.
    pub main_pane_size: u16,
    pub main_pane_min_width: u16,
    pub agent_pane_min_width: u16,
    pub agent_pane_min_height: u16,
    /// The main pane may be narrowed below `main_pane_min_width` (down to the planner's
    /// `MAIN_FLOOR`) when the window is too small to show agents beside it: true unless the
    /// user set `main_pane_min_width` themselves. (Every layout adapts in its other ways.)
    pub adapt: bool,
}

impl Default for Geometry {
    fn default() -> Self {
        Geometry {
            kind: LayoutKind::MainVertical,
            main_pane_size: 60,
            main_pane_min_width: 120,
            agent_pane_min_width: 40,
            agent_pane_min_height: 8,
            adapt: false,
        }
    }
}

/// The presets shipped in `layouts/`.
const BUILTIN: [(&str, &str); 7] = [
    ("main-vertical", include_str!("../../layouts/main-vertical.toml")),
    ("main-horizontal", include_str!("../../layouts/main-horizontal.toml")),
    ("tiled", include_str!("../../layouts/tiled.toml")),
    ("even-horizontal", include_str!("../../layouts/even-horizontal.toml")),
    ("even-vertical", include_str!("../../layouts/even-vertical.toml")),
    ("wide", include_str!("../../layouts/wide.toml")),
    ("focus", include_str!("../../layouts/focus.toml")),
];

/// When a finished agent's pane closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseAfter {
    Secs(u64),
    Keep,
}

impl<'de> Deserialize<'de> for CloseAfter {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            N(i64),
            S(String),
        }
        match Raw::deserialize(d)? {
            Raw::N(n) if n >= 0 => Ok(CloseAfter::Secs(n as u64)),
            Raw::N(n) => Err(serde::de::Error::custom(format!(
                "{n} is out of range (allowed: 0 or more seconds, or \"keep\")"
            ))),
            Raw::S(s) if s == "keep" => Ok(CloseAfter::Keep),
            Raw::S(s) => Err(serde::de::Error::custom(format!(
                "{s:?} is not allowed (a number of seconds, or \"keep\")"
            ))),
        }
    }
}

/// The settings a preset file or `[tmux]` may set.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Knobs {
    pub main_pane_size: Option<Spanned<u16>>,
    pub main_pane_min_width: Option<Spanned<u16>>,
    pub agent_pane_min_width: Option<Spanned<u16>>,
    pub agent_pane_min_height: Option<Spanned<u16>>,
    pub close_after_secs: Option<Spanned<CloseAfter>>,
}

/// One preset file: a description, a layout, and any of the knobs.
#[derive(Debug, Clone)]
pub struct PresetFile {
    pub description: String,
    pub layout: LayoutKind,
    pub knobs: Knobs,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPreset {
    description: String,
    layout: LayoutKind,
    #[serde(default)]
    main_pane_size: Option<Spanned<u16>>,
    #[serde(default)]
    main_pane_min_width: Option<Spanned<u16>>,
    #[serde(default)]
    agent_pane_min_width: Option<Spanned<u16>>,
    #[serde(default)]
    agent_pane_min_height: Option<Spanned<u16>>,
    #[serde(default)]
    close_after_secs: Option<Spanned<CloseAfter>>,
}

/// A loaded preset and where it came from.
#[derive(Debug, Clone)]
pub struct Preset {
    pub name: String,
    pub file: PresetFile,
    /// `None` for a built-in preset.
    pub path: Option<PathBuf>,
}

/// All presets by name (a user preset replaces a built-in one of the same name).
#[derive(Debug, Clone, Default)]
pub struct Presets(pub BTreeMap<String, Preset>);

/// The tmux settings in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TmuxSettings {
    pub geometry: Geometry,
    pub close_after: CloseAfter,
}

impl Default for TmuxSettings {
    fn default() -> Self {
        TmuxSettings { geometry: Geometry::default(), close_after: CloseAfter::Secs(5) }
    }
}

fn parse(name: &str, path: &Path, src: &str) -> Result<Preset, Box<ConfigError>> {
    let raw: RawPreset = toml::from_str(src)
        .map_err(|e| Box::new(ConfigError::at(path, src, e.span(), e.message().trim())))?;
    let file = PresetFile {
        description: raw.description,
        layout: raw.layout,
        knobs: Knobs {
            main_pane_size: raw.main_pane_size,
            main_pane_min_width: raw.main_pane_min_width,
            agent_pane_min_width: raw.agent_pane_min_width,
            agent_pane_min_height: raw.agent_pane_min_height,
            close_after_secs: raw.close_after_secs,
        },
    };
    check_knobs(&file.knobs, path, src, "")?;
    Ok(Preset { name: name.to_string(), file, path: None })
}

/// Checks the ranges of the knobs set in a file (`prefix` is the table, e.g. `tmux.`).
pub fn check_knobs(
    k: &Knobs,
    file: &Path,
    src: &str,
    prefix: &str,
) -> Result<(), Box<ConfigError>> {
    let range = |v: &Option<Spanned<u16>>, key: &str, lo: u16, hi: u16| match v {
        Some(s) if !(lo..=hi).contains(s.get_ref()) => Err(Box::new(
            ConfigError::at(
                file,
                src,
                Some(s.span()),
                format!("{} is out of range (allowed: {lo} to {hi})", s.get_ref()),
            )
            .with_key(format!("{prefix}{key}")),
        )),
        _ => Ok(()),
    };
    range(&k.main_pane_size, "main_pane_size", 20, 80)?;
    range(&k.main_pane_min_width, "main_pane_min_width", 40, 1000)?;
    range(&k.agent_pane_min_width, "agent_pane_min_width", 20, 1000)?;
    range(&k.agent_pane_min_height, "agent_pane_min_height", 3, 1000)?;
    Ok(())
}

impl Presets {
    /// The built-in presets plus the user's from `dir` (`<config dir>/layouts`).
    pub fn load(dir: &Path) -> Result<Presets, Box<ConfigError>> {
        let mut all = BTreeMap::new();
        for (name, src) in BUILTIN {
            let p = parse(name, Path::new(&format!("<built-in layouts/{name}.toml>")), src)?;
            all.insert(name.to_string(), p);
        }
        if let Ok(entries) = std::fs::read_dir(dir) {
            let mut paths: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "toml"))
                .collect();
            paths.sort();
            for path in paths {
                let name =
                    path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
                let src = std::fs::read_to_string(&path).map_err(|e| {
                    Box::new(ConfigError::whole_file(&path, format!("cannot read: {e}")))
                })?;
                let mut p = parse(&name, &path, &src)?;
                p.path = Some(path);
                all.insert(name, p);
            }
        }
        Ok(Presets(all))
    }

    pub fn builtin() -> Presets {
        Presets::load(Path::new("/nonexistent/paneherd/layouts")).unwrap_or_default()
    }

    /// The settings for preset `name` with `over` (the `[tmux]` keys) laid over it.
    pub fn settings(&self, name: &str, over: &Knobs) -> Option<TmuxSettings> {
        let p = self.0.get(name)?;
        let mut s = TmuxSettings::default();
        s.geometry.kind = p.file.layout;
        for k in [&p.file.knobs, over] {
            let g = &mut s.geometry;
            let set = |dst: &mut u16, v: &Option<Spanned<u16>>| {
                if let Some(v) = v {
                    *dst = *v.get_ref();
                }
            };
            set(&mut g.main_pane_size, &k.main_pane_size);
            set(&mut g.main_pane_min_width, &k.main_pane_min_width);
            set(&mut g.agent_pane_min_width, &k.agent_pane_min_width);
            set(&mut g.agent_pane_min_height, &k.agent_pane_min_height);
            if let Some(c) = &k.close_after_secs {
                s.close_after = *c.get_ref();
            }
        }
        Some(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_presets_load_and_cover_every_layout() {
        let p = Presets::builtin();
        assert_eq!(p.0.len(), 7);
        for kind in LayoutKind::ALL {
            assert_eq!(p.0[kind.name()].file.layout, kind, "preset named after its layout");
        }
        let wide = p.settings("wide", &Knobs::default()).unwrap();
        assert_eq!(wide.geometry.kind, LayoutKind::Tiled);
        assert_eq!(wide.geometry.main_pane_size, 35);
    }

    #[test]
    fn user_presets_and_overrides() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("mine.toml"),
            "description = \"mine\"\nlayout = \"even-vertical\"\nagent_pane_min_height = 5\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("focus.toml"),
            "description = \"my focus\"\nlayout = \"tiled\"\n",
        )
        .unwrap();
        let p = Presets::load(dir.path()).unwrap();
        assert_eq!(p.0["focus"].file.description, "my focus", "user preset replaces built-in");
        let over: Knobs =
            toml::from_str("main_pane_size = 30\nclose_after_secs = \"keep\"").unwrap();
        let s = p.settings("mine", &over).unwrap();
        assert_eq!(s.geometry.kind, LayoutKind::EvenVertical);
        assert_eq!(s.geometry.agent_pane_min_height, 5);
        assert_eq!(s.geometry.main_pane_size, 30);
        assert_eq!(s.close_after, CloseAfter::Keep);
    }

    #[test]
    fn bad_preset_files_name_file_line_and_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.toml");
        std::fs::write(&path, "description = \"x\"\nlayout = \"tiled\"\nmain_pane_size = 95\n")
            .unwrap();
        let e = Presets::load(dir.path()).unwrap_err().to_string();
        assert!(
            e.contains("bad.toml:3:") && e.contains("main_pane_size") && e.contains("20 to 80"),
            "{e}"
        );
        std::fs::write(&path, "description = \"x\"\nlayout = \"spiral\"\n").unwrap();
        let e = Presets::load(dir.path()).unwrap_err().to_string();
        assert!(e.contains("bad.toml:2:") && e.contains("spiral"), "{e}");
    }
}

/// `[tmux]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TmuxSection {
    /// The preset (`paneherd layouts`).
    pub layout: Option<Spanned<String>>,
    pub main_pane_size: Option<Spanned<u16>>,
    pub main_pane_min_width: Option<Spanned<u16>>,
    pub agent_pane_min_width: Option<Spanned<u16>>,
    pub agent_pane_min_height: Option<Spanned<u16>>,
    pub close_after_secs: Option<Spanned<CloseAfter>>,
    /// The user's file sets `main_pane_min_width`: the plan never narrows the main pane below
    /// it.
    #[serde(skip)]
    pub pinned_main_width: bool,
}

impl TmuxSection {
    /// The keys that override the preset.
    pub fn knobs(&self) -> Knobs {
        Knobs {
            main_pane_size: self.main_pane_size.clone(),
            main_pane_min_width: self.main_pane_min_width.clone(),
            agent_pane_min_width: self.agent_pane_min_width.clone(),
            agent_pane_min_height: self.agent_pane_min_height.clone(),
            close_after_secs: self.close_after_secs.clone(),
        }
    }

    pub(super) fn merge(&mut self, user: TmuxSection) {
        fn take<T>(mine: &mut Option<T>, theirs: Option<T>) {
            if theirs.is_some() {
                *mine = theirs;
            }
        }
        self.pinned_main_width |= user.main_pane_min_width.is_some();
        take(&mut self.layout, user.layout);
        take(&mut self.main_pane_size, user.main_pane_size);
        take(&mut self.main_pane_min_width, user.main_pane_min_width);
        take(&mut self.agent_pane_min_width, user.agent_pane_min_width);
        take(&mut self.agent_pane_min_height, user.agent_pane_min_height);
        take(&mut self.close_after_secs, user.close_after_secs);
    }
}
