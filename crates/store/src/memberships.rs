//! Links between users and the customers they belong to (`customers.customer_users`).

use serde::Serialize;
use uuid::Uuid;

use crate::{Db, Result, Sql, Tx};

#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq, Eq)]
pub struct Membership {
    pub customer_id: Uuid,
    pub customer_name: String,
    pub role: String,
}

/// The customers a user is a member of, hiding deleted customers.
pub async fn for_user(db: &Db, user_id: Uuid) -> Result<Vec<Membership>> {
    db.fetch_all(
        Sql::new(
            "SELECT cu.customer_id, c.name AS customer_name, cu.role \
             FROM customer_users cu JOIN customers c ON c.id = cu.customer_id \
             WHERE cu.user_id = $1 AND c.status <> 'deleted' ORDER BY c.name, cu.customer_id",
        )
        .bind(user_id),
    )
    .await
}

#[derive(sqlx::FromRow)]
struct Role {
    role: String,
}

/// The member role a user holds at a (not deleted) customer, if any.
pub async fn role_of(db: &Db, user_id: Uuid, customer_id: Uuid) -> Result<Option<String>> {
    let row: Option<Role> = db
        .fetch_optional(
            Sql::new(
                "SELECT cu.role FROM customer_users cu JOIN customers c ON c.id = cu.customer_id \
                 WHERE cu.user_id = $1 AND cu.customer_id = $2 AND c.status <> 'deleted'",
            )
            .bind(user_id)
            .bind(customer_id),
        )
        .await?;
    Ok(row.map(|r| r.role))
}

/// A member of a customer as the members list shows it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Member {
    pub user_id: Uuid,
    pub email: String,
    pub name: String,
    pub role: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

const MEMBER_COLUMNS: &str = "cu.user_id, u.email, u.name, cu.role, cu.created_at";

pub async fn list_members(
    db: &Db,
    customer_id: Uuid,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<Member>> {
    db.fetch_all(
        Sql::new(format!(
            "SELECT {MEMBER_COLUMNS} FROM customer_users cu JOIN users u ON u.id = cu.user_id \
             WHERE cu.customer_id = $1 AND ($2 IS NULL OR cu.user_id > $2) \
             ORDER BY cu.user_id LIMIT $3"
        ))
        .bind(customer_id)
        .bind(after)
        .bind(limit),
    )
    .await
}

pub async fn get_member(tx: &mut Tx, customer_id: Uuid, user_id: Uuid) -> Result<Option<Member>> {
    tx.fetch_optional(
        Sql::new(format!(
            "SELECT {MEMBER_COLUMNS} FROM customer_users cu JOIN users u ON u.id = cu.user_id \
             WHERE cu.customer_id = $1 AND cu.user_id = $2"
        ))
        .bind(customer_id)
        .bind(user_id),
    )
    .await
}

/// Adds a member; an existing membership is [`crate::Error::Conflict`].
pub async fn add_member(
    tx: &mut Tx,
    customer_id: Uuid,
    user_id: Uuid,
    role: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Member> {
    let inserted = tx
        .execute(
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
    if inserted == 0 {
        return Err(crate::Error::Conflict("this user is already a member"));
    }
    get_member(tx, customer_id, user_id)
        .await?
        .ok_or(crate::Error::NotFound)
}

pub async fn set_member_role(
    tx: &mut Tx,
    customer_id: Uuid,
    user_id: Uuid,
    role: &str,
) -> Result<bool> {
    Ok(tx
        .execute(
            Sql::new("UPDATE customer_users SET role = $3 WHERE customer_id = $1 AND user_id = $2")
                .bind(customer_id)
                .bind(user_id)
                .bind(role),
        )
        .await?
        == 1)
}

pub async fn remove_member(tx: &mut Tx, customer_id: Uuid, user_id: Uuid) -> Result<bool> {
    Ok(tx
        .execute(
            Sql::new("DELETE FROM customer_users WHERE customer_id = $1 AND user_id = $2")
                .bind(customer_id)
                .bind(user_id),
        )
        .await?
        == 1)
}

#[derive(sqlx::FromRow)]
struct Count {
    n: i64,
}

pub async fn count_owners(tx: &mut Tx, customer_id: Uuid) -> Result<i64> {
    let row: Count = tx
        .fetch_one(
            Sql::new(
                "SELECT COUNT(*) AS n FROM customer_users WHERE customer_id = $1 AND role = 'owner'",
            )
            .bind(customer_id),
        )
        .await?;
    Ok(row.n)
}

/// GDPR erasure: the customer's memberships end.
pub async fn remove_all(tx: &mut Tx, customer_id: Uuid) -> Result<u64> {
    tx.execute(Sql::new("DELETE FROM customer_users WHERE customer_id = $1").bind(customer_id))
        .await
}
