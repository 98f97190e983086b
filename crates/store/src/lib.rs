//! Satang's storage layer: the one place that knows SQL.
//!
//! Every query is written once, with `$1`-style placeholders that both SQLite and PostgreSQL
//! understand, and runs through [`Db`] (a pool) or [`Tx`] (a transaction) on either backend.
//! On PostgreSQL the tables live in the schemas `auth`, `customers`, `billing` and `satang`,
//! reached through the connection's `search_path`; on SQLite they live in one WAL file, so a
//! change and its audit event always commit together.

pub mod analytics;
pub mod api_keys;
pub mod audit;
pub mod audited;
pub mod bank_statements;
pub mod clock;
pub mod contacts;
pub mod coupons;
pub mod credit_grants;
pub mod credit_notes;
pub mod customers;
mod db;
pub mod deferred_commit;
pub mod emails;
pub mod entitlement_signals;
pub mod entitlements;
pub mod etax_certificates;
pub mod exports;
pub mod idempotency;
pub mod imports;
pub mod invitations;
pub mod invoices;
pub mod issue;
pub mod kv;
pub mod memberships;
pub mod outbox;
pub mod payment_methods;
pub mod payments;
pub mod plans;
pub mod providers;
pub mod refresh_tokens;
pub mod restore;
pub mod scope;
mod sqlite_checkpoint;
mod sqlite_placeholders;
pub mod subscription_notices;
pub mod subscriptions;
pub mod tax_documents;
pub mod usage;
pub mod usage_alerts;
pub mod usage_billed;
pub mod users;

pub use db::{Arg, Backend, Db, SQLITE_CONNECTIONS, Sql, Tx, rows_per_statement};
pub use scope::Scope;
/// JSON columns (`sqlx::types::Json`), for code that builds a row's struct itself.
pub use sqlx::types::Json;

/// Errors of the storage layer. Handlers turn [`Error::NotFound`] and [`Error::Conflict`] into
/// 404 and 409, and an [unavailable](Error::is_unavailable) database into 503; everything else is
/// an internal error that is logged, never shown.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("not found")]
    NotFound,
    #[error("conflict: {0}")]
    Conflict(&'static str),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration error: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("{0}")]
    Other(String),
}

impl Error {
    /// True when the database refused a row because of a unique constraint.
    pub fn is_unique_violation(&self) -> bool {
        matches!(self, Error::Database(sqlx::Error::Database(e)) if e.is_unique_violation())
    }

    /// True when the database could not be reached or is not taking work: connection refused
    /// or cut, no free connection in time, PostgreSQL shutting down, starting up or out of
    /// connections, the database gone. Nothing is wrong with the request, and it may succeed
    /// later.
    pub fn is_unavailable(&self) -> bool {
        let Error::Database(e) = self else {
            return false;
        };
        match e {
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed => true,
            sqlx::Error::Database(e) => e
                .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
                .is_some_and(|e| {
                    let code = e.code();
                    // 08: connection exception; 57P0x: shutting down, crashed, starting up;
                    // 53300: too many connections; 3D000: no such database.
                    code.starts_with("08")
                        || code.starts_with("57P0")
                        || code == "53300"
                        || code == "3D000"
                }),
            _ => false,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
