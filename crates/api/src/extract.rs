//! Extractors that turn every malformed request into a problem document: a JSON body
//! ([`Json`]), query parameters ([`Query`]), path ids ([`Path`]), and the signed-in caller
//! ([`Caller`]).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{
    ConnectInfo, FromRequest, FromRequestParts, MatchedPath, OptionalFromRequest, Request,
};
use axum::http::header;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use satang_auth::api_keys;
use satang_auth::roles::{Permission, StaffRole, allows};
use satang_store::audit::Actor;

use crate::api_key_cache::LiveKey;
use crate::error::{ApiError, FieldErrors};
use crate::state::AppState;

/// A JSON request body. Wrong content type → 415, too large → 413, not JSON → 400, JSON of the
/// wrong shape (missing, unknown or mistyped fields) → 422 naming the field.
pub struct Json<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|v| {
                let v = v.trim().to_ascii_lowercase();
                v == "application/json" || (v.starts_with("application/") && v.ends_with("+json"))
            })
            .unwrap_or(false);
        if !is_json {
            return Err(ApiError::UnsupportedMediaType(
                "send the body as application/json".into(),
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge
            } else {
                ApiError::BadRequest("the request body could not be read".into())
            }
        })?;
        parse_json(&bytes).map(Json)
    }
}

/// An optional JSON body (`Option<Json<T>>`): a request with no body and no content type is
/// `None`, so an action such as `POST /api/subscriptions/{id}/cancel` works with its defaults
/// and no body at all; a body that is sent is checked exactly like [`Json`].
impl<S: Send + Sync, T: DeserializeOwned> OptionalFromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Option<Self>, Self::Rejection> {
        if req.headers().contains_key(header::CONTENT_TYPE) {
            return <Json<T> as FromRequest<S>>::from_request(req, state)
                .await
                .map(Some);
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge
            } else {
                ApiError::BadRequest("the request body could not be read".into())
            }
        })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            Ok(None)
        } else {
            Err(ApiError::UnsupportedMediaType(
                "send the body as application/json".into(),
            ))
        }
    }
}

/// Parses JSON, telling a syntax error (400) from a shape error (422 on the offending field).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| match e.classify() {
            // Nested deeper than serde_json allows, or a number out of range: still a bad body.
            serde_json::error::Category::Data => ApiError::BadRequest(e.to_string()),
            _ => syntax_error(&e),
        })?;
    // No database text type can hold U+0000 (PostgreSQL refuses it): refuse it here, for every
    // field at once, rather than let one backend store it and the other fail.
    if let Some(path) = find_nul(&value, String::new()) {
        return Err(ApiError::field(
            if path.is_empty() { "body" } else { &path },
            "must not contain the NUL character",
        ));
    }
    serde_path_to_error::deserialize::<_, T>(value).map_err(|err| {
        let path = err.path().to_string();
        let (field, message) = describe_data_error(&path, &err.into_inner().to_string());
        let mut errors = FieldErrors::new();
        errors.insert(field, vec![message]);
        ApiError::Validation {
            detail: "the request has invalid fields".into(),
            errors,
        }
    })
}

/// The path of the first string (or key) holding U+0000, if any.
fn find_nul(value: &serde_json::Value, path: String) -> Option<String> {
    let join = |key: &str| {
        if path.is_empty() {
            key.to_owned()
        } else {
            format!("{path}.{key}")
        }
    };
    match value {
        serde_json::Value::String(s) => s.contains('\0').then_some(path),
        serde_json::Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, v)| find_nul(v, join(&i.to_string()))),
        serde_json::Value::Object(map) => map.iter().find_map(|(k, v)| {
            if k.contains('\0') {
                Some(join("key"))
            } else {
                find_nul(v, join(k))
            }
        }),
        _ => None,
    }
}

fn syntax_error(e: &serde_json::Error) -> ApiError {
    ApiError::BadRequest(format!(
        "the request body is not valid JSON (line {}, column {})",
        e.line(),
        e.column()
    ))
}

