//! Contact people of a customer, with one primary per role.

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::{Db, Error, Result, Sql, Tx};

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Contact {
    pub id: Uuid,
    pub customer_id: Uuid,
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub role: String,
    pub is_primary: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
}

#[derive(Debug, Clone)]
pub struct ContactFields {
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub role: String,
    pub is_primary: bool,
}

/// Making a contact primary demotes the previous primary of the same role.
async fn demote_primary(tx: &mut Tx, customer_id: Uuid, role: &str, keep: Uuid) -> Result<()> {
    tx.execute(
        Sql::new(
            "UPDATE contacts SET is_primary = $4 WHERE customer_id = $1 AND role = $2 \
             AND is_primary AND id <> $3",
        )
        .bind(customer_id)
        .bind(role)
        .bind(keep)
        .bind(false),
    )
    .await?;
    Ok(())
}

pub async fn insert(
    tx: &mut Tx,
    customer_id: Uuid,
    f: &ContactFields,
    now: DateTime<Utc>,
) -> Result<Contact> {
    let id = Uuid::now_v7();
    if f.is_primary {
        demote_primary(tx, customer_id, &f.role, id).await?;
    }
    tx.fetch_one(
        Sql::new(
            "INSERT INTO contacts (id, customer_id, name, email, phone, role, is_primary, \
             created_at, updated_at, version) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, 1) \
             RETURNING *",
        )
        .bind(id)
        .bind(customer_id)
        .bind(f.name.as_str())
        .bind(f.email.clone())
        .bind(f.phone.clone())
        .bind(f.role.as_str())
        .bind(f.is_primary)
        .bind(now),
    )
    .await
}

/// Contacts of one customer; the caller has checked access to the customer.
pub async fn list(
    db: &Db,
    customer_id: Uuid,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<Contact>> {
    db.fetch_all(
        Sql::new(
            "SELECT * FROM contacts WHERE customer_id = $1 AND ($2 IS NULL OR id > $2) \
             ORDER BY id LIMIT $3",
        )
        .bind(customer_id)
        .bind(after)
        .bind(limit),
    )
    .await
}

pub async fn get(db: &Db, customer_id: Uuid, id: Uuid) -> Result<Option<Contact>> {
    db.fetch_optional(
        Sql::new("SELECT * FROM contacts WHERE customer_id = $1 AND id = $2")
            .bind(customer_id)
            .bind(id),
    )
    .await
}

pub async fn get_in(tx: &mut Tx, customer_id: Uuid, id: Uuid) -> Result<Option<Contact>> {
    tx.fetch_optional(
        Sql::new("SELECT * FROM contacts WHERE customer_id = $1 AND id = $2")
            .bind(customer_id)
            .bind(id),
    )
    .await
}

pub async fn update(
    tx: &mut Tx,
    customer_id: Uuid,
    id: Uuid,
    f: &ContactFields,
    now: DateTime<Utc>,
) -> Result<Contact> {
    if f.is_primary {
        demote_primary(tx, customer_id, &f.role, id).await?;
    }
    tx.fetch_optional(
        Sql::new(
            "UPDATE contacts SET name = $3, email = $4, phone = $5, role = $6, is_primary = $7, \
             updated_at = $8, version = version + 1 WHERE customer_id = $1 AND id = $2 RETURNING *",
        )
        .bind(customer_id)
        .bind(id)
        .bind(f.name.as_str())
        .bind(f.email.clone())
        .bind(f.phone.clone())
        .bind(f.role.as_str())
        .bind(f.is_primary)
        .bind(now),
    )
    .await?
    .ok_or(Error::NotFound)
}

pub async fn delete(tx: &mut Tx, customer_id: Uuid, id: Uuid) -> Result<bool> {
    Ok(tx
        .execute(
            Sql::new("DELETE FROM contacts WHERE customer_id = $1 AND id = $2")
                .bind(customer_id)
                .bind(id),
        )
        .await?
        == 1)
}

/// GDPR erasure: every contact of the customer loses name, email and phone.
pub async fn anonymise_all(tx: &mut Tx, customer_id: Uuid, now: DateTime<Utc>) -> Result<u64> {
    tx.execute(
        Sql::new(
            "UPDATE contacts SET name = 'erased', email = NULL, phone = NULL, updated_at = $2, \
             version = version + 1 WHERE customer_id = $1",
        )
        .bind(customer_id)
        .bind(now),
    )
    .await
}

/// Every contact of a customer, inside a transaction.
pub async fn list_in(tx: &mut Tx, customer_id: Uuid) -> Result<Vec<Contact>> {
    tx.fetch_all(
        Sql::new("SELECT * FROM contacts WHERE customer_id = $1 ORDER BY id").bind(customer_id),
    )
    .await
}
