//! Credit grants in the billing run's chunks, on both databases: a chunk writes what all its
//! invoices took from grants together (`satang_billing::credit_grants::record_uses_many`), so one
//! grant taken by two invoices of the chunk is lowered by their sum, pays each invoice its own
//! `credit` payment and is announced depleted once; a grant that changed after the chunk read it
//! fails that subscription's billing whole, and leaves the other subscriptions billed.
//! Figures are worked out by hand in the comments (PRO ฿990.00 a month, VAT 7 %).

use serde_json::{Value, json};
use uuid::Uuid;

use crate::common::billing::{insert_customer, run_billing, set_date};
use crate::common::{Backend, TestApp, json_of, ok, spawn_clocked_on};

both_backends!(
    two_invoices_of_a_chunk_take_one_grant_in_turn,
    a_grant_changed_under_the_chunk_bills_nothing_of_its_customer,
);

async fn subscribe(app: &TestApp, admin: &str, customer: Uuid) -> String {
    let sub = json_of(
        app.post(
            "/api/subscriptions",
            Some(admin),
            json!({"customer_id": customer, "plan_code": "PRO", "trial_days": 0,
                   "collection_method": "send_invoice"}),
        )
        .await,
        201,
    )
    .await;
    sub["id"].as_str().unwrap().to_owned()
}

async fn grant(app: &TestApp, admin: &str, customer: Uuid, body: Value) -> Value {
    json_of(
        app.post(
            &format!("/api/customers/{customer}/credit-grants"),
            Some(admin),
            body,
        )
        .await,
        201,
    )
    .await
}

async fn grants(app: &TestApp, admin: &str, customer: Uuid) -> Vec<Value> {
    let page = ok(app
        .get(&format!("/api/customers/{customer}/credit-grants"), admin)
        .await)
    .await;
    page["data"].as_array().unwrap().clone()
}

async fn invoices_of(app: &TestApp, admin: &str, sub: &str) -> Vec<Value> {
    let page = ok(app
        .get(&format!("/api/invoices?subscription_id={sub}"), admin)
        .await)
    .await;
    page["data"].as_array().unwrap().clone()
}

/// The customer's payments as (invoice, method, amount).
async fn payments_of(app: &TestApp, admin: &str, customer: Uuid) -> Vec<(Value, Value, i64)> {
    let page = ok(app
        .get(&format!("/api/payments?customer_id={customer}"), admin)
        .await)
    .await;
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["invoice_id"].clone(),
                p["method"].clone(),
                p["amount"].as_i64().unwrap(),
            )
        })
        .collect()
}

/// The grant's audit entries with `action`.
async fn grant_audit(app: &TestApp, admin: &str, grant: &Value, action: &str) -> Vec<Value> {
    let page = ok(app
        .get(
            &format!(
                "/api/audit-events?entity_type=credit_grant&entity_id={}&limit=200",
                grant["id"].as_str().unwrap()
            ),
            admin,
        )
        .await)
    .await;
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == action)
        .cloned()
        .collect()
}

/// [subtotal, discount, total, amount_paid, amount_due].
fn figures(invoice: &Value) -> [i64; 5] {
    ["subtotal", "discount", "total", "amount_paid", "amount_due"]
        .map(|k| invoice[k].as_i64().unwrap())
}

/// One customer, two monthly subscriptions, both due on the same day: one chunk bills both, and
/// each of the customer's two grants is taken by both invoices.
async fn two_invoices_of_a_chunk_take_one_grant_in_turn(backend: Backend) {
    let Some((app, admin)) = spawn_clocked_on(backend, "2030-01-10").await else {
        return;
    };
    let farm = insert_customer(&app, "สหกรณ์ข้าวหอมมะลิ", "active").await;
    let subs = [
        subscribe(&app, &admin, farm).await,
        subscribe(&app, &admin, farm).await,
    ];
    // Granted after January's invoices were issued, so February's run is the first to take it.
    let promotional = grant(
        &app,
        &admin,
        farm,
        json!({"type": "promotional", "amount": 50_000}),
    )
    .await;
    let prepaid = grant(
        &app,
        &admin,
        farm,
        json!({"type": "prepaid", "amount": 150_000}),
    )
    .await;

    let admin = set_date(&app, "2030-02-10").await;
    let report = run_billing(&app, &admin).await;
    assert_eq!(report["invoices_created"], 2, "{report}");
    assert_eq!(report["failed"], 0, "{report}");

    // The first invoice takes the whole ฿500.00 promotional grant (taxable ฿490.00, VAT ฿34.30,
    // total ฿524.30, paid by prepaid credit); the second gets no promotional credit (฿1,059.30)
    // and the ฿975.70 of prepaid credit left, ฿83.60 due.
    let mut february: Vec<Value> = Vec::new();
    for sub in &subs {
        let invoices = invoices_of(&app, &admin, sub).await;
        assert_eq!(invoices.len(), 2, "January's and February's");
        february.push(invoices.last().unwrap().clone());
    }
    february.sort_by_key(|i| i["total"].as_i64().unwrap());
    assert_eq!(
        february.iter().map(figures).collect::<Vec<_>>(),
        [
            [99_000, 50_000, 52_430, 52_430, 0],
            [99_000, 0, 105_930, 97_570, 8_360],
        ]
    );
    assert_eq!(
        february[0]["discounts"],
        json!([{"coupon_code": "CREDIT", "credit_grant_id": promotional["id"],
                "amount": 50_000}])
    );
    assert_eq!(
        (&february[0]["status"], &february[1]["status"]),
        (&json!("paid"), &json!("open"))
    );

    // One `credit` payment per invoice the prepaid grant paid, exactly the grant between them.
    let mut payments = payments_of(&app, &admin, farm).await;
    payments.sort_by_key(|p| p.2);
    assert_eq!(
        payments,
        [
            (february[0]["id"].clone(), json!("credit"), 52_430),
            (february[1]["id"].clone(), json!("credit"), 97_570),
        ]
    );

    // Each grant lowered by what both invoices took, to 0, and announced depleted once.
    let now = grants(&app, &admin, farm).await;
    for granted in [&promotional, &prepaid] {
        let g = now.iter().find(|g| g["id"] == granted["id"]).unwrap();
        assert_eq!(
            (&g["remaining"], &g["status"]),
            (&json!(0), &json!("depleted"))
        );
        let depleted = grant_audit(&app, &admin, granted, "credit_grant.depleted").await;
        assert_eq!(depleted.len(), 1, "{depleted:?}");
        assert_eq!(depleted[0]["before"], Value::Null);
        assert_eq!(depleted[0]["after"]["remaining"], 0);
        assert_eq!(depleted[0]["after"]["status"], "depleted");
    }
}

