//! Commits held back until a request's response is recorded, so that the two are durable
//! together (SPEC §2, Idempotency).
//!
//! A request with an `Idempotency-Key` runs inside [`deferring`]. There, [`Tx::commit`] does not
//! commit: it parks the transaction, and [`deferring`] hands it back with the request's
//! response. The idempotency middleware then writes the stored response into that same
//! transaction and commits it: a crash before that commit leaves neither the effect nor the
//! response (a retry runs the request once), a crash after it leaves both (a retry gets the
//! response). Committing the effect first and recording the response in a statement of its own
//! afterwards left a window in which a retry ran the request a second time.
//!
//! A statement run without a transaction ([`Db::execute`]) is run in a transaction of its own
//! and parked the same way. Anything else the request does with the database while a
//! transaction is parked — another transaction, another statement, a read — first commits the
//! parked transaction for real: the request then sees its own writes and never waits for a
//! lock it holds itself (SQLite's one writer, PostgreSQL's row locks). Only the request's last
//! write is then atomic with its response, so a handler should do nothing with the database
//! after its commit (reads it answers with belong inside the transaction).
//!
//! [`Db::execute`]: crate::Db::execute

use std::cell::RefCell;
use std::future::Future;

use crate::{Result, Tx};

tokio::task_local! {
    /// The transaction a request committed last, not yet committed for real.
    static PARKED: RefCell<Option<Tx>>;
}

/// Runs `request` with its commits held back; returns its output and the transaction it
/// committed last, which the caller must commit (dropped, it rolls back).
pub async fn deferring<F: Future>(request: F) -> (F::Output, Option<Tx>) {
    PARKED
        .scope(RefCell::new(None), async move {
            let output = request.await;
            (output, take())
        })
        .await
}

/// Whether the current task runs inside [`deferring`].
pub(crate) fn active() -> bool {
    PARKED.try_with(|_| ()).is_ok()
}

fn take() -> Option<Tx> {
    PARKED
        .try_with(|parked| parked.borrow_mut().take())
        .ok()
        .flatten()
}

/// Parks `tx`, committing the one parked before it (a request with two transactions open at
/// once commits them in turn). Outside [`deferring`], commits it.
pub(crate) async fn park(tx: Tx) -> Result<()> {
    settle().await?;
    let mut tx = Some(tx);
    let _outside = PARKED.try_with(|parked| *parked.borrow_mut() = tx.take());
    match tx {
        Some(tx) => tx.commit_now().await,
        None => Ok(()),
    }
}

/// Commits the parked transaction, if there is one, before the request uses the database again.
pub(crate) async fn settle() -> Result<()> {
    match take() {
        Some(tx) => {
            tracing::debug!("a request used the database after its commit: committed it first");
            tx.commit_now().await
        }
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;
    use crate::{Db, kv};

    async fn sqlite() -> (Db, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!("satang-deferred-{}", Uuid::now_v7()));
        let db = Db::open_sqlite(&dir).await.unwrap();
        db.migrate().await.unwrap();
        (db, dir)
    }

    #[tokio::test]
    async fn a_commit_inside_deferring_waits_for_the_caller() {
        let (db, dir) = sqlite().await;

        // A transaction's commit is handed back; it is visible once the caller commits it.
        let (done, parked) = deferring(async {
            let mut tx = db.begin().await?;
            kv::set_in(&mut tx, "a", "1").await?;
            tx.commit().await
        })
        .await;
        done.unwrap();
        assert_eq!(kv::get(&db, "a").await.unwrap(), None, "not committed yet");
        parked.expect("parked").commit().await.unwrap();
        assert_eq!(kv::get(&db, "a").await.unwrap().as_deref(), Some("1"));

        // Dropped, it rolls back.
        let (done, parked) = deferring(async {
            let mut tx = db.begin().await?;
            kv::set_in(&mut tx, "b", "1").await?;
            tx.commit().await
        })
        .await;
        done.unwrap();
        drop(parked);
        assert_eq!(kv::get(&db, "b").await.unwrap(), None);

        // A statement outside a transaction is held back the same way.
        let (done, parked) = deferring(kv::set(&db, "c", "1")).await;
        done.unwrap();
        assert_eq!(kv::get(&db, "c").await.unwrap(), None);
        parked.expect("parked").commit().await.unwrap();
        assert_eq!(kv::get(&db, "c").await.unwrap().as_deref(), Some("1"));

        // Using the database after a commit commits it first: the request reads its own write,
        // and a second transaction (SQLite's one writer) does not wait for the first. Only the
        // last is left to the caller.
        let (read, parked) = deferring(async {
            let mut tx = db.begin().await?;
            kv::set_in(&mut tx, "d", "1").await?;
            tx.commit().await?;
            let read = kv::get(&db, "d").await?;
            let mut tx = db.begin().await?;
            kv::set_in(&mut tx, "e", "1").await?;
            tx.commit().await?;
            Ok::<_, crate::Error>(read)
        })
        .await;
        assert_eq!(read.unwrap().as_deref(), Some("1"));
        assert_eq!(kv::get(&db, "d").await.unwrap().as_deref(), Some("1"));
        assert_eq!(kv::get(&db, "e").await.unwrap(), None);
        drop(parked);
        assert_eq!(kv::get(&db, "e").await.unwrap(), None);

        // Outside `deferring`, a commit commits.
        let mut tx = db.begin().await.unwrap();
        kv::set_in(&mut tx, "f", "1").await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(kv::get(&db, "f").await.unwrap().as_deref(), Some("1"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
