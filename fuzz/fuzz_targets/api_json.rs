//! Any bytes as the body of any JSON request the API takes, under a handful of content types,
//! through the real extractors (`satang_api::extract::Json`, required and optional) and the real
//! problem+json rendering — no server or database needed, since the extractor reads only the
//! request. The outcome must be the one the rules give: 415 unless the content type is JSON (or
//! absent with an empty body, for an optional body), 400 for what is not JSON, 422 naming a
//! field for a NUL character or JSON of the wrong shape, and accepted exactly when serde accepts
//! the value. Every refusal renders as a problem document carrying the same status.

#![no_main]

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use axum::body::Body;
use axum::extract::{FromRequest, OptionalFromRequest};
use axum::http::{Request, StatusCode, header};
use axum::response::IntoResponse;
use http_body_util::BodyExt;
use libfuzzer_sys::fuzz_target;
use satang_api::error::{ApiError, Problem};
use satang_api::extract::Json;
use satang_api::routes::{
    auth, contacts, customers, invoices, members, payment_methods, plans, settings, subscriptions,
    test_clock, usage, users, webhooks,
};
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Content types a client may send: JSON in its spellings, none at all, and some that are not.
const CONTENT_TYPES: [Option<&str>; 8] = [
    Some("application/json"),
    Some("application/json; charset=utf-8"),
    Some("application/merge-patch+json"),
    Some(" Application/JSON ;"),
    None,
    Some("text/plain"),
    Some("application/jsonp"),
    Some("multipart/form-data; boundary=x"),
];

fuzz_target!(|input: (u8, u8, &[u8])| {
    let (request_type, content_type, body) = input;
    let content_type = CONTENT_TYPES[usize::from(content_type) % CONTENT_TYPES.len()];
    let check: fn(Option<&str>, &[u8]) = match request_type % 26 {
        0 => check::<invoices::settlement::PaymentRequest>,
        1 => check::<invoices::settlement::CreditNoteRequest>,
        2 => check::<invoices::CreateInvoiceRequest>,
        3 => check::<customers::CreateCustomer>,
        4 => check::<customers::UpdateCustomer>,
        5 => check::<subscriptions::CreateSubscriptionRequest>,
        6 => check::<subscriptions::ChangePlanRequest>,
        7 => check::<subscriptions::CancelRequest>,
        8 => check::<plans::CreatePlanRequest>,
        9 => check::<plans::UpdatePlanRequest>,
        10 => check::<webhooks::EndpointInput>,
        11 => check::<webhooks::EndpointPatch>,
        12 => check::<usage::UsageBatch>,
        13 => check::<settings::UpdateSettings>,
        14 => check::<payment_methods::AddPaymentMethod>,
        15 => check::<contacts::CreateContact>,
        16 => check::<contacts::UpdateContact>,
        17 => check::<members::AddMember>,
        18 => check::<members::UpdateMember>,
        19 => check::<users::CreateUserRequest>,
        20 => check::<users::UpdateUserRequest>,
        21 => check::<auth::SignupRequest>,
        22 => check::<auth::LoginRequest>,
        23 => check::<auth::RefreshRequest>,
        24 => check::<auth::AcceptInvitationRequest>,
        _ => check::<test_clock::MoveClock>,
    };
    check(content_type, body);
});

/// What the extractor must answer: accepted, or refused with this status.
type Expected = Result<(), StatusCode>;

fn check<T: DeserializeOwned>(content_type: Option<&str>, body: &[u8]) {
    let expected = expected::<T>(content_type, body);
    let sent: Option<Value> = serde_json::from_slice(body).ok();
    let sent = sent.as_ref();
    let required = ready(<Json<T> as FromRequest<()>>::from_request(
        request(content_type, body),
        &(),
    ));
    assert_outcome(required.map(drop), expected, sent);

    // An optional body (`Option<Json<T>>`) may also be left out: no content type, no bytes.
    let optional = ready(<Json<T> as OptionalFromRequest<()>>::from_request(
        request(content_type, body),
        &(),
    ));
    let expected_optional = match content_type {
        None if body.iter().all(u8::is_ascii_whitespace) => {
            assert!(matches!(optional, Ok(None)));
            return;
        }
        _ => expected,
    };
    assert_outcome(
        optional.map(|found| assert!(found.is_some())),
        expected_optional,
        sent,
    );
}

/// The rules of `extract::Json`, written out.
fn expected<T: DeserializeOwned>(content_type: Option<&str>, body: &[u8]) -> Expected {
    let media_type = content_type
        .and_then(|ct| ct.split(';').next())
        .map(|t| t.trim().to_ascii_lowercase());
    let is_json = media_type.is_some_and(|t| {
        t == "application/json" || (t.starts_with("application/") && t.ends_with("+json"))
    });
    if !is_json {
        return Err(StatusCode::UNSUPPORTED_MEDIA_TYPE);
    }
    let value: Value = serde_json::from_slice(body).map_err(|_| StatusCode::BAD_REQUEST)?;
    if has_nul(&value) {
        return Err(StatusCode::UNPROCESSABLE_ENTITY);
    }
    serde_json::from_value::<T>(value)
        .map(drop)
        .map_err(|_| StatusCode::UNPROCESSABLE_ENTITY)
}

fn has_nul(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(has_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
        _ => false,
    }
}

fn assert_outcome(outcome: Result<(), ApiError>, expected: Expected, sent: Option<&Value>) {
    let error = match (outcome, expected) {
        (Ok(()), Ok(())) => return,
        (Err(error), Err(status)) => {
            assert_eq!(error.status(), status, "{error:?}");
            error
        }
        (outcome, expected) => panic!("extractor answered {outcome:?}, the rules say {expected:?}"),
    };
    let status = error.status();
    if let ApiError::Validation { errors, .. } = &error {
        assert!(!errors.is_empty());
        for (field, messages) in errors {
            assert!(!field.is_empty(), "a 422 that names no field: {error:?}");
            assert!(
                !messages.is_empty() && messages.iter().all(|m| !m.is_empty()),
                "{error:?}"
            );
            // A field refused for its name is one the client sent: the whole path, or the
            // top-level field it lies in, is a key of the body.
            let about_a_name = messages
                .iter()
                .any(|m| m == "is not a known field" || m == "has a field with an empty name");
            if about_a_name && field != "body" {
                let keys = sent.and_then(Value::as_object).expect("an object was sent");
                let top = field.split(['.', '[']).next().unwrap_or_default();
                assert!(
                    keys.contains_key(field) || keys.contains_key(top),
                    "{error:?} names a field that was not sent"
                );
            }
        }
    }
    assert!(!error.to_string().is_empty(), "{error:?}");

    let response = error.into_response();
    assert_eq!(response.status(), status);
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        "application/problem+json"
    );
    let bytes = ready(response.into_body().collect())
        .expect("a problem body in memory")
        .to_bytes();
    let problem: Problem = serde_json::from_slice(&bytes).expect("the problem is JSON");
    assert_eq!(problem.status, status.as_u16());
    assert!(!problem.detail.is_empty());
    assert_eq!(
        problem.errors.is_some(),
        status == StatusCode::UNPROCESSABLE_ENTITY
    );
}

fn request(content_type: Option<&str>, body: &[u8]) -> Request<Body> {
    let mut builder = Request::post("/api/fuzz");
    if let Some(content_type) = content_type {
        builder = builder.header(header::CONTENT_TYPE, content_type);
    }
    builder.body(Body::from(body.to_vec())).unwrap()
}

/// Runs a future that must not wait: the whole body is already in memory.
fn ready<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("an extractor waited on a body that was all in memory"),
    }
}
