//! The connection pools and the one query type that runs on both backends.
//!
//! A query is a [`Sql`]: text with `$1, $2 …` placeholders (PostgreSQL's style, which SQLite
//! also accepts) and its arguments. [`Db`] and [`Tx`] execute it on whichever backend they hold.
//! Rows decode through `sqlx::FromRow`, derived once per struct, valid for both row types.
//!
//! One sqlx pool per database, no larger than the configured maximum. SQLite has one writer:
//! a write (a transaction, or a statement outside one) first takes the pool's single write
//! permit, then opens its transaction with `BEGIN IMMEDIATE`, so a read-then-write transaction
//! never fails on an upgraded lock and writers queue in order instead of sleeping in SQLite's
//! busy handler; reads run in parallel on the other connections (WAL).

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgRow};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{
    ConnectOptions, Connection, FromRow, PgPool, Postgres, Sqlite, SqlitePool, Transaction,
};
use uuid::Uuid;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::{Result, deferred_commit};

/// Which database a [`Db`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A database handle: cheap to clone, shared by every request.
#[derive(Clone, Debug)]
pub enum Db {
    Sqlite {
        pool: SqlitePool,
        /// The one write permit: held by an open write transaction.
        writer: Arc<Semaphore>,
    },
    Postgres {
        pool: PgPool,
    },
}

