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
//! The connections are read-only. In WAL mode a reader does not wait for the writer, so a read
//! here holds the async worker thread only for the lookup itself.
//!
//! **Snapshots kept between reads.** Opening and ending a read transaction (the WAL read lock,
//! its `fcntl` calls, the halt of the statement) was a third of `sqlite3_step` for a customer by
//! id. A connection here therefore keeps its read transaction open after a read, and the next
//! read on it reuses that snapshot as long as it still shows everything committed:
//! - every write of this process ends on [`InlineReaders::wrote`] (called by `Db` after each
//!   commit of the one writer), which moves a generation counter of the database file, shared
//!   by every `Db` this process opened on that file; a snapshot taken before the latest move is
//!   ended before the next read. The counter is read *before* the snapshot is
//!   taken, so a write that commits in between only makes the snapshot look older than it is.
//!   A read that starts after a write's commit (the next request of the same client, or the
//!   same request after its write) therefore always sees that write, as with a fresh snapshot;
//! - writes of another process (`satang bill`, `satang user add` on the same file) are seen
//!   after at most [`MAX_SNAPSHOT_AGE`];
//! - a snapshot pins the WAL frames it reads, so a checkpoint cannot move past it: idle
//!   connections have theirs ended by [`InlineReaders::end_stale`] (a task of `Db`, every
//!   [`SWEEP_EVERY`]) once they are older than [`MAX_SNAPSHOT_AGE`], so an idle server never
//!   holds the WAL of a writer in another process.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, Weak};
use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::types::Value;
use rusqlite::{Connection, OpenFlags};

use crate::db::Arg;
use crate::json_out::JsonOut;
use crate::{Error, Result};

/// Bytes of the database file each connection maps into memory (`PRAGMA mmap_size`; SQLite caps
/// it at its compile-time limit, 2 GiB by default): reads then make no `pread` call and copy no
/// page into a per-connection cache, and all connections share the OS page cache.
pub const MMAP_BYTES: i64 = 2 << 30;

/// How long a connection may read from one snapshot. Writes of this process end snapshots at
/// once (see the module's doc); this bounds how late a write of another process is seen.
pub const MAX_SNAPSHOT_AGE: Duration = Duration::from_millis(5);

/// How often `Db` ends the snapshots of idle connections ([`InlineReaders::end_stale`]).
pub const SWEEP_EVERY: Duration = Duration::from_millis(100);

/// A small stack of idle read-only connections, opened on demand.
#[derive(Debug)]
pub struct InlineReaders {
    path: PathBuf,
    idle: Mutex<Vec<Reader>>,
    max_idle: usize,
    /// Moved after every commit of this process to the file ([`InlineReaders::wrote`]).
    generation: Arc<AtomicU64>,
}

/// The write generation of each database file this process has open, so that a write through
/// one `Db` ends the snapshots of another on the same file (a test's second handle, the
/// billing run of `satang bill` inside `serve`).
fn generation_of(path: &Path) -> Arc<AtomicU64> {
    static FILES: LazyLock<Mutex<HashMap<PathBuf, Weak<AtomicU64>>>> =
        LazyLock::new(Default::default);
    let key = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
    let mut files = FILES.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(shared) = files.get(&key).and_then(Weak::upgrade) {
        return shared;
    }
    files.retain(|_, g| g.strong_count() > 0);
    let shared = Arc::new(AtomicU64::new(0));
    files.insert(key, Arc::downgrade(&shared));
    shared
}

/// A connection and the snapshot it holds, if any.
#[derive(Debug)]
struct Reader {
    conn: Connection,
    snapshot: Option<Snapshot>,
}

/// An open read transaction: the write generation read before it began, and when.
#[derive(Debug, Clone, Copy)]
struct Snapshot {
    generation: u64,
    began: Instant,
}

impl Reader {
    /// Ends the read transaction, if one is open.
    fn end_snapshot(&mut self) -> rusqlite::Result<()> {
        if self.snapshot.take().is_some() && !self.conn.is_autocommit() {
            self.conn.execute_batch("COMMIT")?;
        }
        Ok(())
    }
}

impl InlineReaders {
    pub fn new(path: &Path, max_idle: usize) -> InlineReaders {
        InlineReaders {
            path: path.to_owned(),
            idle: Mutex::new(Vec::new()),
            max_idle,
            generation: generation_of(path),
        }
    }

