//! The API keys a request may present, remembered briefly so that a key's request needs no
//! database round trip to learn that the key is still live.
//!
//! Entries (a live key, or "no such key") live `ttl`, like the [`crate::UserCache`]: this
//! process forgets them all the moment it revokes a key, so a revoked key is refused at once
//! here and within `ttl` on another process sharing the database. Caching "no such key" is safe:
//! a new key has a new random secret nobody has presented before.
//!
//! `last_used_at` is written at most once a minute per key and process, off the request path
//! (a spawned statement), so a key's thousands of requests a second cost no writes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use uuid::Uuid;

use satang_auth::api_keys::{self as key_rules, ApiKeyGrant};
use satang_store::{Db, api_keys};

/// How often `last_used_at` is written per key.
const LAST_USED_EVERY: Duration = Duration::from_secs(60);

/// A live key as a request needs it.
#[derive(Debug)]
pub struct LiveKey {
    pub id: Uuid,
    pub name: String,
    pub grant: ApiKeyGrant,
}

pub struct ApiKeyCache {
    by_hash: quick_cache::sync::Cache<Vec<u8>, (Option<Arc<LiveKey>>, Instant)>,
    last_used: quick_cache::sync::Cache<Uuid, Instant>,
    ttl: Duration,
}

impl ApiKeyCache {
    pub fn new(ttl: Duration) -> Self {
        ApiKeyCache {
            by_hash: quick_cache::sync::Cache::new(10_000),
            last_used: quick_cache::sync::Cache::new(10_000),
            ttl,
        }
    }

    /// The live key with this secret, if any.
    pub async fn find(
        &self,
        db: &Db,
        secret: &str,
    ) -> Result<Option<Arc<LiveKey>>, satang_store::Error> {
        let hash = key_rules::hash_secret(secret);
        if let Some((key, at)) = self.by_hash.get(&hash)
            && at.elapsed() < self.ttl
        {
            return Ok(key);
        }
        let key = api_keys::find_live_by_hash(db, hash.clone())
            .await?
            .map(|k| {
                Arc::new(LiveKey {
                    id: k.id,
                    name: k.name,
                    grant: ApiKeyGrant {
                        // Stored scopes were checked when the key was made.
                        scopes: key_rules::parse_scopes(&k.scopes.0).unwrap_or_default(),
                    },
                })
            });
        self.by_hash.insert(hash, (key.clone(), Instant::now()));
        Ok(key)
    }

    /// This process revoked a key: every remembered key is looked up again.
    pub fn forget_all(&self) {
        self.by_hash.clear();
    }

    /// Records a use of `key` at `now`, unless one was recorded in the last minute.
    pub fn note_use(&self, db: &Db, key: Uuid, now: DateTime<Utc>) {
        if self
            .last_used
            .get(&key)
            .is_some_and(|at| at.elapsed() < LAST_USED_EVERY)
        {
            return;
        }
        self.last_used.insert(key, Instant::now());
        let db = db.clone();
        tokio::spawn(async move {
            if let Err(e) = api_keys::touch(&db, key, now).await {
                tracing::warn!(error = %e, "could not record an API key's last use");
            }
        });
    }
}
