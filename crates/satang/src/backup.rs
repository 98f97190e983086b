//! `satang backup` and `satang restore` (SPEC §6).
//!
//! SQLite: the store writes a consistent copy while Satang serves (`VACUUM INTO`, one
//! snapshot) and restores one into the data directory. PostgreSQL: `pg_dump --format=custom`
//! and `pg_restore` when PostgreSQL's client tools are installed; otherwise the exact command
//! to run is printed. The tools get the connection without its password, which travels in
//! `PGPASSWORD` so that it never shows in the process list.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::Context;
use satang_store::restore;
use tokio::process::Command;

use crate::{Config, open_db, postgres_server, postgres_url};

/// Writes a backup of the configured database to `to`, which must not exist.
pub async fn backup(config: &Config, to: &Path) -> anyhow::Result<()> {
    anyhow::ensure!(
        !to.exists(),
        "{} exists already; choose a new file",
        to.display()
    );
    let Some(url) = postgres_url(config)? else {
        // A backup copies what is there: no database is created, none is migrated.
        let db = satang_store::Db::open_existing_sqlite(&config.data_dir).await?;
        db.backup_sqlite(to).await?;
        db.close().await;
        println!(
            "wrote a consistent copy of the database to {}",
            to.display()
        );
        return Ok(());
    };
    let Some(pg_dump) = on_path("pg_dump") else {
        println!(
            "pg_dump is not installed here. Back the PostgreSQL database up with it where it \
             is (PostgreSQL's client tools, the server's version or newer):\n  \
             pg_dump --format=custom --file={} \"$DATABASE_URL\"\n\
             and restore that file with `satang restore --from {}`.",
            quoted(to),
            quoted(to)
        );
        return Ok(());
    };
    let tool = PgTool::new(url)?;
    let mut command = tool.command(&pg_dump);
    command.arg("--format=custom").arg("--file").arg(to);
    let status = run(&mut command, "pg_dump").await;
    if !matches!(status, Ok(true)) {
        let _ = std::fs::remove_file(to);
    }
    anyhow::ensure!(
        status?,
        "pg_dump failed (its message is above); no backup was written"
    );
    println!(
        "wrote a pg_dump archive (custom format) of the database at {} to {}",
        postgres_server(url),
        to.display()
    );
    Ok(())
}

/// Makes the backup `from` the configured database. A database already there is replaced only
/// with `force`.
pub async fn restore(config: &Config, from: &Path, force: bool) -> anyhow::Result<()> {
    anyhow::ensure!(
        from.is_file(),
        "{} does not exist or is not a file",
        from.display()
    );
    match postgres_url(config)? {
        None => restore_sqlite(config, from, force).await,
        Some(url) => restore_postgres(config, url, from, force).await,
    }
}

async fn restore_sqlite(config: &Config, from: &Path, force: bool) -> anyhow::Result<()> {
    let dir = &config.data_dir;
    let current = restore::database_file(dir);
    anyhow::ensure!(
        force || !current.exists(),
        "{} already holds a database ({}); nothing was changed. Stop Satang and run restore \
         with --force to replace it (the current one is kept beside it)",
        dir.display(),
        current.display()
    );
    let now = satang_store::clock::Clock::system().now();
    let restored = restore::restore_sqlite(from, dir, now).await?;
    // Opened as `satang serve` opens it: the restored database serves as it is.
    open_db(config).await?.close().await;
    println!(
        "restored {} into {}{}",
        from.display(),
        current.display(),
        match restored.migrated {
            0 => String::new(),
            n => format!(" and applied {n} migrations"),
        }
    );
    if let Some(previous) = restored.previous {
        println!(
            "the database it replaced is kept as {} (delete it once Satang serves the \
             restored one)",
            previous.display()
        );
    }
    if config.encryption_key.is_none() && !dir.join("encryption.key").exists() {
        eprintln!(
            "warning: {} has no encryption.key. Copy the one of the data directory the backup \
             came from (or set SATANG_ENCRYPTION_KEY) before starting Satang: without it the \
             secrets stored encrypted (payment tokens, webhook secrets) cannot be read.",
            dir.display()
        );
    }
    Ok(())
}

