//! API keys for the seller's own software (SPEC §2.12): created by an administrator with a
//! name and scopes, the secret returned once and stored only as its hash; revoked at once.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

use satang_auth::api_keys::{self as key_rules, ApiScope};
use satang_store::Db;
use satang_store::api_keys::{self, ApiKey, NewApiKey};
use satang_store::audit::{self, Actor, Change};

use crate::{Error, FieldError, Result};

/// Longest key name, in characters.
pub const MAX_NAME: usize = 100;

/// A key just created, with the secret that is never shown again.
pub struct CreatedApiKey {
    pub key: ApiKey,
    pub secret: String,
}

/// Checks the name (1–100 visible characters, trimmed) and the scopes (at least one, each
/// known), stores the key's hash and records `api_key.created`. Every refusal names its field.
pub async fn create_api_key(
    db: &Db,
    actor: &Actor,
    name: &str,
    scopes: &[String],
    now: DateTime<Utc>,
) -> Result<CreatedApiKey> {
    let mut refused = Vec::new();
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME || name.chars().any(char::is_control) {
        refused.push(FieldError {
            field: "name".into(),
            message: format!("must be 1–{MAX_NAME} characters"),
        });
    }
    let scopes = match key_rules::parse_scopes(scopes) {
        Ok(scopes) if scopes.is_empty() => {
            refused.push(FieldError {
                field: "scopes".into(),
                message: "give the key at least one scope".into(),
            });
            scopes
        }
        Ok(scopes) => scopes,
        Err(unknown) => {
            let known: Vec<&str> = ApiScope::ALL.iter().map(|s| s.as_str()).collect();
            refused.push(FieldError {
                field: "scopes".into(),
                message: format!(
                    "'{}' is not a scope; use {}",
                    unknown.chars().take(40).collect::<String>(),
                    known.join(", ")
                ),
            });
            Vec::new()
        }
    };
    if !refused.is_empty() {
        return Err(Error::InvalidFields(refused));
    }
    let scope_names: Vec<String> = scopes.iter().map(|s| s.as_str().to_owned()).collect();
    let secret = key_rules::new_secret();
    let mut tx = db.begin().await?;
    let key = api_keys::insert(
        &mut tx,
        NewApiKey {
            name,
            prefix: &secret.prefix,
            secret_hash: secret.hash,
            scopes: &scope_names,
            created_by: actor.user_id,
        },
        now,
    )
    .await?;
    let change = Change {
        action: "api_key.created",
        entity_type: "api_key",
        entity_id: key.id.to_string(),
        before: None,
        after: Some(api_key_json(&key)),
    };
    audit::record(&mut tx, actor, change, now).await?;
    tx.commit().await?;
    Ok(CreatedApiKey {
        key,
        secret: secret.secret,
    })
}

/// Revokes a live key and records `api_key.revoked`; [`Error::NotFound`] when there is none.
pub async fn revoke_api_key(
    db: &Db,
    actor: &Actor,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<ApiKey> {
    let mut tx = db.begin().await?;
    let key = api_keys::revoke(&mut tx, id, now)
        .await?
        .ok_or(Error::NotFound)?;
    let change = Change {
        action: "api_key.revoked",
        entity_type: "api_key",
        entity_id: key.id.to_string(),
        before: None,
        after: Some(api_key_json(&key)),
    };
    audit::record(&mut tx, actor, change, now).await?;
    tx.commit().await?;
    Ok(key)
}

/// A key as the audit log keeps it: never its secret or hash.
pub fn api_key_json(k: &ApiKey) -> Value {
    json!({
        "id": k.id,
        "name": k.name,
        "prefix": k.prefix,
        "scopes": k.scopes.0,
        "created_at": k.created_at,
        "revoked_at": k.revoked_at,
    })
}
