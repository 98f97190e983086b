//! Upgrades (SPEC §6): a database made by the last release migrates forward at start-up and is
//! served by this build, on both databases; and no migration this project has shipped is ever
//! rewritten.
//!
//! `tests/fixtures/upgrade/` holds a small book made by the last release through its own API
//! (`tests/fixtures/make-upgrade-fixtures.sh`, which says what is in it): `satang.db.gz`
//! (SQLite) and `satang-postgres.sql.gz` (`pg_dump`, plain SQL), gzipped. The test unpacks the
//! SQLite file into a fresh data directory, or restores the dump into a fresh PostgreSQL
//! database with `psql`,
//! starts the server (which migrates), signs in, reads the customers, invoices, payment methods
//! and tax documents the old release wrote, and runs billing on the subscriptions' next billing
//! date: one invoice each, the numbers going on from the old ones without a gap. The fixtures'
//! dates are those of the day they were made, so the test clock is first wound back (its
//! stored offset, before the server starts) and then moved to that date.
//!
//! Migrations are forward-only: a database applies each once, and sqlx refuses to start on a
//! database whose applied migration differs from the file. So a shipped file never changes — a
//! fix is a new migration. [`MIGRATIONS`] holds each committed file's SHA-256; a change, a
//! removal or a new file not listed fails `migrations_are_never_rewritten` (a new one: add the
//! line it prints).

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::{DateTime, Utc};

use reqwest::Client;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::common::billing::{run_billing, set_date};
use crate::common::{Backend, Database, TestApp, json_of, ok, tool_missing};
use satang::Server;
use satang_api::Services;
use satang_api::routes::test_clock::OFFSET_KEY;

both_backends!(a_database_of_the_last_release_migrates_and_serves);

/// The key the fixtures' secrets are sealed with (`make-upgrade-fixtures.sh`).
const FIXTURE_ENCRYPTION_KEY: &str = "c2F0YW5nLXVwZ3JhZGUtZml4dHVyZS1rZXktMzJieXQ=";

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/upgrade")
}

fn migrations_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../store/migrations")
}

/// A fixture file, unpacked.
fn unpacked(name: &str) -> Vec<u8> {
    let packed = std::fs::read(fixtures().join(name)).expect("the fixture is committed");
    let mut bytes = Vec::new();
    flate2::read::GzDecoder::new(packed.as_slice())
        .read_to_end(&mut bytes)
        .expect("the fixture is gzip");
    bytes
}

/// Puts the last release's database where `db` is; false (after saying why) when PostgreSQL's
/// `psql` is missing.
fn restore_fixture(backend: Backend, db: &Database) -> bool {
    match backend {
        Backend::Sqlite => {
            std::fs::write(db.dir.path().join("satang.db"), unpacked("satang.db.gz"))
                .expect("write the SQLite fixture");
            true
        }
        Backend::Postgres => {
            if Command::new("psql").arg("--version").output().is_err() {
                tool_missing(
                    "psql (postgresql-client)",
                    "upgrade test on PostgreSQL: psql is not installed",
                );
                return false;
            }
            let dump = db.dir.path().join("satang-postgres.sql");
            std::fs::write(&dump, unpacked("satang-postgres.sql.gz")).unwrap();
            let url = db.url.as_deref().expect("a PostgreSQL test database");
            let out = Command::new("psql")
                .args(["-q", "-X", "-v", "ON_ERROR_STOP=1", "-d", url, "-f"])
                .arg(&dump)
                .output()
                .expect("psql runs");
            assert!(
                out.status.success(),
                "psql could not restore the fixture: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            true
        }
    }
}

/// Winds the test clock of the restored database to `at` (the API only moves it forward).
async fn wind_clock_back(db: &Database, at: &str) {
    let store = match &db.url {
        None => satang_store::Db::open_existing_sqlite(db.dir.path()).await,
        Some(url) => satang_store::Db::open_postgres(url, 1).await,
    }
    .expect("the restored database opens");
    let at: DateTime<Utc> = at.parse().unwrap();
    let offset = (at - Utc::now()).num_microseconds().unwrap();
    satang_store::kv::set(&store, OFFSET_KEY, &offset.to_string())
        .await
        .expect("set the test clock");
    store.close().await;
}

fn names(list: &Value, key: &str) -> Vec<String> {
    let mut names: Vec<String> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v[key].as_str().unwrap_or_default().to_owned())
        .collect();
    names.sort();
    names
}

