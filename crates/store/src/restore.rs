//! Restoring a backup (`satang restore`).
//!
//! SQLite: the backup is copied into the data directory beside the database it will replace,
//! checked there (SQLite's integrity check, Satang's migration history, no migration this
//! binary does not know) and migrated, and only then renamed into place: a file that is not a
//! usable Satang database changes nothing. A database it replaces is renamed, not deleted.
//!
//! PostgreSQL is restored with `pg_restore` (by the binary); this module only tells whether a
//! database already holds Satang's tables.

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode};
use sqlx::{ConnectOptions, Connection, SqliteConnection};

use crate::{Db, Error, Result};

/// The SQLite database file Satang keeps in the data directory `dir`.
pub fn database_file(dir: &Path) -> PathBuf {
    dir.join("satang.db")
}

/// What [`restore_sqlite`] did.
#[derive(Debug)]
pub struct Restored {
    /// Where the database that was replaced now is (`satang.db.before-restore-…`).
    pub previous: Option<PathBuf>,
    /// Migrations the backup lacked and that were applied to it (it came from an older
    /// release).
    pub migrated: usize,
}

/// Makes the SQLite backup `from` the database of the data directory `dir` (created if
/// missing). A database already there is kept as `satang.db.before-restore-<now>`: the caller
/// decides whether replacing one is wanted at all. Nothing in `dir` changes unless `from`
/// passes every check and migrates.
pub async fn restore_sqlite(from: &Path, dir: &Path, now: DateTime<Utc>) -> Result<Restored> {
    if !from.is_file() {
        return Err(Error::Other(format!(
            "{} does not exist or is not a file",
            from.display()
        )));
    }
    // A live database's recent writes may still be in its write-ahead log, which a copy of the
    // main file alone would lose.
    let wal = with_suffix(from, "-wal");
    if std::fs::metadata(&wal).is_ok_and(|m| m.len() > 0) {
        return Err(Error::Other(format!(
            "{} exists: {} is open in a running program or was copied without its log; \
             restore a copy written by `satang backup` instead",
            wal.display(),
            from.display()
        )));
    }
    let created = !dir.exists();
    std::fs::create_dir_all(dir).map_err(|e| {
        Error::Other(format!(
            "cannot create data directory {}: {e}",
            dir.display()
        ))
    })?;
    let target = database_file(dir);
    let staging = with_suffix(&target, ".restoring");
    remove_database_files(&staging)?;
    let prepared = async {
        tokio::fs::copy(from, &staging).await.map_err(|e| {
            Error::Other(format!(
                "cannot copy {} to {}: {e}",
                from.display(),
                staging.display()
            ))
        })?;
        let migrated = check_and_migrate(&staging, from).await?;
        // On disk before it is renamed into place.
        std::fs::File::open(&staging)
            .and_then(|f| f.sync_all())
            .map_err(|e| Error::Other(format!("cannot sync {}: {e}", staging.display())))?;
        Ok(migrated)
    }
    .await;
    let migrated = match prepared {
        Ok(migrated) => migrated,
        Err(e) => {
            let _ = remove_database_files(&staging);
            if created {
                let _ = std::fs::remove_dir(dir);
            }
            return Err(e);
        }
    };

    let previous = if target.exists() {
        let kept = with_suffix(
            &target,
            &format!(".before-restore-{}", now.format("%Y%m%dT%H%M%SZ")),
        );
        rename(&target, &kept)?;
        // The log belongs to the file it was written for; the shared-memory index is rebuilt.
        let log = with_suffix(&target, "-wal");
        if log.exists() {
            rename(&log, &with_suffix(&kept, "-wal"))?;
        }
        remove_if_present(&with_suffix(&target, "-shm"))?;
        Some(kept)
    } else {
        None
    };
    rename(&staging, &target)?;
    // The renames are durable once the directory is.
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(Restored { previous, migrated })
}

/// Checks the copy at `staging` (of `from`, named in messages) and applies the migrations it
/// lacks; returns how many.
async fn check_and_migrate(staging: &Path, from: &Path) -> Result<usize> {
    // A rollback journal while it is checked and migrated: when the connection closes the
    // copy is one self-contained file again, ready to be renamed (Satang turns WAL back on).
    let mut conn = SqliteConnectOptions::new()
        .filename(staging)
        .journal_mode(SqliteJournalMode::Delete)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(10))
        .connect()
        .await
        .map_err(|e| not_sqlite(from, e))?;
    let checked = check_and_migrate_on(&mut conn, from).await;
    conn.close().await?;
    checked
}

async fn check_and_migrate_on(conn: &mut SqliteConnection, from: &Path) -> Result<usize> {
    let problems: Vec<String> = sqlx::query_scalar("PRAGMA integrity_check(5)")
        .fetch_all(&mut *conn)
        .await
        .map_err(|e| not_sqlite(from, e))?;
    if problems != ["ok"] {
        return Err(Error::Other(format!(
            "{} is damaged; SQLite's integrity check reports: {}",
            from.display(),
            problems.join("; ")
        )));
    }
    let history: Option<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
    )
    .fetch_optional(&mut *conn)
    .await?;
    if history.is_none() {
        return Err(Error::Other(format!(
            "{} is not a Satang database (it has no migration history)",
            from.display()
        )));
    }
    let migrator = sqlx::migrate!("./migrations/sqlite");
    let applied: Vec<i64> =
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
            .fetch_all(&mut *conn)
            .await?;
    let known: Vec<i64> = migrator.iter().map(|m| m.version).collect();
    if let Some(unknown) = applied.iter().find(|v| !known.contains(*v)) {
        return Err(Error::Other(format!(
            "{} was written by a newer Satang (its migration {unknown} is unknown to this \
             release); restore it with that release or a later one",
            from.display()
        )));
    }
    migrator.run(&mut *conn).await.map_err(|e| {
        Error::Other(format!(
            "cannot migrate the copy of {}: {e}",
            from.display()
        ))
    })?;
    Ok(known.iter().filter(|v| !applied.contains(*v)).count())
}

fn not_sqlite(from: &Path, e: sqlx::Error) -> Error {
    Error::Other(format!("{} is not a SQLite database ({e})", from.display()))
}

/// True when the database already holds Satang's tables (its migration history).
pub async fn holds_satang_database(db: &Db) -> Result<bool> {
    let found: Option<String> =
        match db {
            Db::Sqlite { pool, .. } => sqlx::query_scalar(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
            )
            .fetch_optional(pool)
            .await?,
            Db::Postgres { pool } => {
                sqlx::query_scalar("SELECT to_regclass('public._sqlx_migrations')::text")
                    .fetch_one(pool)
                    .await?
            }
        };
    Ok(found.is_some())
}

/// `path` with `suffix` appended to its file name (`satang.db` → `satang.db-wal`).
fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    path.with_file_name(name)
}

fn rename(from: &Path, to: &Path) -> Result<()> {
    std::fs::rename(from, to).map_err(|e| {
        Error::Other(format!(
            "cannot rename {} to {}: {e}",
            from.display(),
            to.display()
        ))
    })
}

fn remove_if_present(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::Other(format!(
            "cannot remove {}: {e}",
            path.display()
        ))),
    }
}

/// Removes a database file and its journal, log and shared-memory files, if there are any.
fn remove_database_files(path: &Path) -> Result<()> {
    remove_if_present(path)?;
    for suffix in ["-journal", "-wal", "-shm"] {
        remove_if_present(&with_suffix(path, suffix))?;
    }
    Ok(())
}
