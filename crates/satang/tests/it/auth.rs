//! Black-box tests of the auth service (SPEC §2.1) and staff users (§2.2), on both databases.

use crate::common::{ADMIN_EMAIL, Backend, PASSWORD, expect_problem, spawn, spawn_with};
use serde_json::{Value, json};

both_backends!(signup_login_me);

async fn signup_login_me(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let signed_up = app.signup("Somchai@Farm.test").await;
    assert_eq!(signed_up["token_type"], "Bearer");
    assert_eq!(signed_up["expires_in"], 900);
    assert_eq!(signed_up["user"]["email"], "Somchai@Farm.test");
    assert_eq!(signed_up["user"]["roles"], json!([]));
    assert!(signed_up["refresh_token"].as_str().unwrap().len() >= 40);

    // Emails are case-insensitive for login.
    let login = app.login("somchai@farm.test", PASSWORD).await;
    let token = login["access_token"].as_str().unwrap();
    let me: Value = app.get("/api/auth/me", token).await.json().await.unwrap();
    assert_eq!(me["email"], "Somchai@Farm.test");
    assert_eq!(me["name"], "ทดสอบ ผู้ใช้");
    assert_eq!(me["roles"], json!([]));
    assert_eq!(me["memberships"], json!([]));
    assert_eq!(me["id"], signed_up["user"]["id"]);

    let admin = app.admin_token().await;
    let me: Value = app.get("/api/auth/me", &admin).await.json().await.unwrap();
    assert_eq!(me["email"], ADMIN_EMAIL);
    assert_eq!(me["roles"], json!(["admin"]));

    let res = app
        .call(reqwest::Method::GET, "/api/auth/me", None, None)
        .await;
    expect_problem(res, 401).await;
}

both_backends!(
    refresh_rotates_and_detects_reuse,
    logout_revokes_the_login,
    access_tokens_of_an_ended_login_are_refused_at_once,
    duplicate_email_is_a_conflict,
    login_failures_are_rate_limited,
    signups_are_rate_limited_per_email_and_per_address,
    one_message_for_unknown_email_and_wrong_password,
    disabled_user_is_locked_out_at_once,
    staff_roles_guard_user_administration,
    invited_staff_user_chooses_a_password,
    last_administrator_cannot_be_removed,
    jwks_publishes_the_signing_key,
    passwords_are_checked_in_a_child_of_the_binary,
);

