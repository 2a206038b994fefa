//! Timestamps (RFC 3339, UTC, milliseconds) and human durations.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serializer};

/// A point in time as paneherd records it.
pub type Timestamp = DateTime<Utc>;

/// Now, truncated to milliseconds so that a value survives a round trip through text unchanged.
pub fn now() -> Timestamp {
    let t = Utc::now();
    DateTime::from_timestamp_millis(t.timestamp_millis()).unwrap_or(t)
}

/// `2026-11-21T20:14:27.123Z`.
pub fn format(t: &Timestamp) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A time as people read it where they are: `2026-12-02 14:03:22 +01:00`.
pub fn local(t: &Timestamp) -> String {
    t.with_timezone(&chrono::Local).format("%Y-%m-%d %H:%M:%S %:z").to_string()
}

/// Parses an RFC 3339 timestamp in any offset and returns it in UTC.
pub fn parse(s: &str) -> Result<Timestamp, chrono::ParseError> {
    DateTime::parse_from_rfc3339(s).map(|t| t.with_timezone(&Utc))
}

/// `<1s`, `24s`, `1m 05s`, `2h 13m`, `3d 04h`: one short form for tables, the dashboard,
/// pane borders and notifications.
pub fn human_duration(ms: i64) -> String {
    let ms = ms.max(0);
    if ms < 500 {
        return "<1s".into();
    }
    // To the nearest second (2.999 s is 3s), the larger units cut from that.
    let s = (ms + 500) / 1000;
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m {:02}s", s / 60, s % 60),
        3600..=86_399 => format!("{}h {:02}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d {:02}h", s / 86_400, (s % 86_400) / 3600),
    }
}

/// Serde for a required timestamp.
pub mod ts {
    use super::*;

    pub fn serialize<S: Serializer>(t: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format(t))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
        let s = String::deserialize(d)?;
        parse(&s).map_err(|e| serde::de::Error::custom(format!("bad timestamp {s:?}: {e}")))
    }
}

/// Serde for an optional timestamp (`null` or absent when unset).
pub mod ts_opt {
    use super::*;

    pub fn serialize<S: Serializer>(t: &Option<Timestamp>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.serialize_str(&format(t)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Timestamp>, D::Error> {
        let s = Option::<String>::deserialize(d)?;
        s.map(|s| {
            parse(&s).map_err(|e| serde::de::Error::custom(format!("bad timestamp {s:?}: {e}")))
        })
        .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_has_millis_and_z() {
        let t = parse("2026-01-02T03:04:05.678+01:00").unwrap();
        assert_eq!(format(&t), "2026-01-02T02:04:05.678Z");
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(human_duration(499), "<1s");
        assert_eq!(human_duration(850), "1s");
        assert_eq!(human_duration(2_999), "3s", "to the nearest second");
        assert_eq!(human_duration(59_600), "1m 00s");
        assert_eq!(human_duration(5_000), "5s");
        assert_eq!(human_duration(133_000), "2m 13s");
        assert_eq!(human_duration(7_380_000), "2h 03m");
        assert_eq!(human_duration(90_000_000), "1d 01h");
    }
}
