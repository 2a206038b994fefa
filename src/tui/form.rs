//! The new-task form: category or agent, title, a multi-line prompt, skills.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui_textarea::TextArea;

use crate::core::task::TaskSpec;

/// Which field has the keyboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Target,
    Title,
    Prompt,
    Skills,
}

const ORDER: [Field; 4] = [Field::Target, Field::Title, Field::Prompt, Field::Skills];

/// Why the form cannot be submitted yet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormError {
    #[error("the prompt is empty")]
    EmptyPrompt,
}

/// What the form asks the app to do after a key.
#[derive(Debug, PartialEq)]
pub enum FormOutcome {
    Editing,
    Cancelled,
    Submit(Box<TaskSpec>),
    Invalid(String),
}

#[derive(Debug, Clone)]
pub struct Form {
    /// `category:NAME` or `agent:NAME`, cycled with ←/→ on the first field.
    pub targets: Vec<String>,
    pub target: usize,
    pub title: TextArea<'static>,
    pub prompt: TextArea<'static>,
    pub skills: TextArea<'static>,
    pub field: Field,
}

impl Form {
    pub fn new(targets: Vec<String>) -> Form {
        let mut title = TextArea::default();
        title.set_placeholder_text("(optional) a short title");
        let mut prompt = TextArea::default();
        prompt.set_placeholder_text("what the agent should do — Enter for a new line");
        let mut skills = TextArea::default();
        skills.set_placeholder_text("(optional) comma-separated skills");
        Form { targets, target: 0, title, prompt, skills, field: Field::Target }
    }

    pub fn target_label(&self) -> &str {
        self.targets.get(self.target).map(String::as_str).unwrap_or("agent:shell")
    }

    fn next_field(&mut self, back: bool) {
        let i = ORDER.iter().position(|f| *f == self.field).unwrap_or(0);
        let n = ORDER.len();
        self.field = ORDER[if back { (i + n - 1) % n } else { (i + 1) % n }];
    }

    /// The task the form describes.
    pub fn spec(&self) -> Result<TaskSpec, FormError> {
        let prompt = self.prompt.lines().join("\n");
        if prompt.trim().is_empty() {
            return Err(FormError::EmptyPrompt);
        }
        let title = self.title.lines().join(" ");
        let skills: Vec<String> = self
            .skills
            .lines()
            .join(",")
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect();
        let (kind, name) = self.target_label().split_once(':').unwrap_or(("agent", "shell"));
        let mut spec = TaskSpec {
            prompt,
            title: Some(title).filter(|t| !t.trim().is_empty()),
            skills,
            ..Default::default()
        };
        if kind == "category" {
            spec.category = Some(name.to_string());
        } else {
            spec.agent = Some(name.to_string());
        }
        Ok(spec)
    }

    pub fn key(&mut self, key: KeyEvent) -> FormOutcome {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            KeyCode::Esc => return FormOutcome::Cancelled,
            KeyCode::Char('s') if ctrl => {
                return match self.spec() {
                    Ok(s) => FormOutcome::Submit(Box::new(s)),
                    Err(e) => FormOutcome::Invalid(e.to_string()),
                };
            }
            KeyCode::Tab => self.next_field(false),
            KeyCode::BackTab => self.next_field(true),
            _ => match self.field {
                Field::Target => match key.code {
                    KeyCode::Left | KeyCode::Up => {
                        let n = self.targets.len().max(1);
                        self.target = (self.target + n - 1) % n;
                    }
                    KeyCode::Right | KeyCode::Down | KeyCode::Char(' ') => {
                        self.target = (self.target + 1) % self.targets.len().max(1);
                    }
                    KeyCode::Enter => self.next_field(false),
                    _ => {}
                },
                Field::Title => {
                    if key.code == KeyCode::Enter {
                        self.next_field(false);
                    } else {
                        self.title.input(key);
                    }
                }
                Field::Prompt => {
                    self.prompt.input(key);
                }
                Field::Skills => {
                    if key.code != KeyCode::Enter {
                        self.skills.input(key);
                    }
                }
            },
        }
        FormOutcome::Editing
    }
}