/// An open transaction on either backend. Dropped without [`Tx::commit`], it rolls back.
///
/// Within a request with an `Idempotency-Key`, [`Tx::commit`] and [`Db`]'s statements hold the
/// commit back until the response is recorded with it (see [`crate::deferred_commit`]).
pub enum Tx {
    /// With the write permit, given back when the transaction ends.
    Sqlite(Transaction<'static, Sqlite>, OwnedSemaphorePermit),
    Postgres(Transaction<'static, Postgres>),
}

/// One bound argument. Every variant carries an `Option` so a NULL keeps its SQL type,
/// which PostgreSQL needs to plan the statement.
#[derive(Debug, Clone)]
pub enum Arg {
    Uuid(Option<Uuid>),
    Text(Option<String>),
    I64(Option<i64>),
    Bool(Option<bool>),
    Time(Option<DateTime<Utc>>),
    /// A calendar date (billing dates): `date` on PostgreSQL, `YYYY-MM-DD` text on SQLite.
    Date(Option<NaiveDate>),
    Bytes(Option<Vec<u8>>),
    Json(Option<serde_json::Value>),
    /// A column of values bound as one PostgreSQL array (`UNNEST($n)` writes many rows with one
    /// parameter per column). SQLite gets the list as JSON text (for `json_each`).
    List(List),
}

/// The values of one column of many rows, for [`Arg::List`].
#[derive(Debug, Clone)]
pub enum List {
    Uuid(Vec<Option<Uuid>>),
    Text(Vec<Option<String>>),
    I64(Vec<Option<i64>>),
    Bool(Vec<Option<bool>>),
    Time(Vec<Option<DateTime<Utc>>>),
    Date(Vec<Option<NaiveDate>>),
    Json(Vec<Option<serde_json::Value>>),
}

impl List {
    pub(crate) fn to_json_text(&self) -> String {
        let value = match self {
            List::Uuid(v) => serde_json::to_value(v),
            List::Text(v) => serde_json::to_value(v),
            List::I64(v) => serde_json::to_value(v),
            List::Bool(v) => serde_json::to_value(v),
            List::Time(v) => serde_json::to_value(v),
            List::Date(v) => serde_json::to_value(v),
            List::Json(v) => serde_json::to_value(v),
        };
        value.unwrap_or_default().to_string()
    }
}

macro_rules! list_from {
    ($($t:ty => $variant:ident),* $(,)?) => {$(
        impl From<Vec<$t>> for Arg {
            fn from(v: Vec<$t>) -> Self {
                Arg::List(List::$variant(v.into_iter().map(|v| Some(v.into())).collect()))
            }
        }
        impl From<Vec<Option<$t>>> for Arg {
            fn from(v: Vec<Option<$t>>) -> Self {
                Arg::List(List::$variant(v.into_iter().map(|v| v.map(Into::into)).collect()))
            }
        }
    )*};
}

list_from! {
    Uuid => Uuid,
    String => Text,
    &str => Text,
    i64 => I64,
    bool => Bool,
    DateTime<Utc> => Time,
    NaiveDate => Date,
    serde_json::Value => Json,
}

macro_rules! arg_from {
    ($($t:ty => $variant:ident),* $(,)?) => {$(
        impl From<$t> for Arg {
            fn from(v: $t) -> Self { Arg::$variant(Some(v.into())) }
        }
        impl From<Option<$t>> for Arg {
            fn from(v: Option<$t>) -> Self { Arg::$variant(v.map(Into::into)) }
        }
    )*};
}

arg_from! {
    Uuid => Uuid,
    String => Text,
    &str => Text,
    i64 => I64,
    i32 => I64,
    bool => Bool,
    DateTime<Utc> => Time,
    NaiveDate => Date,
    Vec<u8> => Bytes,
    serde_json::Value => Json,
}

impl From<&String> for Arg {
    fn from(v: &String) -> Self {
        Arg::Text(Some(v.clone()))
    }
}

/// A statement and its arguments, written once for both databases.
#[derive(Debug, Clone)]
pub struct Sql {
    pub(crate) text: std::borrow::Cow<'static, str>,
    pub(crate) args: Vec<Arg>,
    pub(crate) persistent: bool,
}

impl Sql {
    pub fn new(text: impl Into<std::borrow::Cow<'static, str>>) -> Self {
        Sql {
            text: text.into(),
            args: Vec::new(),
            persistent: true,
        }
    }

    /// Plans the statement for its actual arguments every time instead of caching a prepared
    /// statement: for searches, whose best plan depends on how common the term is.
    pub fn planned_per_call(mut self) -> Self {
        self.persistent = false;
        self
    }

    /// The number the next bound argument will have (`$n`).
    pub fn next_param(&self) -> usize {
        self.args.len() + 1
    }

    /// Appends text to the statement (for clauses built from optional filters).
    pub fn push(mut self, text: &str) -> Self {
        self.text.to_mut().push_str(text);
        self
    }

    /// Appends ` LIMIT n` with the number written into the statement, not bound.
    ///
    /// PostgreSQL prices a generic plan's `LIMIT $n` as a tenth of the rows, so next to the
    /// custom plans for the actual limit it never looks worth caching: a prepared statement
    /// ending in `LIMIT $n` is planned again on every call (for a list page on a million
    /// customers, planning was about 30 % of the database's time). With the number written in,
    /// the generic plan costs what the custom ones do and is kept after five calls. A statement
    /// per page size is a handful of prepared statements per connection.
    pub fn limit(self, rows: i64) -> Self {
        self.push(&format!(" LIMIT {rows}"))
    }

    /// Adds the next positional argument (`$1`, then `$2`, …).
    pub fn bind(mut self, arg: impl Into<Arg>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Adds one column of `rows` as the next argument (a PostgreSQL array, for `UNNEST`).
    pub fn bind_column<R, T>(self, rows: &[R], value: impl FnMut(&R) -> T) -> Self
    where
        Vec<T>: Into<Arg>,
    {
        self.bind(rows.iter().map(value).collect::<Vec<T>>())
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    /// Whether the statement is prepared once and kept (not [`Sql::planned_per_call`]).
    pub fn is_persistent(&self) -> bool {
        self.persistent
    }

    /// Splits off the statement's text, keeping its arguments (and so their numbering) in an
    /// otherwise empty statement: for wrapping the statement in a larger one.
    pub(crate) fn into_parts(mut self) -> (String, Sql) {
        let text = std::mem::take(&mut self.text).into_owned();
        (text, self)
    }

    /// Appends `rows` parenthesised rows of `cols` fresh placeholders each, numbered from the
    /// next argument on: the `VALUES` list of a multi-row statement. Bind the arguments row by
    /// row afterwards.
    pub fn push_value_rows(mut self, rows: usize, cols: usize) -> Self {
        let first = self.next_param();
        let text = self.text.to_mut();
        for r in 0..rows {
            if r > 0 {
                text.push_str(", ");
            }
            text.push('(');
            for c in 0..cols {
                if c > 0 {
                    text.push_str(", ");
                }
                text.push('$');
                text.push_str(&(first + r * cols + c).to_string());
            }
            text.push(')');
        }
        self
    }

    /// Appends `$n, $n+1, …` for `count` arguments numbered from `first` (an `IN` list).
    pub fn push_params(mut self, first: usize, count: usize) -> Self {
        let text = self.text.to_mut();
        for n in 0..count {
            if n > 0 {
                text.push_str(", ");
            }
            text.push('$');
            text.push_str(&(first + n).to_string());
        }
        self
    }
}

/// Rows per multi-row statement with `cols` parameters each: at most about 800 parameters,
/// well below both backends' limits (SQLite 32,766 parameters, PostgreSQL 65,535). Sent to
/// SQLite the placeholders are anonymous (see [`Sql::into_anonymous`]), so binding costs time
/// linear in the parameters.
pub fn rows_per_statement(cols: usize) -> usize {
    (800 / cols.max(1)).max(1)
}

/// Binds every argument of a [`Sql`] onto a sqlx query of the given backend. The JSON variant
/// differs: PostgreSQL columns are `jsonb`, SQLite columns are `TEXT`.
macro_rules! bind_all {
    ($q:expr, $args:expr, sqlite) => {{
        let mut q = $q;
        for arg in $args {
            q = match arg {
                Arg::Uuid(v) => q.bind(v),
                Arg::Text(v) => q.bind(v),
                Arg::I64(v) => q.bind(v),
                Arg::Bool(v) => q.bind(v),
                Arg::Time(v) => q.bind(v),
                Arg::Date(v) => q.bind(v),
                Arg::Bytes(v) => q.bind(v),
                Arg::Json(v) => q.bind(v.map(|v| v.to_string())),
                Arg::List(v) => q.bind(v.to_json_text()),
            };
        }
        q
    }};
    ($q:expr, $args:expr, postgres) => {{
        let mut q = $q;
        for arg in $args {
            q = match arg {
                Arg::Uuid(v) => q.bind(v),
                Arg::Text(v) => q.bind(v),
                Arg::I64(v) => q.bind(v),
                Arg::Bool(v) => q.bind(v),
                Arg::Time(v) => q.bind(v),
                Arg::Date(v) => q.bind(v),
                Arg::Bytes(v) => q.bind(v),
                Arg::Json(v) => q.bind(v.map(sqlx::types::Json)),
                Arg::List(List::Uuid(v)) => q.bind(v),
                Arg::List(List::Text(v)) => q.bind(v),
                Arg::List(List::I64(v)) => q.bind(v),
                Arg::List(List::Bool(v)) => q.bind(v),
                Arg::List(List::Time(v)) => q.bind(v),
                Arg::List(List::Date(v)) => q.bind(v),
                Arg::List(List::Json(v)) => q.bind(
                    v.into_iter()
                        .map(|v| v.map(sqlx::types::Json))
                        .collect::<Vec<_>>(),
                ),
            };
        }
        q
    }};
}

/// Connects once, so that start-up reports why PostgreSQL cannot be reached (refused,
/// authentication failed, no such database) rather than sqlx's pool timeout. A refusal, or
/// PostgreSQL saying it is starting up, is tried again until `within` has passed.
async fn first_connection(options: &PgConnectOptions, within: Duration) -> Result<()> {
    let deadline = tokio::time::Instant::now() + within;
    let mut pause = Duration::from_millis(50);
    loop {
        match tokio::time::timeout_at(deadline, options.connect()).await {
            Ok(Ok(conn)) => {
                let _ = conn.close().await;
                return Ok(());
            }
            Ok(Err(e)) => {
                let starting = match &e {
                    sqlx::Error::Io(e) => e.kind() == std::io::ErrorKind::ConnectionRefused,
                    sqlx::Error::Database(e) => e.is_transient_in_connect_phase(),
                    _ => false,
                };
                if !starting || tokio::time::Instant::now() + pause >= deadline {
                    return Err(e.into());
                }
            }
            Err(_) => {
                return Err(crate::Error::Database(sqlx::Error::Io(
                    std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        format!("no answer within {} s", within.as_secs_f32()),
                    ),
                )));
            }
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(1));
    }
}

/// The SQLite pool's size unless configured: one writer and seven readers, about what two to
/// eight cores keep busy.
pub const SQLITE_CONNECTIONS: u32 = 8;

/// Rows that decode from both backends.
pub trait Row: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin {}
impl<T> Row for T where T: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin
{}

impl Db {
    /// Opens the SQLite database in `dir` (created if missing) in WAL mode, with the default
    /// pool of [`SQLITE_CONNECTIONS`].
    pub async fn open_sqlite(dir: &Path) -> Result<Db> {
        Db::open_sqlite_with(dir, SQLITE_CONNECTIONS).await
    }

    /// [`Db::open_sqlite`] with a pool of at most `max_connections` (at least two: a writer
    /// holding one must leave one for the reads it waits on).
    pub async fn open_sqlite_with(dir: &Path, max_connections: u32) -> Result<Db> {
        std::fs::create_dir_all(dir).map_err(|e| {
            crate::Error::Other(format!(
                "cannot create data directory {}: {e}",
                dir.display()
            ))
        })?;
        let path = dir.join("satang.db");
        let options = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10))
            .pragma("cache_size", "-16000")
            // Reads of a mapped file skip a copy into SQLite's own page cache.
            .pragma("mmap_size", (2i64 << 30).to_string())
            // Checkpoints run in a task of their own (see `sqlite_checkpoint`).
            .pragma("wal_autocheckpoint", "0");
        // No ping before handing out a pooled connection (sqlx's default): a SQLite connection
        // cannot go stale, and the ping is a round trip to the connection's worker thread on
        // every query.
        let pool = SqlitePoolOptions::new()
            .max_connections(max_connections.max(2))
            .min_connections(1)
            .acquire_timeout(Duration::from_secs(30))
            .test_before_acquire(false)
            .connect_with(options)
            .await?;
        crate::sqlite_checkpoint::start(&pool);
        Ok(Db::Sqlite {
            pool,
            writer: Arc::new(Semaphore::new(1)),
        })
    }

    /// Opens the SQLite database Satang keeps in `dir` if there is one, creating and changing
    /// nothing otherwise: for commands such as `satang backup` that only make sense on existing
    /// data, where a mistyped directory must not become a new, empty database.
    pub async fn open_existing_sqlite(dir: &Path) -> Result<Db> {
        let path = dir.join("satang.db");
        if !path.is_file() {
            return Err(crate::Error::Other(format!(
                "no Satang database in {} ({} does not exist)",
                dir.display(),
                path.display()
            )));
        }
        let not_ours = || {
            crate::Error::Other(format!(
                "{} is not a Satang database (it has no migration history)",
                path.display()
            ))
        };
        // Looked at read-only first: another program's file is left as it is.
        let mut conn = SqliteConnectOptions::new()
            .filename(&path)
            .read_only(true)
            .connect()
            .await
            .map_err(|_| not_ours())?;
        let migrated: Option<String> = sqlx::query_scalar(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
        )
        .fetch_optional(&mut conn)
        .await
        .map_err(|_| not_ours())?;
        let _ = conn.close().await;
        if migrated.is_none() {
            return Err(not_ours());
        }
        Db::open_sqlite(dir).await
    }

    /// Connects to PostgreSQL. Unqualified table names resolve through the search path to the
    /// `auth`, `customers`, `billing` and `satang` schemas; `public` comes first so that sqlx's
    /// own migration table lands there and nowhere else.
    pub async fn open_postgres(url: &str, max_connections: u32) -> Result<Db> {
        Db::open_postgres_within(url, max_connections, Duration::from_secs(10)).await
    }

    /// [`Db::open_postgres`], waiting up to `connect_timeout` for the server to accept a
    /// connection (it may be starting up beside us), and as long in a request for a free
    /// connection from the pools.
    pub async fn open_postgres_within(
        url: &str,
        max_connections: u32,
        connect_timeout: Duration,
    ) -> Result<Db> {
        let options = PgConnectOptions::from_str(url)?
            .options([("search_path", "public,auth,customers,billing,satang")])
            .application_name("satang");
        first_connection(&options, connect_timeout).await?;
        // No ping before handing out a pooled connection: it is a network round trip per query.
        // The price: a connection that died meanwhile (a database restart) fails one query
        // instead of being replaced first.
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(connect_timeout)
            .test_before_acquire(false)
            .connect_with(options)
            .await?;
        Ok(Db::Postgres { pool })
    }

    /// Closes the pool: waits for the connections in use to come back, then closes them all.
    pub async fn close(&self) {
        match self {
            Db::Sqlite { pool, .. } => pool.close().await,
            Db::Postgres { pool } => pool.close().await,
        }
    }

    pub fn backend(&self) -> Backend {
        match self {
            Db::Sqlite { .. } => Backend::Sqlite,
            Db::Postgres { .. } => Backend::Postgres,
        }
    }

    /// How many write transactions can be open at once: SQLite's one writer, or the size of
    /// the PostgreSQL pool.
    pub fn write_connections(&self) -> u32 {
        match self {
            Db::Sqlite { .. } => 1,
            Db::Postgres { pool } => pool.options().get_max_connections(),
        }
    }

    /// Runs the migrations of this backend that have not run yet.
    pub async fn migrate(&self) -> Result<()> {
        match self {
            Db::Sqlite { pool, writer } => {
                let _permit = writer.acquire().await;
                sqlx::migrate!("./migrations/sqlite").run(pool).await?
            }
            Db::Postgres { pool } => sqlx::migrate!("./migrations/postgres").run(pool).await?,
        }
        Ok(())
    }

    /// True when every migration this binary knows has been applied.
    pub async fn migrations_done(&self) -> Result<bool> {
        let (migrator, applied): (sqlx::migrate::Migrator, i64) = match self {
            Db::Sqlite { pool, .. } => (
                sqlx::migrate!("./migrations/sqlite"),
                sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations WHERE success")
                    .fetch_one(pool)
                    .await?,
            ),
            Db::Postgres { pool } => (
                sqlx::migrate!("./migrations/postgres"),
                sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations WHERE success")
                    .fetch_one(pool)
                    .await?,
            ),
        };
        Ok(applied as usize >= migrator.iter().count())
    }

    /// Cheap round trip used by `/readyz`.
    pub async fn ping(&self) -> Result<()> {
        match self {
            Db::Sqlite { pool, .. } => {
                sqlx::query("SELECT 1").execute(pool).await?;
            }
            Db::Postgres { pool } => {
                sqlx::query("SELECT 1").execute(pool).await?;
            }
        }
        Ok(())
    }

    /// Starts a write transaction.
    pub async fn begin(&self) -> Result<Tx> {
        deferred_commit::settle().await?;
        Ok(match self {
            Db::Sqlite { pool, writer } => {
                let permit = write_permit(writer).await?;
                Tx::Sqlite(pool.begin_with("BEGIN IMMEDIATE").await?, permit)
            }
            Db::Postgres { pool } => Tx::Postgres(pool.begin().await?),
        })
    }

    pub async fn fetch_optional<T: Row>(&self, sql: Sql) -> Result<Option<T>> {
        deferred_commit::settle().await?;
        match self {
            Db::Sqlite { pool, .. } => sqlite::fetch_optional(pool, sql).await,
            Db::Postgres { pool } => postgres::fetch_optional(pool, sql).await,
        }
    }

    pub async fn fetch_one<T: Row>(&self, sql: Sql) -> Result<T> {
        self.fetch_optional(sql)
            .await?
            .ok_or(crate::Error::NotFound)
    }

    pub async fn fetch_all<T: Row>(&self, sql: Sql) -> Result<Vec<T>> {
        deferred_commit::settle().await?;
        match self {
            Db::Sqlite { pool, .. } => sqlite::fetch_all(pool, sql).await,
            Db::Postgres { pool } => postgres::fetch_all(pool, sql).await,
        }
    }

    /// Runs one writing statement in its own implicit transaction; returns rows affected.
    ///
    /// Within a request with an `Idempotency-Key`, in a transaction of its own whose commit waits
    /// for the response (see [`crate::deferred_commit`]).
    pub async fn execute(&self, sql: Sql) -> Result<u64> {
        if deferred_commit::active() {
            let mut tx = self.begin().await?;
            let affected = tx.execute(sql).await?;
            deferred_commit::park(tx).await?;
            return Ok(affected);
        }
        match self {
            Db::Sqlite { pool, writer } => {
                let _permit = write_permit(writer).await?;
                sqlite::execute(pool, sql).await
            }
            Db::Postgres { pool } => postgres::execute(pool, sql).await,
        }
    }
}

/// SQLite's write permit. As long a wait as for a pool connection: past it the database is
/// unavailable (a writer stuck), which the API answers with 503.
async fn write_permit(writer: &Arc<Semaphore>) -> Result<OwnedSemaphorePermit> {
    match tokio::time::timeout(Duration::from_secs(30), writer.clone().acquire_owned()).await {
        Ok(Ok(permit)) => Ok(permit),
        Ok(Err(_)) => Err(crate::Error::Database(sqlx::Error::PoolClosed)),
        Err(_) => Err(crate::Error::Database(sqlx::Error::PoolTimedOut)),
    }
}

impl Tx {
    pub fn backend(&self) -> Backend {
        match self {
            Tx::Sqlite(..) => Backend::Sqlite,
            Tx::Postgres(_) => Backend::Postgres,
        }
    }

