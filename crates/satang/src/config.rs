//! Configuration: flags, `SATANG_*` environment variables and an optional TOML file, in that
//! order of precedence. Every setting has a default that runs Satang on one machine.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use clap::builder::BoolishValueParser;

use satang_api::ApiConfig;

/// Switches (`--demo`, `--test-clock`, `--trust-forwarded-for`) also read their environment
/// variable as `1`/`0`, `yes`/`no` or `on`/`off`, not only `true`/`false`: the SPEC and the
/// README write `SATANG_TEST_CLOCK=1`.
#[derive(Debug, Clone, Args)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "SATANG_ADDR", default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,

    /// The executable that answers password-strength checks in a child process
    /// (`satang_auth::strength`): `satang serve` sets it to itself. None: checked in-process.
    #[arg(skip)]
    pub password_checker: Option<PathBuf>,

    /// The server's certificate chain, a PEM file (leaf first): with `--tls-key`, Satang serves
    /// HTTPS on `--addr` (rustls; HSTS and `Secure` cookies) instead of plain HTTP.
    #[arg(long, env = "SATANG_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,

    /// The certificate's private key, a PEM file (PKCS#8, PKCS#1 or SEC1).
    #[arg(long, env = "SATANG_TLS_KEY")]
    pub tls_key: Option<PathBuf>,

    /// Directory for the SQLite database, generated keys and outboxes.
    #[arg(long, env = "SATANG_DATA_DIR", default_value = "./satang-data")]
    pub data_dir: PathBuf,

    /// PostgreSQL URL (`postgres://…`); without it Satang uses SQLite in the data directory.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,

    /// Database connections per process: the PostgreSQL pool's size; SQLite uses at most 8.
    #[arg(long, env = "SATANG_DB_MAX_CONNECTIONS", default_value_t = 16)]
    pub db_max_connections: u32,

    /// Seconds to wait for a PostgreSQL connection: at start-up for the server to accept one,
    /// and in a request for a free one from the pool (longer, and the request answers 503).
    #[arg(long, env = "SATANG_DB_CONNECT_TIMEOUT", default_value_t = 10)]
    pub db_connect_timeout: u64,

    /// Log filter (e.g. `info`, `satang=debug`); without it, `RUST_LOG`, else `info`.
    #[arg(long, env = "SATANG_LOG", default_value_t = default_log_filter())]
    pub log: String,

    /// `text` or `json`.
    #[arg(long, env = "SATANG_LOG_FORMAT", default_value = "text")]
    pub log_format: String,

    /// Base URL of the auth service, for `serve customers` (its JWKS verifies tokens).
    #[arg(long, env = "SATANG_AUTH_URL")]
    pub auth_url: Option<String>,

    /// Load the Thai demo data set (once per database).
    #[arg(long, env = "SATANG_DEMO", default_value_t = false, value_parser = BoolishValueParser::new())]
    pub demo: bool,

    /// Seconds between billing runs inside `satang serve` (0 = no scheduler; `satang bill` and
    /// `POST /api/billing/run` still work).
    #[arg(long, env = "SATANG_BILLING_INTERVAL", default_value_t = 60)]
    pub billing_interval: u64,

    /// How often (ms) the webhook worker looks for due deliveries (0 turns delivery off).
    #[arg(long, env = "SATANG_WEBHOOK_INTERVAL_MS", default_value_t = 1000)]
    pub webhook_interval_ms: u64,

    /// First retry delay (ms) of a failed webhook delivery; doubles with every attempt.
    #[arg(long, env = "SATANG_WEBHOOK_RETRY_BASE_MS", default_value_t = 30_000)]
    pub webhook_retry_base_ms: u64,

    /// SMTP server for email notifications: `smtp://host:port` (plain), `smtp://…?tls=required`
    /// (STARTTLS) or `smtps://user:password@host` (TLS). Without it mails are written as `.eml`
    /// files to `<data dir>/outbox/`. Prefer the variable to the flag: a flag shows in `ps`.
    #[arg(long, env = "SATANG_SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<String>,

    /// Sender of email notifications.
    #[arg(
        long,
        env = "SATANG_SMTP_FROM",
        default_value = "Satang <billing@localhost>"
    )]
    pub smtp_from: String,

    /// How often (ms) the email worker looks for due mails (0 turns sending off; mails still
    /// queue).
    #[arg(long, env = "SATANG_EMAIL_INTERVAL_MS", default_value_t = 1000)]
    pub email_interval_ms: u64,

    /// First retry delay (ms) of a mail that could not be sent; doubles with every attempt.
    #[arg(long, env = "SATANG_EMAIL_RETRY_BASE_MS", default_value_t = 60_000)]
    pub email_retry_base_ms: u64,

    /// Enables `/api/test-clock`. Never in production.
    #[arg(long, env = "SATANG_TEST_CLOCK", default_value_t = false, value_parser = BoolishValueParser::new())]
    pub test_clock: bool,

    /// First administrator, created at start-up when no user has this email.
    #[arg(long, env = "SATANG_ADMIN_EMAIL")]
    pub admin_email: Option<String>,
    #[arg(long, env = "SATANG_ADMIN_PASSWORD", hide_env_values = true)]
    pub admin_password: Option<String>,

    /// Base64 PKCS#8 Ed25519 key for signing tokens (default: generated into the data dir).
    #[arg(long, env = "SATANG_JWT_PRIVATE_KEY", hide_env_values = true)]
    pub jwt_private_key: Option<String>,

    /// Base64 32-byte key for secrets at rest (default: generated into the data dir).
    #[arg(long, env = "SATANG_ENCRYPTION_KEY", hide_env_values = true)]
    pub encryption_key: Option<String>,

    /// Access token lifetime in seconds.
    #[arg(long, env = "SATANG_ACCESS_TOKEN_TTL", default_value_t = 900)]
    pub access_token_ttl: u64,

    /// Refresh token lifetime in seconds.
    #[arg(long, env = "SATANG_REFRESH_TOKEN_TTL", default_value_t = 30 * 24 * 3600)]
    pub refresh_token_ttl: u64,

    /// URL people reach Satang at (used in invitation links and emails); `https://…` makes the
    /// console's cookies `Secure`. Default: `http://<addr>`, or `https://<addr>` with TLS.
    #[arg(long, env = "SATANG_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// Opn Payments' API (a setting only so that tests can point it at a local stand-in).
    #[arg(
        long,
        env = "SATANG_OPN_API_URL",
        default_value = "https://api.omise.co"
    )]
    pub opn_api_url: String,

    /// Stripe's API (a setting only so that tests can point it at a local stand-in).
    #[arg(
        long,
        env = "SATANG_STRIPE_API_URL",
        default_value = "https://api.stripe.com"
    )]
    pub stripe_api_url: String,

    /// Take the client address from `X-Forwarded-For` (only behind a trusted proxy).
    #[arg(long, env = "SATANG_TRUST_FORWARDED_FOR", default_value_t = false, value_parser = BoolishValueParser::new())]
    pub trust_forwarded_for: bool,

    /// How long (ms) a process may serve a user's enabled state and roles from memory.
    #[arg(long, env = "SATANG_USER_CACHE_MS", default_value_t = 1000)]
    pub user_cache_ms: u64,

    /// Largest request body in bytes.
    #[arg(long, env = "SATANG_MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
    pub max_body_bytes: usize,

    /// Request timeout in seconds.
    #[arg(long, env = "SATANG_REQUEST_TIMEOUT", default_value_t = 30)]
    pub request_timeout: u64,

    /// Seconds a client may take to send a request's head (request line and headers): from its
    /// first byte, or on a new connection from accepting it. Slower clients are disconnected
    /// (0 = no limit).
    #[arg(long, env = "SATANG_HEADER_READ_TIMEOUT", default_value_t = 10)]
    pub header_read_timeout: u64,

    /// Seconds a kept-alive connection may wait for its next request before it is closed
    /// (0 = no limit).
    #[arg(long, env = "SATANG_IDLE_TIMEOUT", default_value_t = 60)]
    pub idle_timeout: u64,

    /// Open connections per client address (IPv6: per /64); more are closed as they arrive
    /// (0 = no limit). Not applied with `--trust-forwarded-for`: every connection then comes
    /// from the proxy.
    #[arg(long, env = "SATANG_MAX_CONNECTIONS_PER_IP", default_value_t = 256)]
    pub max_connections_per_ip: u32,

    /// Open connections in all; further ones wait to be accepted. Never more than the
    /// process's open-file limit less 256 (kept for the database and files).
    #[arg(long, env = "SATANG_MAX_CONNECTIONS", default_value_t = 10_000)]
    pub max_connections: u32,

    /// Requests per second per client address (0 turns the limit off).
    #[arg(long, env = "SATANG_API_RATE_LIMIT", default_value_t = 200)]
    pub api_rate_limit: u32,

    /// Failed logins per account, and per client address, before 429.
    #[arg(long, env = "SATANG_LOGIN_FAILURES_PER_ACCOUNT", default_value_t = 5)]
    pub login_failures_per_account: u32,
    #[arg(long, env = "SATANG_LOGIN_FAILURES_PER_IP", default_value_t = 20)]
    pub login_failures_per_ip: u32,
    /// Window of the failed-login and the signup limits, in seconds.
    #[arg(long, env = "SATANG_LOGIN_FAILURE_WINDOW", default_value_t = 900)]
    pub login_failure_window: u64,

    /// Signups per e-mail address, and per client address, before 429 (each attempt counts:
    /// a signup tells whether an address already has an account).
    #[arg(long, env = "SATANG_SIGNUP_ATTEMPTS_PER_EMAIL", default_value_t = 5)]
    pub signup_attempts_per_email: u32,
    #[arg(long, env = "SATANG_SIGNUP_ATTEMPTS_PER_IP", default_value_t = 10)]
    pub signup_attempts_per_ip: u32,

    /// argon2id memory (KiB), passes and lanes.
    #[arg(long, env = "SATANG_ARGON2_MEMORY_KIB", default_value_t = 19 * 1024)]
    pub argon2_memory_kib: u32,
    #[arg(long, env = "SATANG_ARGON2_ITERATIONS", default_value_t = 2)]
    pub argon2_iterations: u32,
    #[arg(long, env = "SATANG_ARGON2_PARALLELISM", default_value_t = 1)]
    pub argon2_parallelism: u32,

    /// The seller's e-Tax signing certificate and RSA key, a PKCS#12 (.p12/.pfx) file: with it
    /// every tax document's XML is signed (XAdES-BES). It takes precedence over a certificate
    /// uploaded in Settings; with neither the XML is unsigned.
    #[arg(long, env = "SATANG_ETAX_P12")]
    pub etax_p12: Option<PathBuf>,
    /// The PKCS#12 file's password.
    #[arg(
        long,
        env = "SATANG_ETAX_P12_PASSWORD",
        hide_env_values = true,
        default_value = ""
    )]
    pub etax_p12_password: String,
}

