//! Stored responses for `Idempotency-Key`. A key is claimed before the handler runs (so a
//! concurrent repeat waits for the first instead of running twice) and completed with the
//! response afterwards, in the transaction of the request's effect ([`complete_in`], see
//! [`crate::deferred_commit`]). The response bytes are stored as given; the caller encrypts
//! them.

use chrono::{DateTime, Utc};

use crate::{Db, Result, Sql, Tx};

#[derive(Debug, sqlx::FromRow)]
struct Stored {
    request_hash: Vec<u8>,
    status_code: Option<i64>,
    response: Option<Vec<u8>>,
    created_at: DateTime<Utc>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Claim {
    /// First time this key is seen (or its earlier claim went stale): run the request, then
    /// [`complete_in`], [`complete`] or [`release`]. The claim is the caller's as long as its
    /// `created_at` is the `now` given to [`claim`].
    Claimed,
    /// Same key, same request, finished before: answer with this.
    Replay { status: u16, response: Vec<u8> },
    /// Same key, another request body or path.
    Mismatch,
    /// Same key, same request, still running.
    InFlight,
}

/// A claim older than this whose request never completed (the process died) may be retaken.
/// Its request's effect, if any, commits only together with its response, so a claim without
/// a response had no effect.
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

/// Stores the response of the request that claimed the key at `claimed_at`, in `tx`: the
/// transaction of the request's effect, so that the effect and its response commit together.
/// False when the claim is no longer the caller's (it went stale and a retry took it over):
/// then `tx` must be rolled back.
pub async fn complete_in(
    tx: &mut Tx,
    scope: &str,
    key: &str,
    claimed_at: DateTime<Utc>,
    status: u16,
    response: Vec<u8>,
) -> Result<bool> {
    let stored = tx
        .execute(completion(scope, key, claimed_at, status, response))
        .await?;
    Ok(stored == 1)
}

/// [`complete_in`] for a request that wrote nothing (or whose writes are committed already).
pub async fn complete(
    db: &Db,
    scope: &str,
    key: &str,
    claimed_at: DateTime<Utc>,
    status: u16,
    response: Vec<u8>,
) -> Result<bool> {
    let stored = db
        .execute(completion(scope, key, claimed_at, status, response))
        .await?;
    Ok(stored == 1)
}

fn completion(
    scope: &str,
    key: &str,
    claimed_at: DateTime<Utc>,
    status: u16,
    response: Vec<u8>,
) -> Sql {
    Sql::new(
        "UPDATE idempotency_keys SET status_code = $3, response = $4 \
         WHERE scope = $1 AND key = $2 AND status_code IS NULL AND created_at = $5",
    )
    .bind(scope)
    .bind(key)
    .bind(i64::from(status))
    .bind(response)
    .bind(claimed_at)
}

/// Forgets a claim whose request failed on our side, so the client may retry.
pub async fn release(db: &Db, scope: &str, key: &str) -> Result<()> {
    db.execute(release_statement(scope, key)).await?;
    Ok(())
}

/// [`release`] in the transaction of the failed request's writes.
pub async fn release_in(tx: &mut Tx, scope: &str, key: &str) -> Result<()> {
    tx.execute(release_statement(scope, key)).await?;
    Ok(())
}

fn release_statement(scope: &str, key: &str) -> Sql {
    Sql::new("DELETE FROM idempotency_keys WHERE scope = $1 AND key = $2 AND status_code IS NULL")
        .bind(scope)
        .bind(key)
}

/// Drops stored responses older than `before` (kept 24 hours by default).
pub async fn purge(db: &Db, before: DateTime<Utc>) -> Result<u64> {
    db.execute(Sql::new("DELETE FROM idempotency_keys WHERE created_at < $1").bind(before))
        .await
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;

    use super::*;

    #[tokio::test]
    async fn only_the_current_claim_stores_its_response() {
        let dir = std::env::temp_dir().join(format!("satang-idem-{}", uuid::Uuid::now_v7()));
        let db = Db::open_sqlite(&dir).await.unwrap();
        db.migrate().await.unwrap();
        let hash = vec![1, 2, 3];
        let first = Utc::now();
        let claimed = claim(&db, "user:a", "k", hash.clone(), first).await;
        assert_eq!(claimed.unwrap(), Claim::Claimed);
        let soon = first + TimeDelta::seconds(STALE_CLAIM_SECONDS);
        let claimed = claim(&db, "user:a", "k", hash.clone(), soon).await;
        assert_eq!(claimed.unwrap(), Claim::InFlight);

        // The first request outlived its claim; a retry took it over.
        let retry = first + TimeDelta::seconds(STALE_CLAIM_SECONDS + 1);
        let claimed = claim(&db, "user:a", "k", hash.clone(), retry).await;
        assert_eq!(claimed.unwrap(), Claim::Claimed);
        let mut tx = db.begin().await.unwrap();
        let stored = complete_in(&mut tx, "user:a", "k", first, 201, b"first".to_vec()).await;
        assert!(!stored.unwrap(), "the first request's claim is gone");
        drop(tx);
        let mut tx = db.begin().await.unwrap();
        let stored = complete_in(&mut tx, "user:a", "k", retry, 201, b"retry".to_vec()).await;
        assert!(stored.unwrap());
        tx.commit().await.unwrap();

        let later = retry + TimeDelta::hours(1);
        let claimed = claim(&db, "user:a", "k", hash, later).await;
        assert_eq!(
            claimed.unwrap(),
            Claim::Replay {
                status: 201,
                response: b"retry".to_vec()
            }
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
