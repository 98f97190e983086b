//! Black-box tests of customers, contacts and members (SPEC §2.3) and of tenancy (§2.2), on
//! both databases.

use crate::common::access::{DELETE, GET, PATCH, POST, check_access};
use crate::common::{Backend, PASSWORD, TestApp, expect_problem, spawn};
use reqwest::Method;
use serde_json::{Value, json};

const TAX_ID: &str = "0105536000313";
const TAX_ID_2: &str = "0105557000126";

both_backends!(
    create_read_update_customer,
    bad_customer_input_changes_nothing,
    search_finds_thai_and_latin_substrings,
    status_changes_soft_delete_and_restore,
    contacts_keep_one_primary_per_role,
    members_see_only_their_customer,
    member_roles_limit_what_members_do,
    invited_email_becomes_a_member_on_signup,
    export_and_erase,
);

async fn create_customer(app: &TestApp, token: &str, body: Value) -> Value {
    let res = app.post("/api/customers", Some(token), body).await;
    assert_eq!(res.status(), 201, "create customer");
    res.json().await.unwrap()
}

fn farm(name: &str) -> Value {
    json!({
        "name": name,
        "legal_name": format!("{name} จำกัด"),
        "tax_id": TAX_ID,
        "email": "office@banna.coop",
        "phone": "+66 81 234 5678",
        "address": {"line1": "99 หมู่ 4", "subdistrict": "บ้านนา", "district": "เมือง",
                    "province": "นครนายก", "postal_code": "26000"},
        "metadata": {"crm_id": "A-17", "hectares": 12}
    })
}

