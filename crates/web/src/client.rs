//! The console speaks to Satang's own JSON API in-process: every form goes through the same
//! validation, tenancy checks, audit, idempotency and events as an API client's request, and a
//! page can show nothing the signed-in person could not read through the API.

use std::net::SocketAddr;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use axum::http::{HeaderValue, Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use tower::ServiceExt;

/// The API router (with all its layers), called without a network hop.
#[derive(Clone)]
pub struct ApiClient {
    router: Router,
}

/// One request to the API.
pub struct ApiRequest {
    pub method: Method,
    pub uri: String,
    pub token: Option<String>,
    pub body: Option<serde_json::Value>,
    pub peer: Option<SocketAddr>,
    pub idempotency_key: Option<String>,
    pub if_match: Option<String>,
    /// A payment link's token, for the public pay page (`X-Payment-Link`).
    pub payment_link: Option<String>,
    /// The page's language (`Accept-Language`), for the API answers that speak it.
    pub accept_language: Option<&'static str>,
}

impl ApiRequest {
    pub fn new(method: Method, uri: impl Into<String>) -> ApiRequest {
        ApiRequest {
            method,
            uri: uri.into(),
            token: None,
            body: None,
            peer: None,
            idempotency_key: None,
            if_match: None,
            payment_link: None,
            accept_language: None,
        }
    }

    pub fn json(mut self, body: serde_json::Value) -> ApiRequest {
        self.body = Some(body);
        self
    }
}

/// The API's answer.
#[derive(Debug)]
pub struct ApiReply {
    pub status: StatusCode,
    pub content_type: Option<String>,
    /// A file's `Content-Disposition` (its name), passed on by the console's downloads.
    pub content_disposition: Option<String>,
    pub body: Bytes,
}

/// A problem document (SPEC §2): what went wrong, and per field for 422.
#[derive(Debug, Default, Deserialize)]
pub struct Problem {
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub detail: Option<String>,
    #[serde(default)]
    pub errors: std::collections::BTreeMap<String, Vec<String>>,
}

impl ApiReply {
    pub fn ok(&self) -> bool {
        self.status.is_success()
    }

    /// The body as `T`; a body that does not parse is an internal error (the API and the
    /// console disagree), never shown to the person as such.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, crate::Failure> {
        serde_json::from_slice(&self.body).map_err(|e| {
            tracing::error!(error = %e, status = %self.status, "the console could not read an API answer");
            crate::Failure::Internal
        })
    }

    pub fn problem(&self) -> Problem {
        serde_json::from_slice(&self.body).unwrap_or_default()
    }
}

impl ApiClient {
    pub fn new(router: Router) -> ApiClient {
        ApiClient { router }
    }

    pub async fn send(&self, request: ApiRequest) -> ApiReply {
        let mut builder = Request::builder().method(request.method).uri(request.uri);
        if let Some(token) = &request.token
            && let Ok(value) = HeaderValue::from_str(&format!("Bearer {token}"))
        {
            builder = builder.header(header::AUTHORIZATION, value);
        }
        if let Some(key) = &request.idempotency_key {
            builder = builder.header("idempotency-key", key.as_str());
        }
        if let Some(version) = &request.if_match {
            builder = builder.header(header::IF_MATCH, version.as_str());
        }
        if let Some(lang) = request.accept_language {
            builder = builder.header(header::ACCEPT_LANGUAGE, lang);
        }
        if let Some(link) = &request.payment_link
            && let Ok(value) = HeaderValue::from_str(link)
        {
            builder = builder.header("x-payment-link", value);
        }
        let body = match &request.body {
            Some(json) => {
                builder = builder.header(header::CONTENT_TYPE, "application/json");
                Body::from(serde_json::to_vec(json).unwrap_or_default())
            }
            None => Body::empty(),
        };
        let mut http = match builder.body(body) {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, "the console built an invalid API request");
                return ApiReply {
                    status: StatusCode::INTERNAL_SERVER_ERROR,
                    content_type: None,
                    content_disposition: None,
                    body: Bytes::new(),
                };
            }
        };
        // The API limits logins per client address: pass the person's address along.
        if let Some(peer) = request.peer {
            http.extensions_mut().insert(ConnectInfo(peer));
        }
        let response = match self.router.clone().oneshot(http).await {
            Ok(r) => r,
            Err(never) => match never {},
        };
        let status = response.status();
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let content_disposition = response
            .headers()
            .get(header::CONTENT_DISPOSITION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = match response.into_body().collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(_) => Bytes::new(),
        };
        ApiReply {
            status,
            content_type,
            content_disposition,
            body,
        }
    }
}
