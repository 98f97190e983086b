//! Access tokens (short-lived EdDSA JWTs), refresh and invitation tokens (random, stored hashed),
//! and the verifier that checks access tokens once and remembers the answer.
//!
//! Verifying an Ed25519 signature costs tens of microseconds; a client sends the same token on
//! every request for up to 15 minutes. The verifier therefore keeps a bounded cache from the exact
//! token text to its verified claims: a later request with byte-identical text needs no signature
//! check, and the expiry is still checked against the clock each time.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::keys::{Jwks, SigningKeys};

pub const ISSUER: &str = "satang";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AccessClaims {
    pub iss: String,
    pub sub: Uuid,
    /// The login (refresh token family) this token belongs to.
    pub sid: Uuid,
    pub iat: i64,
    pub exp: i64,
    pub jti: Uuid,
}

pub fn issue_access_token(
    keys: &SigningKeys,
    user_id: Uuid,
    family_id: Uuid,
    now: DateTime<Utc>,
    ttl: Duration,
) -> String {
    let key = keys.current();
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(key.kid.clone());
    let claims = AccessClaims {
        iss: ISSUER.into(),
        sub: user_id,
        sid: family_id,
        iat: now.timestamp(),
        exp: now.timestamp() + ttl.as_secs() as i64,
        jti: Uuid::new_v4(),
    };
    // Signing with a key that parsed as Ed25519 PKCS#8 does not fail.
    jsonwebtoken::encode(&header, &claims, &key.encoding).unwrap_or_default()
}

/// A fresh random token for refresh or invitation, and the hash that is stored instead of it.
pub fn new_opaque_token() -> (String, Vec<u8>) {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    let token = URL_SAFE_NO_PAD.encode(bytes);
    let hash = hash_opaque_token(&token);
    (token, hash)
}

pub fn hash_opaque_token(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("the access token is malformed or its signature is invalid")]
    Invalid,
    #[error("the access token has expired")]
    Expired,
    #[error("the access token was signed by an unknown key")]
    UnknownKey,
}

/// Where the public keys come from: this process's own keys, or the auth service's JWKS.
enum KeySource {
    Local,
    Remote {
        jwks_url: String,
        client: reqwest::Client,
        last_fetch: tokio::sync::Mutex<Option<Instant>>,
    },
}

pub struct TokenVerifier {
    source: KeySource,
    keys: RwLock<HashMap<String, DecodingKey>>,
    cache: quick_cache::sync::Cache<Arc<str>, AccessClaims>,
    validation: Validation,
}

/// The shortest wait between two JWKS fetches caused by unknown key ids, so a flood of forged
/// tokens cannot turn into a flood of requests to the auth service.
const REFETCH_INTERVAL: Duration = Duration::from_secs(2);

impl TokenVerifier {
    fn with_source(source: KeySource, keys: HashMap<String, DecodingKey>) -> Self {
        let mut validation = Validation::new(Algorithm::EdDSA);
        // Expiry is checked against Satang's clock (which a test clock may move), not the
        // system time jsonwebtoken would read.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.leeway = 0;
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "sub", "iss"]);
        TokenVerifier {
            source,
            keys: RwLock::new(keys),
            cache: quick_cache::sync::Cache::new(50_000),
            validation,
        }
    }

    pub fn local(keys: &SigningKeys) -> Self {
        let map = jwks_to_map(&keys.jwks());
        Self::with_source(KeySource::Local, map)
    }

    /// Verifies with the keys published at `{auth_url}/.well-known/jwks.json`, fetched now and
    /// again whenever a token names a key id not seen yet.
    pub async fn remote(auth_url: &str) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| e.to_string())?;
        let verifier = Self::with_source(
            KeySource::Remote {
                jwks_url: format!("{}/.well-known/jwks.json", auth_url.trim_end_matches('/')),
                client,
                last_fetch: tokio::sync::Mutex::new(None),
            },
            HashMap::new(),
        );
        // The auth service may still be starting: a failed first fetch is retried when the
        // first token arrives.
        if let Err(e) = verifier.refresh_keys(true).await {
            tracing::warn!(error = %e, "signing keys not fetched yet");
        }
        Ok(verifier)
    }

    async fn refresh_keys(&self, force: bool) -> Result<bool, String> {
        let KeySource::Remote {
            jwks_url,
            client,
            last_fetch,
        } = &self.source
        else {
            return Ok(false);
        };
        let mut last = last_fetch.lock().await;
        let have_keys = !self
            .keys
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .is_empty();
        if !force && have_keys && last.is_some_and(|t| t.elapsed() < REFETCH_INTERVAL) {
            return Ok(false);
        }
        *last = Some(Instant::now());
        let jwks: Jwks = client
            .get(jwks_url)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| format!("cannot fetch {jwks_url}: {e}"))?
            .json()
            .await
            .map_err(|e| format!("bad JWKS at {jwks_url}: {e}"))?;
        let map = jwks_to_map(&jwks);
        tracing::info!(
            keys = map.len(),
            "fetched signing keys from the auth service"
        );
        *self.keys.write().unwrap_or_else(|e| e.into_inner()) = map;
        Ok(true)
    }

    fn key(&self, kid: &str) -> Option<DecodingKey> {
        self.keys
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(kid)
            .cloned()
    }

    pub async fn verify(
        &self,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<AccessClaims, TokenError> {
        if let Some(claims) = self.cache.get(token) {
            return check_expiry(claims, now);
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Invalid)?;
        if header.alg != Algorithm::EdDSA {
            return Err(TokenError::Invalid);
        }
        let kid = header.kid.ok_or(TokenError::Invalid)?;
        let key = match self.key(&kid) {
            Some(key) => key,
            None => {
                if self.refresh_keys(false).await.unwrap_or(false) {
                    self.key(&kid).ok_or(TokenError::UnknownKey)?
                } else {
                    return Err(TokenError::UnknownKey);
                }
            }
        };
        let data = jsonwebtoken::decode::<AccessClaims>(token, &key, &self.validation)
            .map_err(|_| TokenError::Invalid)?;
        let claims = check_expiry(data.claims, now)?;
        self.cache.insert(Arc::from(token), claims.clone());
        Ok(claims)
    }
}

