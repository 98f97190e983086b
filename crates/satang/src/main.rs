//! `satang`: serve the API and console, run migrations, manage users and keys.

use std::ffi::OsStr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};

use satang::{Config, Server, admin, backup, logging, shutdown_signal};
use satang_api::Services;
use satang_api::routes::imports::{ImportReportView, refusal_detail};
use satang_auth::{SigningKeys, StaffRole, strength};
use satang_billing::imports::ImportOptions;

/// mimalloc instead of glibc's malloc: a list page decodes, builds and serialises thousands of
/// small strings, and under glibc a fifth of the server's CPU went to `malloc`, `free` and
/// their consolidation (`perf`, BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "satang",
    version,
    about = "Customer management and subscription billing"
)]
struct Cli {
    /// A TOML file of settings (keys as the long flag names with `_`, e.g. `api_rate_limit = 50`).
    /// Flags and environment variables win over the file; the file wins over defaults.
    #[arg(long, global = true, env = "SATANG_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the JSON API, the web console, health checks and metrics on one port.
    Serve {
        /// Which services to run in this process (the console comes with `all`).
        #[arg(value_enum, default_value = "all")]
        services: ServiceArg,
        #[command(flatten)]
        config: Config,
    },
    /// Serve with the Thai demo data set loaded (same as `serve --demo`).
    Demo {
        #[command(flatten)]
        config: Config,
    },
    /// Run the billing engine once (invoice every due subscription), print its report, exit.
    Bill {
        #[command(flatten)]
        config: Config,
    },
    /// Run database migrations and exit.
    Migrate {
        #[command(flatten)]
        config: Config,
    },
    /// Manage users.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Back the database up while Satang runs: SQLite as a consistent copy; PostgreSQL with
    /// `pg_dump --format=custom` when it is installed, else the command to run is printed.
    /// Keep `encryption.key` and `jwt-keys.json` of the data directory with the backups.
    Backup {
        /// The new file to write, e.g. `satang-backup-2026-11-24.db`.
        #[arg(long)]
        to: PathBuf,
        #[command(flatten)]
        config: Config,
    },
    /// Restore a backup made by `satang backup` (stop Satang first): SQLite into the data
    /// directory, PostgreSQL with `pg_restore` (else the command to run is printed). The file
    /// is checked before anything changes; the result is migrated, ready to serve.
    Restore {
        /// The backup to restore.
        #[arg(long)]
        from: PathBuf,
        /// Replace a database that is already there (SQLite keeps it beside the restored one
        /// as `satang.db.before-restore-…`).
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        config: Config,
    },
    /// Manage the token signing keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Import records from a CSV file (header row first), like POST /api/imports/….
    Import {
        #[command(subcommand)]
        command: ImportCommand,
    },
}

#[derive(Subcommand)]
enum ImportCommand {
    /// Customers: columns name, legal_name, tax_id, branch_code, email, phone, billing_email,
    /// address_line1 … address_country, currency, locale, payment_terms_days, metadata. Prints
    /// the report as JSON; exits non-zero when a row fails (then nothing is written, unless
    /// --partial).
    Customers {
        #[command(flatten)]
        args: ImportArgs,
        #[command(flatten)]
        config: Config,
    },
    /// Running subscriptions of customers already imported: columns customer_tax_id,
    /// customer_branch_code, customer_email or customer_id; plan_code, interval, quantity,
    /// unit_price (baht), start_date, current_period_end, collection_method. Nothing is
    /// invoiced now: the billing run invoices the next period on current_period_end. Prints the
    /// report as JSON; exits non-zero when a row fails (then nothing is written, unless
    /// --partial).
    Subscriptions {
        #[command(flatten)]
        args: ImportArgs,
        #[command(flatten)]
        config: Config,
    },
}

