//! What every handler can reach: the database, the clock, keys, limits and configuration.

use std::ops::Deref;
use std::sync::Arc;
use std::time::{Duration, Instant};

use uuid::Uuid;

use satang_auth::crypto::SecretBox;
use satang_auth::limiter::FailureLimiter;
use satang_auth::password::PasswordHasher;
use satang_auth::strength::StrengthCheck;
use satang_auth::{SigningKeys, StaffRole, TokenVerifier};
use satang_store::clock::Clock;
use satang_store::{Db, memberships, refresh_tokens, users};

/// Settings of the HTTP layer, filled from the binary's configuration.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    pub access_token_ttl: Duration,
    pub refresh_token_ttl: Duration,
    pub invitation_ttl: Duration,
    /// Base URL people reach the console at; invitation links start with it.
    pub public_url: String,
    pub trust_forwarded_for: bool,
    /// How long a user's enabled/roles state, and whether a login is still live, may be served
    /// from memory by this process. A change made through this process takes effect at once
    /// regardless.
    pub user_cache_ttl: Duration,
    pub max_body_bytes: usize,
    pub request_timeout: Duration,
    /// Requests per second allowed per client address across the API (0 = no limit).
    pub api_rate_per_second: u32,
    pub login_failures_per_account: u32,
    pub login_failures_per_ip: u32,
    /// Window of the failed-login and the signup limits.
    pub login_failure_window: Duration,
    pub signup_attempts_per_email: u32,
    pub signup_attempts_per_ip: u32,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            access_token_ttl: Duration::from_secs(15 * 60),
            refresh_token_ttl: Duration::from_secs(30 * 24 * 3600),
            invitation_ttl: Duration::from_secs(7 * 24 * 3600),
            public_url: "http://127.0.0.1:8080".into(),
            trust_forwarded_for: false,
            user_cache_ttl: Duration::from_secs(1),
            max_body_bytes: 1024 * 1024,
            request_timeout: Duration::from_secs(30),
            api_rate_per_second: 0,
            login_failures_per_account: 5,
            login_failures_per_ip: 20,
            login_failure_window: Duration::from_secs(15 * 60),
            signup_attempts_per_email: 5,
            signup_attempts_per_ip: 10,
        }
    }
}

/// Which parts of the API this process serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Services {
    /// Everything in one process.
    All,
    /// `/api/auth`, `/api/users` and the JWKS.
    Auth,
    /// Everything else; tokens are verified with the auth service's JWKS.
    Customers,
}

impl Services {
    pub fn serves_auth(self) -> bool {
        matches!(self, Services::All | Services::Auth)
    }

    pub fn serves_customers(self) -> bool {
        matches!(self, Services::All | Services::Customers)
    }
}

pub struct Inner {
    pub db: Db,
    pub clock: Clock,
    pub services: Services,
    /// Present where this process issues tokens (the auth service).
    pub signing_keys: Option<SigningKeys>,
    pub verifier: TokenVerifier,
    pub hasher: PasswordHasher,
    /// Where a chosen password's strength is checked (a child process in `satang serve`).
    pub strength: StrengthCheck,
    pub secrets: SecretBox,
    pub config: ApiConfig,
    pub login_by_ip: FailureLimiter,
    pub login_by_account: FailureLimiter,
    /// Signup attempts: each one tells whether an address has an account.
    pub signup_by_ip: FailureLimiter,
    pub signup_by_email: FailureLimiter,
    pub users: UserCache,
    /// Live API keys by the hash of their secret (`Authorization: Bearer sk_…`).
    pub api_keys: crate::api_key_cache::ApiKeyCache,
    /// Customers' entitlements, for the hot-path check; a handler whose operation changed them
    /// forgets them here.
    pub entitlements: Arc<satang_billing::entitlement_cache::EntitlementCache>,
    /// Caps concurrent argon2 computations at the core count: a burst of logins queues instead
    /// of multiplying CPU and memory (each hash holds its own memory block).
    pub hashing: tokio::sync::Semaphore,
    /// Where cards are tokenised and charged (the built-in sandbox unless configured).
    pub gateway: Arc<dyn satang_billing::gateway::PaymentGateway>,
    /// Opn Payments' and Stripe's APIs (their keys are settings, read per use).
    pub providers: satang_billing::providers::Providers,
    /// Applies the providers' webhook deliveries, those arriving together in one transaction.
    pub webhooks: satang_billing::providers::Applier,
    /// Signs and checks payment links (`/pay/{token}`).
    pub pay_link_key: satang_auth::crypto::MacKey,
    /// Signs the tax documents' e-Tax XML: the certificate of `SATANG_ETAX_P12`, else the one
    /// uploaded in Settings (swapped on upload); none: the XML stays unsigned.
    pub etax_signers: satang_billing::etax_certificate::EtaxSigners,
}

