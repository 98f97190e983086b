//! The seller's e-Tax signing certificate (SPEC §4.2): from the environment
//! (`SATANG_ETAX_P12`), or uploaded by an admin in Settings and sealed at rest.
//!
//! Decisions:
//! - **The environment wins.** A certificate configured by the operator is the deployment's
//!   choice; an upload while it is set is refused (409) rather than silently ignored, and the
//!   settings view says `source: "environment"`. A certificate uploaded earlier stays stored
//!   (and can be removed) and signs again once the variable is unset.
//! - **Sealed like every other secret**: the PKCS#12 file and its password are each sealed
//!   with the server's encryption key ([`SecretBox`], AES-256-GCM); the certificate's public
//!   fields (subject, issuer, serial, validity) are stored beside them in clear. Neither the
//!   file, its key nor the password is ever answered, logged or audited.
//! - **Checked by the signer itself**: an upload is parsed with its password into the
//!   [`EtaxSigner`] that will sign (RSA key and its certificate), and refused unless the
//!   certificate is valid now; nothing is stored for a refused upload.
//! - **Swapped without a restart** ([`EtaxSigners`]): the process that accepts an upload (or a
//!   removal) swaps its signer at once; the other processes on the same database notice the
//!   row's `uploaded_at` change on their scheduler's next tick ([`EtaxSigners::refresh`]).

use std::sync::{Arc, RwLock};

use chrono::{DateTime, SubsecRound, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use satang_auth::crypto::SecretBox;
use satang_documents::{EtaxSigner, Pkcs12Error};
use satang_store::Db;
use satang_store::audit::{self, Actor, Change};
use satang_store::etax_certificates::{self as store, NewCertificate};

use crate::{Error, Result};

/// Largest PKCS#12 file taken: a seller's key with a CA chain is a few kB.
pub const MAX_P12_BYTES: usize = 64 * 1024;
/// Longest password taken, in bytes.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// Where the signing certificate comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CertificateSource {
    /// `SATANG_ETAX_P12` (takes precedence).
    Environment,
    /// Uploaded in Settings.
    Settings,
}

/// The signing certificate as anyone may see it: never the key, the file or the password.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CertificateView {
    /// The certificate's subject (RFC 4514).
    pub subject: String,
    /// The issuing CA's name (RFC 4514).
    pub issuer: String,
    /// The certificate's serial number, in decimal.
    pub serial: String,
    pub not_before: DateTime<Utc>,
    pub not_after: DateTime<Utc>,
    pub source: CertificateSource,
}

impl CertificateView {
    fn of(signer: &EtaxSigner, source: CertificateSource) -> Self {
        CertificateView {
            subject: signer.subject().to_owned(),
            issuer: signer.issuer().to_owned(),
            serial: signer.serial().to_owned(),
            not_before: signer.not_before(),
            not_after: signer.not_after(),
            source,
        }
    }
}

/// The uploaded signer this process holds, with the upload it came from.
struct Uploaded {
    signer: Arc<EtaxSigner>,
    uploaded_at: DateTime<Utc>,
}

/// The signer that signs now: the environment's, else the uploaded one. Cheap to read (a
/// read lock and an `Arc` clone); a signing pass keeps the signer it started with.
pub struct EtaxSigners {
    environment: Option<Arc<EtaxSigner>>,
    uploaded: RwLock<Option<Uploaded>>,
}

impl std::fmt::Debug for EtaxSigners {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtaxSigners")
            .field("source", &self.source())
            .finish_non_exhaustive()
    }
}

impl EtaxSigners {
    /// With the environment's signer, if configured; the uploaded one is loaded by
    /// [`EtaxSigners::refresh`].
    pub fn new(environment: Option<Arc<EtaxSigner>>) -> Self {
        EtaxSigners {
            environment,
            uploaded: RwLock::new(None),
        }
    }