async fn restore_postgres(
    config: &Config,
    url: &str,
    from: &Path,
    force: bool,
) -> anyhow::Result<()> {
    let Some(pg_restore) = on_path("pg_restore") else {
        println!(
            "pg_restore is not installed here; nothing was restored. Restore the archive with \
             it where it is (PostgreSQL's client tools), then migrate:\n  \
             pg_restore --single-transaction --no-owner --clean --if-exists \
             --dbname=\"$DATABASE_URL\" {}\n  \
             satang migrate",
            quoted(from)
        );
        return Ok(());
    };
    // The archive's table of contents: readable, and Satang's.
    let listing = Command::new(&pg_restore)
        .arg("--list")
        .arg(from)
        .stdin(Stdio::null())
        .output()
        .await
        .context("cannot run pg_restore")?;
    anyhow::ensure!(
        listing.status.success(),
        "{} is not a pg_dump archive (custom format): {}",
        from.display(),
        String::from_utf8_lossy(&listing.stderr).trim()
    );
    anyhow::ensure!(
        String::from_utf8_lossy(&listing.stdout).contains("TABLE public _sqlx_migrations"),
        "{} is not a backup of a Satang database (it has no migration history)",
        from.display()
    );
    let server = postgres_server(url);
    let db = satang_store::Db::open_postgres_within(
        url,
        1,
        std::time::Duration::from_secs(config.db_connect_timeout.max(1)),
    )
    .await
    .with_context(|| format!("cannot connect to PostgreSQL at {server} (DATABASE_URL)"))?;
    let occupied = restore::holds_satang_database(&db).await;
    db.close().await;
    let occupied = occupied?;
    anyhow::ensure!(
        force || !occupied,
        "the database at {server} already holds a Satang database; nothing was changed. \
         Stop Satang and run restore with --force to replace its tables with the backup's"
    );
    let tool = PgTool::new(url)?;
    let mut command = tool.command(&pg_restore);
    // One transaction: a failure leaves the database as it was.
    command.args(["--single-transaction", "--no-owner"]);
    if occupied {
        command.args(["--clean", "--if-exists"]);
    }
    command.arg(from);
    anyhow::ensure!(
        run(&mut command, "pg_restore").await?,
        "pg_restore failed (its message is above); the database was left as it was"
    );
    open_db(config).await?.close().await;
    println!("restored {} into the database at {server}", from.display());
    Ok(())
}

/// How PostgreSQL's client tools reach the configured database.
struct PgTool {
    /// The URL without its password.
    url: String,
    password: Option<String>,
}

impl PgTool {
    fn new(url: &str) -> anyhow::Result<PgTool> {
        let mut parsed = reqwest::Url::parse(url).context("DATABASE_URL is not a valid URL")?;
        let password = parsed.password().map(|p| {
            percent_encoding::percent_decode_str(p)
                .decode_utf8_lossy()
                .into_owned()
        });
        if password.is_some() {
            let _ = parsed.set_password(None);
        }
        Ok(PgTool {
            url: parsed.into(),
            password,
        })
    }

    fn command(&self, program: &Path) -> Command {
        let mut command = Command::new(program);
        command
            .arg("--dbname")
            .arg(&self.url)
            .stdin(Stdio::null())
            .kill_on_drop(true);
        if let Some(password) = &self.password {
            command.env("PGPASSWORD", password);
        }
        command
    }
}

/// Runs a client tool (its messages go to our stderr); true when it succeeded.
async fn run(command: &mut Command, name: &str) -> anyhow::Result<bool> {
    let status = command
        .status()
        .await
        .with_context(|| format!("cannot run {name}"))?;
    Ok(status.success())
}

/// The executable `name` in a directory of `PATH`.
fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// A path as one shell word.
fn quoted(path: &Path) -> String {
    format!("'{}'", path.display().to_string().replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::PgTool;

    #[test]
    fn client_tools_get_the_url_without_its_password() {
        let tool =
            PgTool::new("postgres://satang:p%40ss%2Fw0rd@db.internal:6432/satang?sslmode=require")
                .unwrap();
        assert_eq!(
            tool.url,
            "postgres://satang@db.internal:6432/satang?sslmode=require"
        );
        assert_eq!(tool.password.as_deref(), Some("p@ss/w0rd"));
        let tool = PgTool::new("postgres://postgres@127.0.0.1/postgres").unwrap();
        assert_eq!(tool.url, "postgres://postgres@127.0.0.1/postgres");
        assert_eq!(tool.password, None);
    }
}
