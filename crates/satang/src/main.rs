//! `satang`: serve the API and console, run migrations, manage users and keys.

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};

use satang::{Config, Server, admin, logging, shutdown_signal};
use satang_api::Services;
use satang_auth::{SigningKeys, StaffRole};

#[derive(Parser)]
#[command(
    name = "satang",
    version,
    about = "Customer management and subscription billing"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API (and later the console) on one port.
    Serve {
        /// Which services to run in this process.
        #[arg(value_enum, default_value = "all")]
        services: ServiceArg,
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
    /// Manage the token signing keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
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

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve { services, config } => {
            logging::init(&config.log, &config.log_format);
            let services = match services {
                ServiceArg::All => Services::All,
                ServiceArg::Auth => Services::Auth,
                ServiceArg::Customers => Services::Customers,
            };
            let server = Server::start(&config, services).await?;
            shutdown_signal().await;
            server.stop().await?;
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
                "user.created",
            )
            .await?;
            println!("created user {} ({})", added.user.email, added.user.id);
            if let Some(url) = added.invitation_url {
                println!("invitation link (valid 7 days): {url}");
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
