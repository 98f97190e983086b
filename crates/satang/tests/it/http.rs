//! Black-box tests of the HTTP behaviour every endpoint shares (SPEC §2 intro, §2.9, §5, §6):
//! problem+json errors and input limits, keyset lists, `Idempotency-Key`, the test clock, forged
//! and expired tokens, health/readiness/metrics, security headers, the OpenAPI document, the API
//! rate limit and the audit trail — each on SQLite and on PostgreSQL; connection limits and
//! timeouts (`http/connections.rs`); a database going away (`http/database_down.rs`).

mod connections;
mod database_down;

use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, TimeDelta, Utc};
use reqwest::{Method, Response};
use serde_json::{Value, json};

use crate::common::{
    ADMIN_EMAIL, Backend, PASSWORD, TestApp, expect_problem, spawn, spawn_with, tool_missing,
};

both_backends!(
    malformed_requests_are_problems,
    oversized_bodies_are_413,
    invalid_fields_are_422_and_nothing_is_stored,
    field_length_limits_count_characters,
    control_characters_in_names_are_field_errors,
    control_characters_elsewhere_are_not_server_errors,
    lists_page_through_every_row_once_in_creation_order,
    idempotency_key_replays_the_first_response,
    idempotency_keys_are_scoped_to_the_caller,
    concurrent_repeats_of_an_idempotent_request_have_one_effect,
    test_clock_is_absent_by_default,
    test_clock_moves_forward_for_admins_only,
    access_token_expires_when_the_clock_passes_its_lifetime,
    forged_tokens_are_rejected,
    health_readiness_and_metrics,
    security_headers_and_request_id,
    openapi_document_lists_every_route,
    contract_fuzzer_finds_no_mismatch_or_server_error,
    api_rate_limit_answers_429_with_retry_after,
    state_changes_are_audited_with_actor_and_request_id,
);

// ------------------------------------------------------------------------------------------------
// Errors (SPEC §2: problem+json, 400/404/405/413/415/422)

async fn malformed_requests_are_problems(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let admin = app.admin_token().await;

    // Not JSON, truncated JSON, trailing garbage, an empty body, a lone surrogate: 400.
    for body in [
        "{not json",
        "{\"email\": \"a@b.test\"",
        "{\"email\":\"a@farm.test\",\"password\":\"x\",\"name\":\"n\"} trailing",
        "",
        "{\"email\":\"\\ud800@farm.test\",\"password\":\"x\",\"name\":\"n\"}",
    ] {
        let res = send_raw(
            &app,
            Method::POST,
            "/api/auth/signup",
            "application/json",
            body,
        )
        .await;
        problem(res, 400).await;
    }
    // Nesting deeper than any parser should follow is refused (as malformed, or as the wrong
    // shape where that shows first), not a crash.
    for body in [
        "[".repeat(100_000),
        format!("{{\"email\": {}", "[".repeat(50_000)),
        format!("{{\"email\": {}1{}", "[".repeat(5_000), "]".repeat(5_000)),
    ] {
        let res = send_raw(
            &app,
            Method::POST,
            "/api/auth/signup",
            "application/json",
            &body,
        )
        .await;
        let status = res.status().as_u16();
        assert!(status == 400 || status == 422, "deep nesting: {status}");
        problem(res, status).await;
    }
    // The server is still up, and a charset parameter is fine.
    let body = json!({"email": "charset@farm.test", "password": PASSWORD, "name": "C"}).to_string();
    let res = send_raw(
        &app,
        Method::POST,
        "/api/auth/signup",
        "application/json; charset=utf-8",
        &body,
    )
    .await;
    assert_eq!(res.status(), 201);

    // A body that is not declared as JSON: 415, also without any content type.
    let signup = json!({"email": "ct@farm.test", "password": PASSWORD, "name": "CT"}).to_string();
    let res = send_raw(
        &app,
        Method::POST,
        "/api/auth/signup",
        "text/plain",
        &signup,
    )
    .await;
    problem(res, 415).await;
    let res = app
        .client
        .post(app.at("/api/auth/signup"))
        .body(signup.clone())
        .send()
        .await
        .unwrap();
    problem(res, 415).await;
    // … and nothing was created by it.
    let res = app
        .post(
            "/api/auth/login",
            None,
            json!({"email": "ct@farm.test", "password": PASSWORD}),
        )
        .await;
    problem(res, 401).await;

    // Unknown routes are 404 problems, inside and outside /api.
    for path in ["/api/nope", "/api/users/x/y/z", "/definitely-not-here"] {
        let res = app.get(path, &admin).await;
        problem(res, 404).await;
    }

    // A known route with the wrong method: 405 problem naming the allowed methods.
    let res = app
        .call(Method::DELETE, "/api/auth/login", None, None)
        .await;
    assert!(
        res.headers()
            .get("allow")
            .is_some_and(|v| v.to_str().unwrap().contains("POST")),
        "a 405 names the allowed methods in Allow: {:?}",
        res.headers()
    );
    problem(res, 405).await;
    let res = app
        .call(Method::PUT, "/api/users", Some(&admin), None)
        .await;
    problem(res, 405).await;

    // Path ids that are not UUIDs: 400.
    for path in ["/api/users/not-a-uuid", "/api/users/123", "/api/users/%00"] {
        problem(app.get(path, &admin).await, 400).await;
    }

    // List parameters out of range or unparsable: 400.
    for query in [
        "limit=0",
        "limit=201",
        "limit=-1",
        "limit=abc",
        "limit=99999999999999999999999",
        "cursor=garbage",
        "cursor=%FF%FE",
        "cursor=AAAA",
    ] {
        let res = app.get(&format!("/api/users?{query}"), &admin).await;
        problem(res, 400).await;
    }
    assert_eq!(app.get("/api/users?limit=200", &admin).await.status(), 200);
    assert_eq!(app.get("/api/users?limit=1", &admin).await.status(), 200);
}

