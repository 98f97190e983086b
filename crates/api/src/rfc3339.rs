//! Timestamps written into JSON as one string.
//!
//! chrono's `Serialize` gives serde_json a `Display` value (`collect_str`), which serde_json then
//! escapes a character at a time. For a list page of fifty customers, three timestamps each, that
//! was about 7 % of the server's time. These functions write the same text — RFC 3339 in UTC with
//! `Z` and as many fractional digits as the value needs, chrono's own serde format — formatted
//! first and handed over whole. Use them with `#[serde(serialize_with = …)]`; reading stays
//! chrono's.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serializer;

pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&t.to_rfc3339_opts(SecondsFormat::AutoSi, true))
}

/// For `Option<DateTime<Utc>>`: `null` when absent.
pub fn option<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => serialize(t, s),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use proptest::prelude::*;
    use serde::Serialize;

    use super::*;

    #[derive(Serialize)]
    struct Ours {
        #[serde(serialize_with = "serialize")]
        at: DateTime<Utc>,
        #[serde(serialize_with = "option")]
        maybe: Option<DateTime<Utc>>,
    }

    #[derive(Serialize)]
    struct Chrono {
        at: DateTime<Utc>,
        maybe: Option<DateTime<Utc>>,
    }

    fn both(at: DateTime<Utc>, maybe: Option<DateTime<Utc>>) -> (String, String) {
        (
            serde_json::to_string(&Ours { at, maybe }).unwrap(),
            serde_json::to_string(&Chrono { at, maybe }).unwrap(),
        )
    }

    #[test]
    fn whole_seconds_millis_micros_nanos_and_null_match_chrono() {
        let second = Utc.with_ymd_and_hms(2026, 11, 25, 9, 30, 0).unwrap();
        for nanos in [0, 123_000_000, 123_456_000, 123_456_789, 1] {
            let at = second + chrono::Duration::nanoseconds(nanos);
            let (ours, theirs) = both(at, None);
            assert_eq!(ours, theirs);
            let (ours, theirs) = both(second, Some(at));
            assert_eq!(ours, theirs);
        }
        assert_eq!(
            both(second, None).0,
            r#"{"at":"2026-11-25T09:30:00Z","maybe":null}"#
        );
    }

    proptest! {
        #[test]
        fn any_instant_serializes_as_chrono_does(
            secs in 0i64..8_000_000_000,
            nanos in 0u32..1_000_000_000,
        ) {
            let at = Utc.timestamp_opt(secs, nanos).unwrap();
            let (ours, theirs) = both(at, Some(at));
            prop_assert_eq!(ours, theirs);
        }
    }
}