async fn create_read_update_customer(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let admin = app.admin_token().await;
    let created = create_customer(&app, &admin, farm("สหกรณ์การเกษตรบ้านนา")).await;
    assert_eq!(created["status"], "active");
    assert_eq!(created["branch_code"], "00000");
    assert_eq!(created["currency"], "THB");
    assert_eq!(created["locale"], "th");
    assert_eq!(created["payment_terms_days"], 30);
    assert_eq!(created["balance"], 0);
    assert_eq!(created["version"], 1);
    assert_eq!(created["address"]["country"], "TH");
    assert_eq!(created["metadata"]["hectares"], 12);
    let id = created["id"].as_str().unwrap();

    let read: Value = app
        .get(&format!("/api/customers/{id}"), &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(read, created);

    // Partial update: absent fields stay, null clears.
    let res = app
        .patch(
            &format!("/api/customers/{id}"),
            &admin,
            json!({"phone": null, "payment_terms_days": 15}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let updated: Value = res.json().await.unwrap();
    assert_eq!(updated["phone"], Value::Null);
    assert_eq!(updated["payment_terms_days"], 15);
    assert_eq!(updated["name"], "สหกรณ์การเกษตรบ้านนา");
    assert_eq!(updated["version"], 2);

    // If-Match with a stale version: 409 and nothing changes.
    let res = app
        .client
        .patch(app.at(&format!("/api/customers/{id}")))
        .bearer_auth(&admin)
        .header("If-Match", "1")
        .json(&json!({"name": "Stale"}))
        .send()
        .await
        .unwrap();
    expect_problem(res, 409).await;
    let res = app
        .client
        .patch(app.at(&format!("/api/customers/{id}")))
        .bearer_auth(&admin)
        .header("If-Match", "\"2\"")
        .json(&json!({"name": "Fresh Farm"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    let events: Value = app
        .get(
            &format!("/api/audit-events?entity_type=customer&entity_id={id}"),
            &admin,
        )
        .await
        .json()
        .await
        .unwrap();
    let actions: Vec<&str> = events["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["customer.updated", "customer.updated", "customer.created"]
    );
    // The create's entry holds the customer exactly as the create answered, and who did it.
    let creation = &events["data"][2];
    assert_eq!(creation["after"], created);
    assert_eq!(creation["before"], Value::Null);
    assert!(creation["actor_id"].is_string(), "{creation}");
    expect_problem(
        app.get(&format!("/api/customers/{}", uuid::Uuid::now_v7()), &admin)
            .await,
        404,
    )
    .await;
}

async fn bad_customer_input_changes_nothing(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let admin = app.admin_token().await;
    let cases = [
        (json!({"name": "Farm", "tax_id": "0105536000314"}), "tax_id"),
        (json!({"name": "Farm", "tax_id": "12345"}), "tax_id"),
        (
            json!({"name": "Farm", "tax_id": TAX_ID, "branch_code": "1"}),
            "branch_code",
        ),
        (json!({"name": "x".repeat(10_000)}), "name"),
        (json!({"name": ""}), "name"),
        (json!({"name": "Farm", "email": "not-an-email"}), "email"),
        (json!({"name": "Farm", "currency": "XXX"}), "currency"),
        (json!({"name": "Farm", "locale": "fr"}), "locale"),
        (
            json!({"name": "Farm", "payment_terms_days": 999}),
            "payment_terms_days",
        ),
        (
            json!({"name": "Farm", "address": {"postal_code": "ABC"}}),
            "address.postal_code",
        ),
        (json!({"name": "Farm", "nickname": "x"}), "nickname"),
        (json!({"name": 42}), "name"),
        (
            json!({"name": "Farm", "metadata": {"k": {"nested": true}}}),
            "metadata",
        ),
    ];
    for (body, field) in cases {
        let problem = expect_problem(
            app.post("/api/customers", Some(&admin), body.clone()).await,
            422,
        )
        .await;
        assert!(problem["errors"][field].is_array(), "{field}: {problem}");
    }
    // A 3 MB body is refused before it is read: a 413, or — when the server closes the
    // connection while the client is still sending — a reset; either way nothing is stored.
    let huge = json!({"name": "y".repeat(3 * 1024 * 1024)});
    // A client of its own, so the refused upload's connection is never reused.
    match reqwest::Client::new()
        .post(app.at("/api/customers"))
        .bearer_auth(&admin)
        .json(&huge)
        .send()
        .await
    {
        Ok(res) => {
            expect_problem(res, 413).await;
        }
        Err(e) => assert!(e.is_request(), "{e}"),
    }

    let list: Value = app
        .get("/api/customers", &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["data"], json!([]));

    // Updates are validated the same way.
    let id = create_customer(&app, &admin, json!({"name": "Good Farm"})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let problem = expect_problem(
        app.patch(
            &format!("/api/customers/{id}"),
            &admin,
            json!({"tax_id": "0000000000000"}),
        )
        .await,
        422,
    )
    .await;
    assert!(problem["errors"]["tax_id"].is_array());
    expect_problem(
        app.patch(
            &format!("/api/customers/{id}"),
            &admin,
            json!({"status": "deleted"}),
        )
        .await,
        422,
    )
    .await;
    let read: Value = app
        .get(&format!("/api/customers/{id}"), &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(read["version"], 1);
}

async fn search_finds_thai_and_latin_substrings(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let admin = app.admin_token().await;
    create_customer(
        &app,
        &admin,
        json!({"name": "สหกรณ์การเกษตรบ้านนา", "tax_id": TAX_ID}),
    )
    .await;
    create_customer(
        &app,
        &admin,
        json!({"name": "ไร่ชาดอยแม่สลอง", "email": "Tea@MaeSalong.example"}),
    )
    .await;
    create_customer(&app, &admin, json!({"name": "Green Valley Durian Co.", "legal_name": "บริษัท กรีนวัลเลย์ ทุเรียน จำกัด", "tax_id": TAX_ID_2})).await;

    let names = |v: Value| -> Vec<String> {
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let search = |q: &str| {
        let url = format!("/api/customers?q={}", urlencode(q));
        let app = &app;
        let admin = admin.clone();
        async move { app.get(&url, &admin).await.json::<Value>().await.unwrap() }
    };
    assert_eq!(names(search("สหกรณ์").await), ["สหกรณ์การเกษตรบ้านนา"]);
    assert_eq!(names(search("เกษตร").await), ["สหกรณ์การเกษตรบ้านนา"]);
    assert_eq!(names(search("แม่สลอง").await), ["ไร่ชาดอยแม่สลอง"]);
    assert_eq!(names(search("maesalong").await), ["ไร่ชาดอยแม่สลอง"]);
    assert_eq!(names(search("DURIAN").await), ["Green Valley Durian Co."]);
    assert_eq!(names(search("ทุเรียน").await), ["Green Valley Durian Co."]);
    assert_eq!(names(search("5536000").await), ["สหกรณ์การเกษตรบ้านนา"]);
    assert_eq!(names(search("ไร่").await), ["ไร่ชาดอยแม่สลอง"]);
    assert_eq!(names(search("co").await).len(), 1);
    assert_eq!(names(search("100%_").await), Vec::<String>::new());
    assert_eq!(names(search("\"quoted\"").await), Vec::<String>::new());
    assert_eq!(
        names(search("nothing-like-this").await),
        Vec::<String>::new()
    );

    // Paging through all three, two at a time.
    let first: Value = app
        .get("/api/customers?limit=2", &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(first["data"].as_array().unwrap().len(), 2);
    let cursor = first["next_cursor"].as_str().unwrap();
    let second: Value = app
        .get(&format!("/api/customers?limit=2&cursor={cursor}"), &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(second["data"].as_array().unwrap().len(), 1);
    assert_eq!(second["next_cursor"], Value::Null);
    expect_problem(app.get("/api/customers?status=gone", &admin).await, 400).await;

    // Long terms (PostgreSQL asks its index for a window of them): the whole term decides.
    for (name, email) in [
        ("Mango Farm", "office@mango-doisaket1188.co.th"),
        ("Apple Farm", "office@APPLE-doisaket1188.co.th"),
    ] {
        create_customer(&app, &admin, json!({"name": name, "email": email})).await;
    }
    assert_eq!(names(search("mango-doisaket1188").await), ["Mango Farm"]);
    assert_eq!(names(search("Apple-DoiSaket1188").await), ["Apple Farm"]);
    assert_eq!(
        names(search("-doisaket1188.co").await),
        ["Mango Farm", "Apple Farm"]
    );
    assert_eq!(
        names(search("pear-doisaket1188").await),
        Vec::<String>::new()
    );
    assert_eq!(
        names(search("nothing_ket1188%").await),
        Vec::<String>::new()
    );
    assert_eq!(names(search("การเกษตรบ้านนา").await), ["สหกรณ์การเกษตรบ้านนา"]);
}

async fn status_changes_soft_delete_and_restore(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let admin = app.admin_token().await;
    let id = create_customer(&app, &admin, json!({"name": "Farm"})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let url = format!("/api/customers/{id}");

    let res = app
        .patch(&url, &admin, json!({"status": "suspended"}))
        .await;
    assert_eq!(res.json::<Value>().await.unwrap()["status"], "suspended");
    let suspended: Value = app
        .get("/api/customers?status=suspended", &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(suspended["data"].as_array().unwrap().len(), 1);
    let res = app.patch(&url, &admin, json!({"status": "active"})).await;
    assert_eq!(res.json::<Value>().await.unwrap()["status"], "active");

    let res = app.call(Method::DELETE, &url, Some(&admin), None).await;
    assert_eq!(res.status(), 204);
    expect_problem(
        app.call(Method::DELETE, &url, Some(&admin), None).await,
        409,
    )
    .await;
    let listed: Value = app
        .get("/api/customers", &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["data"], json!([]));
    let deleted: Value = app
        .get("/api/customers?status=deleted", &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(deleted["data"][0]["id"], id.as_str());
    let read: Value = app.get(&url, &admin).await.json().await.unwrap();
    assert_eq!(read["status"], "deleted");
    assert!(read["deleted_at"].is_string());
    expect_problem(app.patch(&url, &admin, json!({"name": "x"})).await, 409).await;

    let res = app
        .post(&format!("{url}/restore"), Some(&admin), json!({}))
        .await;
    assert_eq!(res.status(), 200);
    let restored: Value = res.json().await.unwrap();
    assert_eq!(restored["status"], "active");
    assert_eq!(restored["deleted_at"], Value::Null);

    // Support may change status; viewers and billing staff may only read.
    let viewer = app.staff_token("viewer@satang.test", &["viewer"]).await;
    let support = app.staff_token("support@satang.test", &["support"]).await;
    let cast = [("viewer", viewer.as_str()), ("support", support.as_str())];
    let suspend = || Some(json!({"status": "suspended"}));
    #[rustfmt::skip]
    check_access(&app, &cast, [
        ("viewer", GET, url.clone(), None, 200),
        ("viewer", PATCH, url.clone(), suspend(), 403),
        ("viewer", POST, "/api/customers".into(), Some(json!({"name": "X"})), 403),
        ("support", PATCH, url.clone(), suspend(), 200),
    ])
    .await;
}

async fn contacts_keep_one_primary_per_role(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let admin = app.admin_token().await;
    let id = create_customer(&app, &admin, json!({"name": "Farm"})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let base = format!("/api/customers/{id}/contacts");
    let add = |body: Value| {
        let (app, admin, base) = (&app, admin.clone(), base.clone());
        async move {
            let res = app.post(&base, Some(&admin), body).await;
            assert_eq!(res.status(), 201);
            res.json::<Value>().await.unwrap()
        }
    };
    let a = add(
        json!({"name": "สมศรี", "email": "somsri@farm.test", "role": "billing", "is_primary": true}),
    )
    .await;
    let b = add(json!({"name": "Niran", "role": "billing", "is_primary": true})).await;
    add(json!({"name": "Ops", "role": "ops", "is_primary": true})).await;

    let a_now: Value = app
        .get(&format!("{base}/{}", a["id"].as_str().unwrap()), &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        a_now["is_primary"], false,
        "the new primary billing contact demoted the old one"
    );
    assert_eq!(b["is_primary"], true);

    let list: Value = app.get(&base, &admin).await.json().await.unwrap();
    assert_eq!(list["data"].as_array().unwrap().len(), 3);

    let res = app
        .patch(
            &format!("{base}/{}", a["id"].as_str().unwrap()),
            &admin,
            json!({"is_primary": true, "phone": "02-123-4567"}),
        )
        .await;
    let a_after: Value = res.json().await.unwrap();
    assert_eq!(a_after["is_primary"], true);
    assert_eq!(a_after["phone"], "02-123-4567");
    let b_now: Value = app
        .get(&format!("{base}/{}", b["id"].as_str().unwrap()), &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(b_now["is_primary"], false);

    let problem = expect_problem(
        app.post(&base, Some(&admin), json!({"name": "X", "role": "ceo"}))
            .await,
        422,
    )
    .await;
    assert!(problem["errors"]["role"].is_array());
    let res = app
        .call(
            Method::DELETE,
            &format!("{base}/{}", b["id"].as_str().unwrap()),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(res.status(), 204);
    expect_problem(
        app.get(&format!("{base}/{}", b["id"].as_str().unwrap()), &admin)
            .await,
        404,
    )
    .await;
    let missing = uuid::Uuid::now_v7();
    expect_problem(
        app.get(&format!("/api/customers/{missing}/contacts"), &admin)
            .await,
        404,
    )
    .await;
}

/// Two customers, each with a member; returns (customer A id, customer B id, A's member token).
async fn two_tenants(app: &TestApp, admin: &str) -> (String, String, String) {
    let a = create_customer(
        app,
        admin,
        json!({"name": "Farm A ฟาร์มเอ", "tax_id": TAX_ID}),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let b = create_customer(
        app,
        admin,
        json!({"name": "Farm B ฟาร์มบี", "tax_id": TAX_ID_2}),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let alice = app.signup("alice@a.test").await;
    let bob = app.signup("bob@b.test").await;
    for (customer, user) in [(&a, &alice), (&b, &bob)] {
        let res = app
            .post(
                &format!("/api/customers/{customer}/members"),
                Some(admin),
                json!({"user_id": user["user"]["id"], "role": "owner"}),
            )
            .await;
        assert_eq!(res.status(), 201);
    }
    app.post(
        &format!("/api/customers/{b}/contacts"),
        Some(admin),
        json!({"name": "B contact", "role": "ops"}),
    )
    .await;
    (a, b, alice["access_token"].as_str().unwrap().to_owned())
}

async fn members_see_only_their_customer(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let admin = app.admin_token().await;
    let (a, b, alice) = two_tenants(&app, &admin).await;

    let me: Value = app.get("/api/auth/me", &alice).await.json().await.unwrap();
    assert_eq!(
        me["memberships"],
        json!([{"customer_id": a, "customer_name": "Farm A ฟาร์มเอ", "role": "owner"}])
    );

    let list: Value = app
        .get("/api/customers", &alice)
        .await
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [a.as_str()]);
    // Neither search, filter nor id reveals customer B.
    for q in ["Farm", "ฟาร์มบี", "Farm%20B", TAX_ID_2] {
        let found: Value = app
            .get(&format!("/api/customers?q={q}"), &alice)
            .await
            .json()
            .await
            .unwrap();
        assert!(
            found["data"]
                .as_array()
                .unwrap()
                .iter()
                .all(|c| c["id"] == a.as_str()),
            "{q}"
        );
    }
    let deleted: Value = app
        .get("/api/customers?status=deleted", &alice)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(deleted["data"], json!([]));
    for path in [
        format!("/api/customers/{b}"),
        format!("/api/customers/{b}/contacts"),
        format!("/api/customers/{b}/members"),
        format!("/api/customers/{b}/export"),
    ] {
        let problem = expect_problem(app.get(&path, &alice).await, 404).await;
        let missing = expect_problem(
            app.get(&path.replace(&b, &uuid::Uuid::now_v7().to_string()), &alice)
                .await,
            404,
        )
        .await;
        assert_eq!(
            problem, missing,
            "{path}: B answers exactly like a customer that does not exist"
        );
    }
    let (a_, b_) = (format!("/api/customers/{a}"), format!("/api/customers/{b}"));
    #[rustfmt::skip]
    check_access(&app, &[("alice", &alice)], [
        // Nor does any change reach B.
        ("alice", PATCH, b_.clone(), Some(json!({"name": "pwned"})), 404),
        ("alice", POST, format!("{b_}/contacts"), Some(json!({"name": "x", "role": "ops"})), 404),
        ("alice", DELETE, b_.clone(), None, 404),
        ("alice", POST, format!("{b_}/members"), Some(json!({"email": "evil@x.test", "role": "owner"})), 404),
        // Their own customer works.
        ("alice", GET, a_.clone(), None, 200),
        ("alice", POST, format!("{a_}/contacts"), Some(json!({"name": "Mine", "role": "billing"})), 201),
        // But a member cannot create customers or change status.
        ("alice", POST, "/api/customers".into(), Some(json!({"name": "New"})), 403),
        ("alice", PATCH, a_.clone(), Some(json!({"status": "suspended"})), 403),
    ])
    .await;
}

async fn member_roles_limit_what_members_do(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let admin = app.admin_token().await;
    let (a, _b, alice) = two_tenants(&app, &admin).await;
    let carol = app.signup("carol@a.test").await;
    let carol_id = carol["user"]["id"].as_str().unwrap().to_owned();
    let carol_token = carol["access_token"].as_str().unwrap().to_owned();

    // The owner adds Carol as a plain member.
    let res = app
        .post(
            &format!("/api/customers/{a}/members"),
            Some(&alice),
            json!({"email": "CAROL@a.test", "role": "member"}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let added: Value = res.json().await.unwrap();
    assert_eq!(added["status"], "active");
    assert_eq!(added["user_id"], carol_id.as_str());
    expect_problem(
        app.post(
            &format!("/api/customers/{a}/members"),
            Some(&alice),
            json!({"user_id": carol_id, "role": "member"}),
        )
        .await,
        409,
    )
    .await;

    let a_ = format!("/api/customers/{a}");
    let contact = || Some(json!({"name": "x", "role": "ops"}));
    let cast = [("alice", alice.as_str()), ("carol", carol_token.as_str())];
    // A member reads but does not edit.
    #[rustfmt::skip]
    check_access(&app, &cast, [
        ("carol", GET, format!("{a_}/contacts"), None, 200),
        ("carol", POST, format!("{a_}/contacts"), contact(), 403),
        ("carol", PATCH, a_.clone(), Some(json!({"name": "x"})), 403),
        ("carol", GET, format!("{a_}/export"), None, 403),
    ])
    .await;

    // Promoted to admin, Carol may edit contacts.
    let res = app
        .patch(
            &format!("/api/customers/{a}/members/{carol_id}"),
            &alice,
            json!({"role": "admin"}),
        )
        .await;
    assert_eq!(res.json::<Value>().await.unwrap()["role"], "admin");
    let alice_id = app
        .get("/api/auth/me", &alice)
        .await
        .json::<Value>()
        .await
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let alice_member = format!("{a_}/members/{alice_id}");
    #[rustfmt::skip]
    check_access(&app, &cast, [
        ("carol", POST, format!("{a_}/contacts"), contact(), 201),
        // The last owner cannot be demoted or removed.
        ("alice", PATCH, alice_member.clone(), Some(json!({"role": "member"})), 409),
        ("alice", DELETE, alice_member, None, 409),
    ])
    .await;
    let problem = expect_problem(
        app.patch(
            &format!("/api/customers/{a}/members/{carol_id}"),
            &alice,
            json!({"role": "king"}),
        )
        .await,
        422,
    )
    .await;
    assert!(problem["errors"]["role"].is_array());

    // Removing Carol ends her access.
    let res = app
        .call(
            Method::DELETE,
            &format!("/api/customers/{a}/members/{carol_id}"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(res.status(), 204);
    expect_problem(
        app.get(&format!("/api/customers/{a}"), &carol_token).await,
        404,
    )
    .await;
    let members: Value = app
        .get(&format!("/api/customers/{a}/members"), &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(members["data"].as_array().unwrap().len(), 1);
}

async fn invited_email_becomes_a_member_on_signup(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let admin = app.admin_token().await;
    let id = create_customer(&app, &admin, json!({"name": "Farm"})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = app
        .post(
            &format!("/api/customers/{id}/members"),
            Some(&admin),
            json!({"email": "newbie@farm.test", "role": "billing"}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let invited: Value = res.json().await.unwrap();
    assert_eq!(invited["status"], "invited");
    assert_eq!(invited["user_id"], Value::Null);

    let session = app.signup("Newbie@Farm.test").await;
    let me: Value = app
        .get("/api/auth/me", session["access_token"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["memberships"][0]["customer_id"], id.as_str());
    assert_eq!(me["memberships"][0]["role"], "billing");
    let _ = PASSWORD;
}

async fn export_and_erase(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let admin = app.admin_token().await;
    let (a, _b, alice) = two_tenants(&app, &admin).await;
    app.post(&format!("/api/customers/{a}/contacts"), Some(&admin), json!({"name": "สมชาย", "email": "somchai@a.test", "phone": "0812345678", "role": "billing"})).await;

    let export: Value = app
        .get(&format!("/api/customers/{a}/export"), &alice)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(export["customer"]["id"], a.as_str());
    assert_eq!(export["contacts"][0]["email"], "somchai@a.test");
    assert_eq!(export["members"][0]["email"], "alice@a.test");
    assert!(!export["audit_events"].as_array().unwrap().is_empty());

    expect_problem(
        app.post(
            &format!("/api/customers/{a}/erase"),
            Some(&alice),
            json!({}),
        )
        .await,
        403,
    )
    .await;
    let res = app
        .post(
            &format!("/api/customers/{a}/erase"),
            Some(&admin),
            json!({}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let erased: Value = res.json().await.unwrap();
    assert_eq!(erased["status"], "deleted");
    assert_eq!(erased["email"], Value::Null);
    assert_eq!(erased["tax_id"], TAX_ID, "tax records keep the tax id");

    let export: Value = app
        .get(&format!("/api/customers/{a}/export"), &admin)
        .await
        .json()
        .await
        .unwrap();
    let text = export.to_string();
    assert!(
        !text.contains("somchai@a.test")
            && !text.contains("0812345678")
            && !text.contains("alice@a.test"),
        "{text}"
    );
    assert_eq!(export["contacts"][0]["name"], "erased");
    assert_eq!(export["members"], json!([]));
    // Alice no longer reaches the customer.
    expect_problem(app.get(&format!("/api/customers/{a}"), &alice).await, 404).await;
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