#[derive(clap::Args)]
struct ImportArgs {
    /// The CSV file (UTF-8).
    file: PathBuf,
    /// Check and report, write nothing.
    #[arg(long)]
    dry_run: bool,
    /// Write the good rows even when others fail.
    #[arg(long)]
    partial: bool,
    /// The language of the report's messages.
    #[arg(long, value_enum, default_value = "en")]
    lang: LangArg,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum LangArg {
    En,
    Th,
}

#[derive(Clone, Copy, ValueEnum)]
enum ServiceArg {
    All,
    Auth,
    Customers,
}

#[derive(Subcommand)]
enum UserCommand {
    /// Add a staff user; without a password an invitation link is printed.
    Add {
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: Option<String>,
        /// One of admin, billing, support, viewer (repeatable).
        #[arg(long = "role", required = true)]
        roles: Vec<String>,
        /// Read the password from this environment variable instead of inviting.
        #[arg(long)]
        password_env: Option<String>,
        #[command(flatten)]
        config: Config,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Add a new signing key; tokens signed by older keys keep verifying until they expire.
    Rotate {
        #[command(flatten)]
        config: Config,
    },
}

/// Turns each `key = value` of the TOML file into the default of the setting of that name.
fn apply_config_file(mut command: clap::Command) -> anyhow::Result<clap::Command> {
    let args: Vec<String> = std::env::args().collect();
    let from_flag = args
        .iter()
        .position(|a| a == "--config")
        .and_then(|i| args.get(i + 1).cloned())
        .or_else(|| {
            args.iter()
                .find_map(|a| a.strip_prefix("--config=").map(str::to_owned))
        });
    let Some(path) = from_flag.or_else(|| std::env::var("SATANG_CONFIG").ok()) else {
        return Ok(command);
    };
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
    let table: toml::Table = text
        .parse()
        .with_context(|| format!("{path} is not valid TOML"))?;
    for (key, value) in table {
        let value = match value {
            toml::Value::String(s) => s,
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            toml::Value::Float(f) => f.to_string(),
            _ => anyhow::bail!("{path}: `{key}` must be a string, number or boolean"),
        };
        let mut known = false;
        command = set_default(command, &key, &value, &mut known);
        anyhow::ensure!(known, "{path}: `{key}` is not a setting of satang");
    }
    Ok(command)
}

fn set_default(command: clap::Command, key: &str, value: &str, known: &mut bool) -> clap::Command {
    let names: Vec<String> = command
        .get_subcommands()
        .map(|s| s.get_name().to_owned())
        .collect();
    let mut command = command;
    if command.get_arguments().any(|a| a.get_id() == key) {
        *known = true;
        let value = value.to_owned();
        command = command.mut_arg(key, |a| a.default_value(value));
    }
    for name in names {
        command = command.mut_subcommand(name, |sub| set_default(sub, key, value, known));
    }
    command
}

/// glibc serves a freed 19 MiB argon2 block from its heap ever after once its adaptive mmap
/// threshold has grown past it, so a burst of logins leaves hundreds of MB resident. A fixed
/// 1 MiB threshold sends such blocks back to the operating system when they are freed.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn return_large_blocks_to_the_os() {
    // SAFETY: mallopt only tunes the allocator; it is called once, before any thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn return_large_blocks_to_the_os() {}

/// Many systems start a process with a soft limit of 1,024 open files and a far higher hard
/// limit; the server counts its connection limit from the soft one (`connections::Limits`), so
/// raise it to the hard limit first, as Go's runtime does.
#[cfg(unix)]
fn raise_open_file_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit read and write the struct they are given, nothing else.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max
        {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

#[cfg(not(unix))]
fn raise_open_file_limit() {}

/// This executable, to check chosen passwords in short-lived children of it: zxcvbn's
/// dictionaries would otherwise stay in the server's memory for good.
fn password_checker() -> Option<PathBuf> {
    std::env::current_exe()
        .inspect_err(|e| tracing::warn!(error = %e, "passwords are checked in-process"))
        .ok()
}

fn main() -> anyhow::Result<()> {
    // The server's password-strength checks (`satang_auth::strength`): answered before a
    // runtime, a configuration or a log exists, so the child starts and leaves at once.
    if std::env::args_os().nth(1).as_deref() == Some(OsStr::new(strength::CHILD_COMMAND)) {
        return strength::answer_child(std::io::stdin().lock(), std::io::stdout().lock())
            .context("password-strength: expected one JSON question on stdin");
    }
    return_large_blocks_to_the_os();
    raise_open_file_limit();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run())
}

async fn run() -> anyhow::Result<()> {
    let matches = apply_config_file(Cli::command())?.get_matches();
    let cli = Cli::from_arg_matches(&matches)?;
    match cli.command {
        Command::Serve {
            services,
            mut config,
        } => {
            logging::init(&config.log, &config.log_format);
            config.password_checker = password_checker();
            let services = match services {
                ServiceArg::All => Services::All,
                ServiceArg::Auth => Services::Auth,
                ServiceArg::Customers => Services::Customers,
            };
            let server = Server::start(&config, services).await?;
            shutdown_signal().await;
            server.stop().await?;
        }
        Command::Demo { mut config } => {
            logging::init(&config.log, &config.log_format);
            config.demo = true;
            config.password_checker = password_checker();
            let server = Server::start(&config, Services::All).await?;
            shutdown_signal().await;
            server.stop().await?;
        }
        Command::Bill { config } => {
            logging::init_stderr(&config.log, &config.log_format);
            let db = satang::open_db(&config).await?;
            let clock = satang::scheduler::clock_for(&config, &db).await?;
            let report = satang_billing::run_billing(&db, &clock, clock.now()).await?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            let state = satang::build_state(&config, Services::All, db).await;
            match state {
                Ok(state) => {
                    let actor = satang_store::audit::Actor {
                        request_id: Some("satang-bill".into()),
                        ..Default::default()
                    };
                    let collected = state
                        .collect_payments(&actor)
                        .await
                        .map_err(|e| anyhow::anyhow!("{e}"))?;
                    println!("{}", serde_json::to_string_pretty(&collected)?);
                }
                Err(e) => tracing::warn!(error = %e, "automatic collection skipped"),
            }
        }
        Command::Migrate { config } => {
            logging::init(&config.log, &config.log_format);
            satang::open_db(&config).await?;
            println!("migrations are up to date");
        }
        Command::User {
            command:
                UserCommand::Add {
                    email,
                    name,
                    roles,
                    password_env,
                    config,
                },
        } => {
            logging::init("warn", &config.log_format);
            let roles = roles
                .iter()
                .map(|r| {
                    StaffRole::parse(r).with_context(|| {
                        format!("'{r}' is not a role (admin, billing, support, viewer)")
                    })
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            let password = match password_env {
                Some(var) => {
                    Some(std::env::var(&var).with_context(|| format!("{var} is not set"))?)
                }
                None => None,
            };
            let db = satang::open_db(&config).await?;
            let state = satang::build_state(&config, Services::Auth, db).await?;
            let name = name.unwrap_or_else(|| email.split('@').next().unwrap_or("").to_owned());
            let added = admin::add_user(
                &state,
                &email,
                &name,
                password.as_deref(),
                &roles,
                satang_billing::users::CreatedBy::Administrator,
            )
            .await?;
            println!("created user {} ({})", added.user.email, added.user.id);
            if let Some(url) = added.invitation_url {
                println!("invitation link (valid 7 days): {url}");
            }
        }
        Command::Backup { to, config } => {
            logging::init("warn", &config.log_format);
            backup::backup(&config, &to).await?;
        }
        Command::Restore {
            from,
            force,
            config,
        } => {
            logging::init("warn", &config.log_format);
            backup::restore(&config, &from, force).await?;
        }
        Command::Import { command } => {
            let (kind, args, config) = match command {
                ImportCommand::Customers { args, config } => {
                    (admin::ImportKind::Customers, args, config)
                }
                ImportCommand::Subscriptions { args, config } => {
                    (admin::ImportKind::Subscriptions, args, config)
                }
            };
            logging::init_stderr("warn", &config.log_format);
            let options = ImportOptions {
                dry_run: args.dry_run,
                partial: args.partial,
            };
            let report = admin::import(&config, kind, &args.file, options).await?;
            let thai = args.lang == LangArg::Th;
            let view = ImportReportView::of(&report, thai);
            println!("{}", serde_json::to_string_pretty(&view)?);
            if report.refused {
                anyhow::bail!(
                    "nothing was imported: {} ({} errors, listed above); fix the rows or use --partial",
                    refusal_detail(&report).text(thai),
                    report.errors.len()
                );
            }
        }
        Command::Keys {
            command: KeysCommand::Rotate { config },
        } => {
            std::fs::create_dir_all(&config.data_dir)?;
            let kid = SigningKeys::rotate(&config.data_dir)?;
            println!("new signing key {kid}; restart the auth service to sign with it");
        }
    }
    Ok(())
}