    /// The signer to sign with now; `None`: documents stay unsigned.
    pub fn current(&self) -> Option<Arc<EtaxSigner>> {
        if let Some(env) = &self.environment {
            return Some(env.clone());
        }
        self.read().as_ref().map(|u| u.signer.clone())
    }

    /// Whether the environment's certificate is configured (an upload is then refused).
    pub fn from_environment(&self) -> bool {
        self.environment.is_some()
    }

    /// Where the signing certificate comes from; `None` without one.
    pub fn source(&self) -> Option<CertificateSource> {
        if self.environment.is_some() {
            Some(CertificateSource::Environment)
        } else if self.read().is_some() {
            Some(CertificateSource::Settings)
        } else {
            None
        }
    }

    /// The signing certificate's public fields; `None` without one.
    pub fn view(&self) -> Option<CertificateView> {
        if let Some(env) = &self.environment {
            return Some(CertificateView::of(env, CertificateSource::Environment));
        }
        self.read()
            .as_ref()
            .map(|u| CertificateView::of(&u.signer, CertificateSource::Settings))
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Option<Uploaded>> {
        // A writer never panics while holding the lock (it only assigns), so a poisoned lock
        // still holds a whole value.
        self.uploaded.read().unwrap_or_else(|e| e.into_inner())
    }

    fn set(&self, value: Option<Uploaded>) {
        *self.uploaded.write().unwrap_or_else(|e| e.into_inner()) = value;
    }

    /// Loads the stored certificate when it is not the one this process holds (at start, and on
    /// each scheduler tick, so an upload made through another process takes effect here too).
    /// One that can no longer be opened (the encryption key changed) is logged and left out:
    /// documents are then issued unsigned, as the settings page says.
    pub async fn refresh(&self, db: &Db, secrets: &SecretBox) -> Result<()> {
        let stamp = store::uploaded_at(db).await?;
        let held = self.read().as_ref().map(|u| u.uploaded_at);
        if stamp == held {
            return Ok(());
        }
        let Some(row) = store::get(db).await? else {
            self.set(None);
            tracing::info!("the uploaded e-Tax certificate was removed");
            return Ok(());
        };
        let opened = secrets.open(&row.p12_sealed).and_then(|p12| {
            let password = secrets.open(&row.password_sealed)?;
            Ok((p12, password))
        });
        let signer = match opened {
            Ok((p12, password)) => {
                let password = String::from_utf8(password).unwrap_or_default();
                EtaxSigner::read_pkcs12(&p12, &password).map_err(|e| e.to_string())
            }
            Err(e) => Err(e.to_string()),
        };
        match signer {
            Ok(signer) => {
                if self.environment.is_none() {
                    tracing::info!(subject = signer.subject(), "e-Tax documents are signed");
                }
                self.set(Some(Uploaded {
                    signer: Arc::new(signer),
                    uploaded_at: row.uploaded_at,
                }));
            }
            Err(e) => {
                tracing::error!(error = %e, "the uploaded e-Tax certificate cannot be opened");
                self.set(None);
            }
        }
        Ok(())
    }
}

/// Why an upload is refused: the field at fault and a message in English and Thai.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    EmptyFile,
    TooLarge,
    NotBase64,
    PasswordTooLong,
    NotPkcs12,
    WrongPassword,
    NoKey,
    NotRsa,
    BadCertificate,
    Expired,
    NotYetValid,
}