fn check_expiry(claims: AccessClaims, now: DateTime<Utc>) -> Result<AccessClaims, TokenError> {
    if claims.exp <= now.timestamp() {
        Err(TokenError::Expired)
    } else {
        Ok(claims)
    }
}

fn jwks_to_map(jwks: &Jwks) -> HashMap<String, DecodingKey> {
    jwks.keys
        .iter()
        .filter_map(|k| Some((k.kid.clone(), k.decoding_key()?)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::SigningKey;

    fn keys() -> SigningKeys {
        SigningKeys::single(SigningKey::generate().unwrap())
    }

    #[tokio::test]
    async fn issued_token_verifies_until_it_expires() {
        let keys = keys();
        let verifier = TokenVerifier::local(&keys);
        let now = Utc::now();
        let user = Uuid::now_v7();
        let token = issue_access_token(&keys, user, Uuid::now_v7(), now, Duration::from_secs(900));
        assert_eq!(verifier.verify(&token, now).await.unwrap().sub, user);
        // Second time from the cache, same answer.
        assert_eq!(verifier.verify(&token, now).await.unwrap().sub, user);
        let later = now + chrono::TimeDelta::seconds(901);
        assert_eq!(
            verifier.verify(&token, later).await,
            Err(TokenError::Expired)
        );
    }

    #[tokio::test]
    async fn forged_tokens_are_refused() {
        let keys = keys();
        let verifier = TokenVerifier::local(&keys);
        let now = Utc::now();
        let token = issue_access_token(
            &keys,
            Uuid::now_v7(),
            Uuid::now_v7(),
            now,
            Duration::from_secs(900),
        );
        let parts: Vec<&str> = token.split('.').collect();

        // Payload changed, signature kept.
        let mut claims: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        claims["sub"] = serde_json::json!(Uuid::now_v7());
        let forged = format!(
            "{}.{}.{}",
            parts[0],
            URL_SAFE_NO_PAD.encode(claims.to_string()),
            parts[2]
        );
        assert_eq!(
            verifier.verify(&forged, now).await,
            Err(TokenError::Invalid)
        );

        // alg: none.
        let none_header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
        let none = format!("{none_header}.{}.", parts[1]);
        assert!(verifier.verify(&none, now).await.is_err());

        // Signed by a key the verifier does not know.
        let other = issue_access_token(
            &keys_other(),
            Uuid::now_v7(),
            Uuid::now_v7(),
            now,
            Duration::from_secs(900),
        );
        assert_eq!(
            verifier.verify(&other, now).await,
            Err(TokenError::UnknownKey)
        );

        assert_eq!(
            verifier.verify("garbage", now).await,
            Err(TokenError::Invalid)
        );
    }

    fn keys_other() -> SigningKeys {
        keys()
    }
}
