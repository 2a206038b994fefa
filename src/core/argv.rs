//! Argv templates: `["claude", "-p", "--model={model_id}", "{prompt}"]` → the argv of a task.
//! Each placeholder fills part of one argument, so a prompt is one argv element, never parsed
//! by a shell. `{{` and `}}` stand for literal braces.

use std::collections::BTreeMap;

/// A piece of one template argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part<'a> {
    Text(String),
    Placeholder(&'a str),
}

impl<'a> Part<'a> {
    pub fn placeholder(&self) -> Option<&'a str> {
        match self {
            Part::Placeholder(p) => Some(p),
            Part::Text(_) => None,
        }
    }
}

/// Why a template argument cannot be read: a brace without its pair.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("unmatched '}}' in {arg:?} (write '}}}}' for a literal brace)")]
    Unmatched { arg: String },
    #[error("unclosed '{{' in {arg:?} (write '{{{{' for a literal brace)")]
    Unclosed { arg: String },
}

/// Splits one template argument into text and placeholders.
pub fn parse(arg: &str) -> Result<Vec<Part<'_>>, TemplateError> {
    let mut parts = Vec::new();
    let mut text = String::new();
    let mut rest = arg;
    while let Some(i) = rest.find(['{', '}']) {
        text.push_str(&rest[..i]);
        let c = rest.as_bytes()[i];
        let after = &rest[i + 1..];
        if after.as_bytes().first() == Some(&c) {
            text.push(c as char);
            rest = &after[1..];
            continue;
        }
        if c == b'}' {
            return Err(TemplateError::Unmatched { arg: arg.to_string() });
        }
        let end =
            after.find('}').ok_or_else(|| TemplateError::Unclosed { arg: arg.to_string() })?;
        if !text.is_empty() {
            parts.push(Part::Text(std::mem::take(&mut text)));
        }
        parts.push(Part::Placeholder(&after[..end]));
        rest = &after[end + 1..];
    }
    text.push_str(rest);
    if !text.is_empty() {
        parts.push(Part::Text(text));
    }
    Ok(parts)
}

/// Expands a template. An argument whose placeholder has no value (absent from `values`) is
/// left out entirely, so `--model={model}` disappears when there is no model.
pub fn expand(
    template: &[String],
    values: &BTreeMap<&str, String>,
) -> Result<Vec<String>, TemplateError> {
    let mut out = Vec::with_capacity(template.len());
    'args: for arg in template {
        let mut s = String::new();
        for part in parse(arg)? {
            match part {
                Part::Text(t) => s.push_str(&t),
                Part::Placeholder(p) => match values.get(p) {
                    Some(v) => s.push_str(v),
                    None => continue 'args,
                },
            }
        }
        out.push(s);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vals() -> BTreeMap<&'static str, String> {
        [("prompt", "$(touch /tmp/pwned) \"; rm -rf ~ ".to_string()), ("task_id", "a-b".into())]
            .into()
    }

    #[test]
    fn prompt_is_one_argument_verbatim() {
        let t: Vec<String> = ["agent", "--id={task_id}", "{prompt}"].map(String::from).into();
        let argv = expand(&t, &vals()).unwrap();
        assert_eq!(argv, vec!["agent", "--id=a-b", "$(touch /tmp/pwned) \"; rm -rf ~ "]);
    }

    #[test]
    fn missing_value_drops_the_argument() {
        let t: Vec<String> = ["x", "--model={model}", "{prompt}"].map(String::from).into();
        assert_eq!(expand(&t, &vals()).unwrap().len(), 2);
    }

    #[test]
    fn braces_escape_and_errors() {
        assert_eq!(
            parse("{{a}} {b}").unwrap(),
            vec![Part::Text("{a} ".into()), Part::Placeholder("b")]
        );
        let unclosed = parse("{oops").unwrap_err();
        assert_eq!(unclosed, TemplateError::Unclosed { arg: "{oops".into() });
        assert_eq!(
            unclosed.to_string(),
            "unclosed '{' in \"{oops\" (write '{{' for a literal brace)"
        );
        let unmatched = parse("oops}").unwrap_err();
        assert_eq!(
            unmatched.to_string(),
            "unmatched '}' in \"oops}\" (write '}}' for a literal brace)"
        );
    }
}
