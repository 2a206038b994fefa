//! Task ids: human-typeable adjective-animal names, unique, addressable by any unique prefix.

/// Why an id given by a user does not name exactly one task.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("no task with id or prefix {0:?}")]
    Unknown(String),
    #[error("{prefix:?} is ambiguous: it matches {}", .candidates.join(", "))]
    Ambiguous { prefix: String, candidates: Vec<String> },
    #[error("{0:?} is not a valid task id (lowercase letters, digits and '-' only, at most 64)")]
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

/// Friendly, plain words: nothing anyone would mind pasting into a team chat (no words about
/// bodies, no slang double meanings), short and easy to type.
const ADJECTIVES: [&str; 141] = [
    "agile", "airy", "amber", "apt", "azure", "balmy", "bold", "brave", "breezy", "bright",
    "brisk", "bubbly", "calm", "candid", "cheery", "chipper", "civil", "clever", "cobalt", "coral",
    "cosmic", "cozy", "crimson", "crisp", "curious", "daring", "dapper", "deft", "eager",
    "earnest", "easy", "epic", "fair", "fearless", "fine", "fleet", "fluent", "focused", "frank",
    "fresh", "friendly", "frosty", "gentle", "genial", "glad", "gleaming", "golden", "good",
    "graceful", "grand", "green", "happy", "hardy", "hearty", "helpful", "honest", "humble",
    "jolly", "jovial", "keen", "kind", "lively", "loyal", "lucid", "lucky", "lunar", "mellow",
    "merry", "mighty", "mindful", "modest", "nimble", "noble", "patient", "peppy", "placid",
    "plucky", "polar", "polite", "proud", "quick", "quiet", "radiant", "rapid", "ready", "regal",
    "rosy", "rugged", "rustic", "sage", "serene", "sharp", "shiny", "silver", "sincere", "smart",
    "snappy", "snug", "solar", "solid", "sonic", "spry", "stable", "steady", "sturdy", "sunny",
    "swift", "tidy", "trusty", "upbeat", "valiant", "velvet", "vivid", "warm", "wise", "witty",
    "zesty", "zippy", "amiable", "ample", "astute", "bouncy", "cheerful", "classic", "cordial",
    "dashing", "dazzling", "devoted", "dynamic", "elegant", "famous", "festive", "gallant",
    "gifted", "hopeful", "jaunty", "joyful", "kindly", "limber", "lofty", "mirthful",
];

const ANIMALS: [&str; 143] = [
    "albatross",
    "antelope",
    "armadillo",
    "badger",
    "bison",
    "bobcat",
    "buffalo",
    "camel",
    "canary",
    "capybara",
    "cardinal",
    "caribou",
    "cheetah",
    "chipmunk",
    "condor",
    "coyote",
    "crane",
    "cricket",
    "curlew",
    "deer",
    "dingo",
    "dolphin",
    "dormouse",
    "dove",
    "duck",
    "dunlin",
    "eagle",
    "egret",
    "elk",
    "emu",
    "falcon",
    "fawn",
    "ferret",
    "finch",
    "flamingo",
    "fox",
    "gannet",
    "gazelle",
    "gecko",
    "gibbon",
    "giraffe",
    "goose",
    "gopher",
    "gorilla",
    "grebe",
    "grouse",
    "hamster",
    "hare",
    "hawk",
    "hedgehog",
    "heron",
    "hippo",
    "ibex",
    "ibis",
    "iguana",
    "impala",
    "jackal",
    "jaguar",
    "jay",
    "kestrel",
    "kingfisher",
    "kiwi",
    "koala",
    "kudu",
    "lark",
    "lemur",
    "leopard",
    "lion",
    "llama",
    "lobster",
    "lynx",
    "macaw",
    "magpie",
    "mallard",
    "manatee",
    "marmot",
    "meerkat",
    "mink",
    "mole",
    "mongoose",
    "moose",
    "narwhal",
    "newt",
    "nightjar",
    "nuthatch",
    "ocelot",
    "octopus",
    "okapi",
    "orangutan",
    "orca",
    "oriole",
    "osprey",
    "otter",
    "owl",
    "panda",
    "panther",
    "parrot",
    "pelican",
    "penguin",
    "pheasant",
    "pika",
    "plover",
    "porcupine",
    "puffin",
    "puma",
    "quail",
    "quokka",
    "rabbit",
    "raccoon",
    "raven",
    "reindeer",
    "robin",
    "salmon",
    "sandpiper",
    "seahorse",
    "seal",
    "skylark",
    "sloth",
    "snail",
    "sparrow",
    "squid",
    "starling",
    "stingray",
    "stork",
    "swan",
    "tapir",
    "teal",
    "tern",
    "thrush",
    "tiger",
    "toucan",
    "trout",
    "turtle",
    "vole",
    "wallaby",
    "walrus",
    "warbler",
    "whale",
    "wolf",
    "wombat",
    "wren",
    "yak",
    "zebra",
];

/// A fresh id not in use: adjective-animal, or adjective-adjective-animal when the two-word
/// names keep colliding.
pub fn fresh_id(taken: impl Fn(&str) -> bool) -> String {
    use rand::RngExt;
    let mut rng = rand::rng();
    let mut pick = |words: &[&'static str]| words[rng.random_range(0..words.len())];
    for three in [false, false, false, false, false, false, false, false, true, true, true, true] {
        let id = if three {
            format!("{}-{}-{}", pick(&ADJECTIVES), pick(&ADJECTIVES), pick(&ANIMALS))
        } else {
            format!("{}-{}", pick(&ADJECTIVES), pick(&ANIMALS))
        };
        if !taken(&id) {
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
    fn the_word_lists_are_clean_typeable_and_distinct() {
        for w in ADJECTIVES.iter().chain(ANIMALS.iter()) {
            assert!(w.bytes().all(|b| b.is_ascii_lowercase()), "{w}");
            assert!((2..=10).contains(&w.len()), "{w}");
        }
        let all: HashSet<&str> = ADJECTIVES.iter().chain(ANIMALS.iter()).copied().collect();
        assert_eq!(all.len(), ADJECTIVES.len() + ANIMALS.len(), "no word twice");
        // Words petname's full lists produced, which nobody wants in a team chat.
        for bad in ["masculine", "feminine", "stud", "cock", "ass", "booby", "tit", "beaver"] {
            assert!(!all.contains(bad), "{bad}");
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