impl Inner {
    /// Charges due invoices and applies dunning (after each billing run).
    pub async fn collect_payments(
        &self,
        actor: &satang_store::audit::Actor,
    ) -> Result<satang_billing::collection::CollectionReport, crate::ApiError> {
        let open = |sealed: &[u8]| {
            self.secrets
                .open(sealed)
                .ok()
                .and_then(|t| String::from_utf8(t).ok())
        };
        let keys = satang_billing::providers::Keyring::load(&self.db, &self.secrets)
            .await
            .map_err(|e| crate::ApiError::Internal(e.to_string()))?;
        let providers = keys
            .configured()
            .into_iter()
            .filter_map(|p| {
                Some(satang_billing::gateway::ProviderGateway {
                    provider: p,
                    http: self.providers.http(p).clone(),
                    secret_key: keys.get(p)?.secret_key.clone(),
                })
            })
            .collect();
        let gateways = satang_billing::gateway::Gateways {
            builtin: self.gateway.as_ref(),
            providers,
        };
        satang_billing::collection::collect_due(&self.db, &gateways, &open, actor, self.clock.now())
            .await
            .map_err(|e| crate::ApiError::Internal(e.to_string()))
    }
}

impl Inner {
    /// Hashes a password on the blocking pool, at most one hash per core at a time.
    pub async fn hash_password(&self, password: String) -> Result<String, crate::ApiError> {
        let _permit = self
            .hashing
            .acquire()
            .await
            .map_err(|e| crate::ApiError::Internal(e.to_string()))?;
        let hasher = self.hasher.clone();
        tokio::task::spawn_blocking(move || hasher.hash(&password))
            .await
            .map_err(|e| crate::ApiError::Internal(e.to_string()))
    }

    /// Why a newly chosen password is refused (`password::check_strength`), checked with at
    /// most one check or hash per core at a time.
    pub async fn check_password_strength(
        &self,
        password: &str,
        user_inputs: &[&str],
    ) -> Result<(), String> {
        let _permit = self.hashing.acquire().await;
        self.strength.check(password, user_inputs).await
    }

    /// Checks a password against a stored hash (or spends the same time when there is none, so
    /// an unknown account cannot be told apart by timing).
    pub async fn verify_password(
        &self,
        password: String,
        stored: Option<String>,
    ) -> Result<bool, crate::ApiError> {
        let _permit = self
            .hashing
            .acquire()
            .await
            .map_err(|e| crate::ApiError::Internal(e.to_string()))?;
        let hasher = self.hasher.clone();
        tokio::task::spawn_blocking(move || match stored {
            Some(hash) => hasher.verify(&password, &hash),
            None => {
                hasher.verify_dummy(&password);
                false
            }
        })
        .await
        .map_err(|e| crate::ApiError::Internal(e.to_string()))
    }
}

/// One permit per core for password hashing.
pub fn hashing_permits() -> tokio::sync::Semaphore {
    tokio::sync::Semaphore::new(std::thread::available_parallelism().map_or(2, |n| n.get()))
}

#[derive(Clone)]
pub struct AppState(pub Arc<Inner>);

impl Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