    /// Records that this process committed a write: snapshots taken before it are not used
    /// again.
    pub fn wrote(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// Calls [`InlineReaders::wrote`] when dropped: after a write has finished, failed, or been
    /// abandoned midway by a dropped request (whose commit may still have gone through).
    /// A snapshot ended for nothing costs a microsecond.
    pub fn wrote_on_drop(&self) -> impl Drop + '_ {
        struct Wrote<'a>(&'a InlineReaders);
        impl Drop for Wrote<'_> {
            fn drop(&mut self) {
                self.0.wrote();
            }
        }
        Wrote(self)
    }

    /// Ends the snapshots of idle connections older than [`MAX_SNAPSHOT_AGE`] (a connection
    /// that fails to end one is closed).
    pub fn end_stale(&self) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        idle.retain_mut(|reader| match reader.snapshot {
            Some(s) if s.began.elapsed() > MAX_SNAPSHOT_AGE => reader.end_snapshot().is_ok(),
            _ => true,
        });
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

    /// A connection whose snapshot (kept, or begun now) shows every write this process has
    /// committed.
    fn take(&self) -> rusqlite::Result<Reader> {
        // Read before the snapshot begins: see the module's doc.
        let generation = self.generation.load(Ordering::Acquire);
        let taken = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let mut reader = match taken {
            Some(reader) => reader,
            None => Reader {
                conn: self.open()?,
                snapshot: None,
            },
        };
        if let Some(s) = reader.snapshot
            && (s.generation != generation || s.began.elapsed() > MAX_SNAPSHOT_AGE)
        {
            reader.end_snapshot()?;
        }
        if reader.snapshot.is_none() {
            // Deferred: the snapshot itself is taken by the first read.
            reader.conn.execute_batch("BEGIN")?;
            reader.snapshot = Some(Snapshot {
                generation,
                began: Instant::now(),
            });
        }
        Ok(reader)
    }

    /// Runs `f` on an idle connection (or a new one) on this thread.
    fn with<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T> {
        let mut reader = self.take().map_err(sqlite_error)?;
        let result = f(&reader.conn);
        // After a failed read the snapshot is ended; a connection that cannot end it is closed.
        if result.is_err() && reader.end_snapshot().is_err() {
            return result.map_err(sqlite_error);
        }
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < self.max_idle {
            idle.push(reader);
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
    borrowed_json_column(row, idx)
}

/// A JSON column stored as text, decoded into a value that may borrow the row's text.
pub fn borrowed_json_column<'r, T: serde::Deserialize<'r>>(
    row: &'r rusqlite::Row<'_>,
    idx: usize,
) -> rusqlite::Result<Option<T>> {
    json_text_column(row, idx)?
        .map(|text| serde_json::from_slice(text).map_err(|e| json_error(idx, e)))
        .transpose()
}

/// The text of a JSON column (stored as text, or as a blob by other writers); `None` when NULL.
fn json_text_column<'r>(
    row: &'r rusqlite::Row<'_>,
    idx: usize,
) -> rusqlite::Result<Option<&'r [u8]>> {
    match row.get_ref(idx)? {
        rusqlite::types::ValueRef::Null => Ok(None),
        rusqlite::types::ValueRef::Text(bytes) | rusqlite::types::ValueRef::Blob(bytes) => {
            Ok(Some(bytes))
        }
        other => Err(rusqlite::Error::InvalidColumnType(
            idx,
            String::new(),
            other.data_type(),
        )),
    }
}

/// A JSON column's value that serde_json could not read or write.
fn json_error(idx: usize, e: serde_json::Error) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(idx, rusqlite::types::Type::Text, Box::new(e))
}

/// [`JsonOut`] fields from a SQLite row's columns (see `customers::json_from_inline`).
impl JsonOut {
    /// A text column (`null` when NULL, an error then when `not_null`).
    pub fn text_column(
        &mut self,
        name: &str,
        row: &rusqlite::Row<'_>,
        idx: usize,
        not_null: bool,
    ) -> rusqlite::Result<()> {
        match row.get_ref(idx)? {
            rusqlite::types::ValueRef::Null if !not_null => self.null(name),
            value => self.text(name, value.as_str()?),
        }
        Ok(())
    }

    /// An integer column (NOT NULL).
    pub fn integer_column(
        &mut self,
        name: &str,
        row: &rusqlite::Row<'_>,
        idx: usize,
    ) -> rusqlite::Result<()> {
        let n = row.get_ref(idx)?.as_i64()?;
        self.integer(name, n);
        Ok(())
    }

    /// A NOT NULL JSON column stored as text (see [`JsonOut::json_text`]).
    pub fn json_column(
        &mut self,
        name: &str,
        row: &rusqlite::Row<'_>,
        idx: usize,
    ) -> rusqlite::Result<()> {
        let text = required(json_text_column(row, idx)?, idx)?;
        self.json_text(name, text).map_err(|e| json_error(idx, e))
    }

    /// A timestamp column (`null` when NULL, an error then when `not_null`). Text as sqlx writes
    /// a UTC time (`…+00:00`, fraction as chrono's `AutoSi` makes it) goes on with `Z`; anything
    /// else is parsed and written anew.
    pub fn time_column(
        &mut self,
        name: &str,
        row: &rusqlite::Row<'_>,
        idx: usize,
        not_null: bool,
    ) -> rusqlite::Result<()> {
        if let rusqlite::types::ValueRef::Text(text) = row.get_ref(idx)?
            && let Some(utc) = canonical_utc(text)
        {
            self.utc_text(name, utc);
            return Ok(());
        }
        match time_column(row, idx)? {
            Some(t) => self.time(name, t),
            None if !not_null => self.null(name),
            None => return required(None::<()>, idx),
        }
        Ok(())
    }
}

/// `text` without its `+00:00` when it has exactly the form chrono writes for a UTC time with
/// `to_rfc3339_opts(SecondsFormat::AutoSi, false)`: `YYYY-MM-DDTHH:MM:SS`, then no fraction or
/// one of 3, 6 or 9 digits whose last three are not all zero (else fewer digits would have been
/// written).
fn canonical_utc(text: &[u8]) -> Option<&[u8]> {
    let body = text.strip_suffix(b"+00:00")?;
    let (whole, fraction) = match body.len() {
        19 => (body, &[][..]),
        23 | 26 | 29 if body[19] == b'.' => (&body[..19], &body[20..]),
        _ => return None,
    };
    let shape_ok = whole.iter().enumerate().all(|(i, &b)| match i {
        4 | 7 => b == b'-',
        10 => b == b'T',
        13 | 16 => b == b':',
        _ => b.is_ascii_digit(),
    });
    let fraction_ok = fraction.iter().all(u8::is_ascii_digit)
        && (fraction.is_empty() || fraction[fraction.len() - 3..] != *b"000");
    // The digits are not checked for a real date: only sqlx writes these columns, from a
    // `DateTime` (a row edited by hand into the 13th month would be shown as it is).
    (shape_ok && fraction_ok).then_some(body)
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