/// serde says "missing field `email` at line 1 column 2"; a person wants `email: is required`.
fn describe_data_error(path: &str, message: &str) -> (String, String) {
    let without_position = without_position(message);
    if without_position.starts_with("missing field") {
        // The name is one of ours, so it holds no backtick.
        let quoted = without_position.split('`').nth(1).unwrap_or_default();
        let field = if path == "." || path.is_empty() {
            quoted.to_owned()
        } else {
            format!("{path}.{quoted}")
        };
        return (field, "is required".into());
    }
    if let Some(name) = unknown_field_name(without_position) {
        if name.is_empty() {
            // `{"": 1}`: the path ends in an empty segment ("" or "address."), which names
            // nothing a person can find; name the object that holds the field instead.
            let parent = path.strip_suffix('.').unwrap_or(path);
            let field = if parent.is_empty() || parent == "." {
                "body"
            } else {
                parent
            };
            return (field.to_owned(), "has a field with an empty name".into());
        }
        // The path ends in the field's own name; at the top it may be empty.
        let field = if path == "." || path.is_empty() {
            name.to_owned()
        } else {
            path.to_owned()
        };
        return (field, "is not a known field".into());
    }
    let field = if path == "." || path.is_empty() {
        "body".to_owned()
    } else {
        path.to_owned()
    };
    (field, without_position.to_owned())
}

/// The message without serde_json's trailing " at line L column C", if it has one. Only that
/// exact tail is cut: the rest may quote the client's own text, which can say " at line ".
fn without_position(message: &str) -> &str {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    match message.rsplit_once(" at line ") {
        Some((before, position))
            if position
                .split_once(" column ")
                .is_some_and(|(line, column)| digits(line) && digits(column)) =>
        {
            before
        }
        _ => message,
    }
}

/// The client's name in serde's "unknown field `name`, expected one of `a`, `b`" (or
/// "…`name`, there are no fields"). The name may itself hold backticks, so it ends at the
/// *last* "`, expected" or "`, there are": what follows lists our own names, which hold none.
fn unknown_field_name(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("unknown field `")?;
    let end = rest
        .rfind("`, expected")
        .or_else(|| rest.rfind("`, there are no fields"))?;
    Some(&rest[..end])
}

/// Query parameters; anything unparsable is a 400 naming the parameter.
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        if let Some((name, _)) = form_urlencoded::parse(query.as_bytes())
            .find(|(k, v)| k.contains('\0') || v.contains('\0'))
        {
            return Err(ApiError::BadRequest(format!(
                "query parameter {name} must not contain the NUL character"
            )));
        }
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize::<_, T>(de)
            .map(Query)
            .map_err(|e| {
                ApiError::BadRequest(format!(
                    "invalid query parameter {}: {}",
                    e.path(),
                    e.inner()
                ))
            })
    }
}

/// A UUID in the path; anything else is a 400.
pub struct Path<T>(pub T);

impl<S: Send + Sync> FromRequestParts<S> for Path<Uuid> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let axum::extract::Path(raw) =
            axum::extract::Path::<String>::from_request_parts(parts, state)
                .await
                .map_err(|_| ApiError::BadRequest("invalid path".into()))?;
        Uuid::parse_str(&raw)
            .map(Path)
            .map_err(|_| ApiError::BadRequest(format!("'{raw}' is not a valid id")))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Path<(Uuid, Uuid)> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let axum::extract::Path((a, b)) =
            axum::extract::Path::<(String, String)>::from_request_parts(parts, state)
                .await
                .map_err(|_| ApiError::BadRequest("invalid path".into()))?;
        let parse = |raw: &str| {
            Uuid::parse_str(raw)
                .map_err(|_| ApiError::BadRequest(format!("'{raw}' is not a valid id")))
        };
        Ok(Path((parse(&a)?, parse(&b)?)))
    }
}

/// A UUID and a second segment the handler reads itself (a bank statement's `{line}`: an id
/// or a line number).
impl<S: Send + Sync> FromRequestParts<S> for Path<(Uuid, String)> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let axum::extract::Path((a, b)) =
            axum::extract::Path::<(String, String)>::from_request_parts(parts, state)
                .await
                .map_err(|_| ApiError::BadRequest("invalid path".into()))?;
        let id = Uuid::parse_str(&a)
            .map_err(|_| ApiError::BadRequest(format!("'{a}' is not a valid id")))?;
        Ok(Path((id, b)))
    }
}

/// Deserializes a field that may be absent (`None`), null (`Some(None)`) or set
/// (`Some(Some(v))`), so a partial update can tell "leave it" from "clear it".
pub fn double_option<'de, T, D>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    T: serde::Deserialize<'de>,
    D: serde::Deserializer<'de>,
{
    serde::Deserialize::deserialize(d).map(Some)
}

/// The client's address: the socket peer, or the first `X-Forwarded-For` hop when Satang is
/// configured to sit behind a trusted proxy.
pub fn client_ip(parts: &Parts, trust_forwarded: bool) -> Option<IpAddr> {
    if trust_forwarded
        && let Some(ip) = parts
            .headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .and_then(|v| v.trim().parse().ok())
    {
        return Some(ip);
    }
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ci| ci.0.ip())
}

