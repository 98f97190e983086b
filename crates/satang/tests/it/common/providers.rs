//! Local stand-ins for Opn Payments and Stripe, written from their API references: the paths,
//! form-encoded bodies, authentication, JSON answers and error shapes a client meets, the test
//! cards of their docs, and `Idempotency-Key` replays (the same key answers the first answer
//! again). Each records the requests it got so a test can check what Satang sent, can be told
//! to fail (500) or stall, and lets the test "scan the QR" (settle a PromptPay charge) the way
//! the customer's bank app would.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use serde_json::{Value, json};

pub const OPN_PUBLIC: &str = "pkey_test_5satangstandin";
pub const OPN_SECRET: &str = "skey_test_5satangstandin";
pub const STRIPE_PUBLISHABLE: &str = "pk_test_51SatangStandIn";
pub const STRIPE_SECRET: &str = "sk_test_51SatangStandIn";
pub const STRIPE_WEBHOOK_SECRET: &str = "whsec_satangstandinsecret";

/// A server whose Opn is the stand-in, with the stand-in's keys configured by the admin.
pub async fn spawn_with_opn(
    backend: crate::common::Backend,
) -> Option<(crate::common::TestApp, StandIn, String)> {
    let opn = opn().await;
    let url = opn.url.clone();
    let app = crate::common::spawn_with(backend, move |c| c.opn_api_url = url).await?;
    let admin = app.admin_token().await;
    crate::common::json_of(
        app.patch(
            "/api/settings",
            &admin,
            json!({"providers": {"opn": {"public_key": OPN_PUBLIC, "secret_key": OPN_SECRET}}}),
        )
        .await,
        200,
    )
    .await;
    Some((app, opn, admin))
}

/// A payment link of `invoice`: its full URL and its token (the part after `/pay/`).
pub async fn payment_link(
    app: &crate::common::TestApp,
    admin: &str,
    invoice: &Value,
) -> (String, String) {
    let id = invoice["id"].as_str().unwrap();
    let link = crate::common::json_of(
        app.post(
            &format!("/api/invoices/{id}/payment-link"),
            Some(admin),
            json!({}),
        )
        .await,
        201,
    )
    .await;
    let url = link["url"].as_str().unwrap().to_owned();
    let token = url.split("/pay/").nth(1).unwrap().to_owned();
    (url, token)
}

/// One request a stand-in received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub idempotency_key: Option<String>,
    /// `Stripe-Version`, for Stripe.
    pub api_version: Option<String>,
    pub form: Vec<(String, String)>,
}