/// Voids every active grant of the customer of each invoice inserted: a grant changed by
/// someone else after the chunk read it, before the chunk consumed it.
const VOID_ON_INVOICE_SQLITE: &str = "CREATE TRIGGER void_grants_on_invoice AFTER INSERT ON \
     invoices BEGIN UPDATE credit_grants SET status = 'voided', voided_at = NEW.created_at, \
     updated_at = NEW.created_at WHERE customer_id = NEW.customer_id AND status = 'active'; END";
const VOID_ON_INVOICE_POSTGRES: [&str; 2] = [
    "CREATE FUNCTION void_grants_on_invoice() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
     UPDATE billing.credit_grants SET status = 'voided', voided_at = NEW.created_at, \
     updated_at = NEW.created_at WHERE customer_id = NEW.customer_id AND status = 'active'; \
     RETURN NULL; END $$",
    "CREATE TRIGGER void_grants_on_invoice AFTER INSERT ON billing.invoices FOR EACH ROW \
     EXECUTE FUNCTION void_grants_on_invoice()",
];

/// Two customers' subscriptions due in one chunk; the grant of one changes while the chunk
/// bills it. The chunk rolls back, and billed one at a time the other subscription is billed;
/// of the customer whose grant changed nothing is written: no invoice, no payment, the
/// subscription still in its period, the grant as the change left it. Once nothing changes
/// under it, the next run bills it.
async fn a_grant_changed_under_the_chunk_bills_nothing_of_its_customer(backend: Backend) {
    let Some((app, admin)) = spawn_clocked_on(backend, "2030-01-10").await else {
        return;
    };
    let farm = insert_customer(&app, "สหกรณ์ข้าวหอมมะลิ", "active").await;
    let shop = insert_customer(&app, "ร้านข้าวสาร", "active").await;
    let farm_sub = subscribe(&app, &admin, farm).await;
    let shop_sub = subscribe(&app, &admin, shop).await;
    let prepaid = grant(
        &app,
        &admin,
        farm,
        json!({"type": "prepaid", "amount": 200_000}),
    )
    .await;

    let db = satang::open_db(&app.db.config())
        .await
        .expect("open database");
    match backend {
        Backend::Sqlite => {
            db.execute(satang_store::Sql::new(VOID_ON_INVOICE_SQLITE))
                .await
                .unwrap();
        }
        Backend::Postgres => {
            for statement in VOID_ON_INVOICE_POSTGRES {
                db.execute(satang_store::Sql::new(statement)).await.unwrap();
            }
        }
    }

    let admin = set_date(&app, "2030-02-10").await;
    let report = run_billing(&app, &admin).await;
    assert_eq!(report["invoices_created"], 1, "{report}");
    assert_eq!(report["failed"], 1, "{report}");
    assert_eq!(invoices_of(&app, &admin, &shop_sub).await.len(), 2);
    assert_eq!(
        invoices_of(&app, &admin, &farm_sub).await.len(),
        1,
        "January's only"
    );
    assert!(payments_of(&app, &admin, farm).await.is_empty());
    let sub = ok(app
        .get(&format!("/api/subscriptions/{farm_sub}"), &admin)
        .await)
    .await;
    assert_eq!(sub["current_period_start"], "2030-01-10", "{sub}");
    let g = grants(&app, &admin, farm).await;
    assert_eq!(
        (&g[0]["remaining"], &g[0]["status"]),
        (&json!(200_000), &json!("active")),
        "the trigger's void rolled back with the rest"
    );
    assert!(
        grant_audit(&app, &admin, &prepaid, "credit_grant.depleted")
            .await
            .is_empty()
    );

    let drop = match backend {
        Backend::Sqlite => "DROP TRIGGER void_grants_on_invoice",
        Backend::Postgres => "DROP TRIGGER void_grants_on_invoice ON billing.invoices",
    };
    db.execute(satang_store::Sql::new(drop)).await.unwrap();
    let report = run_billing(&app, &admin).await;
    assert_eq!(
        (&report["invoices_created"], &report["failed"]),
        (&json!(1), &json!(0)),
        "{report}"
    );
    let invoices = invoices_of(&app, &admin, &farm_sub).await;
    assert_eq!(invoices.len(), 2);
    let february = invoices.last().unwrap();
    // ฿1,059.30 paid by the grant, ฿940.70 left.
    assert_eq!(figures(february), [99_000, 0, 105_930, 105_930, 0]);
    assert_eq!(
        payments_of(&app, &admin, farm).await,
        [(february["id"].clone(), json!("credit"), 105_930)]
    );
    let g = grants(&app, &admin, farm).await;
    assert_eq!(
        (&g[0]["remaining"], &g[0]["status"]),
        (&json!(94_070), &json!("active"))
    );
}