/// The request id set by the request-id layer.
pub fn request_id(parts: &Parts) -> Option<String> {
    parts
        .headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// Who is calling: a verified access token of an enabled user, from a login that has not ended;
/// or a live API key (`sk_…`), which acts across all customers like staff, limited by its
/// scopes (SPEC §2.12).
#[derive(Debug, Clone)]
pub struct Caller {
    /// The user; for an API key, the key's id (which no membership names).
    pub user_id: Uuid,
    pub email: String,
    pub name: String,
    pub roles: Vec<StaffRole>,
    pub session_id: Uuid,
    pub actor: Actor,
    /// Present when the request came with an API key.
    pub api_key: Option<Arc<LiveKey>>,
}

impl Caller {
    pub fn is_staff(&self) -> bool {
        !self.roles.is_empty() || self.api_key.is_some()
    }

    /// Whether the caller's roles (or its key's scopes) grant `permission`.
    pub fn may(&self, permission: Permission) -> bool {
        match &self.api_key {
            Some(key) => key.grant.allows(permission),
            None => allows(&self.roles, permission),
        }
    }

    pub fn require(&self, permission: Permission) -> Result<(), ApiError> {
        if self.may(permission) {
            Ok(())
        } else {
            Err(ApiError::Forbidden)
        }
    }
}

/// The bearer token of a request, if any.
pub fn bearer(parts: &Parts) -> Option<&str> {
    parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        // Verified once per request: no handler takes two extractors that each need the caller,
        // so it is not kept in the request's extensions (a copy of every field per request).
        let token = bearer(parts).ok_or_else(|| {
            ApiError::Unauthorized(
                "sign in first: send Authorization: Bearer <access token>".into(),
            )
        })?;
        if api_keys::is_api_key(token) {
            return api_key_caller(parts, state, token).await;
        }
        let claims = state
            .verifier
            .verify(token, state.clock.now())
            .await
            .map_err(|e| ApiError::Unauthorized(e.to_string()))?;
        let user = state
            .users
            .get(&state.db, claims.sub)
            .await?
            .filter(|u| !u.disabled)
            .ok_or_else(|| {
                ApiError::Unauthorized("this account is disabled or no longer exists".into())
            })?;
        // A token outlives neither its login's logout nor its revocation.
        if !state.users.session_is_live(&state.db, claims.sid).await? {
            return Err(ApiError::Unauthorized(
                "this login has ended: sign in again".into(),
            ));
        }
        let caller = Caller {
            user_id: user.id,
            email: user.email.clone(),
            name: user.name.clone(),
            roles: user.roles.clone(),
            session_id: claims.sid,
            actor: Actor {
                user_id: Some(user.id),
                api_key_id: None,
                request_id: request_id(parts),
                ip: client_ip(parts, state.config.trust_forwarded_for).map(|ip| ip.to_string()),
            },
            api_key: None,
        };
        Ok(caller)
    }
}

/// The caller of a request made with an API key: 401 for a key that is unknown or revoked, 403
/// on a route none of its scopes names (whatever the route would check itself).
async fn api_key_caller(parts: &Parts, state: &AppState, secret: &str) -> Result<Caller, ApiError> {
    let key = state
        .api_keys
        .find(&state.db, secret)
        .await?
        .ok_or_else(|| ApiError::Unauthorized("this API key is unknown or revoked".into()))?;
    let route = parts
        .extensions
        .get::<MatchedPath>()
        .map(MatchedPath::as_str);
    if !route.is_some_and(|route| key.grant.reaches(parts.method.as_str(), route)) {
        return Err(ApiError::Forbidden);
    }
    state
        .api_keys
        .note_use(&state.db, key.id, state.clock.now());
    Ok(Caller {
        user_id: key.id,
        email: String::new(),
        name: key.name.clone(),
        roles: Vec::new(),
        session_id: Uuid::nil(),
        actor: Actor {
            user_id: None,
            api_key_id: Some(key.id),
            request_id: request_id(parts),
            ip: client_ip(parts, state.config.trust_forwarded_for).map(|ip| ip.to_string()),
        },
        api_key: Some(key),
    })
}

/// An anonymous actor (signup, login) for the audit log.
pub struct AnonymousActor(pub Actor);

