//! Black-box tests of the separable services (SPEC §1): an auth server (`Services::Auth`) and a
//! customers server (`Services::Customers`) on one database, the customers side verifying access
//! tokens with the auth service's JWKS only — including after a signing-key rotation. Both
//! databases.

use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::{Client, Response};
use serde_json::{Value, json};

use crate::common::process::{self, kid_of};
use crate::common::{ADMIN_EMAIL, Backend, Database, PASSWORD, expect_problem};
use satang::{Config, Server};
use satang_api::Services;
use satang_auth::SigningKeys;

both_backends!(
    split_services_share_tokens_and_data,
    each_service_serves_only_its_routes,
    customers_service_rejects_forged_tokens,
    disabled_user_is_locked_out_of_the_customers_service,
    logout_on_the_auth_service_ends_the_token_on_the_customers_service,
    tokens_of_a_rotated_key_keep_working,
    customers_service_learns_a_rotated_key_without_restart,
);

async fn split_services_share_tokens_and_data(backend: Backend) {
    let Some((_db, auth, customers, http)) = start_both(backend).await else {
        return;
    };

    // Signed in on the auth service, accepted by the customers service.
    let admin = login(&http, &auth, ADMIN_EMAIL).await;
    let res = get(&http, &customers, "/api/audit-events", Some(&admin)).await;
    assert_eq!(res.status(), 200);
    let page: Value = res.json().await.unwrap();
    assert!(page["data"].is_array() && page.get("next_cursor").is_some());

    // A change made through the auth service is in the audit log the customers service reads.
    let res = http
        .post(format!("{}/api/users", auth.url()))
        .bearer_auth(&admin)
        .json(&json!({"email": "split@satang.test", "name": "Split", "roles": ["viewer"], "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let user: Value = res.json().await.unwrap();
    let id = user["id"].as_str().unwrap();
    let res = get(
        &http,
        &customers,
        &format!("/api/audit-events?entity_type=user&entity_id={id}"),
        Some(&admin),
    )
    .await;
    assert_eq!(res.status(), 200);
    let page: Value = res.json().await.unwrap();
    assert!(
        page["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "user.created"),
        "{page}"
    );

    // Roles come with the user: a viewer is refused audit on the customers service too.
    let viewer = login(&http, &auth, "split@satang.test").await;
    let res = get(&http, &customers, "/api/audit-events", Some(&viewer)).await;
    expect_problem(res, 403).await;

    // The JWKS names the key that signed the token.
    let res = get(&http, &auth, "/.well-known/jwks.json", None).await;
    assert_eq!(res.status(), 200);
    let jwks: Value = res.json().await.unwrap();
    let keys = jwks["keys"].as_array().unwrap();
    assert!(!keys.is_empty());
    for key in keys {
        assert_eq!(key["kty"], "OKP", "{key}");
        assert_eq!(key["crv"], "Ed25519", "{key}");
        assert!(key["kid"].as_str().is_some_and(|k| !k.is_empty()), "{key}");
        assert!(key["x"].is_string(), "{key}");
        assert!(key.get("d").is_none(), "a private key is published: {key}");
    }
    assert!(keys.iter().any(|k| k["kid"] == kid_of(&admin)));

    stop(customers).await;
    stop(auth).await;
}

async fn each_service_serves_only_its_routes(backend: Backend) {
    let Some((_db, auth, customers, http)) = start_both(backend).await else {
        return;
    };
    let admin = login(&http, &auth, ADMIN_EMAIL).await;

    // The auth API is not on the customers service …
    let res = http
        .post(format!("{}/api/auth/login", customers.url()))
        .json(&json!({"email": ADMIN_EMAIL, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    expect_problem(res, 404).await;
    for path in ["/api/auth/me", "/api/users", "/.well-known/jwks.json"] {
        let res = get(&http, &customers, path, Some(&admin)).await;
        expect_problem(res, 404).await;
    }
    // … and the customers API is not on the auth service.
    let res = get(&http, &auth, "/api/audit-events", Some(&admin)).await;
    expect_problem(res, 404).await;

    // Both are healthy, ready, measured and documented.
    for server in [&auth, &customers] {
        for path in ["/healthz", "/readyz", "/metrics", "/api/openapi.json"] {
            let res = get(&http, server, path, None).await;
            assert_eq!(res.status(), 200, "{path} on {}", server.url());
        }
    }
    stop(customers).await;
    stop(auth).await;
}

async fn customers_service_rejects_forged_tokens(backend: Backend) {
    let Some((_db, auth, customers, http)) = start_both(backend).await else {
        return;
    };
    let admin = login(&http, &auth, ADMIN_EMAIL).await;

    // A token from another Satang with its own keys.
    let Some(other_db) = Database::create(backend).await else {
        return;
    };
    let other = start(&auth_config(&other_db), Services::Auth).await;
    let foreign = login(&http, &other, ADMIN_EMAIL).await;

    let parts: Vec<&str> = admin.split('.').collect();
    let mut claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    claims["exp"] = json!(claims["exp"].as_i64().unwrap() + 86_400);
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        parts[2]
    );
    let alg_none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD
            .encode(json!({"alg": "none", "typ": "JWT", "kid": kid_of(&admin)}).to_string()),
        parts[1]
    );
    let unknown_kid = format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD
            .encode(json!({"alg": "EdDSA", "typ": "JWT", "kid": "no-such-key"}).to_string()),
        parts[1],
        parts[2]
    );

    for (what, token) in [
        ("garbage", "garbage".to_owned()),
        ("tampered payload", tampered),
        ("alg none", alg_none),
        ("unknown kid", unknown_kid),
        ("another auth service", foreign),
    ] {
        let res = get(&http, &customers, "/api/audit-events", Some(&token)).await;
        assert_eq!(res.status(), 401, "{what}");
        expect_problem(res, 401).await;
    }
    let res = get(&http, &customers, "/api/audit-events", None).await;
    expect_problem(res, 401).await;

    // Unknown key ids do not stop genuine tokens from working.
    assert_eq!(
        get(&http, &customers, "/api/audit-events", Some(&admin))
            .await
            .status(),
        200
    );
    stop(other).await;
    stop(customers).await;
    stop(auth).await;
}

async fn disabled_user_is_locked_out_of_the_customers_service(backend: Backend) {
    let Some((_db, auth, customers, http)) = start_both(backend).await else {
        return;
    };
    let admin = login(&http, &auth, ADMIN_EMAIL).await;
    let res = http
        .post(format!("{}/api/users", auth.url()))
        .bearer_auth(&admin)
        .json(&json!({"email": "auditor@satang.test", "name": "Auditor", "roles": ["admin"], "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let id = res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let token = login(&http, &auth, "auditor@satang.test").await;
    let res = get(&http, &customers, "/api/audit-events", Some(&token)).await;
    assert_eq!(res.status(), 200);

    let res = http
        .patch(format!("{}/api/users/{id}", auth.url()))
        .bearer_auth(&admin)
        .json(&json!({"disabled": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    // The customers service may serve the user from its cache for a moment (SATANG_USER_CACHE_MS,
    // 1 s by default), then the still-unexpired token stops working there too.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let res = get(&http, &customers, "/api/audit-events", Some(&token)).await;
        if res.status() == 401 {
            expect_problem(res, 401).await;
            break;
        }
        assert_eq!(res.status(), 200);
        assert!(
            Instant::now() < deadline,
            "a disabled user still works on the customers service after 10 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop(customers).await;
    stop(auth).await;
}

/// The customers service learns of a logout from the shared database: within its cache time
/// (SATANG_USER_CACHE_MS) the logged-out access token is refused there too.
async fn logout_on_the_auth_service_ends_the_token_on_the_customers_service(backend: Backend) {
    let Some((_db, auth, customers, http)) = start_both(backend).await else {
        return;
    };
    let session = process::login(&http, &auth.url(), ADMIN_EMAIL).await;
    let token = session["access_token"].as_str().unwrap();
    let other = login(&http, &auth, ADMIN_EMAIL).await;
    let res = get(&http, &customers, "/api/audit-events", Some(token)).await;
    assert_eq!(res.status(), 200);

    let res = http
        .post(format!("{}/api/auth/logout", auth.url()))
        .bearer_auth(token)
        .json(&json!({"refresh_token": session["refresh_token"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    // At once on the auth service, which made the change.
    let res = get(&http, &auth, "/api/auth/me", Some(token)).await;
    expect_problem(res, 401).await;

    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let res = get(&http, &customers, "/api/audit-events", Some(token)).await;
        if res.status() == 401 {
            expect_problem(res, 401).await;
            break;
        }
        assert_eq!(res.status(), 200);
        assert!(
            Instant::now() < deadline,
            "a logged-out token still works on the customers service after 10 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Another login of the same person is not affected.
    let res = get(&http, &customers, "/api/audit-events", Some(&other)).await;
    assert_eq!(res.status(), 200);
    stop(customers).await;
    stop(auth).await;
}

async fn tokens_of_a_rotated_key_keep_working(backend: Backend) {
    let Some(db) = Database::create(backend).await else {
        return;
    };
    let http = Client::new();
    let auth1 = start(&auth_config(&db), Services::Auth).await;
    let old = login(&http, &auth1, ADMIN_EMAIL).await;
    stop(auth1).await;

    let new_kid = SigningKeys::rotate(&db.data_dir()).unwrap();
    assert_ne!(new_kid, kid_of(&old));

    let auth2 = start(&auth_config(&db), Services::Auth).await;
    let new = login(&http, &auth2, ADMIN_EMAIL).await;
    assert_eq!(kid_of(&new), new_kid, "the new key signs");

    // Both keys are published.
    let jwks: Value = get(&http, &auth2, "/.well-known/jwks.json", None)
        .await
        .json()
        .await
        .unwrap();
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert!(kids.contains(&new_kid.as_str()), "{kids:?}");
    assert!(kids.contains(&kid_of(&old).as_str()), "{kids:?}");

    let customers = start(&customers_config(&db, &auth2), Services::Customers).await;
    for (what, token) in [("old key", &old), ("new key", &new)] {
        let res = get(&http, &auth2, "/api/auth/me", Some(token)).await;
        assert_eq!(res.status(), 200, "{what} on the auth service");
        let res = get(&http, &customers, "/api/audit-events", Some(token)).await;
        assert_eq!(res.status(), 200, "{what} on the customers service");
    }
    stop(customers).await;
    stop(auth2).await;
}

async fn customers_service_learns_a_rotated_key_without_restart(backend: Backend) {
    let Some(db) = Database::create(backend).await else {
        return;
    };
    let http = Client::new();
    let auth1 = start(&auth_config(&db), Services::Auth).await;
    let customers = start(&customers_config(&db, &auth1), Services::Customers).await;
    let old = login(&http, &auth1, ADMIN_EMAIL).await;
    let old_unused = login(&http, &auth1, ADMIN_EMAIL).await;
    assert_eq!(
        get(&http, &customers, "/api/audit-events", Some(&old))
            .await
            .status(),
        200
    );
    let addr = auth1.addr;
    stop(auth1).await;

    // While the auth service is down, keys already fetched keep verifying.
    let res = get(&http, &customers, "/api/audit-events", Some(&old_unused)).await;
    assert_eq!(res.status(), 200, "verified with the cached public key");

    SigningKeys::rotate(&db.data_dir()).unwrap();
    // The new auth service comes back at the same address.
    let mut config = auth_config(&db);
    config.addr = addr;
    let auth2 = match Server::start(&config, Services::Auth).await {
        Ok(server) => server,
        Err(e) => {
            eprintln!(
                "SKIPPED the rest: {addr} was taken before the auth service came back: {e:#}"
            );
            stop(customers).await;
            return;
        }
    };
    let new = login(&http, &auth2, ADMIN_EMAIL).await;
    assert_ne!(kid_of(&new), kid_of(&old));

    // The customers service fetches the JWKS again for the unknown key id (it may wait a moment
    // between fetches), then accepts the new token; the old one still works.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let res = get(&http, &customers, "/api/audit-events", Some(&new)).await;
        if res.status() == 200 {
            break;
        }
        expect_problem(res, 401).await;
        assert!(
            Instant::now() < deadline,
            "the customers service never learnt the rotated key"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        get(&http, &customers, "/api/audit-events", Some(&old))
            .await
            .status(),
        200
    );
    stop(customers).await;
    stop(auth2).await;
}

// ------------------------------------------------------------------------------------------------
// Helpers

/// A fresh database with an auth service and a customers service on it, and a client.
async fn start_both(backend: Backend) -> Option<(Database, Server, Server, Client)> {
    let db = Database::create(backend).await?;
    let auth = start(&auth_config(&db), Services::Auth).await;
    let customers = start(&customers_config(&db, &auth), Services::Customers).await;
    Some((db, auth, customers, Client::new()))
}

fn auth_config(db: &Database) -> Config {
    db.config()
}

/// The customers service on the same database, verifying with `auth`'s JWKS.
fn customers_config(db: &Database, auth: &Server) -> Config {
    let mut config = db.config();
    config.auth_url = Some(auth.url());
    config.admin_email = None;
    config.admin_password = None;
    config
}

async fn start(config: &Config, services: Services) -> Server {
    Server::start(config, services)
        .await
        .unwrap_or_else(|e| panic!("{services:?} server starts: {e:#}"))
}

async fn stop(server: Server) {
    server.stop().await.expect("graceful stop");
}

async fn get(http: &Client, server: &Server, path: &str, token: Option<&str>) -> Response {
    let mut req = http.get(format!("{}{path}", server.url()));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.unwrap()
}

/// Signs `email` in at the auth service `auth`; returns the access token.
async fn login(http: &Client, auth: &Server, email: &str) -> String {
    process::login(http, &auth.url(), email).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}