impl Seen {
    pub fn field(&self, name: &str) -> Option<&str> {
        self.form
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
pub struct Books {
    pub seen: Vec<Seen>,
    /// Objects by id (charges, PaymentIntents, customers, tokens).
    pub objects: HashMap<String, Value>,
    /// Answers by idempotency key.
    pub replays: HashMap<String, (u16, Value)>,
    /// The next this many requests answer 500 (after recording the work, like a timeout after
    /// the provider acted).
    pub fail_after_acting: usize,
    /// The next this many requests answer 500 without acting.
    pub fail_before_acting: usize,
    counter: u64,
}

impl Books {
    fn next_id(&mut self, prefix: &str) -> String {
        self.counter += 1;
        format!(
            "{prefix}_test_{:06}{}",
            self.counter,
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        )
    }
}

#[derive(Clone)]
pub struct StandIn {
    pub url: String,
    pub books: Arc<Mutex<Books>>,
}

impl StandIn {
    pub fn seen(&self, path_prefix: &str) -> Vec<Seen> {
        self.books
            .lock()
            .unwrap()
            .seen
            .iter()
            .filter(|s| s.method == "POST" && s.path.starts_with(path_prefix))
            .cloned()
            .collect()
    }

    pub fn object(&self, id: &str) -> Value {
        self.books.lock().unwrap().objects[id].clone()
    }

    /// The ids of the objects with this prefix, in creation order.
    pub fn ids(&self, prefix: &str) -> Vec<String> {
        let mut ids: Vec<String> = self
            .books
            .lock()
            .unwrap()
            .objects
            .keys()
            .filter(|k| k.starts_with(prefix))
            .cloned()
            .collect();
        ids.sort();
        ids
    }

    /// How many objects with this id prefix were created (charges, PaymentIntents).
    pub fn created(&self, prefix: &str) -> usize {
        self.books
            .lock()
            .unwrap()
            .objects
            .keys()
            .filter(|k| k.starts_with(prefix))
            .count()
    }

    pub fn fail_next_after_acting(&self, n: usize) {
        self.books.lock().unwrap().fail_after_acting = n;
    }

    pub fn fail_next_before_acting(&self, n: usize) {
        self.books.lock().unwrap().fail_before_acting = n;
    }
}

async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

fn basic_user(headers: &HeaderMap) -> Option<String> {
    let value = headers.get("authorization")?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    Some(text.split(':').next()?.to_owned())
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers.get("authorization")?.to_str().ok()?;
    Some(value.strip_prefix("Bearer ")?.to_owned())
}

fn idempotency_key(headers: &HeaderMap) -> Option<String> {
    headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

fn reply(status: u16, body: Value) -> Response {
    (StatusCode::from_u16(status).unwrap(), axum::Json(body)).into_response()
}

fn get_field<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

type Handler = fn(&mut Books, &str, &[(String, String)]) -> (u16, Value);

/// The parts every POST shares: record, fail on request, replay by idempotency key.
fn post_with(
    books: &Arc<Mutex<Books>>,
    path: String,
    headers: &HeaderMap,
    form: Vec<(String, String)>,
    base: &str,
    act: Handler,
) -> Option<(u16, Value)> {
    let key = idempotency_key(headers);
    let mut b = books.lock().unwrap();
    b.seen.push(Seen {
        method: "POST".into(),
        path: path.clone(),
        idempotency_key: key.clone(),
        api_version: headers
            .get("stripe-version")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        form: form.clone(),
    });
    if b.fail_before_acting > 0 {
        b.fail_before_acting -= 1;
        return None;
    }
    if let Some(k) = &key
        && let Some(answer) = b.replays.get(&format!("{path} {k}"))
    {
        return Some(answer.clone());
    }
    let answer = act(&mut b, base, &form);
    if let Some(k) = key {
        b.replays.insert(format!("{path} {k}"), answer.clone());
    }
    if b.fail_after_acting > 0 {
        b.fail_after_acting -= 1;
        return None;
    }
    Some(answer)
}

// ---------------------------------------------------------------------------------------------
// Opn Payments (https://docs.omise.co/api)

fn opn_error(status: u16, code: &str, message: &str) -> (u16, Value) {
    (
        status,
        json!({"object": "error", "location": format!("https://www.omise.co/api-errors#{code}"),
               "code": code, "message": message}),
    )
}

/// Opn's 401 unless the request's Basic-auth user is `key`.
fn opn_refusal(headers: &HeaderMap, key: &str) -> Option<Response> {
    if basic_user(headers).as_deref() == Some(key) {
        None
    } else {
        let (s, b) = opn_error(401, "authentication_failure", "authentication failed");
        Some(reply(s, b))
    }
}

/// Card numbers of Opn's test cards and how a charge on them ends.
fn opn_card_outcome(number: &str) -> Option<(&'static str, &'static str)> {
    match number {
        "4111111111140011" => Some((
            "insufficient_fund",
            "insufficient funds in the account or the card has reached the credit limit",
        )),
        "4111111111120013" => Some(("stolen_or_lost_card", "card was lost or stolen")),
        "4111111111130012" => Some(("failed_processing", "payment is not processed")),
        _ => None,
    }
}

fn opn_charge_create(b: &mut Books, base: &str, form: &[(String, String)]) -> (u16, Value) {
    let Some(amount) = get_field(form, "amount").and_then(|a| a.parse::<i64>().ok()) else {
        return opn_error(400, "bad_request", "amount is invalid");
    };
    if amount < 2000 {
        return opn_error(400, "invalid_amount", "amount must be at least 2000");
    }
    let currency = get_field(form, "currency")
        .unwrap_or("")
        .to_ascii_lowercase();
    if currency != "thb" {
        return opn_error(400, "bad_request", "currency is currently not supported");
    }
    let id = b.next_id("chrg");
    let metadata: serde_json::Map<String, Value> = form
        .iter()
        .filter_map(|(k, v)| {
            let key = k.strip_prefix("metadata[")?.strip_suffix(']')?;
            Some((key.to_owned(), json!(v)))
        })
        .collect();
    let mut charge = json!({
        "object": "charge", "id": id, "livemode": false, "location": format!("/charges/{id}"),
        "amount": amount, "currency": currency, "description": get_field(form, "description"),
        "metadata": metadata, "status": "pending", "paid": false, "authorized": false,
        "failure_code": null, "failure_message": null, "source": null, "card": null,
        "customer": null, "expires_at": null,
        "created_at": chrono::Utc::now().to_rfc3339(),
    });
    if get_field(form, "source[type]") == Some("promptpay") {
        let doc = b.next_id("docu");
        charge["source"] = json!({
            "object": "source", "id": b.next_id("src"), "type": "promptpay", "flow": "offline",
            "amount": amount, "currency": currency,
            "scannable_code": {"object": "barcode", "type": "qr", "image": {
                "object": "document", "id": doc, "filename": "qrcode.svg", "kind": "qr",
                "location": format!("/charges/{id}/documents/{doc}"),
                "download_uri": format!("{base}/charges/{id}/documents/{doc}/downloads/qr"),
            }},
        });
        charge["expires_at"] = json!((chrono::Utc::now() + chrono::Duration::days(1)).to_rfc3339());
    } else if let Some(customer) = get_field(form, "customer").or(get_field(form, "card")) {
        // A customer's saved card, or a one-time token used up by this charge.
        let card = match b.objects.get(customer).cloned() {
            Some(c) if customer.starts_with("cust_") => {
                charge["customer"] = json!(customer);
                c["cards"]["data"][0].clone()
            }
            Some(t) if customer.starts_with("tokn_") => {
                if t["used"] == json!(true) {
                    return opn_error(400, "used_token", "token was already used");
                }
                b.objects.get_mut(customer).unwrap()["used"] = json!(true);
                t["card"].clone()
            }
            _ => return opn_error(404, "not_found", "customer or token was not found"),
        };
        charge["card"] = card.clone();
        match opn_card_outcome(card["_number"].as_str().unwrap_or("")) {
            Some((code, message)) => {
                charge["status"] = json!("failed");
                charge["failure_code"] = json!(code);
                charge["failure_message"] = json!(message);
            }
            None => {
                charge["status"] = json!("successful");
                charge["paid"] = json!(true);
                charge["authorized"] = json!(true);
            }
        }
    } else {
        return opn_error(400, "bad_request", "source, card or customer is required");
    }
    b.objects.insert(id, charge.clone());
    (200, charge)
}

fn opn_customer_create(b: &mut Books, _base: &str, form: &[(String, String)]) -> (u16, Value) {
    let Some(token) = get_field(form, "card") else {
        return opn_error(400, "bad_request", "card is required");
    };
    let Some(t) = b.objects.get(token).cloned() else {
        return opn_error(404, "not_found", "token was not found");
    };
    if t["used"] == json!(true) {
        return opn_error(400, "used_token", "token was already used");
    }
    b.objects.get_mut(token).unwrap()["used"] = json!(true);
    let id = b.next_id("cust");
    let customer = json!({
        "object": "customer", "id": id, "livemode": false, "email": get_field(form, "email"),
        "description": get_field(form, "description"), "default_card": t["card"]["id"],
        "cards": {"object": "list", "data": [t["card"]], "total": 1},
    });
    b.objects.insert(id, customer.clone());
    (200, customer)
}

/// What Omise.js does in the browser: the card goes to Opn's vault, a one-time token comes
/// back (authenticated with the public key).
fn opn_token_create(b: &mut Books, _base: &str, form: &[(String, String)]) -> (u16, Value) {
    let number = get_field(form, "card[number]").unwrap_or("").to_owned();
    if number.len() < 12 {
        return opn_error(400, "invalid_card", "number is invalid");
    }
    let id = b.next_id("tokn");
    let brand = if number.starts_with('5') {
        "MasterCard"
    } else {
        "Visa"
    };
    let token = json!({
        "object": "token", "id": id, "used": false,
        "card": {"object": "card", "id": b.next_id("card"), "brand": brand,
                 "last_digits": &number[number.len() - 4..],
                 "expiration_month": get_field(form, "card[expiration_month]").and_then(|m| m.parse::<u32>().ok()),
                 "expiration_year": get_field(form, "card[expiration_year]").and_then(|y| y.parse::<i32>().ok()),
                 "name": get_field(form, "card[name]"),
                 // The stand-in's own note of the number, to decide the test card's outcome.
                 "_number": number},
    });
    b.objects.insert(id, token.clone());
    (200, token)
}

pub async fn opn() -> StandIn {
    let books: Arc<Mutex<Books>> = Arc::default();
    let base = Arc::new(Mutex::new(String::new()));
    #[derive(Clone)]
    struct S {
        books: Arc<Mutex<Books>>,
        base: Arc<Mutex<String>>,
    }
    async fn create(
        State(s): State<S>,
        headers: HeaderMap,
        Path(kind): Path<String>,
        Form(form): Form<Vec<(String, String)>>,
    ) -> Response {
        let (key, act): (&str, Handler) = match kind.as_str() {
            "charges" => (OPN_SECRET, opn_charge_create),
            "customers" => (OPN_SECRET, opn_customer_create),
            "tokens" => (OPN_PUBLIC, opn_token_create),
            _ => return reply(404, opn_error(404, "not_found", "path not found").1),
        };
        if let Some(r) = opn_refusal(&headers, key) {
            return r;
        }
        let base = s.base.lock().unwrap().clone();
        match post_with(&s.books, format!("/{kind}"), &headers, form, &base, act) {
            Some((status, body)) => reply(status, body),
            None => reply(
                500,
                opn_error(500, "internal_error", "something went wrong").1,
            ),
        }
    }
    async fn charge(State(s): State<S>, headers: HeaderMap, Path(id): Path<String>) -> Response {
        if let Some(r) = opn_refusal(&headers, OPN_SECRET) {
            return r;
        }
        let b = s.books.lock().unwrap();
        match b.objects.get(&id) {
            Some(c) if id.starts_with("chrg_") => reply(200, c.clone()),
            _ => reply(404, opn_error(404, "not_found", "charge was not found").1),
        }
    }
    async fn qr(
        State(s): State<S>,
        headers: HeaderMap,
        Path((id, _doc)): Path<(String, String)>,
    ) -> Response {
        if let Some(r) = opn_refusal(&headers, OPN_SECRET) {
            return r;
        }
        if !s.books.lock().unwrap().objects.contains_key(&id) {
            return reply(404, opn_error(404, "not_found", "document was not found").1);
        }
        let svg = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 10 10\"><title>PromptPay {id}</title><rect width=\"10\" height=\"10\"/></svg>"
        );
        ([("content-type", "image/svg+xml")], svg).into_response()
    }
    let state = S {
        books: books.clone(),
        base: base.clone(),
    };
    let app = Router::new()
        .route("/{kind}", post(create))
        .route("/charges/{id}", get(charge))
        .route("/charges/{id}/documents/{doc}/downloads/qr", get(qr))
        .with_state(state);
    let url = serve(app).await;
    *base.lock().unwrap() = url.clone();
    StandIn { url, books }
}

impl StandIn {
    /// Opn: the customer scanned and paid (or the QR lapsed): the charge's new status.
    pub fn opn_settle(&self, charge_id: &str, status: &str) -> Value {
        let mut b = self.books.lock().unwrap();
        let c = b.objects.get_mut(charge_id).expect("charge exists");
        c["status"] = json!(status);
        c["paid"] = json!(status == "successful");
        c.clone()
    }

    /// Changes one field of an object the stand-in keeps (a charge gone wrong at the provider).
    pub fn opn_set(&self, id: &str, field: &str, value: Value) -> Value {
        let mut b = self.books.lock().unwrap();
        let object = b.objects.get_mut(id).expect("object exists");
        object[field] = value;
        object.clone()
    }

    /// Omise.js in the browser: a one-time token for a test card.
    pub async fn opn_token(&self, number: &str) -> String {
        let res = reqwest::Client::new()
            .post(format!("{}/tokens", self.url))
            .basic_auth(OPN_PUBLIC, Some(""))
            .form(&[
                ("card[name]", "สมชาย ใจดี"),
                ("card[number]", number),
                ("card[expiration_month]", "12"),
                ("card[expiration_year]", "2031"),
                ("card[security_code]", "123"),
            ])
            .send()
            .await
            .unwrap();
        let token: Value = res.json().await.unwrap();
        token["id"].as_str().unwrap().to_owned()
    }
}

/// Opn's `charge.complete` event for a charge, as Opn posts it to the webhook.
pub fn opn_event(event_id: &str, charge: &Value) -> Value {
    json!({"object": "event", "id": event_id, "livemode": false,
           "location": format!("/events/{event_id}"), "key": "charge.complete",
           "created_at": chrono::Utc::now().to_rfc3339(), "data": charge})
}

// ---------------------------------------------------------------------------------------------
// Stripe (https://docs.stripe.com/api, request shapes per github.com/stripe/openapi)

fn stripe_error(status: u16, kind: &str, code: Option<&str>, message: &str) -> (u16, Value) {
    (
        status,
        json!({"error": {"type": kind, "code": code, "message": message}}),
    )
}

/// Parameters of the two endpoints used, as Stripe's OpenAPI description of API version
/// 2024-06-20 names them (checked against stripe-python 10.1.0, generated from it); Stripe
/// answers an unknown one with `parameter_unknown`.
const PAYMENT_INTENT_PARAMS: &[&str] = &[
    "amount",
    "currency",
    "payment_method_types[]",
    "payment_method_data[type]",
    "payment_method_data[billing_details][email]",
    "confirm",
    "description",
    "customer",
    "payment_method",
    "off_session",
    "receipt_email",
    "statement_descriptor",
];
const CUSTOMER_PARAMS: &[&str] = &[
    "payment_method",
    "invoice_settings[default_payment_method]",
    "expand[]",
    "email",
    "description",
    "name",
];

fn unknown_param(form: &[(String, String)], known: &[&str]) -> Option<(u16, Value)> {
    let bad = form
        .iter()
        .find(|(k, _)| !known.contains(&k.as_str()) && !k.starts_with("metadata["))?;
    let (s, mut body) = stripe_error(
        400,
        "invalid_request_error",
        Some("parameter_unknown"),
        &format!("Received unknown parameter: {}", bad.0),
    );
    body["error"]["param"] = json!(bad.0);
    Some((s, body))
}

fn metadata(form: &[(String, String)]) -> Value {
    Value::Object(
        form.iter()
            .filter_map(|(k, v)| {
                let key = k.strip_prefix("metadata[")?.strip_suffix(']')?;
                Some((key.to_owned(), json!(v)))
            })
            .collect(),
    )
}

fn stripe_intent_create(b: &mut Books, _base: &str, form: &[(String, String)]) -> (u16, Value) {
    if let Some(e) = unknown_param(form, PAYMENT_INTENT_PARAMS) {
        return e;
    }
    let Some(amount) = get_field(form, "amount").and_then(|a| a.parse::<i64>().ok()) else {
        return stripe_error(
            400,
            "invalid_request_error",
            Some("parameter_missing"),
            "Missing required param: amount.",
        );
    };
    let currency = get_field(form, "currency").unwrap_or("");
    if currency != "thb" {
        return stripe_error(
            400,
            "invalid_request_error",
            Some("parameter_invalid_empty"),
            "Invalid currency",
        );
    }
    let id = b.next_id("pi");
    let mut pi = json!({
        "object": "payment_intent", "id": id, "amount": amount, "currency": currency,
        "amount_received": 0, "status": "requires_payment_method", "livemode": false,
        "metadata": metadata(form), "latest_charge": null, "next_action": null,
        "last_payment_error": null, "customer": get_field(form, "customer"),
        "payment_method_types": form.iter().filter(|(k, _)| k == "payment_method_types[]").map(|(_, v)| v.clone()).collect::<Vec<_>>(),
        "created": chrono::Utc::now().timestamp(),
    });
    let confirm = get_field(form, "confirm") == Some("true");
    if get_field(form, "payment_method_data[type]") == Some("promptpay") {
        if get_field(form, "payment_method_data[billing_details][email]").is_none() {
            return stripe_error(
                400,
                "invalid_request_error",
                Some("parameter_missing"),
                "Missing required param: payment_method_data[billing_details][email].",
            );
        }
        if confirm {
            pi["status"] = json!("requires_action");
            pi["next_action"] = json!({"type": "promptpay_display_qr_code",
            "promptpay_display_qr_code": {
                "data": format!("00020101021230{id}5802TH5303764540{amount}6304ABCD"),
                "hosted_instructions_url": format!("https://payments.stripe.com/promptpay/instructions/{id}"),
                "image_url_png": format!("https://qr.stripe.com/{id}.png"),
                "image_url_svg": format!("https://qr.stripe.com/{id}.svg"),
            }});
        }
        pi["payment_method_types"] = json!(["promptpay"]);
    } else if let Some(method) = get_field(form, "payment_method") {
        pi["payment_method_types"] = json!(["card"]);
        pi["payment_method"] = json!(method);
        if confirm {
            if method == "pm_card_chargeDeclined" || method == "pm_card_visa_chargeDeclined" {
                let charge = b.next_id("ch");
                pi["latest_charge"] = json!(charge);
                pi["last_payment_error"] = json!({"type": "card_error", "code": "card_declined",
                    "decline_code": "generic_decline", "message": "Your card was declined."});
                b.objects.insert(id.clone(), pi.clone());
                return (
                    402,
                    json!({"error": {"type": "card_error", "code": "card_declined",
                    "decline_code": "generic_decline", "message": "Your card was declined.",
                    "charge": charge, "payment_intent": pi}}),
                );
            }
            let charge = b.next_id("ch");
            pi["status"] = json!("succeeded");
            pi["amount_received"] = json!(amount);
            pi["latest_charge"] = json!(charge);
        }
    }
    b.objects.insert(id, pi.clone());
    (200, pi)
}

fn stripe_customer_create(b: &mut Books, _base: &str, form: &[(String, String)]) -> (u16, Value) {
    if let Some(e) = unknown_param(form, CUSTOMER_PARAMS) {
        return e;
    }
    let id = b.next_id("cus");
    let method = get_field(form, "payment_method");
    let expanded = form
        .iter()
        .any(|(k, v)| k == "expand[]" && v == "invoice_settings.default_payment_method");
    let card = |pm: &str| {
        let (brand, last4) = match pm {
            "pm_card_mastercard" => ("mastercard", "4444"),
            "pm_card_chargeDeclined" => ("visa", "0002"),
            _ => ("visa", "4242"),
        };
        json!({"object": "payment_method", "id": pm, "type": "card", "customer": id,
               "card": {"brand": brand, "last4": last4, "exp_month": 12, "exp_year": 2031}})
    };
    let default = match (
        get_field(form, "invoice_settings[default_payment_method]"),
        expanded,
    ) {
        (Some(pm), true) => card(pm),
        (Some(pm), false) => json!(pm),
        (None, _) => Value::Null,
    };
    let customer = json!({"object": "customer", "id": id, "email": get_field(form, "email"),
        "description": get_field(form, "description"), "metadata": metadata(form),
        "invoice_settings": {"default_payment_method": default}, "payment_method": method});
    b.objects.insert(id, customer.clone());
    (200, customer)
}

pub async fn stripe() -> StandIn {
    let books: Arc<Mutex<Books>> = Arc::default();
    /// Stripe's 401 unless the request carries the secret key.
    fn refusal(headers: &HeaderMap) -> Option<Response> {
        if bearer(headers).as_deref() == Some(STRIPE_SECRET) {
            None
        } else {
            let (s, b) = stripe_error(
                401,
                "invalid_request_error",
                None,
                "Invalid API Key provided: sk_test_****",
            );
            Some(reply(s, b))
        }
    }
    async fn create(
        State(books): State<Arc<Mutex<Books>>>,
        headers: HeaderMap,
        Path(kind): Path<String>,
        Form(form): Form<Vec<(String, String)>>,
    ) -> Response {
        if let Some(r) = refusal(&headers) {
            return r;
        }
        let act: Handler = match kind.as_str() {
            "payment_intents" => stripe_intent_create,
            "customers" => stripe_customer_create,
            _ => {
                return reply(
                    404,
                    stripe_error(
                        404,
                        "invalid_request_error",
                        None,
                        "Unrecognized request URL",
                    )
                    .1,
                );
            }
        };
        match post_with(&books, format!("/v1/{kind}"), &headers, form, "", act) {
            Some((status, body)) => reply(status, body),
            None => reply(
                500,
                stripe_error(500, "api_error", None, "An unknown error occurred").1,
            ),
        }
    }
    async fn intent(
        State(books): State<Arc<Mutex<Books>>>,
        headers: HeaderMap,
        Path(id): Path<String>,
    ) -> Response {
        if let Some(r) = refusal(&headers) {
            return r;
        }
        match books.lock().unwrap().objects.get(&id) {
            Some(pi) => reply(200, pi.clone()),
            None => reply(
                404,
                stripe_error(
                    404,
                    "invalid_request_error",
                    Some("resource_missing"),
                    &format!("No such payment_intent: '{id}'"),
                )
                .1,
            ),
        }
    }
    let app = Router::new()
        .route("/v1/{kind}", post(create))
        .route("/v1/payment_intents/{id}", get(intent))
        .with_state(books.clone());
    StandIn {
        url: serve(app).await,
        books,
    }
}

impl StandIn {
    /// Stripe: the customer scanned and paid; the PaymentIntent succeeded with a charge.
    pub fn stripe_succeed(&self, intent_id: &str) -> Value {
        let mut b = self.books.lock().unwrap();
        let charge = b.next_id("ch");
        let pi = b.objects.get_mut(intent_id).expect("intent exists");
        pi["status"] = json!("succeeded");
        pi["amount_received"] = pi["amount"].clone();
        pi["latest_charge"] = json!(charge);
        pi["next_action"] = Value::Null;
        pi.clone()
    }
}

/// A Stripe event around a PaymentIntent, and its `Stripe-Signature` (computed the way Stripe
/// documents it: HMAC-SHA256 of `{t}.{payload}` under the signing secret, hex).
pub fn stripe_event(
    event_id: &str,
    kind: &str,
    intent: &Value,
    secret: &str,
    t: i64,
) -> (Vec<u8>, String) {
    let body = serde_json::to_vec(&json!({"id": event_id, "object": "event", "type": kind,
        "api_version": "2024-06-20", "created": t, "livemode": false,
        "data": {"object": intent}}))
    .unwrap();
    let signature = crate::common::hmac_sha256_hex(
        secret.as_bytes(),
        &[format!("{t}.").as_bytes(), &body].concat(),
    );
    (body, format!("t={t},v1={signature}"))
}
