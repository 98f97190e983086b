//! API keys of the seller's software, kept only as SHA-256 hashes of their secrets (SPEC §2.12).
//! A revoked key keeps its row so that the audit entries it made still name it.

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use uuid::Uuid;

use crate::{Db, Result, Sql, Tx};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ApiKey {
    pub id: Uuid,
    pub name: String,
    /// The first characters of the secret (`sk_` and eight more), to tell keys apart.
    pub prefix: String,
    pub scopes: Json<Vec<String>>,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str = "id, name, prefix, scopes, created_by, created_at, last_used_at, revoked_at";

pub struct NewApiKey<'a> {
    pub name: &'a str,
    pub prefix: &'a str,
    pub secret_hash: Vec<u8>,
    pub scopes: &'a [String],
    pub created_by: Option<Uuid>,
}

pub async fn insert(tx: &mut Tx, new: NewApiKey<'_>, now: DateTime<Utc>) -> Result<ApiKey> {
    tx.fetch_one(
        Sql::new(format!(
            "INSERT INTO api_keys (id, name, prefix, secret_hash, scopes, created_by, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {COLUMNS}"
        ))
        .bind(Uuid::now_v7())
        .bind(new.name)
        .bind(new.prefix)
        .bind(new.secret_hash)
        .bind(serde_json::json!(new.scopes))
        .bind(new.created_by)
        .bind(now),
    )
    .await
}

/// The live (not revoked) key whose secret hashes to `secret_hash`.
pub async fn find_live_by_hash(db: &Db, secret_hash: Vec<u8>) -> Result<Option<ApiKey>> {
    db.fetch_optional(
        Sql::new(format!(
            "SELECT {COLUMNS} FROM api_keys WHERE secret_hash = $1 AND revoked_at IS NULL"
        ))
        .bind(secret_hash),
    )
    .await
}

/// Live keys in creation order (ids are UUIDv7), after the cursor.
pub async fn list_live(db: &Db, after: Option<Uuid>, limit: i64) -> Result<Vec<ApiKey>> {
    db.fetch_all(
        Sql::new(format!(
            "SELECT {COLUMNS} FROM api_keys WHERE revoked_at IS NULL \
             AND ($1 IS NULL OR id > $1) ORDER BY id LIMIT $2"
        ))
        .bind(after)
        .bind(limit),
    )
    .await
}

/// Revokes a live key; `None` when there is no such live key.
pub async fn revoke(tx: &mut Tx, id: Uuid, now: DateTime<Utc>) -> Result<Option<ApiKey>> {
    tx.fetch_optional(
        Sql::new(format!(
            "UPDATE api_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL \
             RETURNING {COLUMNS}"
        ))
        .bind(id)
        .bind(now),
    )
    .await
}

/// Records that the key was used at `now` (callers throttle how often).
pub async fn touch(db: &Db, id: Uuid, now: DateTime<Utc>) -> Result<()> {
    db.execute(
        Sql::new(
            "UPDATE api_keys SET last_used_at = $2 WHERE id = $1 \
             AND (last_used_at IS NULL OR last_used_at < $2)",
        )
        .bind(id)
        .bind(now),
    )
    .await?;
    Ok(())
}
