//! A throw-away PostgreSQL database per run: created on the given server, dropped after.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use sqlx::Connection;

pub struct ScratchDatabase {
    admin_url: String,
    name: String,
    pub url: String,
}

impl ScratchDatabase {
    /// Creates `satang_bench_<random>`; an error means the server is unreachable or refused.
    pub async fn create(admin_url: &str) -> anyhow::Result<ScratchDatabase> {
        let mut conn = connect(admin_url).await?;
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let name = format!("satang_bench_{:x}_{nanos:x}", std::process::id());
        // The name is ours (hex digits), never user input.
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .with_context(|| format!("cannot create database {name}"))?;
        let _ = conn.close().await;
        Ok(ScratchDatabase {
            admin_url: admin_url.to_owned(),
            url: replace_database_name(admin_url, &name),
            name,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub async fn drop_database(self) -> anyhow::Result<()> {
        let mut conn = connect(&self.admin_url).await?;
        sqlx::query(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ))
        .execute(&mut conn)
        .await
        .with_context(|| format!("cannot drop database {}", self.name))?;
        let _ = conn.close().await;
        Ok(())
    }
}

async fn connect(url: &str) -> anyhow::Result<sqlx::PgConnection> {
    tokio::time::timeout(Duration::from_secs(5), sqlx::PgConnection::connect(url))
        .await
        .context("timed out after 5 s")?
        .map_err(anyhow::Error::from)
}

/// `postgres://u@h:5432/postgres?sslmode=disable` → `postgres://u@h:5432/<name>?sslmode=disable`.
fn replace_database_name(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let after_scheme = base.find("://").map_or(0, |i| i + 3);
    let base = match base[after_scheme..].find('/') {
        Some(i) => &base[..after_scheme + i],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

/// The URL with its password (if any) replaced by `***`, for the report.
pub fn redact_password(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_owned();
    };
    let rest = &url[scheme_end..];
    let Some(at) = rest.find('@') else {
        return url.to_owned();
    };
    match rest[..at].split_once(':') {
        Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end], &rest[at..]),
        None => url.to_owned(),
    }
}

/// Runs `measure` on SQLite (`None`), then on a scratch PostgreSQL database (its URL) that is
/// dropped afterwards: the PostgreSQL result is the reason when it was not run (`--no-postgres`,
/// server unreachable). A SQLite failure ends the bench.
pub async fn on_both_backends<T>(
    common: &crate::cli::CommonArgs,
    mut measure: impl AsyncFnMut(Option<&str>) -> anyhow::Result<T>,
) -> anyhow::Result<(Result<T, String>, Result<T, String>)> {
    println!("\n== SQLite");
    let sqlite = Ok(measure(None).await?);
    println!("\n== PostgreSQL");
    let postgres = if common.no_postgres {
        Err("not run (`--no-postgres`)".to_owned())
    } else {
        match ScratchDatabase::create(&common.postgres_url).await {
            Err(e) => Err(format!(
                "skipped: cannot reach {} ({e:#})",
                redact_password(&common.postgres_url)
            )),
            Ok(db) => {
                let measured = measure(Some(&db.url)).await;
                let dropped = db.drop_database().await;
                let measured = measured?;
                dropped?;
                Ok(measured)
            }
        }
    };
    Ok((sqlite, postgres))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_name_is_replaced_keeping_the_query() {
        assert_eq!(
            replace_database_name("postgres://postgres@127.0.0.1:5432/postgres", "b"),
            "postgres://postgres@127.0.0.1:5432/b"
        );
        assert_eq!(
            replace_database_name("postgres://u:p@h/db?sslmode=disable", "b"),
            "postgres://u:p@h/b?sslmode=disable"
        );
        assert_eq!(
            replace_database_name("postgres://u@h:5432", "b"),
            "postgres://u@h:5432/b"
        );
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_password("postgres://u:secret@h/db"),
            "postgres://u:***@h/db"
        );
        assert_eq!(redact_password("postgres://u@h/db"), "postgres://u@h/db");
    }
}
