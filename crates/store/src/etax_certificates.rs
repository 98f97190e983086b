//! The seller's e-Tax signing certificate uploaded in Settings (SPEC §4.2): one row at most,
//! the PKCS#12 file and its password sealed by the caller (this module never sees them in
//! clear), beside the certificate's public fields.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::{Db, Result, Sql, Tx};

/// The stored certificate.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StoredCertificate {
    /// The PKCS#12 file, sealed (AES-256-GCM with the server's key).
    pub p12_sealed: Vec<u8>,
    /// Its password, sealed likewise.
    pub password_sealed: Vec<u8>,
    pub subject: String,
    pub issuer: String,
    pub serial: String,
    pub not_before: DateTime<Utc>,
    pub not_after: DateTime<Utc>,
    pub uploaded_by: Option<Uuid>,
    pub uploaded_at: DateTime<Utc>,
}

/// What an upload stores.
pub struct NewCertificate<'a> {
    pub p12_sealed: Vec<u8>,
    pub password_sealed: Vec<u8>,
    pub subject: &'a str,
    pub issuer: &'a str,
    pub serial: &'a str,
    pub not_before: DateTime<Utc>,
    pub not_after: DateTime<Utc>,
    pub uploaded_by: Option<Uuid>,
}

const COLUMNS: &str = "p12_sealed, password_sealed, subject, issuer, serial, not_before, \
                       not_after, uploaded_by, uploaded_at";

#[derive(sqlx::FromRow)]
struct Stamp {
    uploaded_at: DateTime<Utc>,
}

/// The stored certificate, if any.
pub async fn get(db: &Db) -> Result<Option<StoredCertificate>> {
    db.fetch_optional(Sql::new(format!(
        "SELECT {COLUMNS} FROM etax_certificates WHERE id = 1"
    )))
    .await
}

/// [`get`] inside a transaction (the row before a change, for the audit entry).
pub async fn get_in(tx: &mut Tx) -> Result<Option<StoredCertificate>> {
    tx.fetch_optional(Sql::new(format!(
        "SELECT {COLUMNS} FROM etax_certificates WHERE id = 1"
    )))
    .await
}

/// When the stored certificate was uploaded (`None`: there is none): a cheap check whether
/// another process changed it.
pub async fn uploaded_at(db: &Db) -> Result<Option<DateTime<Utc>>> {
    let row: Option<Stamp> = db
        .fetch_optional(Sql::new(
            "SELECT uploaded_at FROM etax_certificates WHERE id = 1",
        ))
        .await?;
    Ok(row.map(|r| r.uploaded_at))
}

/// Stores `new` in place of any stored certificate.
pub async fn put(tx: &mut Tx, new: NewCertificate<'_>, now: DateTime<Utc>) -> Result<()> {
    tx.execute(
        Sql::new(
            "INSERT INTO etax_certificates (id, p12_sealed, password_sealed, subject, issuer, \
             serial, not_before, not_after, uploaded_by, uploaded_at) \
             VALUES (1, $1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (id) DO UPDATE SET p12_sealed = excluded.p12_sealed, \
             password_sealed = excluded.password_sealed, subject = excluded.subject, \
             issuer = excluded.issuer, serial = excluded.serial, \
             not_before = excluded.not_before, not_after = excluded.not_after, \
             uploaded_by = excluded.uploaded_by, uploaded_at = excluded.uploaded_at",
        )
        .bind(new.p12_sealed)
        .bind(new.password_sealed)
        .bind(new.subject)
        .bind(new.issuer)
        .bind(new.serial)
        .bind(new.not_before)
        .bind(new.not_after)
        .bind(new.uploaded_by)
        .bind(now),
    )
    .await?;
    Ok(())
}

/// Deletes the stored certificate; `false` when there was none.
pub async fn delete(tx: &mut Tx) -> Result<bool> {
    Ok(tx
        .execute(Sql::new("DELETE FROM etax_certificates WHERE id = 1"))
        .await?
        > 0)
}