impl Config {
    pub fn api_config(&self) -> ApiConfig {
        ApiConfig {
            access_token_ttl: Duration::from_secs(self.access_token_ttl),
            refresh_token_ttl: Duration::from_secs(self.refresh_token_ttl),
            invitation_ttl: Duration::from_secs(7 * 24 * 3600),
            public_url: self
                .public_url
                .clone()
                .unwrap_or_else(|| format!("{}://{}", self.scheme(), self.addr)),
            trust_forwarded_for: self.trust_forwarded_for,
            user_cache_ttl: Duration::from_millis(self.user_cache_ms),
            max_body_bytes: self.max_body_bytes,
            request_timeout: Duration::from_secs(self.request_timeout),
            api_rate_per_second: self.api_rate_limit,
            login_failures_per_account: self.login_failures_per_account,
            login_failures_per_ip: self.login_failures_per_ip,
            login_failure_window: Duration::from_secs(self.login_failure_window),
            signup_attempts_per_email: self.signup_attempts_per_email,
            signup_attempts_per_ip: self.signup_attempts_per_ip,
        }
    }

    /// `https` when Satang terminates TLS itself (`--tls-cert` and `--tls-key`), else `http`.
    pub fn scheme(&self) -> &'static str {
        if self.tls_cert.is_some() && self.tls_key.is_some() {
            "https"
        } else {
            "http"
        }
    }

    /// Defaults for an embedded server in `dir` on a free port (used by tests and tools).
    pub fn for_data_dir(dir: PathBuf) -> Config {
        use clap::Parser;
        #[derive(Parser)]
        struct Only {
            #[command(flatten)]
            config: Config,
        }
        // Parse an empty command line without reading the environment's SATANG_* variables
        // for settings the caller will overwrite anyway.
        let mut config = Only::parse_from(["satang"]).config;
        config.data_dir = dir;
        config.addr = "127.0.0.1:0".parse().unwrap_or(config.addr);
        config
    }
}

/// The log filter when `SATANG_LOG` is not given: `RUST_LOG`, as Rust operators expect.
fn default_log_filter() -> String {
    std::env::var("RUST_LOG")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| "info".into())
}
