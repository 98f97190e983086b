//! Refresh tokens, kept only as hashes. One family per login; rotation spends a token and
//! issues its successor in the same family.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::{Db, Result, Sql, Tx};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RefreshToken {
    pub id: Uuid,
    pub user_id: Uuid,
    pub family_id: Uuid,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

pub async fn insert(
    tx: &mut Tx,
    user_id: Uuid,
    family_id: Uuid,
    token_hash: Vec<u8>,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<()> {
    tx.execute(
        Sql::new(
            "INSERT INTO refresh_tokens (id, user_id, family_id, token_hash, issued_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(Uuid::now_v7())
        .bind(user_id)
        .bind(family_id)
        .bind(token_hash)
        .bind(now)
        .bind(expires_at),
    )
    .await?;
    Ok(())
}

/// What presenting a refresh token found.
#[derive(Debug)]
pub enum Spend {
    /// The token was live and is now spent; issue its successor in this family.
    Spent(RefreshToken),
    /// The token had already been spent: someone is replaying it. The family is now revoked.
    Reused(RefreshToken),
    /// Unknown, expired or revoked.
    Invalid,
}

/// Spends a refresh token atomically: of two concurrent presentations only one succeeds.
pub async fn spend(tx: &mut Tx, token_hash: Vec<u8>, now: DateTime<Utc>) -> Result<Spend> {
    let spent: Option<RefreshToken> = tx
        .fetch_optional(
            Sql::new(
                "UPDATE refresh_tokens SET used_at = $2 WHERE token_hash = $1 \
                 AND used_at IS NULL AND revoked_at IS NULL AND expires_at > $2 \
                 RETURNING id, user_id, family_id, issued_at, expires_at, used_at, revoked_at",
            )
            .bind(token_hash.clone())
            .bind(now),
        )
        .await?;
    if let Some(token) = spent {
        return Ok(Spend::Spent(token));
    }
    let known: Option<RefreshToken> = tx
        .fetch_optional(
            Sql::new(
                "SELECT id, user_id, family_id, issued_at, expires_at, used_at, revoked_at \
                 FROM refresh_tokens WHERE token_hash = $1",
            )
            .bind(token_hash),
        )
        .await?;
    match known {
        Some(token) if token.used_at.is_some() => {
            revoke_family(tx, token.family_id, now).await?;
            Ok(Spend::Reused(token))
        }
        _ => Ok(Spend::Invalid),
    }
}

/// Revokes every live token of a family (logout, reuse detection). Returns the user it belongs
/// to when the presented token is known.
pub async fn revoke_family(tx: &mut Tx, family_id: Uuid, now: DateTime<Utc>) -> Result<u64> {
    tx.execute(
        Sql::new(
            "UPDATE refresh_tokens SET revoked_at = $2 WHERE family_id = $1 AND revoked_at IS NULL",
        )
        .bind(family_id)
        .bind(now),
    )
    .await
}

/// Finds the family of a token by its hash, whatever its state.
pub async fn family_of(tx: &mut Tx, token_hash: Vec<u8>) -> Result<Option<RefreshToken>> {
    tx.fetch_optional(
        Sql::new(
            "SELECT id, user_id, family_id, issued_at, expires_at, used_at, revoked_at \
             FROM refresh_tokens WHERE token_hash = $1",
        )
        .bind(token_hash),
    )
    .await
}

/// Whether a login may still be used: some token of its family is not revoked. Logout, reuse
/// detection and disabling the user revoke every token of a family, so this is also what ends
/// the login's access tokens. A family with no tokens at all is not live.
pub async fn family_is_live(db: &Db, family_id: Uuid) -> Result<bool> {
    #[derive(sqlx::FromRow)]
    struct Live {
        #[allow(dead_code)]
        id: Uuid,
    }
    let live: Option<Live> = db
        .fetch_optional(
            Sql::new(
                "SELECT id FROM refresh_tokens WHERE family_id = $1 AND revoked_at IS NULL LIMIT 1",
            )
            .bind(family_id),
        )
        .await?;
    Ok(live.is_some())
}

/// Revokes every token of a user (the user was disabled).
pub async fn revoke_user(tx: &mut Tx, user_id: Uuid, now: DateTime<Utc>) -> Result<u64> {
    tx.execute(
        Sql::new(
            "UPDATE refresh_tokens SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL",
        )
        .bind(user_id)
        .bind(now),
    )
    .await
}