async fn oversized_bodies_are_413(backend: Backend) {
    let Some(app) = spawn_with(backend, |c| c.max_body_bytes = 2048).await else {
        return;
    };
    let big = json!({"email": "big@farm.test", "password": PASSWORD, "name": "x".repeat(4000)});
    let res = app.post("/api/auth/signup", None, big.clone()).await;
    problem(res, 413).await;

    // Same with an Idempotency-Key (the body is read before the handler runs).
    let res = app
        .client
        .post(app.at("/api/auth/signup"))
        .header("idempotency-key", "big-body-1")
        .json(&big)
        .send()
        .await
        .unwrap();
    problem(res, 413).await;

    // Just under the limit is fine.
    let res = app
        .post(
            "/api/auth/signup",
            None,
            json!({"email": "small@farm.test", "password": PASSWORD, "name": "x".repeat(150)}),
        )
        .await;
    assert_eq!(res.status(), 201);

    // The default limit is 1 MiB.
    let Some(app) = spawn(backend).await else {
        return;
    };
    let huge =
        json!({"email": "huge@farm.test", "password": PASSWORD, "name": "x".repeat(1_100_000)});
    let res = app.post("/api/auth/signup", None, huge).await;
    problem(res, 413).await;
}

async fn invalid_fields_are_422_and_nothing_is_stored(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let email = "fresh@farm.test";
    let cases: Vec<(Value, &str)> = vec![
        // Shape errors, named by field.
        (
            json!({"email": email, "password": PASSWORD, "name": "N", "is_admin": true}),
            "is_admin",
        ),
        (
            json!({"email": 42, "password": PASSWORD, "name": "N"}),
            "email",
        ),
        (
            json!({"email": email, "password": ["x"], "name": "N"}),
            "password",
        ),
        (json!({"email": email, "name": "N"}), "password"),
        (json!({"password": PASSWORD, "name": "N"}), "email"),
        (json!({"email": email, "password": PASSWORD}), "name"),
        (
            json!({"email": email, "password": PASSWORD, "name": null}),
            "name",
        ),
        // Content rules.
        (
            json!({"email": "not-an-email", "password": PASSWORD, "name": "N"}),
            "email",
        ),
        (
            json!({"email": "two@@farm.test", "password": PASSWORD, "name": "N"}),
            "email",
        ),
        (
            json!({"email": format!("{}@farm.test", "a".repeat(250)), "password": PASSWORD, "name": "N"}),
            "email",
        ),
        (
            json!({"email": email, "password": "password", "name": "N"}),
            "password",
        ),
        (
            json!({"email": email, "password": "12345678", "name": "N"}),
            "password",
        ),
        (
            json!({"email": email, "password": "Ab1-xyz", "name": "N"}),
            "password",
        ),
        (
            json!({"email": email, "password": strong_password(129), "name": "N"}),
            "password",
        ),
        (
            json!({"email": email, "password": PASSWORD, "name": "x".repeat(10_000)}),
            "name",
        ),
        (
            json!({"email": email, "password": PASSWORD, "name": "   "}),
            "name",
        ),
    ];
    for (body, field) in cases {
        let res = app.post("/api/auth/signup", None, body.clone()).await;
        let doc = problem(res, 422).await;
        assert!(
            doc["errors"][field].is_array() && !doc["errors"][field].as_array().unwrap().is_empty(),
            "{body} should be refused on `{field}`: {doc}"
        );
    }

    // Every invalid field is reported at once.
    let res = app
        .post(
            "/api/auth/signup",
            None,
            json!({"email": "bad", "password": "password", "name": ""}),
        )
        .await;
    let doc = problem(res, 422).await;
    for field in ["email", "password", "name"] {
        assert!(doc["errors"][field].is_array(), "{doc}");
    }

    // The same shape rules on an authenticated endpoint.
    let admin = app.admin_token().await;
    let res = app
        .post(
            "/api/users",
            Some(&admin),
            json!({"email": "staff@satang.test", "name": "S", "roles": "admin"}),
        )
        .await;
    let doc = problem(res, 422).await;
    assert!(doc["errors"]["roles"].is_array(), "{doc}");
    let res = app
        .post(
            "/api/users",
            Some(&admin),
            json!({"email": "staff@satang.test", "name": "S", "roles": ["viewer"], "password": "12345678"}),
        )
        .await;
    let doc = problem(res, 422).await;
    assert!(doc["errors"]["password"].is_array(), "{doc}");

    // Nothing was stored: the email cannot sign in, and is still free to sign up.
    let res = app
        .post(
            "/api/auth/login",
            None,
            json!({"email": email, "password": PASSWORD}),
        )
        .await;
    problem(res, 401).await;
    app.signup(email).await;
    let users = all_users(&app, &admin).await;
    assert!(
        !users.iter().any(|u| u["email"] == "staff@satang.test"),
        "a refused user was stored"
    );
    assert_eq!(
        users.iter().filter(|u| u["email"] == email).count(),
        1,
        "{users:?}"
    );
}

