//! Registering a webhook endpoint: its signing secret (the caller's, or a generated
//! `whsec_…`), sealed at rest and shown to the caller once, and the audit entry.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use satang_auth::crypto::SecretBox;
use satang_auth::tokens::new_opaque_token;
use satang_store::Db;
use satang_store::audit::{self, Actor, Change};
use satang_store::outbox::{self, Endpoint, EndpointFields};

use crate::Result;

/// Stores the endpoint with `secret`, or a generated one, which is returned beside it: the
/// only time it is readable.
pub async fn create_endpoint(
    db: &Db,
    secrets: &SecretBox,
    actor: &Actor,
    fields: &EndpointFields,
    secret: Option<String>,
    now: DateTime<Utc>,
) -> Result<(Endpoint, String)> {
    let secret = secret.unwrap_or_else(new_secret);
    let mut tx = db.begin().await?;
    let endpoint =
        outbox::insert_endpoint(&mut tx, fields, secrets.seal(secret.as_bytes()), now).await?;
    let change = Change {
        action: "webhook_endpoint.created",
        entity_type: "webhook_endpoint",
        entity_id: endpoint.id.to_string(),
        before: None,
        after: Some(endpoint_json(&endpoint)),
    };
    audit::record(&mut tx, actor, change, now).await?;
    tx.commit().await?;
    Ok((endpoint, secret))
}

/// `whsec_` and 43 URL-safe characters of a random token.
fn new_secret() -> String {
    let (token, _) = new_opaque_token();
    let encoded: String = URL_SAFE_NO_PAD
        .encode(token.as_bytes())
        .chars()
        .take(43)
        .collect();
    format!("whsec_{encoded}")
}

/// An endpoint as the API's `EndpointView` serialises it: the audit entries' before/after.
pub fn endpoint_json(e: &Endpoint) -> Value {
    json!({
        "id": e.id,
        "url": e.url,
        "description": e.description,
        "events": e.events.0,
        "active": e.active,
        "created_at": e.created_at,
        "updated_at": e.updated_at,
    })
}
