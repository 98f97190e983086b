//! Telling other processes that a customer's entitlements changed (SPEC §2.12).
//!
//! Each process keeps entitlements in memory (`satang_billing::entitlement_cache`). A write that
//! changes them — a subscription started or changed, a customer's status, usage — calls
//! [`changed`] inside its own transaction. On PostgreSQL that is a `NOTIFY` on one channel,
//! which PostgreSQL delivers to every listening process when (and only if) the transaction
//! commits, in commit order; a [`Listener`] in each process receives it within milliseconds.
//! Polling a change counter would cost a query per process every 250 ms and need its own
//! rules for gaps and pruning; `LISTEN/NOTIFY` needs neither. A listener that loses its
//! connection cannot know what it missed, so it reports that and its process forgets
//! everything it holds. SQLite serves one process, which invalidates its own memory: there
//! [`changed`] does nothing.

use uuid::Uuid;

use crate::{Backend, Db, Result, Sql, Tx};

/// The PostgreSQL channel.
const CHANNEL: &str = "satang_entitlements";

/// Customer ids per notification: a payload holds at most 8000 bytes, an id 37 with its comma.
const IDS_PER_NOTICE: usize = 200;

/// The payload that means "every customer" (a plan's features changed in place).
const EVERYONE: &str = "*";

/// Which customers a notification names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Changed {
    Customers(Vec<Uuid>),
    /// Every customer; also what a listener reports after losing its connection.
    Everyone,
}

/// Announces, when `tx` commits, that these customers' entitlements changed.
pub async fn changed(tx: &mut Tx, customers: &[Uuid]) -> Result<()> {
    if tx.backend() != Backend::Postgres || customers.is_empty() {
        return Ok(());
    }
    for chunk in customers.chunks(IDS_PER_NOTICE) {
        let payload = chunk
            .iter()
            .map(Uuid::to_string)
            .collect::<Vec<_>>()
            .join(",");
        notify(tx, payload).await?;
    }
    Ok(())
}

/// Announces, when `tx` commits, that any customer's entitlements may have changed.
pub async fn changed_for_everyone(tx: &mut Tx) -> Result<()> {
    if tx.backend() != Backend::Postgres {
        return Ok(());
    }
    notify(tx, EVERYONE.to_owned()).await
}

async fn notify(tx: &mut Tx, payload: String) -> Result<()> {
    // pg_notify returns void, which no row type decodes: wrap it in a count.
    tx.execute(
        Sql::new("SELECT count(*) FROM (SELECT pg_notify($1, $2)) AS sent")
            .bind(CHANNEL)
            .bind(payload),
    )
    .await?;
    Ok(())
}

/// The parsed payload of one notification (an unreadable one counts as everyone).
fn parse(payload: &str) -> Changed {
    if payload == EVERYONE {
        return Changed::Everyone;
    }
    let ids: Option<Vec<Uuid>> = payload.split(',').map(|id| id.parse().ok()).collect();
    match ids {
        Some(ids) => Changed::Customers(ids),
        None => Changed::Everyone,
    }
}

/// Receives the changes announced by every process on a PostgreSQL database.
pub struct Listener(sqlx::postgres::PgListener);

impl Listener {
    /// Starts listening; `None` on SQLite.
    pub async fn start(db: &Db) -> Result<Option<Listener>> {
        let Db::Postgres { pool } = db else {
            return Ok(None);
        };
        let mut listener = sqlx::postgres::PgListener::connect_with(pool).await?;
        listener.listen(CHANNEL).await?;
        Ok(Some(Listener(listener)))
    }

    /// The next change. After a lost connection (re-established before this returns), and
    /// after an error, [`Changed::Everyone`]: what was announced meanwhile is unknown.
    pub async fn next(&mut self) -> Changed {
        match self.0.try_recv().await {
            Ok(Some(notification)) => parse(notification.payload()),
            Ok(None) => Changed::Everyone,
            Err(e) => {
                tracing::warn!(error = %e, "entitlement change listener failed; retrying");
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                Changed::Everyone
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_parse_to_customers_or_everyone() {
        let a = Uuid::now_v7();
        let b = Uuid::now_v7();
        assert_eq!(parse(&format!("{a},{b}")), Changed::Customers(vec![a, b]));
        assert_eq!(parse("*"), Changed::Everyone);
        assert_eq!(parse("garbage"), Changed::Everyone);
        // The largest payload fits PostgreSQL's 8000 bytes.
        let ids = vec![a.to_string(); IDS_PER_NOTICE].join(",");
        assert!(ids.len() < 8000);
    }
}
