//! The `satang` binary's library half: configuration, wiring of the store, auth and API into a
//! running server, and the administrative commands. Black-box tests start servers through
//! [`Server::start`] exactly as `satang serve` does.

pub mod admin;
pub mod backup;
pub mod config;
pub mod connections;
pub mod demo;
pub mod emails;
pub mod logging;
pub mod scheduler;
pub mod tls;
pub mod webhooks;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use satang_api::routes::test_clock::OFFSET_KEY;
use satang_api::{AppState, Inner, Services, UserCache};
use satang_auth::crypto::SecretBox;
use satang_auth::keys::{SigningKey, write_private_file};
use satang_auth::limiter::{FailureLimiter, Limit};
use satang_auth::password::PasswordHasher;
use satang_auth::strength::StrengthCheck;
use satang_auth::{SigningKeys, TokenVerifier};
use satang_store::Db;
use satang_store::clock::Clock;

pub use config::Config;

/// Opens the configured database and runs pending migrations.
pub async fn open_db(config: &Config) -> anyhow::Result<Db> {
    let db = match postgres_url(config)? {
        Some(url) => Db::open_postgres_within(
            url,
            config.db_max_connections,
            Duration::from_secs(config.db_connect_timeout.max(1)),
        )
        .await
        .with_context(|| {
            format!(
                "cannot connect to PostgreSQL at {} (DATABASE_URL)",
                postgres_server(url)
            )
        })?,
        None => Db::open_sqlite_with(
            &config.data_dir,
            config
                .db_max_connections
                .min(satang_store::SQLITE_CONNECTIONS),
        )
        .await
        .with_context(|| format!("cannot open SQLite in {}", config.data_dir.display()))?,
    };
    db.migrate().await.context("migrations failed")?;
    Ok(db)
}

/// The PostgreSQL URL of the configuration; `None` for SQLite.
pub fn postgres_url(config: &Config) -> anyhow::Result<Option<&str>> {
    match &config.database_url {
        Some(url) if url.starts_with("postgres") => Ok(Some(url)),
        Some(other) => anyhow::bail!(
            "DATABASE_URL must start with postgres:// (got {}…); leave it unset for SQLite",
            other.chars().take(12).collect::<String>()
        ),
        None => Ok(None),
    }
}

/// `host:port` of a PostgreSQL URL, for messages (the URL itself may hold a password).
fn postgres_server(url: &str) -> String {
    let authority = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = authority.split(['/', '?']).next().unwrap_or("");
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    if host.is_empty() {
        "localhost".into()
    } else {
        host.to_owned()
    }
}

/// The key that encrypts secrets at rest: from the configuration, or generated on first start
/// into the data directory.
fn encryption_key(config: &Config) -> anyhow::Result<[u8; 32]> {
    let encoded = match &config.encryption_key {
        Some(k) => k.clone(),
        None => {
            let path = config.data_dir.join("encryption.key");
            match std::fs::read_to_string(&path) {
                Ok(text) => text,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    let mut key = [0u8; 32];
                    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut key);
                    let text = STANDARD.encode(key);
                    std::fs::create_dir_all(&config.data_dir)?;
                    write_private_file(&path, text.as_bytes())?;
                    tracing::info!(path = %path.display(), "generated a new encryption key");
                    text
                }
                Err(e) => return Err(e).context("cannot read the encryption key"),
            }
        }
    };
    let bytes = STANDARD
        .decode(encoded.trim())
        .context("the encryption key is not base64")?;
    bytes
        .try_into()
        .map_err(|_| anyhow::anyhow!("the encryption key must be 32 bytes"))
}

fn signing_keys(config: &Config) -> anyhow::Result<SigningKeys> {
    Ok(match &config.jwt_private_key {
        Some(key) => SigningKeys::single(SigningKey::from_base64(key)?),
        None => {
            std::fs::create_dir_all(&config.data_dir)?;
            SigningKeys::load_or_create(&config.data_dir)?
        }
    })
}

