//! JSON config files as agents keep them: an object, two-space indented, keys in the order the
//! file has them (serde_json's `preserve_order`).

use anyhow::{Context, Result, bail};
use serde_json::{Map, Value};

/// The file's object (an empty one for a file that does not exist yet).
pub fn parse(text: &str) -> Result<Map<String, Value>> {
    if text.trim().is_empty() {
        return Ok(Map::new());
    }
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => bail!("it is not a JSON object"),
        Err(e) => Err(e).context(
            "it is not plain JSON (comments or trailing commas?): add the entry by hand, or fix it",
        ),
    }
}

/// The object as the file's text; ends with a newline unless the original did not.
pub fn render(m: &Map<String, Value>, original: &str) -> Result<String> {
    let mut s = serde_json::to_string_pretty(m).context("writing JSON")?;
    if original.is_empty() || original.ends_with('\n') {
        s.push('\n');
    }
    Ok(s)
}

/// The object at `key` of `m`, made when missing; an error when `key` holds something else.
pub fn object<'a>(m: &'a mut Map<String, Value>, key: &str) -> Result<&'a mut Map<String, Value>> {
    let v = m.entry(key.to_string()).or_insert_with(|| Value::Object(Map::new()));
    match v {
        Value::Object(o) => Ok(o),
        _ => bail!("\"{key}\" is not an object"),
    }
}

/// Removes `m[outer][inner]` (whether it was there); drops `outer` when that leaves it empty.
pub fn remove_entry(m: &mut Map<String, Value>, outer: &str, inner: &str) -> bool {
    let Some(Value::Object(o)) = m.get_mut(outer) else { return false };
    let found = o.shift_remove(inner).is_some();
    if o.is_empty() {
        m.shift_remove(outer);
    }
    found
}