/// The parts of a user that every authenticated request needs.
#[derive(Debug, Clone)]
pub struct CachedUser {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    pub roles: Vec<StaffRole>,
    pub disabled: bool,
}

impl From<&users::User> for CachedUser {
    fn from(u: &users::User) -> Self {
        CachedUser {
            id: u.id,
            email: u.email.clone(),
            name: u.name.clone(),
            roles: u
                .roles
                .0
                .iter()
                .filter_map(|r| StaffRole::parse(r))
                .collect(),
            disabled: u.disabled,
        }
    }
}

/// A short-lived memory of users by id and of logins (refresh-token families) by id, so an
/// authenticated request does not need a database round trip to learn that its caller is still
/// enabled and its login not ended. Entries live `ttl`; this process drops a user's entry the
/// moment it changes that user, and marks a login ended the moment it ends it. Another process
/// on the same database (`satang serve customers`) learns within `ttl`.
pub struct UserCache {
    cache: quick_cache::sync::Cache<Uuid, (Arc<CachedUser>, Instant)>,
    memberships: quick_cache::sync::Cache<Uuid, (Arc<Vec<memberships::Membership>>, Instant)>,
    /// Login id → (still live, when learnt). An ended login never comes back, so `false` is
    /// kept past `ttl`.
    sessions: quick_cache::sync::Cache<Uuid, (bool, Instant)>,
    ttl: Duration,
}

impl UserCache {
    pub fn new(ttl: Duration) -> Self {
        UserCache {
            cache: quick_cache::sync::Cache::new(100_000),
            memberships: quick_cache::sync::Cache::new(100_000),
            sessions: quick_cache::sync::Cache::new(100_000),
            ttl,
        }
    }

    pub async fn get(
        &self,
        db: &Db,
        id: Uuid,
    ) -> Result<Option<Arc<CachedUser>>, satang_store::Error> {
        if let Some((user, at)) = self.cache.get(&id)
            && at.elapsed() < self.ttl
        {
            return Ok(Some(user));
        }
        let Some(user) = users::find_by_id(db, id).await? else {
            return Ok(None);
        };
        let cached = Arc::new(CachedUser::from(&user));
        self.cache.insert(id, (cached.clone(), Instant::now()));
        Ok(Some(cached))
    }

    /// The customers a user belongs to (for `/api/auth/me`), remembered like the user.
    /// Access decisions never use this: they ask the database (`memberships::role_of`).
    pub async fn memberships(
        &self,
        db: &Db,
        id: Uuid,
    ) -> Result<Arc<Vec<memberships::Membership>>, satang_store::Error> {
        if let Some((list, at)) = self.memberships.get(&id)
            && at.elapsed() < self.ttl
        {
            return Ok(list);
        }
        let list = Arc::new(memberships::for_user(db, id).await?);
        self.memberships.insert(id, (list.clone(), Instant::now()));
        Ok(list)
    }

    /// Whether the login `family_id` (an access token's `sid`) may still be used: not logged
    /// out, not revoked by reuse detection or by disabling its user.
    pub async fn session_is_live(
        &self,
        db: &Db,
        family_id: Uuid,
    ) -> Result<bool, satang_store::Error> {
        if let Some((live, at)) = self.sessions.get(&family_id)
            && (!live || at.elapsed() < self.ttl)
        {
            return Ok(live);
        }
        let live = refresh_tokens::family_is_live(db, family_id).await?;
        self.sessions.insert(family_id, (live, Instant::now()));
        Ok(live)
    }

    /// This process has ended the login `family_id`: its access tokens are refused from now on.
    pub fn end_session(&self, family_id: Uuid) {
        self.sessions.insert(family_id, (false, Instant::now()));
    }

    pub fn invalidate(&self, id: Uuid) {
        self.cache.remove(&id);
        self.memberships.remove(&id);
    }

    /// Forgets every user's memberships (a customer was renamed, deleted, restored or erased).
    pub fn invalidate_memberships(&self) {
        self.memberships.clear();
    }
}
