//! A small key/value table for process-wide state that must survive a restart (the test
//! clock's offset).

use crate::{Db, Result, Sql};

#[derive(sqlx::FromRow)]
struct Value {
    value: String,
}

pub async fn get(db: &Db, key: &str) -> Result<Option<String>> {
    let row: Option<Value> = db
        .fetch_optional(Sql::new("SELECT value FROM kv WHERE key = $1").bind(key))
        .await?;
    Ok(row.map(|r| r.value))
}

pub async fn set(db: &Db, key: &str, value: &str) -> Result<()> {
    db.execute(
        Sql::new(
            "INSERT INTO kv (key, value) VALUES ($1, $2) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(key)
        .bind(value),
    )
    .await?;
    Ok(())
}

/// [`get`] inside a transaction (read-modify-write of a document).
pub async fn get_in(tx: &mut crate::Tx, key: &str) -> Result<Option<String>> {
    let row: Option<Value> = tx
        .fetch_optional(Sql::new("SELECT value FROM kv WHERE key = $1").bind(key))
        .await?;
    Ok(row.map(|r| r.value))
}

/// [`set`] inside a transaction, so the change commits with its audit event.
pub async fn set_in(tx: &mut crate::Tx, key: &str, value: &str) -> Result<()> {
    tx.execute(
        Sql::new(
            "INSERT INTO kv (key, value) VALUES ($1, $2) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(key)
        .bind(value),
    )
    .await?;
    Ok(())
}

/// Inserts `key` only if it is absent; `false` when another transaction holds it. A concurrent
/// claimer waits on the primary key and then finds it taken, so exactly one of them wins (the
/// first administrator created on the console's first-run page).
pub async fn claim_in(tx: &mut crate::Tx, key: &str, value: &str) -> Result<bool> {
    let inserted = tx
        .execute(
            Sql::new("INSERT INTO kv (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING")
                .bind(key)
                .bind(value),
        )
        .await?;
    Ok(inserted == 1)
}
