//! People who sign in: staff (with roles) and customer members (without).

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::types::Json;
use uuid::Uuid;

use crate::{Db, Error, Result, Sql, Tx};

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct User {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    #[serde(skip)]
    pub password_hash: Option<String>,
    pub roles: Json<Vec<String>>,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
}

pub struct NewUser<'a> {
    pub email: &'a str,
    pub name: &'a str,
    pub password_hash: Option<String>,
    pub roles: Vec<String>,
}

/// Inserts a user; an email already taken (in any letter case) is [`Error::Conflict`].
pub async fn insert(tx: &mut Tx, new: NewUser<'_>, now: DateTime<Utc>) -> Result<User> {
    let result = tx
        .fetch_one(
            Sql::new(
                "INSERT INTO users (id, email, email_lower, name, password_hash, roles, disabled, \
                 created_at, updated_at, version) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, 1) \
                 RETURNING *",
            )
            .bind(Uuid::now_v7())
            .bind(new.email)
            .bind(new.email.to_lowercase())
            .bind(new.name)
            .bind(new.password_hash)
            .bind(serde_json::json!(new.roles))
            .bind(false)
            .bind(now),
        )
        .await;
    match result {
        Err(e) if e.is_unique_violation() => Err(Error::Conflict("email already registered")),
        other => other,
    }
}

pub async fn find_by_email(db: &Db, email: &str) -> Result<Option<User>> {
    db.fetch_optional(
        Sql::new("SELECT * FROM users WHERE email_lower = $1").bind(email.to_lowercase()),
    )
    .await
}

pub async fn find_by_id(db: &Db, id: Uuid) -> Result<Option<User>> {
    db.fetch_optional(Sql::new("SELECT * FROM users WHERE id = $1").bind(id))
        .await
}

pub async fn lock_by_id(tx: &mut Tx, id: Uuid) -> Result<Option<User>> {
    let sql = match tx.backend() {
        crate::Backend::Postgres => "SELECT * FROM users WHERE id = $1 FOR UPDATE",
        // SQLite transactions begin IMMEDIATE: the write lock is already held.
        crate::Backend::Sqlite => "SELECT * FROM users WHERE id = $1",
    };
    tx.fetch_optional(Sql::new(sql).bind(id)).await
}

/// Users in creation order (ids are UUIDv7), after the cursor.
pub async fn list(db: &Db, after: Option<Uuid>, limit: i64) -> Result<Vec<User>> {
    db.fetch_all(
        Sql::new("SELECT * FROM users WHERE ($1 IS NULL OR id > $1) ORDER BY id LIMIT $2")
            .bind(after)
            .bind(limit),
    )
    .await
}

/// Fields an administrator may change; `None` keeps the current value.
#[derive(Debug, Default)]
pub struct UserChanges {
    pub name: Option<String>,
    pub roles: Option<Vec<String>>,
    pub disabled: Option<bool>,
    pub password_hash: Option<String>,
}

pub async fn update(
    tx: &mut Tx,
    id: Uuid,
    changes: UserChanges,
    now: DateTime<Utc>,
) -> Result<User> {
    tx.fetch_optional(
        Sql::new(
            "UPDATE users SET name = COALESCE($2, name), roles = COALESCE($3, roles), \
             disabled = COALESCE($4, disabled), password_hash = COALESCE($5, password_hash), \
             updated_at = $6, version = version + 1 WHERE id = $1 RETURNING *",
        )
        .bind(id)
        .bind(changes.name)
        .bind(changes.roles.map(|r| serde_json::json!(r)))
        .bind(changes.disabled)
        .bind(changes.password_hash)
        .bind(now),
    )
    .await?
    .ok_or(Error::NotFound)
}

#[derive(sqlx::FromRow)]
struct Count {
    n: i64,
}

const COUNT_ADMINS_PG: &str =
    "SELECT COUNT(*) AS n FROM users WHERE NOT disabled AND roles ? 'admin'";
const COUNT_ADMINS_SQLITE: &str = "SELECT COUNT(*) AS n FROM users WHERE NOT disabled \
     AND EXISTS (SELECT 1 FROM json_each(users.roles) WHERE value = 'admin')";

fn count_admins_sql(backend: crate::Backend) -> Sql {
    // Roles are a short JSON array of role names; each dialect asks "contains 'admin'" its way.
    Sql::new(match backend {
        crate::Backend::Postgres => COUNT_ADMINS_PG,
        crate::Backend::Sqlite => COUNT_ADMINS_SQLITE,
    })
}

/// How many enabled users hold the `admin` role (first-run set-up is offered while zero).
pub async fn count_admins(db: &Db) -> Result<i64> {
    let row: Count = db.fetch_one(count_admins_sql(db.backend())).await?;
    Ok(row.n)
}

/// [`count_admins`] inside a transaction (guarding the last administrator).
pub async fn count_admins_in(tx: &mut Tx) -> Result<i64> {
    let backend = tx.backend();
    let row: Count = tx.fetch_one(count_admins_sql(backend)).await?;
    Ok(row.n)
}

pub async fn find_by_id_in(tx: &mut Tx, id: Uuid) -> Result<Option<User>> {
    tx.fetch_optional(Sql::new("SELECT * FROM users WHERE id = $1").bind(id))
        .await
}