    /// Commits; within a request with an `Idempotency-Key`, once its response is recorded in
    /// this transaction (see [`crate::deferred_commit`]).
    pub async fn commit(self) -> Result<()> {
        if deferred_commit::active() {
            return deferred_commit::park(self).await;
        }
        self.commit_now().await
    }

    pub(crate) async fn commit_now(self) -> Result<()> {
        match self {
            Tx::Sqlite(tx, _permit) => tx.commit().await?,
            Tx::Postgres(tx) => tx.commit().await?,
        }
        Ok(())
    }

    /// Rolls back now. A transaction that is only dropped sends its `ROLLBACK` once its
    /// connection is used again or, in the background, given back to the pool: until then its row
    /// locks stay, so a caller that goes on at once (the billing run retrying a failed chunk's
    /// subscriptions one by one, whose claims skip locked rows) rolls back first.
    pub async fn rollback(self) -> Result<()> {
        match self {
            Tx::Sqlite(tx, _permit) => tx.rollback().await?,
            Tx::Postgres(tx) => tx.rollback().await?,
        }
        Ok(())
    }

    pub async fn fetch_optional<T: Row>(&mut self, sql: Sql) -> Result<Option<T>> {
        match self {
            Tx::Sqlite(tx, _) => sqlite::fetch_optional(&mut **tx, sql).await,
            Tx::Postgres(tx) => postgres::fetch_optional(&mut **tx, sql).await,
        }
    }