impl Refusal {
    pub fn field(self) -> &'static str {
        match self {
            Refusal::WrongPassword | Refusal::PasswordTooLong => "password",
            _ => "file",
        }
    }

    pub fn english(self) -> &'static str {
        match self {
            Refusal::EmptyFile => "choose the certificate's PKCS#12 file (.p12 or .pfx)",
            Refusal::TooLarge => "the file is larger than 64 kB; a PKCS#12 certificate is a few kB",
            Refusal::NotBase64 => "must be the PKCS#12 file encoded in base64",
            Refusal::PasswordTooLong => "must be at most 1024 bytes",
            Refusal::NotPkcs12 => "the file is not a PKCS#12 (.p12 / .pfx) certificate file",
            Refusal::WrongPassword => "the password does not open this PKCS#12 file",
            Refusal::NoKey => "the file holds no private key with its certificate",
            Refusal::NotRsa => "the key is not an RSA key of 2048 to 8192 bits",
            Refusal::BadCertificate => "the certificate in the file cannot be read",
            Refusal::Expired => "the certificate has expired; upload the current one",
            Refusal::NotYetValid => "the certificate is not valid yet",
        }
    }

    pub fn thai(self) -> &'static str {
        match self {
            Refusal::EmptyFile => "โปรดเลือกไฟล์ใบรับรอง PKCS#12 (.p12 หรือ .pfx)",
            Refusal::TooLarge => "ไฟล์ใหญ่เกิน 64 kB ใบรับรอง PKCS#12 มีขนาดเพียงไม่กี่ kB",
            Refusal::NotBase64 => "ต้องเป็นไฟล์ PKCS#12 ที่เข้ารหัสแบบ base64",
            Refusal::PasswordTooLong => "รหัสผ่านยาวได้ไม่เกิน 1024 ไบต์",
            Refusal::NotPkcs12 => "ไฟล์นี้ไม่ใช่ไฟล์ใบรับรอง PKCS#12 (.p12 / .pfx)",
            Refusal::WrongPassword => "รหัสผ่านไม่ถูกต้อง เปิดไฟล์ PKCS#12 นี้ไม่ได้",
            Refusal::NoKey => "ไฟล์นี้ไม่มีกุญแจส่วนตัวพร้อมใบรับรอง",
            Refusal::NotRsa => "กุญแจไม่ใช่กุญแจ RSA ขนาด 2048 ถึง 8192 บิต",
            Refusal::BadCertificate => "อ่านใบรับรองในไฟล์ไม่ได้",
            Refusal::Expired => "ใบรับรองหมดอายุแล้ว โปรดอัปโหลดใบที่ยังใช้ได้",
            Refusal::NotYetValid => "ใบรับรองยังไม่ถึงวันเริ่มใช้",
        }
    }

    /// The 422 of this refusal, its message in Thai when `thai`.
    pub fn error(self, thai: bool) -> Error {
        Error::Invalid {
            field: self.field(),
            message: if thai { self.thai() } else { self.english() }.to_owned(),
        }
    }
}

impl From<Pkcs12Error> for Refusal {
    fn from(e: Pkcs12Error) -> Self {
        match e {
            Pkcs12Error::NotPkcs12 => Refusal::NotPkcs12,
            Pkcs12Error::WrongPassword => Refusal::WrongPassword,
            Pkcs12Error::NoKey => Refusal::NoKey,
            Pkcs12Error::NotRsa => Refusal::NotRsa,
            Pkcs12Error::BadCertificate => Refusal::BadCertificate,
        }
    }
}

/// The signer of `file` opened with `password`, if it can sign at `now`.
pub fn check(file: &[u8], password: &str, now: DateTime<Utc>) -> Result<EtaxSigner, Refusal> {
    if file.is_empty() {
        return Err(Refusal::EmptyFile);
    }
    if file.len() > MAX_P12_BYTES {
        return Err(Refusal::TooLarge);
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(Refusal::PasswordTooLong);
    }
    let signer = EtaxSigner::read_pkcs12(file, password)?;
    if signer.not_after() < now {
        return Err(Refusal::Expired);
    }
    if signer.not_before() > now {
        return Err(Refusal::NotYetValid);
    }
    Ok(signer)
}

/// What an upload says about itself in the audit log: the public fields only.
fn audit_json(row: &store::StoredCertificate) -> serde_json::Value {
    json!({
        "subject": row.subject,
        "issuer": row.issuer,
        "serial": row.serial,
        "not_before": row.not_before,
        "not_after": row.not_after,
    })
}