impl FromRequestParts<AppState> for AnonymousActor {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(AnonymousActor(Actor {
            user_id: None,
            api_key_id: None,
            request_id: request_id(parts),
            ip: client_ip(parts, state.config.trust_forwarded_for).map(|ip| ip.to_string()),
        }))
    }
}

/// `201 Created` with a JSON body.
pub struct Created<T>(pub T);

impl<T: Serialize> IntoResponse for Created<T> {
    fn into_response(self) -> Response {
        (axum::http::StatusCode::CREATED, axum::Json(self.0)).into_response()
    }
}

/// Whether the caller's `Accept-Language` prefers Thai to English.
pub fn prefers_thai(headers: &axum::http::HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let mut best: Option<(f32, bool)> = None;
    for entry in value.split(',') {
        let mut parts = entry.split(';');
        let tag = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = parts
            .find_map(|p| p.trim().strip_prefix("q="))
            .and_then(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        let primary = tag.split('-').next().unwrap_or("");
        if matches!(primary, "th" | "en") && best.is_none_or(|(b, _)| q > b) {
            best = Some((q, primary == "th"));
        }
    }
    best.is_some_and(|(q, thai)| thai && q > 0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thai_is_chosen_only_when_preferred() {
        let with = |value: &str| {
            let mut h = axum::http::HeaderMap::new();
            h.insert(header::ACCEPT_LANGUAGE, value.parse().unwrap());
            h
        };
        assert!(!prefers_thai(&axum::http::HeaderMap::new()));
        assert!(prefers_thai(&with("th-TH,th;q=0.9,en;q=0.8")));
        assert!(prefers_thai(&with("en;q=0.5, th")));
        assert!(!prefers_thai(&with("en-US,en;q=0.9,th;q=0.8")));
        assert!(!prefers_thai(&with("th;q=0")));
        assert!(!prefers_thai(&with("fr")));
    }

    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        address: Option<Inner>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        line1: String,
    }

    /// The fields a 422 names, for `body`.
    fn named(body: &str) -> Vec<(String, Vec<String>)> {
        match parse_json::<Body>(body.as_bytes()) {
            Err(ApiError::Validation { errors, .. }) => errors.into_iter().collect(),
            other => panic!("{body}: {other:?}"),
        }
    }

    fn one(field: &str, message: &str) -> Vec<(String, Vec<String>)> {
        vec![(field.to_owned(), vec![message.to_owned()])]
    }

    #[test]
    fn shape_errors_name_the_field() {
        assert_eq!(named(r#"{}"#), one("name", "is required"));
        assert_eq!(
            named(r#"{"name": "a", "nmae": 1}"#),
            one("nmae", "is not a known field")
        );
        assert_eq!(
            named(r#"{"name": "a", "address": {}}"#),
            one("address.line1", "is required")
        );
        assert_eq!(
            named(r#"{"name": "a", "address": {"line1": "x", "zip": 1}}"#),
            one("address.zip", "is not a known field")
        );
        assert_eq!(named(r#"{"name": 5}"#)[0].0, "name");
        assert_eq!(
            named(r#"{"name": "a\u0000"}"#),
            one("name", "must not contain the NUL character")
        );
    }

    /// Found by the `api_json` fuzz target: a field with an empty name was refused under the
    /// field name "", which a client cannot show next to anything.
    #[test]
    fn a_field_with_an_empty_name_is_named_by_its_object() {
        assert_eq!(
            named(r#"{"name": "a", "": 1}"#),
            one("body", "has a field with an empty name")
        );
        assert_eq!(
            named(r#"{"name": "a", "address": {"line1": "x", "": 1}}"#),
            one("address", "has a field with an empty name")
        );
    }

    #[test]
    fn an_unknown_field_is_named_as_sent() {
        for name in ["name`x", "x at line 1 column 2", "a.b", "ชื่อ"] {
            let body = serde_json::json!({ "name": "a", name: 1 }).to_string();
            assert_eq!(named(&body), one(name, "is not a known field"), "{body}");
        }
    }

    #[test]
    fn a_message_quoting_the_client_is_not_cut() {
        assert_eq!(
            named(r#"{"name": "a", "address": "x at line 1"}"#),
            one(
                "address",
                r#"invalid type: string "x at line 1", expected struct Inner"#
            )
        );
    }

    #[test]
    fn only_a_real_position_is_cut() {
        assert_eq!(without_position("bad at line 3 column 14"), "bad");
        assert_eq!(without_position("bad at line 3"), "bad at line 3");
        assert_eq!(without_position("at line x column 1"), "at line x column 1");
    }
}
