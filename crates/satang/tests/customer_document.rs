//! `GET /api/customers/{id}` answers with the JSON document the store writes straight from the
//! row (`customers::get_document`, on SQLite and on PostgreSQL each from its own row format).
//! It must be byte for byte what serde writes for the API's `CustomerView` of the same customer
//! read the usual way (`customers::get`): every field filled or empty, text that needs escaping,
//! nested metadata, an address read borrowed and one read owned, a deleted customer, and
//! timestamps in every form a row holds them.

mod common;

use chrono::{TimeZone, Utc};
use common::{Backend, Database};
use satang_api::routes::customers::CustomerView;
use satang_store::customers::{self, CustomerFields, PostalAddress};
use satang_store::{Scope, Sql};
use uuid::Uuid;

both_backends!(stored_json_is_the_view);

async fn stored_json_is_the_view(backend: Backend) {
    let Some(database) = Database::create(backend).await else {
        return;
    };
    let db = satang::open_db(&database.config()).await.unwrap();
    let now = Utc.with_ymd_and_hms(2026, 12, 5, 9, 30, 0).unwrap();
    let full = CustomerFields {
        name: "สหกรณ์การเกษตร \"บ้านนา\" \\ จำกัด\n\t\u{1}".into(),
        legal_name: Some("สหกรณ์การเกษตรบ้านนา จำกัด".into()),
        tax_id: Some("0105536000315".into()),
        branch_code: Some("00000".into()),
        email: Some("office@banna.coop".into()),
        phone: Some("02-123-4567".into()),
        billing_email: Some("billing@banna.coop".into()),
        address: Some(PostalAddress {
            country: Some("TH".into()),
            district: Some("บ้านนา".into()),
            line1: Some("12 หมู่ 3 \"ซอย\" 4".into()),
            line2: None,
            postal_code: Some("26110".into()),
            province: Some("นครนายก".into()),
            subdistrict: Some("บ้านนา".into()),
        }),
        currency: "THB".into(),
        locale: "th".into(),
        payment_terms_days: 30,
        metadata: serde_json::json!({"crm": "A-17", "seats": 3, "vip": true,
            "nested": {"list": [1, 2.5, null, "ไทย"], "quote": "\"", "b": {}, "a": []}}),
    };
    let bare = CustomerFields {
        name: "Green Valley Durian".into(),
        currency: "THB".into(),
        locale: "en".into(),
        metadata: serde_json::json!({}),
        ..CustomerFields::default()
    };
    // An address without JSON escapes (read borrowed) next to one with them (read owned).
    let plain = CustomerFields {
        address: Some(PostalAddress {
            country: Some("TH".into()),
            line1: Some("99 ถนนพหลโยธิน".into()),
            province: Some("ปทุมธานี".into()),
            ..PostalAddress::default()
        }),
        ..full.clone()
    };
    let mut tx = db.begin().await.unwrap();
    let mut ids = Vec::new();
    for (fields, at) in [
        (&full, now),
        (&bare, now + chrono::Duration::milliseconds(120)),
        (&plain, now + chrono::Duration::microseconds(123_456)),
        (&bare, now + chrono::Duration::microseconds(123_400)),
    ] {
        ids.push(customers::insert(&mut tx, fields, at).await.unwrap().id);
    }
    customers::set_status(&mut tx, ids[1], "deleted", now)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    if backend == Backend::Sqlite {
        // Timestamps as other writers leave them in SQLite's text: its own format, another
        // offset, a fraction longer than it needs to be, nanoseconds.
        for (id, at) in [
            (ids[0], "2026-12-05T09:30:00.123456789+00:00"),
            (ids[2], "2026-12-05 09:30:00"),
            (ids[3], "2026-12-05T16:30:00.120000+07:00"),
        ] {
            db.execute(
                Sql::new("UPDATE customers SET updated_at = $1 WHERE id = $2")
                    .bind(at)
                    .bind(id),
            )
            .await
            .unwrap();
        }
    }

    for &id in &ids {
        let document = customers::get_document(&db, Scope::All, id)
            .await
            .unwrap()
            .expect("the customer is there");
        let customer = customers::get(&db, Scope::All, id).await.unwrap().unwrap();
        let view = serde_json::to_vec(&CustomerView::from(customer)).unwrap();
        assert_eq!(
            String::from_utf8(document).unwrap(),
            String::from_utf8(view).unwrap()
        );
    }
    // Out of the caller's scope, or unknown: no document.
    for (scope, id) in [
        (Scope::Member(Uuid::now_v7()), ids[0]),
        (Scope::All, Uuid::now_v7()),
    ] {
        assert!(
            customers::get_document(&db, scope, id)
                .await
                .unwrap()
                .is_none()
        );
    }
}
