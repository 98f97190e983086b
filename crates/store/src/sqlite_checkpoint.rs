//! SQLite's WAL checkpoints, moved off the requests.
//!
//! By default the connection whose commit takes the WAL past 1,000 pages copies the WAL into
//! the database file and syncs both before its statement returns: one write in a hundred or so
//! then waited for two `fsync`s (the 99th percentile of a one-connection `POST /api/customers`
//! was twenty times its median). Here automatic checkpoints are off on every connection
//! (`wal_autocheckpoint = 0`, set by `Db::open_sqlite_with`) and a task of the pool runs a
//! passive checkpoint every [`EVERY`]: it copies what no reader still needs, never waits for a
//! writer and never makes one wait.

use std::time::Duration;

use sqlx::SqlitePool;

/// How often the WAL is copied into the database file: often enough that each checkpoint has
/// little to copy and sync, seldom enough that busy writers do not keep meeting one.
pub(crate) const EVERY: Duration = Duration::from_millis(250);

/// Starts the checkpointing task of `pool`; it ends when the pool is closed.
pub(crate) fn start(pool: &SqlitePool) {
    let pool = pool.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            if pool.is_closed() {
                return;
            }
            if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                .execute(&pool)
                .await
            {
                if pool.is_closed() {
                    return;
                }
                tracing::warn!(error = %e, "SQLite checkpoint failed");
            }
        }
    });
}