/// Everything a handler needs, built from the configuration.
pub async fn build_state(config: &Config, services: Services, db: Db) -> anyhow::Result<AppState> {
    let clock = if config.test_clock {
        let offset = satang_store::kv::get(&db, OFFSET_KEY)
            .await?
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        tracing::warn!("the test clock is enabled: /api/test-clock can move time");
        Clock::test(offset)
    } else {
        Clock::system()
    };
    let (signing_keys, verifier) = if services.serves_auth() {
        let keys = signing_keys(config)?;
        let verifier = TokenVerifier::local(&keys);
        (Some(keys), verifier)
    } else {
        let url = config
            .auth_url
            .as_deref()
            .context("`serve customers` needs SATANG_AUTH_URL, the auth service's base URL")?;
        (
            None,
            TokenVerifier::remote(url)
                .await
                .map_err(anyhow::Error::msg)?,
        )
    };
    let api = config.api_config();
    let hasher = PasswordHasher::new(
        config.argon2_memory_kib,
        config.argon2_iterations,
        config.argon2_parallelism,
    )
    .map_err(|e| anyhow::anyhow!("invalid argon2 parameters: {e}"))?;
    let window = api.login_failure_window;
    let secrets = SecretBox::new(&encryption_key(config)?);
    let pay_link_key = secrets.mac_key(satang_billing::pay_links::KEY_PURPOSE);
    let webhooks = satang_billing::providers::Applier::new(db.clone());
    Ok(AppState(Arc::new(Inner {
        db,
        webhooks,
        clock,
        services,
        signing_keys,
        verifier,
        hasher,
        strength: config
            .password_checker
            .clone()
            .map_or(StrengthCheck::InProcess, StrengthCheck::Child),
        secrets,
        providers: satang_billing::providers::Providers::new(
            &config.opn_api_url,
            &config.stripe_api_url,
        ),
        pay_link_key,
        login_by_ip: FailureLimiter::new(Limit {
            max_failures: api.login_failures_per_ip,
            window,
        }),
        login_by_account: FailureLimiter::new(Limit {
            max_failures: api.login_failures_per_account,
            window,
        }),
        signup_by_ip: FailureLimiter::new(Limit {
            max_failures: api.signup_attempts_per_ip,
            window,
        }),
        signup_by_email: FailureLimiter::new(Limit {
            max_failures: api.signup_attempts_per_email,
            window,
        }),
        users: UserCache::new(api.user_cache_ttl),
        api_keys: satang_api::api_key_cache::ApiKeyCache::new(api.user_cache_ttl),
        entitlements: Arc::new(satang_billing::entitlement_cache::EntitlementCache::new()),
        hashing: satang_api::state::hashing_permits(),
        gateway: Arc::new(satang_billing::gateway::SandboxGateway),
        etax_signers: satang_billing::etax_certificate::EtaxSigners::new(etax_signer(config)?),
        config: api,
    })))
}

/// The e-Tax signer of `SATANG_ETAX_P12`; a file that cannot be read stops the start.
fn etax_signer(config: &Config) -> anyhow::Result<Option<Arc<satang_documents::EtaxSigner>>> {
    let Some(path) = &config.etax_p12 else {
        return Ok(None);
    };
    let data = std::fs::read(path)
        .with_context(|| format!("cannot read SATANG_ETAX_P12 {}", path.display()))?;
    let signer = satang_documents::EtaxSigner::from_pkcs12(&data, &config.etax_p12_password)
        .with_context(|| format!("SATANG_ETAX_P12 {}", path.display()))?;
    tracing::info!(subject = signer.subject(), "e-Tax documents are signed");
    Ok(Some(Arc::new(signer)))
}

/// Where email notifications go: the SMTP server of `SATANG_SMTP_URL`, else the data
/// directory's outbox folder. Must run inside the Tokio runtime (the SMTP pool lives there).
fn email_sender(config: &Config) -> anyhow::Result<emails::Sender> {
    let mailer = match &config.smtp_url {
        Some(url) if !url.trim().is_empty() => satang_email::Mailer::smtp(url.trim())?,
        _ => satang_email::Mailer::outbox(config.data_dir.join("outbox")),
    };
    let from = satang_email::transport::parse_from(&config.smtp_from)?;
    emails::Sender::new(
        mailer,
        from,
        std::time::Duration::from_millis(config.email_retry_base_ms),
    )
}

/// A running server.
pub struct Server {
    pub addr: SocketAddr,
    /// Serving HTTPS (built-in TLS).
    pub https: bool,
    pub state: AppState,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
    billing: Option<scheduler::BillingScheduler>,
    webhooks: Option<webhooks::WebhookWorker>,
    emails: Option<emails::EmailWorker>,
    /// Forgets entitlements other processes on the same PostgreSQL changed.
    entitlement_listener: Option<JoinHandle<()>>,
}