async fn a_database_of_the_last_release_migrates_and_serves(backend: Backend) {
    let Some(db) = Database::create(backend).await else {
        return;
    };
    if !restore_fixture(backend, &db) {
        return;
    }
    wind_clock_back(&db, "2000-01-01T00:00:00Z").await;
    let mut config = db.config();
    config.test_clock = true;
    config.billing_interval = 0;
    config.encryption_key = Some(FIXTURE_ENCRYPTION_KEY.into());
    let server = Server::start(&config, Services::All)
        .await
        .expect("the last release's database opens and migrates");
    let app = TestApp {
        url: server.url(),
        server: Some(server),
        client: Client::new(),
        db,
    };
    let ready = app.client.get(app.at("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200, "migrations done");

    // Signed in with the old release's password hash.
    let admin = app.admin_token().await;
    let customers = ok(app.get("/api/customers?limit=200", &admin).await).await;
    assert_eq!(
        names(&customers, "name"),
        vec![
            "Lotus Delta Co., Ltd.",
            "นายสมชาย ใจดี",
            "สหกรณ์การเกษตรบ้านนา"
        ],
        "{customers}"
    );
    let found = ok(app.get("/api/customers?q=บ้านนา", &admin).await).await;
    assert_eq!(
        found["data"].as_array().unwrap().len(),
        1,
        "Thai search: {found}"
    );
    let lotus = customers["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "Lotus Delta Co., Ltd.")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // The card sealed at rest by the old release.
    let methods = ok(app
        .get(&format!("/api/customers/{lotus}/payment-methods"), &admin)
        .await)
    .await;
    assert_eq!(methods["data"][0]["last4"], "4242", "{methods}");

    let invoices = ok(app.get("/api/invoices?limit=200", &admin).await).await;
    assert_eq!(invoices["data"].as_array().unwrap().len(), 5, "{invoices}");
    assert!(
        invoices["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["status"] == "paid"),
        "{invoices}"
    );
    let documents = ok(app.get("/api/tax-documents?limit=200", &admin).await).await;
    assert!(
        !documents["data"].as_array().unwrap().is_empty(),
        "the payment's receipt: {documents}"
    );
    let subscriptions = ok(app.get("/api/subscriptions?limit=200", &admin).await).await;
    assert_eq!(
        names(&subscriptions, "plan_code"),
        vec!["PRO", "PRO", "TEAM"],
        "{subscriptions}"
    );

    // On the last of the next billing dates this build bills what the old release set up:
    // each subscription once, the numbers going on from the old ones.
    let due = names(&subscriptions, "next_billing_date")
        .pop()
        .expect("a next billing date");
    let admin = set_date(&app, &due).await;
    let report = run_billing(&app, &admin).await;
    let invoices = ok(app.get("/api/invoices?limit=200", &admin).await).await;
    assert_eq!(
        invoices["data"].as_array().unwrap().len(),
        8,
        "{report} {invoices}"
    );
    for (year, numbers) in numbers_by_year(&invoices) {
        assert_eq!(
            numbers,
            (1..=numbers.len() as u64).collect::<Vec<_>>(),
            "gapless numbering in {year}: {invoices}"
        );
    }
    // And writes as before: a new customer.
    json_of(
        app.post(
            "/api/customers",
            Some(&admin),
            json!({"name": "ไร่ชาดอยตุง", "email": "tea@doitung.example"}),
        )
        .await,
        201,
    )
    .await;
}

/// The invoices' sequence numbers by year (`INV-2026-000042` → 2026: 42), each sorted.
fn numbers_by_year(invoices: &Value) -> BTreeMap<String, Vec<u64>> {
    let mut years: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for number in invoices["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["number"].as_str())
    {
        let mut parts = number.rsplit('-');
        let sequence = parts.next().unwrap().parse().unwrap();
        let year = parts.next().unwrap().to_owned();
        years.entry(year).or_default().push(sequence);
    }
    for numbers in years.values_mut() {
        numbers.sort_unstable();
    }
    years
}

#[test]
fn migrations_are_never_rewritten() {
    let root = migrations_dir();
    let mut problems = Vec::new();
    for (path, sha256) in MIGRATIONS {
        match std::fs::read(root.join(path)) {
            Ok(bytes) => {
                let found = hex::encode(Sha256::digest(&bytes));
                if found != *sha256 {
                    problems.push(format!(
                        "{path} changed (SHA-256 {found}, shipped as {sha256}): migrations are \
                         forward-only; restore the file and put the change in a new migration"
                    ));
                }
            }
            Err(e) => problems.push(format!(
                "{path} is gone ({e}): a database that applied it no longer starts; restore it"
            )),
        }
    }
    for backend in ["sqlite", "postgres"] {
        let mut files: Vec<String> = std::fs::read_dir(root.join(backend))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name.ends_with(".sql"))
            .collect();
        files.sort();
        for name in files {
            let path = format!("{backend}/{name}");
            if !MIGRATIONS.iter().any(|(p, _)| *p == path) {
                let bytes = std::fs::read(root.join(&path)).unwrap();
                problems.push(format!(
                    "{path} is new: once it is committed it must never change; add its line to \
                     MIGRATIONS in crates/satang/tests/it/upgrade.rs:\n    (\"{path}\", \"{}\"),",
                    hex::encode(Sha256::digest(&bytes))
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Each committed migration and its SHA-256 (`sha256sum`); see the module's doc.
const MIGRATIONS: &[(&str, &str)] = &[
    (
        "sqlite/0001_foundation.sql",
        "2591225038467d54b55f37585af09affa9d724a6ffd7597dd7dfadf326a8c141",
    ),
    (
        "sqlite/0002_customers.sql",
        "7c66333d72b0405bd6a7116e5694eca13b063fc74a378309627bcffebbba9543",
    ),
    (
        "sqlite/0003_plans_subscriptions.sql",
        "42646af3558197db848296cc664a2f593e936c809cf3663bb55cc7d7e886d155",
    ),
    (
        "sqlite/0004_billing.sql",
        "b3b794e5fbf9120f71a4c00670ac0f8fdad5400ac8a41d0ad8fdb64b8521f5be",
    ),
    (
        "sqlite/0005_invoice_mrr.sql",
        "b9b0b05927200dc9966037f69b9817d99c05db17d74559b9c5bf141d64746874",
    ),
    (
        "sqlite/0006_webhooks.sql",
        "9d4cf8ed0656e5355caf6a3c06105983cb3d2b5d8691b16baae0d14653d1fbc4",
    ),
    (
        "sqlite/0007_usage.sql",
        "380471c2f66c9922643c352383c309623dd19743e57aed12efda304ad0587287",
    ),
    (
        "sqlite/0008_collection.sql",
        "f816f2513a857ea341913a83448c61335d0dbd3723d62a33b20bbd627e1b11af",
    ),
    (
        "sqlite/0009_email.sql",
        "438e92d534e763bfc2c2a7dc8a5edeb65dc4e9845bc0b45a7da9579b72e112ba",
    ),
    (
        "sqlite/0010_invoice_mrr_by_end.sql",
        "400e709f29566bcc4ac3d98e822760e7c6014d09c57859a331171aa06c9c8e87",
    ),
    (
        "sqlite/0011_analytics_days.sql",
        "3db3d1c2e9c9929a7fdcbf3ec6c51eee16b4ec77a7e8fc0d09969d9456db25aa",
    ),
    (
        "sqlite/0012_search_buckets.sql",
        "4d79480680a37ccab47d68ecd8771976f68c8df0fbcc5d90d35649e94a2230b2",
    ),
    (
        "sqlite/0013_invoice_customer_keys.sql",
        "a5bf78af3f0b23b8212c94866268c331d6b8bfa7dc1e4ffa58aba387650a2dfd",
    ),
    (
        "sqlite/0014_drop_outbox_events_type.sql",
        "08e00de5514608dfe950e0913b313e3e4102c3aeb9a0b682c8e513141f5fd66e",
    ),
    (
        "sqlite/0016_api_keys.sql",
        "4ea6670fdd826d46d134443b67d3ac6f7aa8f4a012a19117004628e5e5b30caf",
    ),
    (
        "sqlite/0017_coupons.sql",
        "79958752d7c013d90e651a6a2d87854710f817112419b99aebe007f549813393",
    ),
    (
        "sqlite/0018_usage_alerts.sql",
        "3deabe77889f47595fd751867a61eccf90c4bb21c049fb8645f3beba38e24bd5",
    ),
    (
        "sqlite/0019_credit_grants.sql",
        "d35009b8d06d9d4b794a2735078088ab9b936b1f1f3289487b947605f962f9e2",
    ),
    (
        "sqlite/0020_tax_documents.sql",
        "7296515584972b73c7f3720b9062b9a54fccf2d0484896f4c0b51f1cc40347ab",
    ),
    (
        "sqlite/0021_billing_thresholds.sql",
        "4664f21cb026d368c74e03c56747bffac2faa419f1b7003dca8efdee5aed53ac",
    ),
    (
        "sqlite/0023_bank_statements.sql",
        "5ab4e0ee6e194897f0e8a2ff7fe5177d8da34d24b1ba142e727bcb6378f9640e",
    ),
    (
        "sqlite/0024_customer_email_index.sql",
        "e5c4a18e363dc558da64097bd7dce20861dd262b3e05696352d825c9b55cbffa",
    ),
    (
        "sqlite/0025_payment_providers.sql",
        "a904920237af6e659c2645165e424d7880139210351597ec6c534aabf7189756",
    ),
    (
        "sqlite/0026_export_indexes.sql",
        "8f6d9cb12e65b9063ec7011bb26694a2fa8499c342cbcfeb0057d5b0de31941a",
    ),
    (
        "sqlite/0027_tax_document_signing.sql",
        "9a82a72648d401f23b53dd9a221c84d7c388757c0a0281f6b4ad0cee51ec5dcc",
    ),
    (
        "sqlite/0028_etax_certificate.sql",
        "bd6553efe597b8d7fed09d56db13a6c102c52005b43784ce30d0963084b5fe69",
    ),
    (
        "postgres/0001_foundation.sql",
        "2e48222113232246ec750109b796920a378484eadb95e2d7394277defada85b4",
    ),
    (
        "postgres/0002_customers.sql",
        "283c93daf8c68a54099e8ac1c5b52683bb44ff66f79267c06e9c1ab4b92322ba",
    ),
    (
        "postgres/0003_plans_subscriptions.sql",
        "62882b8dc2e85f4bbfbe82006ef25c94c2f2c651594704d1429804fa45691fd3",
    ),
    (
        "postgres/0004_billing.sql",
        "0111ab02123f4a1f060de587def332e0d85b3a8fafb37e3d1f4b1efa5d54d080",
    ),
    (
        "postgres/0005_invoice_mrr.sql",
        "de83aff61cee33fc35c0ce452a222e38112ce235854a17c9d251da418f673364",
    ),
    (
        "postgres/0006_webhooks.sql",
        "b4a8607e56fe203b14211aef8abc5ebadbc6e666e3bfc80e02d77509f953e34c",
    ),
    (
        "postgres/0007_usage.sql",
        "46745474c5315b9e688d1a7a07a07fe65432e8289b1055821ed74f548f56b5f4",
    ),
    (
        "postgres/0008_collection.sql",
        "51be559c46f6ca117cbec94795063f9bd26648dc11f861f0d2b90c3594045415",
    ),
    (
        "postgres/0009_email.sql",
        "6bf150daad23d3dec35726c176c5f9a933892226e7c41931bd3e40e8a12b2e54",
    ),
    (
        "postgres/0010_invoice_mrr_by_end.sql",
        "769083639fa65326339c6b3435dbdf67e9c4ddd4a25d5557e0d2ea930d117ba6",
    ),
    (
        "postgres/0011_analytics_days.sql",
        "b141e76ca6956b115c030e16199ad5db205ed41c19e05371620f38d05bdbab6d",
    ),
    (
        "postgres/0012_search_buckets.sql",
        "3abf6c8941ae64c1b36a638b86165559d09eee82a78a1e23bbe9d70a5a2d94c8",
    ),
    (
        "postgres/0013_invoice_customer_keys.sql",
        "26e1b312e0717d9490f0f20cac1213c5e7c79397962f102a4c6094c55400fdc4",
    ),
    (
        "postgres/0014_drop_outbox_events_type.sql",
        "557bdfb94e43a1a069474d6623e7496cb8a34a41b9eadd09c8a3b8dab391f482",
    ),
    (
        "postgres/0015_plain_search_index.sql",
        "d7c0183e74d85c69cdfec4f7a4d8ad757f2e67e6c24cfdc6b13082555ae91f32",
    ),
    (
        "postgres/0016_api_keys.sql",
        "f829ff15f5bdfa2f739ee3036f53b50198efbabc36677a1859559a024c41c07d",
    ),
    (
        "postgres/0017_coupons.sql",
        "6e630ac1bed386bfcc22f665f0ca81d1a44f93b79f20d6689cc73eff56b11ad5",
    ),
    (
        "postgres/0018_usage_alerts.sql",
        "0e35a348f6d931df07efcfc8589ceefce192934c4624401bc421158f5514500e",
    ),
    (
        "postgres/0019_credit_grants.sql",
        "7989c7e880f6d4e723a05736931f14c7a6a49c6aff0a3ba8e39fd5663e40fd1c",
    ),
    (
        "postgres/0020_tax_documents.sql",
        "459a2af92de613c36d8050d561c96012458926c05abf4eec6e56a0714b742a44",
    ),
    (
        "postgres/0021_billing_thresholds.sql",
        "b181ecded7c26ea02bae5de4022a47cfd2b015d47cedfb088c2bcde100dad334",
    ),
    (
        "postgres/0023_bank_statements.sql",
        "4a78876842e3d080721f37ec8ce790ae240ea113034f75acda044ef125d16290",
    ),
    (
        "postgres/0024_customer_email_index.sql",
        "e6fcf27cbb51615eb5dd42b335b41fdd8fede2b1483a0f378a54b39ec96c2c93",
    ),
    (
        "postgres/0025_payment_providers.sql",
        "526056fee905faf4fd03ba723f615a4c20710ef8f4ab0c50c13d8de6e9dd9592",
    ),
    (
        "postgres/0026_export_indexes.sql",
        "79d1025594dd50f8cd7ee2122c45d4d5ba0eb248254d090d2fb68df24e2b78a4",
    ),
    (
        "postgres/0027_tax_document_signing.sql",
        "b1aa98c9716bb472170bff737f4cf46da16ec74d13e95122b950c37314640c11",
    ),
    (
        "postgres/0028_etax_certificate.sql",
        "a5806c3eeddd0ade2d74a32fa8ec087a3b60ec8d18dff42813c54eecdc3581ad",
    ),
];
