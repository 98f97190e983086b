//! The seller's e-Tax signing certificate in Settings (SPEC §4.2): `GET` (staff) shows which
//! certificate signs — subject, issuer, serial, validity and whether it comes from the
//! environment (`SATANG_ETAX_P12`) or an upload — and never its key, file or password; `PUT`
//! (admins) uploads a PKCS#12 file with its password; `DELETE` (admins) removes the upload.
//! The rules (checks, sealing, precedence, swapping the signer) are
//! `satang_billing::etax_certificate`'s.
//!
//! Decisions a client should know:
//! - **JSON with the file in base64** (`{"file": "MIIK…", "password": "…"}`), not
//!   multipart/form-data: every other body of this API is JSON, so the same extractor, error
//!   answers (400/413/415), idempotency and OpenAPI schema apply, and a `.p12` is small (the
//!   body is capped at 96 kB: a file up to 64 kB in base64). The console turns its file field
//!   into this body.
//! - Refusals (422) name the field (`file` or `password`) and say why in the `detail` too:
//!   in Thai when `Accept-Language` prefers Thai, else in English. Nothing is stored.
//! - While `SATANG_ETAX_P12` is set, an upload is 409: the environment's certificate takes
//!   precedence and `GET` shows it with `source: "environment"`.

use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use satang_auth::Permission;
use satang_billing::etax_certificate::{self as operations, CertificateView, Refusal};

use crate::error::{ApiError, FieldErrors, Problem};
use crate::extract::{Caller, Json, prefers_thai};
use crate::state::AppState;

/// Largest body of an upload: a 64 kB file in base64 with its password.
pub const MAX_UPLOAD_BODY_BYTES: usize = 96 * 1024;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(
            get_certificate,
            upload_certificate,
            remove_certificate
        ))
        .layer(DefaultBodyLimit::max(MAX_UPLOAD_BODY_BYTES))
}

/// A PKCS#12 file and its password.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UploadCertificate {
    /// The PKCS#12 file (`.p12` / `.pfx`) in base64 (standard alphabet; padding and line
    /// breaks optional), at most 64 kB decoded.
    #[schema(format = Byte, example = "MIIJ…")]
    pub file: String,
    /// The file's password (may be empty); never stored in clear, shown or logged.
    pub password: String,
}

/// A billing refusal as a 422 whose `detail` is the message itself.
fn refused(e: satang_billing::Error) -> ApiError {
    match e {
        satang_billing::Error::Invalid { field, message } => {
            let mut errors = FieldErrors::new();
            errors.insert(field.to_owned(), vec![message.clone()]);
            ApiError::Validation {
                detail: message,
                errors,
            }
        }
        other => other.into(),
    }
}

/// The certificate that signs tax documents (staff); 404 when there is none (documents are
/// then issued unsigned).
#[utoipa::path(get, path = "/api/settings/etax-certificate", tag = "settings", security(("bearer" = [])),
    responses((status = 200, body = CertificateView), (status = 403, body = Problem),
        (status = 404, body = Problem, description = "No certificate: documents are issued unsigned")))]
async fn get_certificate(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<axum::Json<CertificateView>, ApiError> {
    if !caller.is_staff() {
        return Err(ApiError::Forbidden);
    }
    state
        .etax_signers
        .view()
        .map(axum::Json)
        .ok_or(ApiError::NotFound)
}

/// Upload the seller's PKCS#12 certificate (admin): checked by opening it with its password
/// (an RSA key with its certificate, valid now), sealed at rest, and signing new documents at
/// once. Replaces an earlier upload.
#[utoipa::path(put, path = "/api/settings/etax-certificate", tag = "settings", request_body = UploadCertificate, security(("bearer" = [])),
    responses((status = 200, body = CertificateView), (status = 403, body = Problem),
        (status = 409, body = Problem, description = "SATANG_ETAX_P12 is set and takes precedence"),
        (status = 422, body = Problem, description = "Not PKCS#12, wrong password, no RSA key, expired; nothing stored")))]
async fn upload_certificate(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Json(body): Json<UploadCertificate>,
) -> Result<axum::Json<CertificateView>, ApiError> {
    caller.require(Permission::ManageSettings)?;
    let thai = prefers_thai(&headers);
    let lenient = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    let compact: String = body
        .file
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    let file = lenient
        .decode(compact.as_bytes())
        .map_err(|_| refused(Refusal::NotBase64.error(thai)))?;
    let view = operations::upload(
        &state.db,
        &state.etax_signers,
        &state.secrets,
        &caller.actor,
        file,
        body.password,
        thai,
        state.clock.now(),
    )
    .await
    .map_err(refused)?;
    Ok(axum::Json(view))
}

/// Remove the uploaded certificate (admin): new documents are issued unsigned again (or signed
/// with the environment's certificate, when set). 404 when none is uploaded.
#[utoipa::path(delete, path = "/api/settings/etax-certificate", tag = "settings", security(("bearer" = [])),
    responses((status = 204), (status = 403, body = Problem),
        (status = 404, body = Problem, description = "No uploaded certificate")))]
async fn remove_certificate(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<StatusCode, ApiError> {
    caller.require(Permission::ManageSettings)?;
    operations::remove(
        &state.db,
        &state.etax_signers,
        &caller.actor,
        state.clock.now(),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
