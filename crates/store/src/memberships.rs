//! Links between users and the customers they belong to (`customers.customer_users`).

use serde::Serialize;
use uuid::Uuid;

use crate::{Db, Result, Sql};

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