async fn refresh_rotates_and_detects_reuse(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let first = app.signup("rotate@farm.test").await;
    let r1 = first["refresh_token"].as_str().unwrap().to_owned();

    let res = app
        .post("/api/auth/refresh", None, json!({"refresh_token": r1}))
        .await;
    assert_eq!(res.status(), 200);
    let second: Value = res.json().await.unwrap();
    let r2 = second["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(r1, r2);
    assert_eq!(second["user"]["email"], "rotate@farm.test");
    assert!(
        app.get("/api/auth/me", second["access_token"].as_str().unwrap())
            .await
            .status()
            == 200
    );

    // A second, independent login is not affected by what happens to the first.
    let other_login = app.login("rotate@farm.test", PASSWORD).await;

    // Replaying the spent token: 401, and the whole family (including r2) is revoked.
    let res = app
        .post("/api/auth/refresh", None, json!({"refresh_token": r1}))
        .await;
    expect_problem(res, 401).await;
    let res = app
        .post("/api/auth/refresh", None, json!({"refresh_token": r2}))
        .await;
    expect_problem(res, 401).await;

    let res = app
        .post(
            "/api/auth/refresh",
            None,
            json!({"refresh_token": other_login["refresh_token"]}),
        )
        .await;
    assert_eq!(res.status(), 200);

    for bad in [
        json!({"refresh_token": "nope"}),
        json!({"refresh_token": "x".repeat(300)}),
    ] {
        expect_problem(app.post("/api/auth/refresh", None, bad).await, 401).await;
    }
}

async fn logout_revokes_the_login(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let session = app.signup("logout@farm.test").await;
    let access = session["access_token"].as_str().unwrap();
    let refresh = session["refresh_token"].as_str().unwrap();

    // Logout needs the access token.
    let res = app
        .post("/api/auth/logout", None, json!({"refresh_token": refresh}))
        .await;
    expect_problem(res, 401).await;

    let res = app
        .post(
            "/api/auth/logout",
            Some(access),
            json!({"refresh_token": refresh}),
        )
        .await;
    assert_eq!(res.status(), 204);
    let res = app
        .post("/api/auth/refresh", None, json!({"refresh_token": refresh}))
        .await;
    expect_problem(res, 401).await;

    // Another user's refresh token is not theirs to revoke (signed in again: the logged-out
    // access token no longer works at all).
    let victim = app.signup("victim@farm.test").await;
    let again = app.login("logout@farm.test", PASSWORD).await;
    let res = app
        .post(
            "/api/auth/logout",
            again["access_token"].as_str(),
            json!({"refresh_token": victim["refresh_token"]}),
        )
        .await;
    assert_eq!(res.status(), 204);
    let res = app
        .post(
            "/api/auth/refresh",
            None,
            json!({"refresh_token": victim["refresh_token"]}),
        )
        .await;
    assert_eq!(res.status(), 200);

    // Logged out and audited.
    let admin = app.admin_token().await;
    let events: Value = app
        .get("/api/audit-events?entity_type=session", &admin)
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
    assert!(actions.contains(&"session.ended"), "{actions:?}");
}

/// Logout and reuse detection end a login's access tokens too, not only its refresh tokens:
/// a token copied before the logout stops working at once, while other logins of the same
/// person go on.
async fn access_tokens_of_an_ended_login_are_refused_at_once(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let first = app.signup("ended@farm.test").await;
    let first_access = first["access_token"].as_str().unwrap();
    let second = app.login("ended@farm.test", PASSWORD).await;
    let second_access = second["access_token"].as_str().unwrap();
    let third = app.login("ended@farm.test", PASSWORD).await;
    let third_access = third["access_token"].as_str().unwrap();
    for token in [first_access, second_access, third_access] {
        assert_eq!(app.get("/api/auth/me", token).await.status(), 200);
    }

    // Logout of the first login.
    let res = app
        .post(
            "/api/auth/logout",
            Some(first_access),
            json!({"refresh_token": first["refresh_token"]}),
        )
        .await;
    assert_eq!(res.status(), 204);
    let problem = expect_problem(app.get("/api/auth/me", first_access).await, 401).await;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("sign in again"),
        "{problem}"
    );
    expect_problem(app.get("/api/customers", first_access).await, 401).await;
    assert_eq!(app.get("/api/auth/me", second_access).await.status(), 200);

    // Reuse detection on the second login: the replayed refresh token revokes the login, and
    // both its access tokens (before and after the rotation) stop working.
    let res = app
        .post(
            "/api/auth/refresh",
            None,
            json!({"refresh_token": second["refresh_token"]}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let rotated: Value = res.json().await.unwrap();
    let rotated_access = rotated["access_token"].as_str().unwrap();
    assert_eq!(app.get("/api/auth/me", rotated_access).await.status(), 200);
    let res = app
        .post(
            "/api/auth/refresh",
            None,
            json!({"refresh_token": second["refresh_token"]}),
        )
        .await;
    expect_problem(res, 401).await;
    for token in [second_access, rotated_access] {
        expect_problem(app.get("/api/auth/me", token).await, 401).await;
    }

    // The third login was never ended.
    assert_eq!(app.get("/api/auth/me", third_access).await.status(), 200);
}

async fn duplicate_email_is_a_conflict(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    app.signup("dup@farm.test").await;
    let res = app
        .post(
            "/api/auth/signup",
            None,
            json!({"email": "DUP@farm.test", "password": PASSWORD, "name": "Again"}),
        )
        .await;
    expect_problem(res, 409).await;
}

async fn login_failures_are_rate_limited(backend: Backend) {
    let Some(app) = crate::common::spawn_with(backend, |c| {
        c.login_failures_per_account = 3;
        c.login_failures_per_ip = 6;
    })
    .await
    else {
        return;
    };
    app.signup("target@farm.test").await;
    for _ in 0..3 {
        let res = app
            .post(
                "/api/auth/login",
                None,
                json!({"email": "target@farm.test", "password": "wrong-Password-1"}),
            )
            .await;
        expect_problem(res, 401).await;
    }
    // Locked per account, even with the right password.
    let res = app
        .post(
            "/api/auth/login",
            None,
            json!({"email": "target@farm.test", "password": PASSWORD}),
        )
        .await;
    let retry_after: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after > 0 && retry_after <= 900);
    expect_problem(res, 429).await;

    // Per address: after 6 failures in all, another account is refused too.
    for i in 0..3 {
        let res = app
            .post(
                "/api/auth/login",
                None,
                json!({"email": format!("nobody{i}@farm.test"), "password": "x-Wrong-password"}),
            )
            .await;
        expect_problem(res, 401).await;
    }
    let res = app
        .post(
            "/api/auth/login",
            None,
            json!({"email": ADMIN_EMAIL, "password": PASSWORD}),
        )
        .await;
    expect_problem(res, 429).await;
}

/// Signup tells whether an address has an account (409), so it is limited like login: per
/// e-mail (the default, 5 attempts in 15 minutes) and per client address.
async fn signups_are_rate_limited_per_email_and_per_address(backend: Backend) {
    let Some(app) = crate::common::spawn_with(backend, |c| c.signup_attempts_per_ip = 8).await
    else {
        return;
    };
    app.signup("taken@farm.test").await;
    let again = json!({"email": "Taken@Farm.test", "password": PASSWORD, "name": "Again"});
    let mut statuses = Vec::new();
    for _ in 0..30 {
        let res = app.post("/api/auth/signup", None, again.clone()).await;
        let status = res.status().as_u16();
        statuses.push(status);
        if status == 429 {
            let retry_after: u64 = res.headers()["retry-after"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            assert!(retry_after > 0 && retry_after <= 900);
            expect_problem(res, 429).await;
            break;
        }
        let problem = expect_problem(res, 409).await;
        assert_eq!(
            problem["detail"],
            "an account with this email already exists"
        );
    }
    // The first attempt made the account; four more answer 409, then the e-mail is limited.
    assert_eq!(statuses, [409, 409, 409, 409, 429], "{statuses:?}");

    // Invalid signups tell nothing and are not counted; new addresses from the same client
    // count towards its limit (8 here): 1 + 4 above, 3 more, then 429 whatever the address.
    let weak = json!({"email": "fresh@farm.test", "password": "password", "name": "N"});
    expect_problem(app.post("/api/auth/signup", None, weak).await, 422).await;
    for i in 0..3 {
        app.signup(&format!("new{i}@farm.test")).await;
    }
    let res = app
        .post(
            "/api/auth/signup",
            None,
            json!({"email": "one-more@farm.test", "password": PASSWORD, "name": "N"}),
        )
        .await;
    expect_problem(res, 429).await;
    // Login is not affected.
    app.login("taken@farm.test", PASSWORD).await;
}

async fn one_message_for_unknown_email_and_wrong_password(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    app.signup("known@farm.test").await;
    let unknown = app
        .post(
            "/api/auth/login",
            None,
            json!({"email": "unknown@farm.test", "password": PASSWORD}),
        )
        .await;
    let unknown = expect_problem(unknown, 401).await;
    let wrong = app
        .post(
            "/api/auth/login",
            None,
            json!({"email": "known@farm.test", "password": "Wrong-password-9"}),
        )
        .await;
    let wrong = expect_problem(wrong, 401).await;
    assert_eq!(unknown, wrong);
}

async fn disabled_user_is_locked_out_at_once(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let session = app.signup("leaver@farm.test").await;
    let token = session["access_token"].as_str().unwrap();
    let id = session["user"]["id"].as_str().unwrap();
    assert_eq!(app.get("/api/auth/me", token).await.status(), 200);

    let admin = app.admin_token().await;
    let res = app
        .patch(
            &format!("/api/users/{id}"),
            &admin,
            json!({"disabled": true}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["disabled"], true);

    // The still-unexpired access token stops working immediately, the refresh token too,
    // and the password no longer signs in.
    expect_problem(app.get("/api/auth/me", token).await, 401).await;
    let res = app
        .post(
            "/api/auth/refresh",
            None,
            json!({"refresh_token": session["refresh_token"]}),
        )
        .await;
    expect_problem(res, 401).await;
    let res = app
        .post(
            "/api/auth/login",
            None,
            json!({"email": "leaver@farm.test", "password": PASSWORD}),
        )
        .await;
    expect_problem(res, 401).await;

    // Re-enabled: signs in again.
    let res = app
        .patch(
            &format!("/api/users/{id}"),
            &admin,
            json!({"disabled": false}),
        )
        .await;
    assert_eq!(res.status(), 200);
    app.login("leaver@farm.test", PASSWORD).await;
}

async fn staff_roles_guard_user_administration(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let admin = app.admin_token().await;
    for role in ["billing", "support", "viewer"] {
        let token = app
            .staff_token(&format!("{role}@satang.test"), &[role])
            .await;
        let me: Value = app.get("/api/auth/me", &token).await.json().await.unwrap();
        assert_eq!(me["roles"], json!([role]));
        expect_problem(app.get("/api/users", &token).await, 403).await;
        let res = app
            .post(
                "/api/users",
                Some(&token),
                json!({"email": "x@satang.test", "name": "X", "roles": []}),
            )
            .await;
        expect_problem(res, 403).await;
    }
    let member = app.signup("member@farm.test").await;
    let member_token = member["access_token"].as_str().unwrap();
    expect_problem(app.get("/api/users", member_token).await, 403).await;
    expect_problem(app.get("/api/audit-events", member_token).await, 403).await;

    // An admin changes roles; the change applies to the next request.
    let viewer_id = {
        let list: Value = app
            .get("/api/users?limit=200", &admin)
            .await
            .json()
            .await
            .unwrap();
        list["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["email"] == "viewer@satang.test")
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let viewer_token = app.login("viewer@satang.test", PASSWORD).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = app
        .patch(
            &format!("/api/users/{viewer_id}"),
            &admin,
            json!({"roles": ["admin", "viewer"], "name": "สมหญิง"}),
        )
        .await;
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["roles"], json!(["admin", "viewer"]));
    assert_eq!(body["name"], "สมหญิง");
    assert_eq!(app.get("/api/users", &viewer_token).await.status(), 200);

    let res = app
        .patch(
            &format!("/api/users/{viewer_id}"),
            &admin,
            json!({"roles": ["root"]}),
        )
        .await;
    let problem = expect_problem(res, 422).await;
    assert!(problem["errors"]["roles"].is_array());

    let res = app
        .get(&format!("/api/users/{}", uuid::Uuid::now_v7()), &admin)
        .await;
    expect_problem(res, 404).await;
}

async fn invited_staff_user_chooses_a_password(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let admin = app.admin_token().await;
    let res = app
        .post(
            "/api/users",
            Some(&admin),
            json!({"email": "new.staff@satang.test", "name": "New", "roles": ["support"]}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let created: Value = res.json().await.unwrap();
    assert_eq!(created["roles"], json!(["support"]));
    let invitation = &created["invitation"];
    let token = invitation["token"].as_str().unwrap();
    assert!(invitation["url"].as_str().unwrap().ends_with(token));

    // No password yet: cannot sign in.
    let res = app
        .post(
            "/api/auth/login",
            None,
            json!({"email": "new.staff@satang.test", "password": PASSWORD}),
        )
        .await;
    expect_problem(res, 401).await;

    let res = app
        .post(
            "/api/auth/invitations/accept",
            None,
            json!({"token": token, "password": "short"}),
        )
        .await;
    expect_problem(res, 422).await;
    let res = app
        .post(
            "/api/auth/invitations/accept",
            None,
            json!({"token": token, "password": PASSWORD}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let session: Value = res.json().await.unwrap();
    assert_eq!(session["user"]["email"], "new.staff@satang.test");
    app.login("new.staff@satang.test", PASSWORD).await;

    // An invitation works once.
    let res = app
        .post(
            "/api/auth/invitations/accept",
            None,
            json!({"token": token, "password": PASSWORD}),
        )
        .await;
    expect_problem(res, 404).await;
}

async fn last_administrator_cannot_be_removed(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let admin = app.admin_token().await;
    let me: Value = app.get("/api/auth/me", &admin).await.json().await.unwrap();
    let id = me["id"].as_str().unwrap();
    let res = app
        .patch(
            &format!("/api/users/{id}"),
            &admin,
            json!({"disabled": true}),
        )
        .await;
    expect_problem(res, 409).await;
    let res = app
        .patch(
            &format!("/api/users/{id}"),
            &admin,
            json!({"roles": ["viewer"]}),
        )
        .await;
    expect_problem(res, 409).await;
    // Still an admin.
    assert_eq!(app.get("/api/users", &admin).await.status(), 200);
}

async fn jwks_publishes_the_signing_key(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let res = app
        .client
        .get(app.at("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let jwks: Value = res.json().await.unwrap();
    let key = &jwks["keys"][0];
    assert_eq!(key["kty"], "OKP");
    assert_eq!(key["crv"], "Ed25519");
    assert_eq!(key["alg"], "EdDSA");

    // The access token names that key.
    let token = app.admin_token().await;
    let header = token.split('.').next().unwrap();
    use base64::Engine;
    let header: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(header)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(header["alg"], "EdDSA");
    assert_eq!(header["kid"], key["kid"]);
}

/// As `satang serve` runs it: each chosen password is checked by a child of the real binary
/// (`satang password-strength`), the first administrator's at start included, with the same
/// answers as the in-process check.
async fn passwords_are_checked_in_a_child_of_the_binary(backend: Backend) {
    let Some(app) = spawn_with(backend, |c| {
        c.password_checker = Some(env!("CARGO_BIN_EXE_satang").into());
    })
    .await
    else {
        return;
    };
    app.login(ADMIN_EMAIL, PASSWORD).await;
    for (password, why) in [
        ("password", "a common password"),
        ("somchai2026", "the person's own name with a year"),
        ("Satang12345", "the product's name with digits"),
    ] {
        let res = app
            .post(
                "/api/auth/signup",
                None,
                json!({"email": "somchai@farm.test", "password": password, "name": "Somchai"}),
            )
            .await;
        let problem = expect_problem(res, 422).await;
        assert!(problem["errors"]["password"].is_array(), "{why}: {problem}");
    }
    let session = app
        .post(
            "/api/auth/signup",
            None,
            json!({"email": "somchai@farm.test", "password": "lotus-harvest-tractor-91", "name": "Somchai"}),
        )
        .await;
    assert_eq!(session.status(), 201);
}