    pub async fn fetch_one<T: Row>(&mut self, sql: Sql) -> Result<T> {
        self.fetch_optional(sql)
            .await?
            .ok_or(crate::Error::NotFound)
    }

    pub async fn fetch_all<T: Row>(&mut self, sql: Sql) -> Result<Vec<T>> {
        match self {
            Tx::Sqlite(tx, _) => sqlite::fetch_all(&mut **tx, sql).await,
            Tx::Postgres(tx) => postgres::fetch_all(&mut **tx, sql).await,
        }
    }

    pub async fn execute(&mut self, sql: Sql) -> Result<u64> {
        match self {
            Tx::Sqlite(tx, _) => sqlite::execute(&mut **tx, sql).await,
            Tx::Postgres(tx) => postgres::execute(&mut **tx, sql).await,
        }
    }
}

/// One module per backend, generated from the same text: run a [`Sql`] on any sqlx executor of
/// that backend (a pool or a transaction's connection).
macro_rules! backend_ops {
    ($module:ident, $db:ty, $kind:ident, $prepare:expr) => {
        mod $module {
            use super::*;

            /// The statement as this backend is sent it.
            fn prepare(sql: Sql) -> Sql {
                ($prepare)(sql)
            }

            pub(super) async fn fetch_optional<'e, T: Row>(
                executor: impl sqlx::Executor<'e, Database = $db>,
                sql: Sql,
            ) -> Result<Option<T>> {
                let sql = prepare(sql);
                let query = sqlx::query_as::<$db, T>(&sql.text).persistent(sql.persistent);
                Ok(bind_all!(query, sql.args, $kind)
                    .fetch_optional(executor)
                    .await?)
            }

            pub(super) async fn fetch_all<'e, T: Row>(
                executor: impl sqlx::Executor<'e, Database = $db>,
                sql: Sql,
            ) -> Result<Vec<T>> {
                let sql = prepare(sql);
                let query = sqlx::query_as::<$db, T>(&sql.text).persistent(sql.persistent);
                Ok(bind_all!(query, sql.args, $kind)
                    .fetch_all(executor)
                    .await?)
            }

            pub(super) async fn execute<'e>(
                executor: impl sqlx::Executor<'e, Database = $db>,
                sql: Sql,
            ) -> Result<u64> {
                let sql = prepare(sql);
                let query = sqlx::query::<$db>(&sql.text).persistent(sql.persistent);
                Ok(bind_all!(query, sql.args, $kind)
                    .execute(executor)
                    .await?
                    .rows_affected())
            }
        }
    };
}