async fn field_length_limits_count_characters(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    // 128 characters is the longest password; 200 Thai characters (600 bytes) fit a name.
    let long_password = strong_password(128);
    let name = "ก".repeat(200);
    let res = app
        .post(
            "/api/auth/signup",
            None,
            json!({"email": "limits@farm.test", "password": long_password, "name": name}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["user"]["name"], name);
    app.login("limits@farm.test", &long_password).await;

    let res = app
        .post(
            "/api/auth/signup",
            None,
            json!({"email": "limits2@farm.test", "password": PASSWORD, "name": "ก".repeat(201)}),
        )
        .await;
    let doc = problem(res, 422).await;
    assert!(doc["errors"]["name"].is_array(), "{doc}");
}

async fn control_characters_in_names_are_field_errors(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let admin = app.admin_token().await;

    // A NUL inside a name is refused as a field error, the same on both databases.
    let res = app
        .post(
            "/api/auth/signup",
            None,
            json!({"email": "nul@farm.test", "password": PASSWORD, "name": "So\u{0}mchai"}),
        )
        .await;
    let doc = problem(res, 422).await;
    assert!(doc["errors"]["name"].is_array(), "{doc}");
    let res = app
        .post(
            "/api/users",
            Some(&admin),
            json!({"email": "nul@satang.test", "name": "Nu\u{0}ll", "roles": ["viewer"], "password": PASSWORD}),
        )
        .await;
    let doc = problem(res, 422).await;
    assert!(doc["errors"]["name"].is_array(), "{doc}");
}

async fn control_characters_elsewhere_are_not_server_errors(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let admin = app.admin_token().await;

    // Every answer is checked, then all wrong ones are reported together.
    let mut wrong = Vec::new();

    // Login with a NUL in the email or password: refused as input no text column can hold
    // (422, like every other body with a NUL), or simply a failed login (401).
    for (what, body) in [
        (
            "login, NUL in the email",
            json!({"email": "nul\u{0}@farm.test", "password": PASSWORD}),
        ),
        (
            "login, NUL in the password",
            json!({"email": ADMIN_EMAIL, "password": "rice\u{0}paddy"}),
        ),
    ] {
        let res = app.post("/api/auth/login", None, body).await;
        let status = res.status().as_u16();
        let text = body_text(res).await;
        if status != 401 && status != 422 {
            wrong.push(format!("{what}: {status} {text}"));
        }
    }

    // A NUL in a query filter is bad input (400) or simply matches nothing — never a 500.
    for query in ["entity_type=user&entity_id=%00", "entity_type=us%00er"] {
        let res = app.get(&format!("/api/audit-events?{query}"), &admin).await;
        let status = res.status().as_u16();
        let text = body_text(res).await;
        let empty = status == 200
            && serde_json::from_str::<Value>(&text).is_ok_and(|page| page["data"] == json!([]));
        if status != 400 && !empty {
            wrong.push(format!("audit filter {query}: {status} {text}"));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

// ------------------------------------------------------------------------------------------------
// Lists (SPEC §2: ?limit=&cursor= → {data, next_cursor})

async fn lists_page_through_every_row_once_in_creation_order(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let admin = app.admin_token().await;
    let mut created = vec![ADMIN_EMAIL.to_owned()];
    for i in 0..7 {
        let email = format!("page{i}@satang.test");
        create_user(&app, &admin, &email, &["viewer"]).await;
        created.push(email);
    }

    let mut seen: Vec<String> = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/users?limit=3&cursor={c}"),
            None => "/api/users?limit=3".to_owned(),
        };
        let res = app.get(&path, &admin).await;
        assert_eq!(res.status(), 200);
        let page: Value = res.json().await.unwrap();
        let object = page.as_object().unwrap();
        assert_eq!(
            object.keys().collect::<Vec<_>>(),
            vec!["data", "next_cursor"],
            "{page}"
        );
        let data = page["data"].as_array().unwrap();
        assert!(data.len() <= 3);
        seen.extend(data.iter().map(|u| u["email"].as_str().unwrap().to_owned()));
        pages += 1;
        assert!(pages <= 10, "paging does not end");
        match &page["next_cursor"] {
            Value::Null => break,
            Value::String(c) => {
                assert!(!data.is_empty(), "an empty page with a next cursor");
                cursor = Some(c.clone());
            }
            other => panic!("next_cursor is {other}"),
        }
    }
    assert_eq!(seen, created, "every user once, in creation order");
    assert_eq!(pages, 3);

    // The last page comes back with a null cursor, also when it is exactly full.
    let page: Value = app
        .get("/api/users?limit=8", &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["data"].as_array().unwrap().len(), 8);
    assert_eq!(page["next_cursor"], Value::Null);
    // The default page holds them all.
    let page: Value = app.get("/api/users", &admin).await.json().await.unwrap();
    assert_eq!(page["data"].as_array().unwrap().len(), 8);
    assert_eq!(page["next_cursor"], Value::Null);
}

// ------------------------------------------------------------------------------------------------
// Idempotency-Key (SPEC §2)

async fn idempotency_key_replays_the_first_response(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let admin = app.admin_token().await;
    let body = json!({"email": "once@satang.test", "name": "Once", "roles": ["support"], "password": PASSWORD});

    let first = post_with_key(&app, "/api/users", Some(&admin), "key-1", &body).await;
    assert_eq!(first.status(), 201);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first_body = body_text(first).await;

    let second = post_with_key(&app, "/api/users", Some(&admin), "key-1", &body).await;
    assert_eq!(second.status(), 201);
    assert_eq!(
        second
            .headers()
            .get("idempotent-replayed")
            .map(|v| v.to_str().unwrap()),
        Some("true")
    );
    assert_eq!(
        second
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap()),
        Some("application/json")
    );
    assert_eq!(body_text(second).await, first_body, "the same body again");
    let count = |users: &[Value]| {
        users
            .iter()
            .filter(|u| u["email"] == "once@satang.test")
            .count()
    };
    assert_eq!(count(&all_users(&app, &admin).await), 1, "one effect only");

    // A fresh token of the same admin is the same caller: still a replay.
    let admin_again = app.admin_token().await;
    let res = post_with_key(&app, "/api/users", Some(&admin_again), "key-1", &body).await;
    assert_eq!(res.status(), 201);
    assert!(res.headers().get("idempotent-replayed").is_some());

    // The same key with another body (or path): 422.
    let other = json!({"email": "other@satang.test", "name": "Other", "roles": ["support"], "password": PASSWORD});
    let res = post_with_key(&app, "/api/users", Some(&admin), "key-1", &other).await;
    problem(res, 422).await;
    let res = post_with_key(&app, "/api/auth/signup", Some(&admin), "key-1", &body).await;
    problem(res, 422).await;
    assert_eq!(count(&all_users(&app, &admin).await), 1);
    assert!(
        !all_users(&app, &admin)
            .await
            .iter()
            .any(|u| u["email"] == "other@satang.test")
    );

    // Another key runs the request again: a duplicate email is a 409, proving it ran.
    let res = post_with_key(&app, "/api/users", Some(&admin), "key-2", &body).await;
    problem(res, 409).await;
    // No key at all: it runs again too.
    let res = app.post("/api/users", Some(&admin), body.clone()).await;
    problem(res, 409).await;

    // Anonymous signup replayed: the same user, not a 409.
    let signup = json!({"email": "idem@farm.test", "password": PASSWORD, "name": "Idem"});
    let a = post_with_key(&app, "/api/auth/signup", None, "signup-1", &signup).await;
    assert_eq!(a.status(), 201);
    let a: Value = a.json().await.unwrap();
    let b = post_with_key(&app, "/api/auth/signup", None, "signup-1", &signup).await;
    assert_eq!(b.status(), 201);
    assert_eq!(
        b.headers()
            .get("idempotent-replayed")
            .map(|v| v.to_str().unwrap()),
        Some("true")
    );
    let b: Value = b.json().await.unwrap();
    assert_eq!(a["user"]["id"], b["user"]["id"]);

    // Keys must be 1–255 characters.
    let res = post_with_key(&app, "/api/users", Some(&admin), &"k".repeat(256), &other).await;
    problem(res, 400).await;
    let res = post_with_key(&app, "/api/users", Some(&admin), "", &other).await;
    problem(res, 400).await;
    assert!(
        !all_users(&app, &admin)
            .await
            .iter()
            .any(|u| u["email"] == "other@satang.test")
    );
}

async fn idempotency_keys_are_scoped_to_the_caller(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let admin = app.admin_token().await;
    create_user(&app, &admin, "second.admin@satang.test", &["admin"]).await;
    let second = app.login("second.admin@satang.test", PASSWORD).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();

    let mine = json!({"email": "mine@satang.test", "name": "Mine", "roles": ["viewer"], "password": PASSWORD});
    let theirs = json!({"email": "theirs@satang.test", "name": "Theirs", "roles": ["viewer"], "password": PASSWORD});
    let res = post_with_key(&app, "/api/users", Some(&admin), "shared-key", &mine).await;
    assert_eq!(res.status(), 201);

    // Another user with the same key and another body: their own request, not a 422.
    let res = post_with_key(&app, "/api/users", Some(&second), "shared-key", &theirs).await;
    assert_eq!(res.status(), 201);
    assert!(res.headers().get("idempotent-replayed").is_none());
    let created: Value = res.json().await.unwrap();
    assert_eq!(created["email"], "theirs@satang.test");

    // … and with the same body as the first: not the first caller's stored answer.
    let res = post_with_key(&app, "/api/users", Some(&second), "other-shared", &mine).await;
    problem(res, 409).await;
    let res = post_with_key(&app, "/api/users", Some(&admin), "other-shared", &theirs).await;
    assert!(res.headers().get("idempotent-replayed").is_none());
    problem(res, 409).await;

    let users = all_users(&app, &admin).await;
    for email in ["mine@satang.test", "theirs@satang.test"] {
        assert_eq!(users.iter().filter(|u| u["email"] == email).count(), 1);
    }
}

async fn concurrent_repeats_of_an_idempotent_request_have_one_effect(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let admin = app.admin_token().await;
    let body = json!({"email": "race@satang.test", "name": "Race", "roles": ["viewer"], "password": PASSWORD});
    let requests =
        (0..8).map(|_| post_with_key(&app, "/api/users", Some(&admin), "race-key", &body));
    let responses = futures::future::join_all(requests).await;
    let mut created = 0;
    for res in responses {
        let status = res.status().as_u16();
        let replayed = res.headers().get("idempotent-replayed").is_some();
        let text = body_text(res).await;
        match status {
            201 => {
                if !replayed {
                    created += 1;
                }
            }
            // The first is still running: try again later.
            409 => assert!(text.contains("Idempotency-Key"), "{text}"),
            other => panic!("concurrent repeat answered {other}: {text}"),
        }
    }
    assert_eq!(created, 1, "exactly one request ran");
    let users = all_users(&app, &admin).await;
    assert_eq!(
        users
            .iter()
            .filter(|u| u["email"] == "race@satang.test")
            .count(),
        1
    );
    // Once finished, the key replays.
    let res = post_with_key(&app, "/api/users", Some(&admin), "race-key", &body).await;
    assert_eq!(res.status(), 201);
    assert!(res.headers().get("idempotent-replayed").is_some());
}

// ------------------------------------------------------------------------------------------------
// Test clock (SPEC §2.9)

async fn test_clock_is_absent_by_default(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let admin = app.admin_token().await;
    problem(app.get("/api/test-clock", &admin).await, 404).await;
    let later = (Utc::now() + TimeDelta::days(40)).to_rfc3339();
    let res = app
        .post("/api/test-clock", Some(&admin), json!({"now": later}))
        .await;
    problem(res, 404).await;
    // Not even listed in the document of this server.
    let doc: Value = app
        .client
        .get(app.at("/api/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["paths"].get("/api/test-clock").is_none());
}

async fn test_clock_moves_forward_for_admins_only(backend: Backend) {
    let Some(mut app) = spawn_with(backend, |c| c.test_clock = true).await else {
        return;
    };
    let admin = app.admin_token().await;
    let now = clock_now(&app, &admin).await;
    assert!(
        (now - Utc::now()).num_seconds().abs() < 60,
        "a fresh test clock reads the wall clock: {now}"
    );

    // A viewer may read the clock but not move it.
    let viewer = app.staff_token("viewer@satang.test", &["viewer"]).await;
    clock_now(&app, &viewer).await;
    let target = now + TimeDelta::days(40);
    let res = app
        .post(
            "/api/test-clock",
            Some(&viewer),
            json!({"now": target.to_rfc3339()}),
        )
        .await;
    problem(res, 403).await;
    let res = app
        .call(
            Method::POST,
            "/api/test-clock",
            None,
            Some(json!({"now": target.to_rfc3339()})),
        )
        .await;
    problem(res, 401).await;

    // An admin moves it 40 days ahead.
    let res = app
        .post(
            "/api/test-clock",
            Some(&admin),
            json!({"now": target.to_rfc3339()}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let moved: Value = res.json().await.unwrap();
    assert!(at(&moved["now"]) >= target);
    // The admin's token was issued 40 days ago by the new clock: sign in again.
    let admin = app.admin_token().await;
    let read = clock_now(&app, &admin).await;
    assert!(
        read >= target && read < target + TimeDelta::minutes(5),
        "{read}"
    );

    // Backwards is a conflict; garbage is a 422.
    let res = app
        .post(
            "/api/test-clock",
            Some(&admin),
            json!({"now": (target - TimeDelta::days(1)).to_rfc3339()}),
        )
        .await;
    problem(res, 409).await;
    let res = app
        .post(
            "/api/test-clock",
            Some(&admin),
            json!({"now": "next tuesday"}),
        )
        .await;
    let doc = problem(res, 422).await;
    assert!(doc["errors"]["now"].is_array(), "{doc}");
    assert!(clock_now(&app, &admin).await >= target);

    // Things that happen now carry the moved time.
    let res = app
        .post(
            "/api/users",
            Some(&admin),
            json!({"email": "future@satang.test", "name": "F", "roles": ["viewer"], "password": PASSWORD}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let user: Value = res.json().await.unwrap();
    assert!(at(&user["created_at"]) >= target, "{user}");

    // A restarted server continues at the same "now".
    let config = {
        let mut c = app.db.config();
        c.test_clock = true;
        c
    };
    app.server.take().unwrap().stop().await.unwrap();
    let server = satang::Server::start(&config, satang_api::Services::All)
        .await
        .unwrap();
    app.url = server.url();
    app.server = Some(server);
    let admin = app.admin_token().await;
    assert!(clock_now(&app, &admin).await >= target);
}

async fn access_token_expires_when_the_clock_passes_its_lifetime(backend: Backend) {
    let Some(app) = spawn_with(backend, |c| c.test_clock = true).await else {
        return;
    };
    let admin = app.admin_token().await;
    let session = app.signup("clock@farm.test").await;
    let user_token = session["access_token"].as_str().unwrap();
    assert_eq!(app.get("/api/auth/me", user_token).await.status(), 200);
    assert_eq!(app.get("/api/auth/me", &admin).await.status(), 200);

    let now = clock_now(&app, &admin).await;
    let res = app
        .post(
            "/api/test-clock",
            Some(&admin),
            json!({"now": (now + TimeDelta::minutes(16)).to_rfc3339()}),
        )
        .await;
    assert_eq!(res.status(), 200);

    // Both tokens (one of them already verified and cached) are now expired.
    for token in [user_token, admin.as_str()] {
        let doc = problem(app.get("/api/auth/me", token).await, 401).await;
        assert!(doc["detail"].as_str().unwrap().contains("expired"), "{doc}");
    }
    // The refresh token (30 days) still gets a new pair.
    let res = app
        .post(
            "/api/auth/refresh",
            None,
            json!({"refresh_token": session["refresh_token"]}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let fresh: Value = res.json().await.unwrap();
    let me = app
        .get("/api/auth/me", fresh["access_token"].as_str().unwrap())
        .await;
    assert_eq!(me.status(), 200);
}

// ------------------------------------------------------------------------------------------------
// Forged tokens (SPEC §2.1, §5)

async fn forged_tokens_are_rejected(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let admin = app.admin_token().await;
    let session = app.signup("mallory@farm.test").await;
    let token = session["access_token"].as_str().unwrap().to_owned();
    let admin_id = app
        .get("/api/auth/me", &admin)
        .await
        .json::<Value>()
        .await
        .unwrap()["id"]
        .clone();
    let [header, payload, signature] = jwt_parts(&token);

    // The payload changed (become the admin; live longer), signature kept.
    let mut claims = decode_part(&payload);
    claims["sub"] = admin_id.clone();
    let as_admin = format!("{header}.{}.{signature}", encode_part(&claims));
    let mut claims = decode_part(&payload);
    claims["exp"] = json!(claims["exp"].as_i64().unwrap() + 365 * 24 * 3600);
    let longer = format!("{header}.{}.{signature}", encode_part(&claims));

    // alg: none, with and without a signature.
    let mut none_header = decode_part(&header);
    none_header["alg"] = json!("none");
    let mut admin_claims = decode_part(&payload);
    admin_claims["sub"] = admin_id.clone();
    let none_unsigned = format!(
        "{}.{}.",
        encode_part(&none_header),
        encode_part(&admin_claims)
    );
    let none_signed = format!(
        "{}.{}.{signature}",
        encode_part(&none_header),
        encode_part(&admin_claims)
    );
    // HS256 "signed" with the public key as the secret is the classic confusion; any HS256 token
    // must be refused, whatever its signature.
    let mut hs_header = decode_part(&header);
    hs_header["alg"] = json!("HS256");
    let hs256 = format!(
        "{}.{}.{signature}",
        encode_part(&hs_header),
        encode_part(&admin_claims)
    );

    // A well-formed EdDSA token from another Satang (its own key), for a user that exists here
    // too (the bootstrap admin's email, but another id) — and the same token claiming this
    // server's key id.
    let Some(other) = spawn(backend).await else {
        return;
    };
    let foreign = other.admin_token().await;
    let [foreign_header, foreign_payload, foreign_signature] = jwt_parts(&foreign);
    assert_eq!(other.get("/api/auth/me", &foreign).await.status(), 200);
    let mut foreign_claims = decode_part(&foreign_payload);
    foreign_claims["sub"] = admin_id.clone();
    let foreign_as_admin = {
        // Re-signing is impossible without the key; keep the other server's header and signature.
        format!(
            "{foreign_header}.{}.{foreign_signature}",
            encode_part(&foreign_claims)
        )
    };
    let mut kid_swapped = decode_part(&foreign_header);
    kid_swapped["kid"] = decode_part(&header)["kid"].clone();
    let foreign_with_our_kid = format!(
        "{}.{foreign_payload}.{foreign_signature}",
        encode_part(&kid_swapped)
    );

    let garbage = [
        "garbage".to_owned(),
        "a.b.c".to_owned(),
        format!("{token}x"),
        format!("{header}.{payload}"),
        format!("{header}.{payload}.{signature}.{signature}"),
        "x".repeat(10_000),
    ];
    let forged = [
        ("payload changed to another user", as_admin),
        ("payload changed to live longer", longer),
        ("alg none, unsigned", none_unsigned),
        ("alg none, old signature", none_signed),
        ("alg HS256", hs256),
        ("another server's key", foreign.clone()),
        ("another server's key, our user id", foreign_as_admin),
        (
            "another server's signature under our kid",
            foreign_with_our_kid,
        ),
    ];
    for (what, bad) in forged
        .iter()
        .map(|(w, t)| (*w, t.clone()))
        .chain(garbage.into_iter().map(|g| ("garbage", g)))
    {
        let res = app.get("/api/auth/me", &bad).await;
        assert_eq!(res.status(), 401, "{what}: {bad}");
        problem(res, 401).await;
    }

    // Missing or empty credentials, or another scheme.
    for value in [
        "Bearer ",
        "Bearer",
        "Basic YWRtaW46cGFzcw==",
        "",
        "bearer  ",
    ] {
        let res = app
            .client
            .get(app.at("/api/auth/me"))
            .header("authorization", value)
            .send()
            .await
            .unwrap();
        problem(res, 401).await;
    }
    let res = app.call(Method::GET, "/api/auth/me", None, None).await;
    problem(res, 401).await;

    // The genuine tokens still work on their own servers.
    assert_eq!(app.get("/api/auth/me", &token).await.status(), 200);
    assert_eq!(other.get("/api/auth/me", &foreign).await.status(), 200);
}

// ------------------------------------------------------------------------------------------------
// Operations (SPEC §1, §5, §6)

async fn health_readiness_and_metrics(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let res = app.client.get(app.at("/healthz")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap(), json!({"status": "ok"}));

    let res = app.client.get(app.at("/readyz")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let ready: Value = res.json().await.unwrap();
    assert_eq!(ready["database"], "ok", "{ready}");
    assert_eq!(ready["migrations"], "done", "{ready}");

    app.admin_token().await;
    let res = app.client.get(app.at("/metrics")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = res.text().await.unwrap();
    assert!(text.contains("http_requests_total"), "{text}");
    assert!(text.contains("http_request_duration_seconds"), "{text}");
    // Labelled by route pattern, so the login just made is counted.
    assert!(
        text.lines().any(|l| l.starts_with("http_requests_total")
            && l.contains("/api/auth/login")
            && l.contains("200")),
        "{text}"
    );
}

async fn security_headers_and_request_id(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let admin = app.admin_token().await;
    let api = app.get("/api/auth/me", &admin).await;
    let not_found = app.get("/api/nope", &admin).await;
    let health = app.client.get(app.at("/healthz")).send().await.unwrap();
    let mut ids = Vec::new();
    for res in [api, not_found, health] {
        let h = res.headers();
        let get = |name: &str| {
            h.get(name)
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_default()
        };
        assert_eq!(get("x-content-type-options"), "nosniff", "{h:?}");
        assert!(!get("referrer-policy").is_empty(), "{h:?}");
        assert!(
            get("content-security-policy").contains("frame-ancestors 'none'"),
            "{h:?}"
        );
        let id = get("x-request-id");
        assert!(!id.is_empty(), "{h:?}");
        ids.push(id);
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 3, "a new request id per request");
}

async fn openapi_document_lists_every_route(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let res = app
        .client
        .get(app.at("/api/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let doc: Value = res.json().await.unwrap();
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    let paths = doc["paths"].as_object().unwrap();
    for (path, method) in [
        ("/api/auth/signup", "post"),
        ("/api/auth/login", "post"),
        ("/api/auth/refresh", "post"),
        ("/api/auth/logout", "post"),
        ("/api/auth/me", "get"),
        ("/api/auth/invitations/accept", "post"),
        ("/.well-known/jwks.json", "get"),
        ("/api/users", "get"),
        ("/api/users", "post"),
        ("/api/users/{id}", "get"),
        ("/api/users/{id}", "patch"),
        ("/api/audit-events", "get"),
        ("/healthz", "get"),
        ("/readyz", "get"),
        ("/metrics", "get"),
        ("/api/subscriptions/{id}/upcoming-invoice", "get"),
    ] {
        let op = &paths
            .get(path)
            .unwrap_or_else(|| panic!("{path} is missing from the OpenAPI document"))[method];
        assert!(op.is_object(), "{method} {path} is missing");
        assert!(
            op["responses"].as_object().is_some_and(|r| !r.is_empty()),
            "{method} {path} documents no responses"
        );
        if method == "post" || method == "patch" {
            assert!(
                op["requestBody"].is_object(),
                "{method} {path} documents no request body"
            );
        }
    }
    // The error shape is documented.
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    assert!(schemas.contains_key("Problem"), "{:?}", schemas.keys());

    // The browsable reference.
    let res = app.client.get(app.at("/api/docs")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let page_url = res.url().clone();
    let html = res.text().await.unwrap();
    assert!(html.to_lowercase().contains("<html"), "{html}");
    // Under the strict CSP (no inline script) the page works only from script files; they load.
    let mut scripts = 0;
    for tag in html.split("<script").skip(1) {
        let tag = &tag[..tag.find('>').unwrap()];
        let src = tag
            .split("src=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .unwrap_or_else(|| panic!("an inline script is blocked by the CSP: <script{tag}>"));
        let res = app
            .client
            .get(page_url.join(src).unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{src}");
        scripts += 1;
    }
    assert!(scripts > 0, "{html}");
}

/// Schemathesis (PyPI; `.ci/run` installs it into `$HOME/.cache/satang-schemathesis`) generates
/// requests from the served OpenAPI document, valid and invalid, as an administrator, and
/// checks every answer against the document: its status is declared, its media type and
/// headers are the declared ones, its body matches the schema, and nothing is a 5xx.
async fn contract_fuzzer_finds_no_mismatch_or_server_error(backend: Backend) {
    let venv = std::env::var("SATANG_SCHEMATHESIS_VENV").unwrap_or_else(|_| {
        format!(
            "{}/.cache/satang-schemathesis",
            std::env::var("HOME").unwrap_or_default()
        )
    });
    let cli = std::path::Path::new(&venv).join("bin/schemathesis");
    if !cli.exists() {
        tool_missing(
            &format!(
                "schemathesis (python3 -m venv {venv} && {venv}/bin/pip install schemathesis)"
            ),
            &format!("schemathesis is not installed at {venv}"),
        );
        return;
    }
    let Some(app) = spawn(backend).await else {
        return;
    };
    let admin = app.admin_token().await;
    let reports = tempfile::tempdir().unwrap();
    let output = tokio::process::Command::new(&cli)
        .arg("run")
        .arg(app.at("/api/openapi.json"))
        .args(["--header", &format!("Authorization: Bearer {admin}")])
        .args([
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,\
             response_headers_conformance,response_schema_conformance",
        ])
        .args(["--phases", "examples,coverage,fuzzing"])
        .args([
            "--max-examples",
            "10",
            "--seed",
            "20261206",
            "--workers",
            "1",
        ])
        .args(["--no-color", "--report-dir"])
        .arg(reports.path())
        .current_dir(reports.path())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(600), output)
        .await
        .expect("schemathesis finishes within 10 minutes")
        .expect("schemathesis runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "schemathesis found failures:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("Tested:"), "{stdout}");
}

async fn api_rate_limit_answers_429_with_retry_after(backend: Backend) {
    let Some(app) = spawn_with(backend, |c| c.api_rate_limit = 5).await else {
        return;
    };
    let requests = (0..40).map(|_| app.client.get(app.at("/healthz")).send());
    let responses = futures::future::join_all(requests).await;
    let mut limited = 0;
    let mut ok = 0;
    for res in responses {
        let res = res.unwrap();
        match res.status().as_u16() {
            200 => ok += 1,
            429 => {
                let retry_after: u64 = res.headers()["retry-after"]
                    .to_str()
                    .unwrap()
                    .parse()
                    .unwrap();
                assert!((1..=60).contains(&retry_after), "{retry_after}");
                problem(res, 429).await;
                limited += 1;
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert!(ok >= 1, "the first requests pass");
    assert!(limited >= 1, "40 requests at once exceed 5/s");

    // The limit lifts again.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let res = app.client.get(app.at("/healthz")).send().await.unwrap();
        if res.status() == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "still limited after 10 s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn state_changes_are_audited_with_actor_and_request_id(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let admin = app.admin_token().await;
    let me: Value = app.get("/api/auth/me", &admin).await.json().await.unwrap();
    let res = app
        .post(
            "/api/users",
            Some(&admin),
            json!({"email": "audited@satang.test", "name": "A", "roles": ["billing"], "password": PASSWORD}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let request_id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    let user: Value = res.json().await.unwrap();
    let id = user["id"].as_str().unwrap();

    let res = app
        .get(
            &format!("/api/audit-events?entity_type=user&entity_id={id}"),
            &admin,
        )
        .await;
    assert_eq!(res.status(), 200);
    let page: Value = res.json().await.unwrap();
    let events = page["data"].as_array().unwrap();
    assert!(
        events
            .iter()
            .all(|e| e["entity_type"] == "user" && e["entity_id"] == id),
        "{events:?}"
    );
    let created = events
        .iter()
        .find(|e| e["action"] == "user.created")
        .unwrap_or_else(|| panic!("no user.created in {events:?}"));
    assert_eq!(created["actor_id"], me["id"]);
    assert_eq!(created["request_id"], request_id.as_str());
    assert!(created["ip"].is_string(), "{created}");
    assert_eq!(created["after"]["email"], "audited@satang.test");
    assert!(
        !created.to_string().contains("password"),
        "no password (hash) in the audit trail: {created}"
    );

    // A change is audited with before and after.
    let res = app
        .patch(
            &format!("/api/users/{id}"),
            &admin,
            json!({"roles": ["support"]}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let page: Value = app
        .get(
            &format!("/api/audit-events?entity_type=user&entity_id={id}"),
            &admin,
        )
        .await
        .json()
        .await
        .unwrap();
    let updated = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "user.updated")
        .unwrap_or_else(|| panic!("no user.updated in {page}"))
        .clone();
    assert_eq!(updated["before"]["roles"], json!(["billing"]));
    assert_eq!(updated["after"]["roles"], json!(["support"]));

    // Audit is for admins: a viewer is refused.
    let viewer = app
        .staff_token("auditviewer@satang.test", &["viewer"])
        .await;
    problem(app.get("/api/audit-events", &viewer).await, 403).await;
    problem(
        app.get(
            &format!("/api/audit-events?entity_type=user&entity_id={id}"),
            &viewer,
        )
        .await,
        403,
    )
    .await;
}

// ------------------------------------------------------------------------------------------------
// Helpers

/// `expect_problem`, and the body leaks no internals.
async fn problem(res: Response, status: u16) -> Value {
    let doc = expect_problem(res, status).await;
    assert_no_leak(&doc.to_string());
    doc
}

/// The body as text, checked for leaked internals.
async fn body_text(res: Response) -> String {
    let text = res.text().await.unwrap();
    assert_no_leak(&text);
    text
}

fn assert_no_leak(text: &str) {
    for word in ["sqlx", "SQL", "panicked", "stack", "syntax error at"] {
        assert!(!text.contains(word), "a response leaks {word:?}: {text}");
    }
}

async fn send_raw(
    app: &TestApp,
    method: Method,
    path: &str,
    content_type: &str,
    body: &str,
) -> Response {
    app.client
        .request(method, app.at(path))
        .header("content-type", content_type)
        .body(body.to_owned())
        .send()
        .await
        .unwrap()
}

async fn post_with_key(
    app: &TestApp,
    path: &str,
    token: Option<&str>,
    key: &str,
    body: &Value,
) -> Response {
    let mut req = app
        .client
        .post(app.at(path))
        .header("idempotency-key", key)
        .json(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.unwrap()
}

async fn create_user(app: &TestApp, admin: &str, email: &str, roles: &[&str]) -> Value {
    let res = app
        .post(
            "/api/users",
            Some(admin),
            json!({"email": email, "name": "Staff", "password": PASSWORD, "roles": roles}),
        )
        .await;
    assert_eq!(res.status(), 201, "create {email}");
    res.json().await.unwrap()
}

/// Every user, following `next_cursor`.
async fn all_users(app: &TestApp, admin: &str) -> Vec<Value> {
    let mut users = Vec::new();
    let mut path = "/api/users?limit=200".to_owned();
    loop {
        let page: Value = app.get(&path, admin).await.json().await.unwrap();
        users.extend(page["data"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => path = format!("/api/users?limit=200&cursor={c}"),
            None => return users,
        }
    }
}

async fn clock_now(app: &TestApp, token: &str) -> DateTime<Utc> {
    let res = app.get("/api/test-clock", token).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    at(&body["now"])
}

fn at(value: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(value.as_str().unwrap())
        .unwrap()
        .with_timezone(&Utc)
}

/// A password that is `len` characters long and not easily guessed.
fn strong_password(len: usize) -> String {
    let base = "Kh40-Niao_Mamuang!";
    base.chars()
        .cycle()
        .take(len)
        .enumerate()
        .map(|(i, c)| {
            if i % 7 == 3 {
                char::from(b'a' + (i % 26) as u8)
            } else {
                c
            }
        })
        .collect()
}

fn jwt_parts(token: &str) -> [String; 3] {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "{token}");
    [parts[0].into(), parts[1].into(), parts[2].into()]
}

fn decode_part(part: &str) -> Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

fn encode_part(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}
