//! Search pages in id order, whatever slice of the id order the matches sit in, on SQLite and
//! PostgreSQL. These customers sit in groups of ids (the first 16 bits of the id) with many, few
//! and no matches, next to each other and far apart, and every term is paged through at several
//! page sizes: the pages together must be exactly the matches, in id order, each once. On
//! PostgreSQL other customers, none a match, fill the groups, so that every way a search goes is
//! taken (`crates/store/src/customers.rs`, `search_postgres`): the page filled by the walk, the
//! walk then the index, and the walk then walking on.

use chrono::Utc;
use serde_json::json;
use uuid::Uuid;

use crate::common::{Backend, Database};
use satang_domain::{Currency, CustomerStatus};
use satang_store::customers::{self, CustomerFields, CustomerQuery};
use satang_store::{Db, Scope, Sql};

both_backends!(search_pages_cross_id_buckets_in_order);

/// (bucket, customers in it, which of them are `@lotusdelta` customers).
const BUCKETS: &[(u16, u32, &[u32])] = &[
    (0x0190, 25, &[3, 7, 20]),
    (0x0191, 40, &[0, 1, 2, 5, 8, 13, 21, 22, 30, 34, 38, 39]),
    (0x0192, 5, &[2]),
    (0x0193, 700, &[4, 9, 10, 17, 650, 690]),
    (0x0195, 10, &[6]),
    (0xFFFF, 3, &[1]),
];

/// An id in `bucket`, growing with `k` (creation order within the bucket), after the ids of
/// the other customers of that bucket (`{bucket:04x}{k:04x}-…`, k < 0x8000).
fn id_in(bucket: u16, k: u32) -> Uuid {
    Uuid::from_u128(
        (u128::from(bucket) << 112)
            | (0x8000 << 96)
            | (u128::from(k + 1) << 64)
            | 0x7000_8000_0000_0001,
    )
}

struct Seeded {
    /// Every customer, in id order: (id, is a lotusdelta customer, deleted).
    all: Vec<(Uuid, bool, bool)>,
    /// The one customer with the rare tax id.
    rare: Uuid,
    /// The customers who grow น้ำดอกไม้ mangoes: the last ten of bucket 0x0193 and the first
    /// five of bucket 0x0195, in id order.
    mango: Vec<Uuid>,
}

/// Whether customer `k` of `bucket` grows น้ำดอกไม้ mangoes (see [`Seeded::mango`]).
fn grows_mango(bucket: u16, k: u32) -> bool {
    (bucket == 0x0193 && k >= 690) || (bucket == 0x0195 && k < 5)
}

async fn seed(db: &Db) -> Seeded {
    let now = Utc::now();
    let mut tx = db.begin().await.unwrap();
    let mut all = Vec::new();
    let mut rare = Uuid::nil();
    let mut mango = Vec::new();
    for &(bucket, count, lotus) in BUCKETS {
        for k in 0..count {
            let id = id_in(bucket, k);
            let is_lotus = lotus.contains(&k);
            let domain = if is_lotus { "lotusdelta" } else { "ricefield" };
            // One customer in the last bucket has the only tax id with 9507919 in it.
            let tax_id = if bucket == 0xFFFF && k == 2 {
                rare = id;
                "0109507919001".to_owned()
            } else {
                format!("01055{:04}{:04}", bucket % 10_000, k)
            };
            let crop = if grows_mango(bucket, k) {
                mango.push(id);
                " มะม่วงน้ำดอกไม้"
            } else {
                ""
            };
            let fields = CustomerFields {
                name: format!("ฟาร์มทดสอบ {bucket:04x}-{k}{crop}"),
                email: Some(format!("owner{k}@{domain}.co.th")),
                tax_id: Some(tax_id),
                currency: Currency::Thb,
                locale: "th".into(),
                payment_terms_days: 30,
                metadata: json!({}),
                ..CustomerFields::default()
            };
            customers::insert_with_id(&mut tx, id, &fields, now)
                .await
                .unwrap();
            all.push((id, is_lotus, false));
        }
    }
    // Deleted customers are left out unless asked for: one lotus customer in a full bucket.
    let deleted = id_in(0x0193, 9);
    customers::set_status(&mut tx, deleted, CustomerStatus::Deleted, now)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    if db.backend() == satang_store::Backend::Postgres {
        // Other customers, none of them a match: 300 at the start of each bucket above, so that
        // a page's first walk sees a few `@lotusdelta` ones and the rest comes through the
        // index; and 30,000 in bucket 0x0194, so that the planner, its statistics
        // taken, answers rare terms through the trigram index as on a real customer book.
        let mut buckets: Vec<String> = BUCKETS.iter().map(|b| b.0.to_string()).collect();
        buckets.push("404".into()); // 0x0194
        db.execute(Sql::new(format!(
            "INSERT INTO customers (id, name, email, currency, locale, payment_terms_days, \
             metadata, status, balance, created_at, updated_at, version) \
             SELECT (lpad(to_hex(b), 4, '0') || lpad(to_hex(k), 4, '0') \
             || '-0000-7000-8000-000000000000')::uuid, \
             'Other farm ' || b || '-' || k, 'office' || k || '@example.org', 'THB', 'en', 30, \
             '{{}}', 'active', 0, now(), now(), 1 \
             FROM unnest(ARRAY[{}]) b, generate_series(1, CASE WHEN b = 404 THEN 30000 \
             ELSE 300 END) k",
            buckets.join(", ")
        )))
        .await
        .unwrap();
        db.execute(Sql::new("ANALYZE customers")).await.unwrap();
    }
    for row in all.iter_mut() {
        row.2 = row.0 == deleted;
    }
    Seeded { all, rare, mango }
}

