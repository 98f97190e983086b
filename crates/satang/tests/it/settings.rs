//! The seller profile (SPEC §2.10) on both databases.

use crate::common::{Backend, expect_problem, spawn};
use serde_json::{Value, json};

both_backends!(seller_profile_is_validated_and_audited);

async fn seller_profile_is_validated_and_audited(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let admin = app.admin_token().await;
    let defaults: Value = app.get("/api/settings", &admin).await.json().await.unwrap();
    assert_eq!(defaults["vat_rate_bps"], 700);
    assert_eq!(defaults["withholding_tax_rate_bps"], 300);
    assert_eq!(defaults["invoice_prefix"], "INV");
    assert_eq!(
        defaults["dunning"],
        json!({"retry_days": [1, 3, 5, 7], "grace_days": 14})
    );
    assert_eq!(defaults["timezone"], "Asia/Bangkok");
    assert_eq!(
        defaults["tax_point"], "payment",
        "VAT on services falls due at payment"
    );
    assert_eq!(defaults["receipt_prefix"], "RT");

    let res = app
        .patch(
            "/api/settings",
            &admin,
            json!({
                "company_name": {"th": "บริษัท ฟาร์มไอคิว จำกัด", "en": "FarmIQ Co., Ltd."},
                "tax_id": "0-1055-57000-12-6",
                "address": {"line1": "1 ถนนพหลโยธิน", "province": "กรุงเทพมหานคร", "postal_code": "10400"},
                "promptpay_id": "0105557000126",
                "invoice_prefix": "FIQ",
                "tax_point": "issue",
                "receipt_prefix": "FIQ-R",
            }),
        )
        .await;
    assert_eq!(res.status(), 200);
    let saved: Value = res.json().await.unwrap();
    assert_eq!(saved["tax_id"], "0105557000126");
    assert_eq!(saved["branch_code"], "00000");
    assert_eq!(saved["promptpay_id"], "0105557000126");
    assert_eq!(saved["vat_rate_bps"], 700, "fields not given stay");
    assert_eq!(
        (&saved["tax_point"], &saved["receipt_prefix"]),
        (&json!("issue"), &json!("FIQ-R"))
    );
    let read: Value = app.get("/api/settings", &admin).await.json().await.unwrap();
    assert_eq!(read, saved);

    for (body, field) in [
        (json!({"tax_id": "0105557000127"}), "tax_id"),
        (json!({"promptpay_id": "12345"}), "promptpay_id"),
        (json!({"vat_rate_bps": 20000}), "vat_rate_bps"),
        (json!({"invoice_prefix": "INV 2026/"}), "invoice_prefix"),
        (
            json!({"dunning": {"retry_days": [5, 3], "grace_days": 7}}),
            "dunning.retry_days",
        ),
        (json!({"timezone": "Bangkok"}), "timezone"),
        (json!({"tax_point": "monthly"}), "tax_point"),
        (json!({"receipt_prefix": "RT/2026"}), "receipt_prefix"),
        (json!({"receipt_prefix": "FIQ"}), "receipt_prefix"),
    ] {
        let problem = expect_problem(app.patch("/api/settings", &admin, body).await, 422).await;
        assert!(problem["errors"][field].is_array(), "{field}: {problem}");
    }
    let unchanged: Value = app.get("/api/settings", &admin).await.json().await.unwrap();
    assert_eq!(unchanged, saved);

    let viewer = app.staff_token("viewer@satang.test", &["viewer"]).await;
    assert_eq!(app.get("/api/settings", &viewer).await.status(), 200);
    expect_problem(
        app.patch("/api/settings", &viewer, json!({"vat_rate_bps": 0}))
            .await,
        403,
    )
    .await;
    let member = app.signup("member@farm.test").await;
    expect_problem(
        app.get("/api/settings", member["access_token"].as_str().unwrap())
            .await,
        403,
    )
    .await;

    let events: Value = app
        .get("/api/audit-events?entity_type=settings", &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(events["data"].as_array().unwrap().len(), 1);
    assert_eq!(events["data"][0]["after"]["invoice_prefix"], "FIQ");
}
