//! Logins (SPEC §2.1): starting one ([`log_in`], [`open`]), trading a refresh token for its
//! successor with reuse detection ([`refresh`]) and ending one ([`log_out`]).
//!
//! A login is a family of refresh tokens, stored only as hashes. The caller has already checked
//! the credentials (and rate-limited the attempt); it signs the access token for the family these
//! operations return. Every start, end and replay is audited with the user as the actor.

use chrono::{DateTime, TimeDelta, Utc};
use uuid::Uuid;

use satang_auth::tokens::{hash_opaque_token, new_opaque_token};
use satang_store::Tx;
use satang_store::audit::{self, Actor, Change};
use satang_store::refresh_tokens::{self, Spend};
use satang_store::users::{self, User};

use crate::Result;

/// A login's refresh token (shown once) and the family its access tokens name.
#[derive(Debug, Clone)]
pub struct Session {
    pub family_id: Uuid,
    pub refresh_token: String,
}

/// What presenting a refresh token did.
#[derive(Debug)]
pub enum Refreshed {
    /// The token was spent and its successor issued in the same family.
    Renewed { user: User, session: Session },
    /// The token had been spent before: the whole login is now revoked (end its cached
    /// session too).
    Replayed { family_id: Uuid },
    /// Unknown, expired, revoked, or its user is gone or disabled.
    Refused,
}

/// Issues a refresh token of `family_id` for `user_id`, valid for `ttl`.
pub async fn open(
    tx: &mut Tx,
    user_id: Uuid,
    family_id: Uuid,
    ttl: TimeDelta,
    now: DateTime<Utc>,
) -> Result<Session> {
    let (refresh_token, hash) = new_opaque_token();
    refresh_tokens::insert(tx, user_id, family_id, hash, now, now + ttl).await?;
    Ok(Session {
        family_id,
        refresh_token,
    })
}

/// Starts a login for `user`, whose password the caller has verified: a new family, audited as
/// `session.started`.
pub async fn log_in(
    tx: &mut Tx,
    actor: &Actor,
    user: &User,
    ttl: TimeDelta,
    now: DateTime<Utc>,
) -> Result<Session> {
    let session = open(tx, user.id, Uuid::now_v7(), ttl, now).await?;
    let actor = Actor {
        user_id: Some(user.id),
        ..actor.clone()
    };
    record(tx, &actor, "session.started", session.family_id, now).await?;
    Ok(session)
}

/// Spends `refresh_token` (of two concurrent presentations only one succeeds) and issues its
/// successor. A replayed token revokes its family, audited as `session.reuse_detected`.
pub async fn refresh(
    tx: &mut Tx,
    actor: &Actor,
    refresh_token: &str,
    ttl: TimeDelta,
    now: DateTime<Utc>,
) -> Result<Refreshed> {
    match refresh_tokens::spend(tx, hash_opaque_token(refresh_token), now).await? {
        Spend::Spent(token) => {
            let user = users::find_by_id_in(tx, token.user_id)
                .await?
                .filter(|u| !u.disabled);
            let Some(user) = user else {
                return Ok(Refreshed::Refused);
            };
            let session = open(tx, user.id, token.family_id, ttl, now).await?;
            Ok(Refreshed::Renewed { user, session })
        }
        Spend::Reused(token) => {
            let actor = Actor {
                user_id: Some(token.user_id),
                ..actor.clone()
            };
            record(tx, &actor, "session.reuse_detected", token.family_id, now).await?;
            tracing::warn!(family = %token.family_id, "refresh token reused; login revoked");
            Ok(Refreshed::Replayed {
                family_id: token.family_id,
            })
        }
        Spend::Invalid => Ok(Refreshed::Refused),
    }
}

/// Ends the login `refresh_token` belongs to, if it is `user_id`'s: every token of the family is
/// revoked, audited as `session.ended`. Returns the ended family; someone else's or an unknown
/// token ends nothing.
pub async fn log_out(
    tx: &mut Tx,
    actor: &Actor,
    user_id: Uuid,
    refresh_token: &str,
    now: DateTime<Utc>,
) -> Result<Option<Uuid>> {
    let token = refresh_tokens::family_of(tx, hash_opaque_token(refresh_token)).await?;
    let Some(token) = token.filter(|t| t.user_id == user_id) else {
        return Ok(None);
    };
    refresh_tokens::revoke_family(tx, token.family_id, now).await?;
    record(tx, actor, "session.ended", token.family_id, now).await?;
    Ok(Some(token.family_id))
}

async fn record(
    tx: &mut Tx,
    actor: &Actor,
    action: &'static str,
    family_id: Uuid,
    now: DateTime<Utc>,
) -> Result<()> {
    let change = Change {
        action,
        entity_type: "session",
        entity_id: family_id.to_string(),
        before: None,
        after: None,
    };
    audit::record(tx, actor, change, now).await?;
    Ok(())
}
