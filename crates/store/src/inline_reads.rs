//! SQLite reads that run on the calling thread, for the hottest short statements (a customer by
//! id, a list page).
//!
//! sqlx gives every SQLite connection a worker thread: a query is a message to that thread and
//! its rows a message back, so each statement costs two thread wake-ups. On a two-core virtual
//! machine those wake-ups (futex, scheduler) were about half of the server's CPU for
//! `GET /api/customers/{id}`, several times the cost of the B-tree lookup itself. A primary-key
//! lookup or a 50-row index walk on a memory-mapped database takes a few microseconds, less than
//! one wake-up, so for those statements we hold a plain connection here and step it where we
//! are. Longer statements (searches) and every write stay on sqlx's pools.
//!
//! The connections are read-only and see committed data exactly as the sqlx readers do. In WAL
//! mode a reader does not wait for the writer, so a read here holds the async worker thread only
//! for the lookup itself.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::types::Value;
use rusqlite::{Connection, OpenFlags};

use crate::db::Arg;
use crate::{Error, Result};

/// Bytes of the database file each connection maps into memory (`PRAGMA mmap_size`; SQLite caps
/// it at its compile-time limit, 2 GiB by default): reads then make no `pread` call and copy no
/// page into a per-connection cache, and all connections share the OS page cache.
pub const MMAP_BYTES: i64 = 2 << 30;

/// A small stack of idle read-only connections, opened on demand.
#[derive(Debug)]
pub struct InlineReaders {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    max_idle: usize,
}

impl InlineReaders {
    pub fn new(path: &Path, max_idle: usize) -> InlineReaders {
        InlineReaders {
            path: path.to_owned(),
            idle: Mutex::new(Vec::new()),
            max_idle,
        }
    }

    fn open(&self) -> rusqlite::Result<Connection> {
        // NO_MUTEX: a connection is used by one caller at a time (it is taken off the stack).
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY
                | OpenFlags::SQLITE_OPEN_NO_MUTEX
                | OpenFlags::SQLITE_OPEN_URI,
        )?;
        conn.busy_timeout(Duration::from_secs(10))?;
        conn.pragma_update(None, "cache_size", -16000)?;
        conn.pragma_update(None, "mmap_size", MMAP_BYTES)?;
        conn.set_prepared_statement_cache_capacity(64);
        Ok(conn)
    }

    /// Runs `f` on an idle connection (or a new one) on this thread.
    fn with<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T> {
        let taken = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let conn = match taken {
            Some(conn) => conn,
            None => self.open().map_err(sqlite_error)?,
        };
        let result = f(&conn);
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < self.max_idle {
            idle.push(conn);
        }
        result.map_err(sqlite_error)
    }

    /// Every row of `text` with `args` bound, decoded by `decode`.
    pub fn fetch_all<T>(
        &self,
        text: &str,
        args: &[Arg],
        decode: fn(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>> {
        self.with(|conn| {
            let mut statement = conn.prepare_cached(text)?;
            let params: Vec<Value> = args.iter().map(value).collect();
            let rows = statement.query_map(rusqlite::params_from_iter(params), decode)?;
            rows.collect()
        })
    }
}

fn sqlite_error(e: rusqlite::Error) -> Error {
    Error::Other(format!("database error: {e}"))
}

/// An argument as sqlx's SQLite driver binds it, so both paths compare the same stored values.
fn value(arg: &Arg) -> Value {
    fn or_null<T>(v: &Option<T>, f: impl FnOnce(&T) -> Value) -> Value {
        v.as_ref().map_or(Value::Null, f)
    }
    match arg {
        Arg::Uuid(v) => or_null(v, |u| Value::Blob(u.as_bytes().to_vec())),
        Arg::Text(v) => or_null(v, |s| Value::Text(s.clone())),
        Arg::I64(v) => or_null(v, |n| Value::Integer(*n)),
        Arg::Bool(v) => or_null(v, |b| Value::Integer(i64::from(*b))),
        Arg::Time(v) => or_null(v, |t: &DateTime<Utc>| {
            Value::Text(t.to_rfc3339_opts(SecondsFormat::AutoSi, false))
        }),
        Arg::Date(v) => or_null(v, |d| Value::Text(d.format("%F").to_string())),
        Arg::Bytes(v) => or_null(v, |b| Value::Blob(b.clone())),
        Arg::Json(v) => or_null(v, |j| Value::Text(j.to_string())),
        Arg::List(v) => Value::Text(v.to_json_text()),
    }
}

/// A JSON column stored as text.
pub fn json_column<T: serde::de::DeserializeOwned>(
    row: &rusqlite::Row<'_>,
    idx: usize,
) -> rusqlite::Result<Option<T>> {
    match row.get_ref(idx)? {
        rusqlite::types::ValueRef::Null => Ok(None),
        rusqlite::types::ValueRef::Text(bytes) | rusqlite::types::ValueRef::Blob(bytes) => {
            serde_json::from_slice(bytes).map(Some).map_err(|e| {
                rusqlite::Error::FromSqlConversionFailure(
                    idx,
                    rusqlite::types::Type::Text,
                    Box::new(e),
                )
            })
        }
        other => Err(rusqlite::Error::InvalidColumnType(
            idx,
            String::new(),
            other.data_type(),
        )),
    }
}

/// A timestamp column. Satang writes RFC 3339 text (sqlx's encoding), parsed here directly;
/// other SQLite date-time forms go through rusqlite's more general (and slower) parser.
pub fn time_column(row: &rusqlite::Row<'_>, idx: usize) -> rusqlite::Result<Option<DateTime<Utc>>> {
    if let rusqlite::types::ValueRef::Text(bytes) = row.get_ref(idx)?
        && let Ok(text) = std::str::from_utf8(bytes)
        && let Ok(time) = DateTime::parse_from_rfc3339(text)
    {
        return Ok(Some(time.with_timezone(&Utc)));
    }
    row.get(idx)
}

/// The value of a NOT NULL column read through one of the optional helpers above.
pub fn required<T>(value: Option<T>, idx: usize) -> rusqlite::Result<T> {
    value.ok_or(rusqlite::Error::InvalidColumnType(
        idx,
        String::new(),
        rusqlite::types::Type::Null,
    ))
}
