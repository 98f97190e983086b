//! A JSON object written field by field straight from a row's values, for the hottest reads
//! whose answer is a row as it is (`GET /api/customers/{id}`): decoding the row into owned
//! fields and serializing a view of them again was about 15 % of the server's time for that
//! request. The bytes are exactly what serde_json writes for the same values — text escaped as
//! it escapes it, timestamps as chrono's serde format (RFC 3339 in UTC, `Z`, fractional digits
//! as the value needs them) — which a test of the API crate holds the callers to.
//!
//! The values come from either backend: the SQLite reader (`inline_reads`) and the PostgreSQL
//! one each add the adapters for their own rows.

use chrono::{DateTime, SecondsFormat, Utc};

/// The object being written. The caller writes the opening brace and the first field with
/// [`JsonOut::raw`]; every other field is written with a leading comma.
pub struct JsonOut(Vec<u8>);

impl JsonOut {
    pub fn with_capacity(bytes: usize) -> JsonOut {
        JsonOut(Vec::with_capacity(bytes))
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }

    pub fn raw(&mut self, bytes: &[u8]) {
        self.0.extend_from_slice(bytes);
    }

    fn key(&mut self, name: &str) {
        self.0.extend_from_slice(b",\"");
        self.0.extend_from_slice(name.as_bytes());
        self.0.extend_from_slice(b"\":");
    }

    pub fn null(&mut self, name: &str) {
        self.key(name);
        self.0.extend_from_slice(b"null");
    }

    /// `value` as serde_json writes it.
    pub fn serialized<T: serde::Serialize>(
        &mut self,
        name: &str,
        value: &T,
    ) -> Result<(), serde_json::Error> {
        self.key(name);
        serde_json::to_writer(&mut self.0, value)
    }

    /// A string, escaped as serde_json escapes it.
    pub fn text(&mut self, name: &str, value: &str) {
        self.key(name);
        // Most text needs no escape: checked in one pass the compiler vectorizes (no early
        // exit), then copied whole (serde_json looks each byte up in its escape table as it
        // writes it).
        let needs_escape = value.bytes().fold(false, |found, b| {
            found | (b < 0x20) | (b == b'"') | (b == b'\\')
        });
        if !needs_escape {
            self.0.push(b'"');
            self.0.extend_from_slice(value.as_bytes());
            self.0.push(b'"');
            return;
        }
        // Writing a `str` into a `Vec` cannot fail: serde_json errors only on I/O and on
        // values that are not JSON, and a string is.
        let _ = serde_json::to_writer(&mut self.0, value);
    }

    /// A string or `null`.
    pub fn optional_text(&mut self, name: &str, value: Option<&str>) {
        match value {
            Some(text) => self.text(name, text),
            None => self.null(name),
        }
    }

    pub fn integer(&mut self, name: &str, n: i64) {
        self.key(name);
        self.0
            .extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
    }

    /// A JSON value given as its text: `{}` (the usual metadata) as it is, anything else parsed
    /// and written as serde_json writes a [`serde_json::Value`] (its key order, its spacing).
    pub fn json_text(&mut self, name: &str, text: &[u8]) -> Result<(), serde_json::Error> {
        if text == b"{}" {
            self.key(name);
            self.0.extend_from_slice(b"{}");
            return Ok(());
        }
        let value: serde_json::Value = serde_json::from_slice(text)?;
        self.serialized(name, &value)
    }

    /// A time in chrono's serde format.
    pub fn time(&mut self, name: &str, time: DateTime<Utc>) {
        self.key(name);
        self.0.push(b'"');
        self.0
            .extend_from_slice(time.to_rfc3339_opts(SecondsFormat::AutoSi, true).as_bytes());
        self.0.push(b'"');
    }

    /// A time (already in chrono's serde format but for its `+00:00`) as it is, with `Z`.
    pub fn utc_text(&mut self, name: &str, text_without_offset: &[u8]) {
        self.key(name);
        self.0.push(b'"');
        self.0.extend_from_slice(text_without_offset);
        self.0.extend_from_slice(b"Z\"");
    }

    pub fn optional_time(&mut self, name: &str, time: Option<DateTime<Utc>>) {
        match time {
            Some(time) => self.time(name, time),
            None => self.null(name),
        }
    }
}

/// The text of a NOT NULL `json` or `jsonb` column of a PostgreSQL row (in the binary format a
/// `jsonb` value is its text after a version byte, 1).
pub fn pg_json_text(row: &sqlx::postgres::PgRow, idx: usize) -> sqlx::Result<&[u8]> {
    use sqlx::postgres::PgValueFormat;
    use sqlx::{Row, TypeInfo, ValueRef};
    let decode = |message: &str| sqlx::Error::ColumnDecode {
        index: idx.to_string(),
        source: message.into(),
    };
    let value = row.try_get_raw(idx)?;
    let (json, jsonb) = match value.type_info().name() {
        "JSON" => (true, false),
        "JSONB" => (true, value.format() == PgValueFormat::Binary),
        _ => (false, false),
    };
    if !json || value.is_null() {
        return Err(decode("not a JSON value"));
    }
    match value.as_bytes().map_err(|_| decode("not a JSON value"))? {
        [1, text @ ..] if jsonb => Ok(text),
        _ if jsonb => Err(decode("unsupported jsonb format version")),
        text => Ok(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn fields_are_written_as_serde_json_writes_them() {
        let at = Utc.with_ymd_and_hms(2026, 12, 6, 5, 0, 0).unwrap();
        let mut out = JsonOut::with_capacity(64);
        out.raw(b"{\"a\":1");
        out.text("t", "ไทย \"q\" \\ \n\u{1}");
        out.text("plain", "Green Valley ฟาร์ม / \u{7f} é");
        out.optional_text("n", None);
        out.integer("i", -42);
        out.json_text("m", b"{}").unwrap();
        out.json_text("j", br#"{"z": [1, 2.5, null], "a": "x"}"#)
            .unwrap();
        out.time("at", at + chrono::Duration::microseconds(120_000));
        out.optional_time("none", None);
        out.raw(b"}");
        let expected = serde_json::json!({
            "a": 1,
            "t": "ไทย \"q\" \\ \n\u{1}",
            "plain": "Green Valley ฟาร์ม / \u{7f} é",
            "n": null,
            "i": -42,
            "m": {},
            "j": {"z": [1, 2.5, null], "a": "x"},
            "at": at + chrono::Duration::microseconds(120_000),
            "none": null,
        });
        let bytes = out.into_bytes();
        // Text as serde_json writes it, byte for byte (escaped or copied whole).
        let text = String::from_utf8(bytes.clone()).unwrap();
        for (key, value) in [
            ("t", "ไทย \"q\" \\ \n\u{1}"),
            ("plain", "Green Valley ฟาร์ม / \u{7f} é"),
        ] {
            let field = format!("\"{key}\":{}", serde_json::to_string(value).unwrap());
            assert!(text.contains(&field), "{field} in {text}");
        }
        let written: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(written, expected);
        assert_eq!(
            serde_json::to_string(&written["at"]).unwrap(),
            "\"2026-12-06T05:00:00.120Z\""
        );
    }
}
