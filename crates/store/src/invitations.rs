//! Invitations: a link that lets a staff user created without a password choose one, or that
//! turns into a customer membership when the invited email signs up.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::{Db, Result, Sql, Tx};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Invitation {
    pub id: Uuid,
    pub email_lower: String,
    pub user_id: Option<Uuid>,
    pub customer_id: Option<Uuid>,
    pub member_role: Option<String>,
    pub expires_at: DateTime<Utc>,
    pub accepted_at: Option<DateTime<Utc>>,
}

pub struct NewInvitation<'a> {
    pub email: &'a str,
    pub user_id: Option<Uuid>,
    pub customer_id: Option<Uuid>,
    pub member_role: Option<&'a str>,
    pub token_hash: Vec<u8>,
    pub created_by: Option<Uuid>,
    pub expires_at: DateTime<Utc>,
}

pub async fn insert(tx: &mut Tx, new: NewInvitation<'_>, now: DateTime<Utc>) -> Result<Uuid> {
    let id = Uuid::now_v7();
    tx.execute(
        Sql::new(
            "INSERT INTO invitations (id, email_lower, user_id, customer_id, member_role, \
             token_hash, created_by, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(id)
        .bind(new.email.to_lowercase())
        .bind(new.user_id)
        .bind(new.customer_id)
        .bind(new.member_role)
        .bind(new.token_hash)
        .bind(new.created_by)
        .bind(now)
        .bind(new.expires_at),
    )
    .await?;
    Ok(id)
}

const COLUMNS: &str = "id, email_lower, user_id, customer_id, member_role, expires_at, accepted_at";

/// An invitation that is neither accepted nor expired.
pub async fn find_open(
    db: &Db,
    token_hash: Vec<u8>,
    now: DateTime<Utc>,
) -> Result<Option<Invitation>> {
    db.fetch_optional(
        Sql::new(format!(
            "SELECT {COLUMNS} FROM invitations WHERE token_hash = $1 \
             AND accepted_at IS NULL AND expires_at > $2"
        ))
        .bind(token_hash)
        .bind(now),
    )
    .await
}

/// Marks an invitation used; false when someone else used it first.
pub async fn mark_accepted(tx: &mut Tx, id: Uuid, now: DateTime<Utc>) -> Result<bool> {
    Ok(tx
        .execute(
            Sql::new(
                "UPDATE invitations SET accepted_at = $2 WHERE id = $1 AND accepted_at IS NULL",
            )
            .bind(id)
            .bind(now),
        )
        .await?
        == 1)
}

/// Turns open customer invitations for `email` into memberships of `user_id`.
pub async fn accept_memberships(
    tx: &mut Tx,
    user_id: Uuid,
    email: &str,
    now: DateTime<Utc>,
) -> Result<u64> {
    let open: Vec<Invitation> = tx
        .fetch_all(
            Sql::new(format!(
                "SELECT {COLUMNS} FROM invitations WHERE email_lower = $1 AND customer_id IS NOT NULL \
                 AND accepted_at IS NULL AND expires_at > $2"
            ))
            .bind(email.to_lowercase())
            .bind(now),
        )
        .await?;
    let mut accepted = 0;
    for invitation in open {
        let (Some(customer_id), Some(role)) = (invitation.customer_id, invitation.member_role)
        else {
            continue;
        };
        tx.execute(
            Sql::new(
                "INSERT INTO customer_users (customer_id, user_id, role, created_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (customer_id, user_id) DO NOTHING",
            )
            .bind(customer_id)
            .bind(user_id)
            .bind(role)
            .bind(now),
        )
        .await?;
        mark_accepted(tx, invitation.id, now).await?;
        accepted += 1;
    }
    Ok(accepted)
}
