//! Task ids: human-typeable adjective-animal names, unique, addressable by any unique prefix.

/// Why an id given by a user does not name exactly one task.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("no task with id or prefix {0:?}")]
    Unknown(String),
    #[error("{prefix:?} is ambiguous: it matches {}", .candidates.join(", "))]
    Ambiguous { prefix: String, candidates: Vec<String> },
    #[error("{0:?} is not a valid task id (letters, digits and '-' only)")]
    Invalid(String),
}

/// Checks the shape of an id or prefix: 1–64 of `[a-z0-9-]`.
pub fn validate(id: &str) -> Result<(), IdError> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok { Ok(()) } else { Err(IdError::Invalid(id.to_string())) }
}

/// Resolves a user-typed id: an exact match wins, else the single id starting with it.
pub fn resolve_id<'a, I>(prefix: &str, ids: I) -> Result<String, IdError>
where
    I: IntoIterator<Item = &'a str>,
{
    validate(prefix)?;
    let mut matches: Vec<&str> = Vec::new();
    for id in ids {
        if id == prefix {
            return Ok(id.to_string());
        }
        if id.starts_with(prefix) {
            matches.push(id);
        }
    }
    match matches.len() {
        0 => Err(IdError::Unknown(prefix.to_string())),
        1 => Ok(matches[0].to_string()),
        _ => {
            matches.sort_unstable();
            let mut candidates: Vec<String> =
                matches.iter().take(5).map(|s| s.to_string()).collect();
            if matches.len() > 5 {
                candidates.push(format!("and {} more", matches.len() - 5));
            }
            Err(IdError::Ambiguous { prefix: prefix.to_string(), candidates })
        }
    }
}

/// A fresh id not in use: two words, or three when two keep colliding.
pub fn fresh_id(taken: impl Fn(&str) -> bool) -> String {
    for words in [2u8, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3] {
        if let Some(id) = petname::petname(words, "-")
            && validate(&id).is_ok()
            && !taken(&id)
        {
            return id;
        }
    }
    // The word lists are exhausted for practical purposes: fall back to a numbered name.
    let mut n: u64 = 1;
    loop {
        let id = format!("task-{n}");
        if !taken(&id) {
            return id;
        }
        n += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    const IDS: [&str; 4] = ["bold-otter", "bold-owl", "calm-heron", "bold"];

    #[test]
    fn exact_and_unique_prefix() {
        assert_eq!(resolve_id("calm", IDS).unwrap(), "calm-heron");
        assert_eq!(resolve_id("bold-ot", IDS).unwrap(), "bold-otter");
        assert_eq!(resolve_id("bold", IDS).unwrap(), "bold", "exact match beats prefix");
    }

    #[test]
    fn ambiguous_and_unknown() {
        assert_eq!(
            resolve_id("bold-o", IDS).unwrap_err(),
            IdError::Ambiguous {
                prefix: "bold-o".into(),
                candidates: vec!["bold-otter".into(), "bold-owl".into()]
            }
        );
        assert_eq!(resolve_id("zzz", IDS).unwrap_err(), IdError::Unknown("zzz".into()));
    }

    #[test]
    fn malformed_ids_rejected() {
        for bad in ["", "Bold", "../etc/passwd", "a b", "x;rm", &"a".repeat(65)] {
            assert!(matches!(resolve_id(bad, IDS), Err(IdError::Invalid(_))), "{bad:?}");
        }
    }

    #[test]
    fn fresh_ids_are_unique_and_typeable() {
        let mut seen = HashSet::new();
        for _ in 0..2000 {
            let id = fresh_id(|c| seen.contains(c));
            validate(&id).unwrap();
            assert!(id.contains('-'));
            assert!(seen.insert(id));
        }
    }
}