/// Every page of `q` (and `status`) at `limit` per page, the cursor being the last id of the
/// page before, concatenated.
async fn page_through(db: &Db, q: &str, status: Option<CustomerStatus>, limit: i64) -> Vec<Uuid> {
    let mut ids = Vec::new();
    let mut after = None;
    for _ in 0..1_000 {
        let query = CustomerQuery {
            q: Some(q.into()),
            status,
            after,
            limit,
        };
        let page = customers::list(db, Scope::All, &query).await.unwrap();
        assert!(page.len() as i64 <= limit, "{q}: a page of {}", page.len());
        ids.extend(page.iter().map(|c| c.id));
        if (page.len() as i64) < limit {
            return ids;
        }
        after = page.last().map(|c| c.id);
    }
    panic!("{q}: more than 1,000 pages");
}

async fn search_pages_cross_id_buckets_in_order(backend: Backend) {
    let Some(database) = Database::create(backend).await else {
        return;
    };
    let db = satang::open_db(&database.config()).await.unwrap();
    let seeded = seed(&db).await;
    every_page_in_order(&db, &seeded, backend, "statistics taken").await;
}

async fn every_page_in_order(db: &Db, seeded: &Seeded, backend: Backend, sample: &str) {
    let lotus: Vec<Uuid> = seeded
        .all
        .iter()
        .filter(|(_, lotus, deleted)| *lotus && !deleted)
        .map(|r| r.0)
        .collect();
    let everyone: Vec<Uuid> = seeded
        .all
        .iter()
        .filter(|(_, _, deleted)| !deleted)
        .map(|r| r.0)
        .collect();
    let deleted: Vec<Uuid> = seeded
        .all
        .iter()
        .filter(|(_, _, deleted)| *deleted)
        .map(|r| r.0)
        .collect();
    assert_eq!(lotus.len(), 23);
    for limit in [1, 2, 4, 10, 51] {
        // A term of a few customers in several buckets (long: the index is asked for a window).
        assert_eq!(
            page_through(db, "@LotusDelta", None, limit).await,
            lotus,
            "{backend:?} ({sample}): @lotusdelta at {limit} a page"
        );
        // A term every customer has (Thai).
        assert_eq!(
            page_through(db, "ฟาร์มทดสอบ", None, limit).await,
            everyone,
            "{backend:?} ({sample}): ฟาร์มทดสอบ at {limit} a page"
        );
        // One match, in the last bucket there is.
        assert_eq!(
            page_through(db, "9507919", None, limit).await,
            vec![seeded.rare],
            "{backend:?} ({sample}): 9507919 at {limit} a page"
        );
        // Ten next to each other, then five far away.
        assert_eq!(
            page_through(db, "มะม่วงน้ำดอกไม้", None, limit).await,
            seeded.mango,
            "{backend:?} ({sample}): มะม่วงน้ำดอกไม้ at {limit} a page"
        );
        // No match at all.
        assert!(page_through(db, "durian", None, limit).await.is_empty());
        // Only the deleted one, when asked for.
        assert_eq!(
            page_through(db, "lotusdelta", Some(CustomerStatus::Deleted), limit).await,
            deleted,
            "{backend:?} ({sample}): deleted lotusdelta at {limit} a page"
        );
    }
    // From just before the ten mango growers of bucket 0x0193: the first walk finds all ten,
    // enough to walk on; on PostgreSQL the walk on then meets only the 30,000 others of bucket
    // 0x0194, stops at its bound, and the index finds the five of bucket 0x0195.
    let query = CustomerQuery {
        q: Some("มะม่วงน้ำดอกไม้".into()),
        status: None,
        after: Some(id_in(0x0193, 689)),
        limit: 51,
    };
    let page = customers::list(db, Scope::All, &query).await.unwrap();
    let ids: Vec<Uuid> = page.iter().map(|c| c.id).collect();
    assert_eq!(
        ids, seeded.mango,
        "{backend:?} ({sample}): after the cursor"
    );
}
