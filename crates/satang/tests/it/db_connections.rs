//! PostgreSQL statements outside a transaction (`satang_store::Db`): an interrupted statement
//! must not leave its connection in the pool half-way through a conversation, nor hold up the
//! statements after it while the database finishes it.

use std::time::{Duration, Instant};

use crate::common::{Backend, Database};
use satang_store::{Db, Sql};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_statement_does_not_poison_the_pool() {
    let Some(database) = Database::create(Backend::Postgres).await else {
        return;
    };
    let url = database.url.clone().expect("a PostgreSQL database");
    // Two connections: the interrupted one is busy until PostgreSQL has finished with it; the
    // statements below must get their answers from the other, or from it once it is clean.
    let db = Db::open_postgres(&url, 2).await.expect("connect");

    // A statement cut off mid-flight, as when a client goes away and its request is dropped.
    let cut = tokio::time::timeout(
        Duration::from_millis(200),
        db.fetch_optional::<(i64,)>(Sql::new("SELECT 1::bigint FROM pg_sleep(3)")),
    )
    .await;
    assert!(cut.is_err(), "the sleep should have been cut off");

    // The next statement gets its own answer at once, not the sleeper's after three seconds.
    let started = Instant::now();
    let (n,): (i64,) = db
        .fetch_one(Sql::new("SELECT $1::bigint").bind(42i64))
        .await
        .expect("a fresh statement");
    assert_eq!(n, 42);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "waited {:?} for the interrupted statement",
        started.elapsed()
    );

    // An error answered by the database leaves the connection usable.
    let err = db
        .fetch_one::<(i64,)>(Sql::new("SELECT (1 / $1::bigint)").bind(0i64))
        .await;
    assert!(err.is_err());
    for k in 0..3i64 {
        let (n,): (i64,) = db
            .fetch_one(Sql::new("SELECT $1::bigint + 1").bind(k))
            .await
            .expect("after a database error");
        assert_eq!(n, k + 1);
    }
}
