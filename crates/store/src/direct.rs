//! PostgreSQL connections for single statements outside a transaction, pooled by `deadpool`
//! instead of sqlx's pool.
//!
//! sqlx's pool (0.8) tests every connection it takes back with a `ping`: a `Sync` message and
//! its `ReadyForQuery`, a second network round trip after every statement, for which
//! PostgreSQL wakes up as well. `strace` of the server under a get-by-id load showed two
//! `sendto` to the database per request. A statement run here costs one round trip.
//!
//! What the ping guarded against is handled here instead: a connection whose statement did not
//! finish (the request's future was dropped mid-statement) or failed on anything but an error
//! answered by the database (a broken socket, a protocol error) is closed, not pooled again.
//! After an error answered by the database, sqlx itself reads up to `ReadyForQuery` before the
//! connection's next statement.
//!
//! Transactions stay on sqlx's pool ([`crate::Db::begin`]): they are several round trips anyway.

use std::time::Duration;

use deadpool::managed::{self, Metrics, Object, PoolError, RecycleResult};
use sqlx::ConnectOptions;
use sqlx::postgres::{PgConnectOptions, PgConnection};

/// Opens connections with the options of the main pool (search path, application name).
pub(crate) struct Manager(PgConnectOptions);

impl managed::Manager for Manager {
    type Type = PgConnection;
    type Error = sqlx::Error;

    async fn create(&self) -> Result<PgConnection, sqlx::Error> {
        self.0.connect().await
    }

    async fn recycle(&self, _: &mut PgConnection, _: &Metrics) -> RecycleResult<sqlx::Error> {
        // No round trip: a connection comes back only after a finished statement (see
        // `Lease`), and one that died meanwhile fails its next statement and is dropped.
        Ok(())
    }
}

/// The pool: as many connections as the main pool, opened on first use.
#[derive(Clone)]
pub struct DirectPool(managed::Pool<Manager>);

impl std::fmt::Debug for DirectPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("DirectPool").field(&self.0.status()).finish()
    }
}

impl DirectPool {
    /// `timeout`: the longest wait for a free connection, and for a new one to open.
    pub(crate) fn new(
        options: PgConnectOptions,
        size: u32,
        timeout: Duration,
    ) -> crate::Result<DirectPool> {
        managed::Pool::builder(Manager(options))
            .max_size(size.max(1) as usize)
            .runtime(deadpool::Runtime::Tokio1)
            .wait_timeout(Some(timeout))
            .create_timeout(Some(timeout))
            .build()
            .map(DirectPool)
            .map_err(|e| crate::Error::Other(format!("PostgreSQL connection pool: {e}")))
    }

    /// A connection for one statement; call [`Lease::done`] with its result.
    pub(crate) async fn lease(&self) -> crate::Result<Lease> {
        match self.0.get().await {
            Ok(conn) => Ok(Lease { conn: Some(conn) }),
            Err(PoolError::Backend(e)) => Err(e.into()),
            Err(e) => Err(crate::Error::Database(sqlx::Error::PoolTimedOut)).inspect_err(|_| {
                tracing::warn!(error = %e, "no PostgreSQL connection");
            }),
        }
    }

    /// Closes the idle connections and refuses new leases.
    pub fn close(&self) {
        self.0.close();
    }
}

/// A pooled connection in use. Dropped before [`Lease::done`] — its statement interrupted —
/// the connection is closed instead of going back to the pool.
pub(crate) struct Lease {
    conn: Option<Object<Manager>>,
}

impl Lease {
    pub(crate) fn conn(&mut self) -> &mut PgConnection {
        self.conn
            .as_mut()
            .expect("a lease holds its connection until dropped")
    }

    /// Hands the connection back to the pool if `result` leaves it usable, and passes the
    /// result on.
    pub(crate) fn done<T>(mut self, result: crate::Result<T>) -> crate::Result<T> {
        let usable = match &result {
            Ok(_) => true,
            Err(crate::Error::Database(e)) => matches!(e, sqlx::Error::Database(_)),
            Err(_) => true,
        };
        if usable {
            // Back to the pool when the object drops.
            drop(self.conn.take());
        }
        result
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            // Taken out of the pool; the socket closes as it drops.
            drop(Object::take(conn));
        }
    }
}