impl Server {
    /// Opens the database, prepares keys and the first administrator, binds and serves.
    pub async fn start(config: &Config, services: Services) -> anyhow::Result<Server> {
        // Unusable certificate files stop the start before the database is touched.
        let tls = tls::acceptor(config)?;
        anyhow::ensure!(
            tls.is_none()
                || config
                    .public_url
                    .as_ref()
                    .is_none_or(|u| u.starts_with("https://")),
            "SATANG_PUBLIC_URL must start with https:// when Satang serves TLS itself \
             (SATANG_TLS_CERT): browsers reach it over https"
        );
        let db = open_db(config).await?;
        let state = build_state(config, services, db).await?;
        if services.serves_customers() {
            // The certificate uploaded in Settings, unless the environment's takes precedence.
            state
                .etax_signers
                .refresh(&state.db, &state.secrets)
                .await
                .context("cannot read the uploaded e-Tax certificate")?;
        }
        if services.serves_auth() {
            admin::bootstrap_admin(&state, config).await?;
        }
        if config.demo && demo::load(&state, config.admin_email.as_deref()).await? {
            // The demo's history happened on a demo clock: none of it is anyone's mail.
            satang_store::emails::skip_pending(&state.db, "demo history", state.clock.now())
                .await?;
        }
        let entitlement_listener = if services.serves_customers() {
            state
                .entitlements
                .listen(&state.db)
                .await
                .context("cannot listen for entitlement changes")?
        } else {
            None
        };
        let listener = TcpListener::bind(config.addr)
            .await
            .with_context(|| format!("cannot listen on {}", config.addr))?;
        let addr = listener.local_addr()?;
        let api = satang_api::app(state.clone());
        // The console lives beside the whole API (it signs people in through /api/auth).
        let app = if services == Services::All {
            satang_web::app(state.clone(), api)
        } else {
            api
        };
        let app = if tls.is_some() {
            app.layer(axum::middleware::map_response(strict_transport_security))
        } else {
            app
        };
        let limits = connections::Limits::from_config(config);
        let (tx, rx) = oneshot::channel::<()>();
        let https = tls.is_some();
        let task = tokio::spawn(connections::serve(listener, app, limits, tls, async {
            let _ = rx.await;
        }));
        tracing::info!(
            %addr,
            https,
            ?services,
            backend = ?state.db.backend(),
            max_connections = limits.total,
            "Satang is serving"
        );
        // Billing belongs to the customers side; the auth service never bills.
        let billing = (services.serves_customers() && config.billing_interval > 0).then(|| {
            scheduler::BillingScheduler::start(
                state.clone(),
                std::time::Duration::from_secs(config.billing_interval),
            )
        });
        let webhooks = (services.serves_customers() && config.webhook_interval_ms > 0).then(|| {
            webhooks::WebhookWorker::start(
                state.clone(),
                std::time::Duration::from_millis(config.webhook_interval_ms),
                std::time::Duration::from_millis(config.webhook_retry_base_ms),
            )
        });
        let emails = if services.serves_customers() && config.email_interval_ms > 0 {
            let sender = email_sender(config)?;
            Some(emails::EmailWorker::start(
                state.clone(),
                sender,
                std::time::Duration::from_millis(config.email_interval_ms),
            ))
        } else {
            None
        };
        Ok(Server {
            addr,
            https,
            state,
            shutdown: Some(tx),
            task,
            billing,
            webhooks,
            emails,
            entitlement_listener,
        })
    }

    pub fn url(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// Stops accepting connections and waits for in-flight requests to finish.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(billing) = self.billing.take() {
            billing.stop().await;
        }
        if let Some(webhooks) = self.webhooks.take() {
            webhooks.stop().await;
        }
        if let Some(emails) = self.emails.take() {
            emails.stop().await;
        }
        if let Some(listener) = self.entitlement_listener.take() {
            listener.abort();
        }
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        (&mut self.task).await??;
        Ok(())
    }
}

/// Tells browsers to reach this server over https only (set on every response of a TLS server).
async fn strict_transport_security(
    mut response: axum::response::Response,
) -> axum::response::Response {
    response.headers_mut().insert(
        axum::http::header::STRICT_TRANSPORT_SECURITY,
        axum::http::HeaderValue::from_static(tls::HSTS),
    );
    response
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}

#[cfg(test)]
mod tests {
    use super::postgres_server;

    #[test]
    fn messages_name_the_postgres_server_without_credentials() {
        assert_eq!(
            postgres_server("postgres://satang:secret@db.internal:6432/satang?sslmode=require"),
            "db.internal:6432"
        );
        assert_eq!(
            postgres_server("postgresql://localhost/satang"),
            "localhost"
        );
        assert_eq!(postgres_server("postgres:///satang"), "localhost");
    }
}