backend_ops!(sqlite, Sqlite, sqlite, Sql::into_anonymous);
backend_ops!(postgres, Postgres, postgres, std::convert::identity::<Sql>);

impl Db {
    /// Writes a consistent copy of the SQLite database to `target` (which must not exist) while
    /// the server keeps running: `VACUUM INTO` reads one snapshot. VACUUM may renumber rowids,
    /// so the copy's customer search index (FTS5, keyed by rowid) is rebuilt afterwards.
    /// PostgreSQL has its own tools; this returns [`crate::Error::Other`] there.
    pub async fn backup_sqlite(&self, target: &Path) -> Result<()> {
        let Db::Sqlite { pool, .. } = self else {
            return Err(crate::Error::Other(
                "backups of PostgreSQL are made with pg_dump".into(),
            ));
        };
        if target.exists() {
            return Err(crate::Error::Other(format!(
                "{} exists already; choose a new file",
                target.display()
            )));
        }
        let path = target.to_string_lossy().into_owned();
        sqlx::query("VACUUM INTO $1")
            .bind(&path)
            .execute(pool)
            .await?;
        let copy = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(SqliteConnectOptions::new().filename(target))
            .await?;
        sqlx::query("INSERT INTO customers_fts (customers_fts) VALUES ('rebuild')")
            .execute(&copy)
            .await?;
        copy.close().await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `.cargo/config.toml` builds the bundled SQLite with `SQLITE_DEFAULT_MEMSTATUS=0`; this
    /// fails if a build lost it (for example when built outside the workspace's config).
    #[tokio::test]
    async fn sqlite_is_built_without_memory_statistics() {
        let dir = std::env::temp_dir().join(format!("satang-memstatus-{}", Uuid::now_v7()));
        let db = Db::open_sqlite(&dir).await.unwrap();
        #[derive(sqlx::FromRow)]
        struct Used {
            used: i64,
        }
        let row: Used = db
            .fetch_one(Sql::new(
                "SELECT sqlite_compileoption_used('DEFAULT_MEMSTATUS=0') AS used",
            ))
            .await
            .unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(row.used, 1);
    }
}