/// An admin's upload (`file` the PKCS#12 bytes): checked ([`check`]), sealed, stored in place
/// of any earlier upload with its audit entry, and signing in this process from the moment it
/// commits. Refused (409) while the environment's certificate is configured. Messages in Thai
/// when `thai`.
#[allow(clippy::too_many_arguments)]
pub async fn upload(
    db: &Db,
    signers: &EtaxSigners,
    secrets: &SecretBox,
    actor: &Actor,
    file: Vec<u8>,
    password: String,
    thai: bool,
    now: DateTime<Utc>,
) -> Result<CertificateView> {
    if signers.from_environment() {
        return Err(Error::InvalidState(
            if thai {
                "ใบรับรองจากตัวแปร SATANG_ETAX_P12 มีผลเหนือกว่าใบที่อัปโหลด: \
                 ยกเลิกตัวแปรนั้นแล้วเริ่มเซิร์ฟเวอร์ใหม่ก่อนจึงจะอัปโหลดได้"
            } else {
                "the certificate of SATANG_ETAX_P12 takes precedence over an uploaded one: \
                 unset SATANG_ETAX_P12 and restart to manage it in Settings"
            }
            .to_owned(),
        ));
    }
    // Key derivation and RSA checks take CPU: off the async threads.
    let (signer, file, password) = tokio::task::spawn_blocking(move || {
        let signer = check(&file, &password, now);
        (signer, file, password)
    })
    .await
    .map_err(|e| Error::Internal(format!("reading the certificate panicked: {e}")))?;
    let signer = signer.map_err(|r| r.error(thai))?;
    // Stored to the microsecond on both databases: the stamp this process holds is the one
    // the others read back.
    let now = now.trunc_subsecs(6);
    let mut tx = db.begin().await?;
    let before = store::get_in(&mut tx).await?;
    store::put(
        &mut tx,
        NewCertificate {
            p12_sealed: secrets.seal(&file),
            password_sealed: secrets.seal(password.as_bytes()),
            subject: signer.subject(),
            issuer: signer.issuer(),
            serial: signer.serial(),
            not_before: signer.not_before(),
            not_after: signer.not_after(),
            uploaded_by: actor.user_id,
        },
        now,
    )
    .await?;
    let view = CertificateView::of(&signer, CertificateSource::Settings);
    audit::record(
        &mut tx,
        actor,
        Change {
            action: "settings.etax_certificate_uploaded",
            entity_type: "settings",
            entity_id: "etax_certificate".into(),
            before: before.as_ref().map(audit_json),
            after: Some(json!({
                "subject": view.subject,
                "issuer": view.issuer,
                "serial": view.serial,
                "not_before": view.not_before,
                "not_after": view.not_after,
            })),
        },
        now,
    )
    .await?;
    tx.commit().await?;
    signers.set(Some(Uploaded {
        signer: Arc::new(signer),
        uploaded_at: now,
    }));
    tracing::info!(
        subject = view.subject,
        "e-Tax certificate uploaded: documents are signed"
    );
    Ok(view)
}

/// Removes the uploaded certificate ([`Error::NotFound`] when none is stored), audited; from
/// then on this process signs with the environment's certificate, or not at all.
pub async fn remove(
    db: &Db,
    signers: &EtaxSigners,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<()> {
    let mut tx = db.begin().await?;
    let Some(before) = store::get_in(&mut tx).await? else {
        return Err(Error::NotFound);
    };
    store::delete(&mut tx).await?;
    audit::record(
        &mut tx,
        actor,
        Change {
            action: "settings.etax_certificate_removed",
            entity_type: "settings",
            entity_id: "etax_certificate".into(),
            before: Some(audit_json(&before)),
            after: None,
        },
        now,
    )
    .await?;
    tx.commit().await?;
    signers.set(None);
    tracing::info!("the uploaded e-Tax certificate was removed");
    Ok(())
}
