//! Stored responses for `Idempotency-Key`. A key is claimed before the handler runs (so a
//! concurrent repeat waits for the first instead of running twice) and completed with the
//! response afterwards. The response bytes are stored as given; the caller encrypts them.

use chrono::{DateTime, Utc};

use crate::{Db, Result, Sql};

#[derive(Debug, sqlx::FromRow)]
struct Stored {
    request_hash: Vec<u8>,
    status_code: Option<i64>,
    response: Option<Vec<u8>>,
    created_at: DateTime<Utc>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Claim {
    /// First time this key is seen: run the request, then [`complete`] or [`release`].
    Claimed,
    /// Same key, same request, finished before: answer with this.
    Replay { status: u16, response: Vec<u8> },
    /// Same key, another request body or path.
    Mismatch,
    /// Same key, same request, still running.
    InFlight,
}

/// A claim older than this whose request never completed (the process died) may be retaken.
const STALE_CLAIM_SECONDS: i64 = 60;

pub async fn claim(
    db: &Db,
    scope: &str,
    key: &str,
    request_hash: Vec<u8>,
    now: DateTime<Utc>,
) -> Result<Claim> {
    let inserted = db
        .execute(
            Sql::new(
                "INSERT INTO idempotency_keys (scope, key, request_hash, created_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (scope, key) DO NOTHING",
            )
            .bind(scope)
            .bind(key)
            .bind(request_hash.clone())
            .bind(now),
        )
        .await?;
    if inserted == 1 {
        return Ok(Claim::Claimed);
    }
    let stored: Option<Stored> = db
        .fetch_optional(
            Sql::new(
                "SELECT request_hash, status_code, response, created_at FROM idempotency_keys \
                 WHERE scope = $1 AND key = $2",
            )
            .bind(scope)
            .bind(key),
        )
        .await?;
    let Some(stored) = stored else {
        // Released between our insert and select: try once more.
        return Box::pin(claim(db, scope, key, request_hash, now)).await;
    };
    if stored.request_hash != request_hash {
        return Ok(Claim::Mismatch);
    }
    match (stored.status_code, stored.response) {
        (Some(status), Some(response)) => Ok(Claim::Replay {
            status: u16::try_from(status).unwrap_or(500),
            response,
        }),
        _ if (now - stored.created_at).num_seconds() > STALE_CLAIM_SECONDS => {
            let retaken = db
                .execute(
                    Sql::new(
                        "UPDATE idempotency_keys SET created_at = $3 WHERE scope = $1 AND key = $2 \
                         AND status_code IS NULL AND created_at = $4",
                    )
                    .bind(scope)
                    .bind(key)
                    .bind(now)
                    .bind(stored.created_at),
                )
                .await?;
            Ok(if retaken == 1 {
                Claim::Claimed
            } else {
                Claim::InFlight
            })
        }
        _ => Ok(Claim::InFlight),
    }
}

pub async fn complete(
    db: &Db,
    scope: &str,
    key: &str,
    status: u16,
    response: Vec<u8>,
) -> Result<()> {
    db.execute(
        Sql::new(
            "UPDATE idempotency_keys SET status_code = $3, response = $4 \
             WHERE scope = $1 AND key = $2",
        )
        .bind(scope)
        .bind(key)
        .bind(i64::from(status))
        .bind(response),
    )
    .await?;
    Ok(())
}

/// Forgets a claim whose request failed on our side, so the client may retry.
pub async fn release(db: &Db, scope: &str, key: &str) -> Result<()> {
    db.execute(
        Sql::new(
            "DELETE FROM idempotency_keys WHERE scope = $1 AND key = $2 AND status_code IS NULL",
        )
        .bind(scope)
        .bind(key),
    )
    .await?;
    Ok(())
}

/// Drops stored responses older than `before` (kept 24 hours by default).
pub async fn purge(db: &Db, before: DateTime<Utc>) -> Result<u64> {
    db.execute(Sql::new("DELETE FROM idempotency_keys WHERE created_at < $1").bind(before))
        .await
}
