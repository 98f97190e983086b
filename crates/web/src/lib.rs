//! The console (SPEC §3): server-rendered pages at `/` for staff (customers, billing, plans,
//! users, webhooks, audit, settings) and the customer portal for members.
//!
//! Pages are askama templates (compiled, HTML-escaped by default) filled from Satang's own JSON
//! API, called in-process ([`client`]): the console can do nothing the person could not do with
//! the API, and every change it makes is validated, audited and tenant-checked in one place.
//! Text comes from the Fluent catalogues in `locales/`; scripts under `static/` only enhance
//! forms that work without them (the Content-Security-Policy forbids inline script).

pub mod chart;
pub mod client;
pub mod format;
pub mod i18n;
pub mod pages;
pub mod session;

use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};

use satang_api::AppState;

use crate::client::ApiClient;
use crate::i18n::Tr;
use crate::session::{CookieJar, CookieNames, RecentRefreshes, Theme};

/// What every console handler shares.
pub struct Console {
    pub api: ApiClient,
    pub app: AppState,
    /// `Secure` cookies when people reach the console over https.
    pub secure_cookies: bool,
    /// The session's cookie names (`__Host-` prefixed over https).
    pub cookie_names: CookieNames,
    /// Signs CSRF tokens; derived from the encryption key, so every process and restart agrees.
    pub csrf_key: satang_auth::crypto::MacKey,
    pub refreshes: RecentRefreshes,
}

/// The whole site: the console's pages, and everything else (the API, health, metrics) by the
/// API router given.
pub fn app(state: AppState, api: Router) -> Router {
    // Behind TLS exactly when people reach it at an https address.
    let secure_cookies = state.config.public_url.starts_with("https://");
    let console = Arc::new(Console {
        api: ApiClient::new(api.clone()),
        secure_cookies,
        cookie_names: CookieNames::new(secure_cookies),
        csrf_key: state.secrets.mac_key("console-csrf"),
        app: state,
        refreshes: RecentRefreshes::default(),
    });
    pages::router()
        .layer(axum::middleware::from_fn(console_layer))
        .layer(axum::middleware::from_fn(
            satang_api::middleware::security_headers,
        ))
        .layer(axum::middleware::from_fn(
            satang_api::telemetry::record_request,
        ))
        .with_state(console)
        .fallback_service(api)
}

/// Why a page could not be shown; rendered as a page in the person's language by
/// [`console_layer`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Not signed in (or the session ended): to the login page, then back.
    SignIn {
        next: String,
    },
    NotFound,
    Forbidden,
    /// A form without the right CSRF token (an old tab, or another site's form).
    Csrf,
    BadRequest,
    Conflict,
    TooMany,
    Internal,
}

impl Failure {
    /// The failure that fits an API status.
    pub fn from_status(status: StatusCode, here: &str) -> Failure {
        match status.as_u16() {
            401 => Failure::SignIn {
                next: here.to_owned(),
            },
            403 => Failure::Forbidden,
            404 => Failure::NotFound,
            409 => Failure::Conflict,
            429 => Failure::TooMany,
            400 | 405 | 413 | 415 | 422 => Failure::BadRequest,
            _ => Failure::Internal,
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            Failure::SignIn { .. } => StatusCode::SEE_OTHER,
            Failure::NotFound => StatusCode::NOT_FOUND,
            Failure::Forbidden | Failure::Csrf => StatusCode::FORBIDDEN,
            Failure::BadRequest => StatusCode::BAD_REQUEST,
            Failure::Conflict => StatusCode::CONFLICT,
            Failure::TooMany => StatusCode::TOO_MANY_REQUESTS,
            Failure::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn message_key(&self) -> &'static str {
        match self {
            Failure::SignIn { .. } => "error-signin",
            Failure::NotFound => "error-not-found",
            Failure::Forbidden => "error-forbidden",
            Failure::Csrf => "error-csrf",
            Failure::BadRequest => "error-bad-request",
            Failure::Conflict => "error-conflict",
            Failure::TooMany => "error-too-many",
            Failure::Internal => "error-internal",
        }
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let mut response = self.status().into_response();
        response.extensions_mut().insert(self);
        response
    }
}

/// Puts a cookie jar into each request, copies its cookies onto the response, renders failures
/// as pages in the person's language, and keeps personal pages out of shared caches.
async fn console_layer(mut req: Request, next: Next) -> Response {
    let jar = CookieJar::default();
    req.extensions_mut().insert(jar.clone());
    let (parts, body) = req.into_parts();
    let cookies = session::read_cookies(&parts);
    let lang = session::request_lang(&parts, &cookies);
    let theme = cookies
        .get(session::THEME_COOKIE)
        .and_then(|t| Theme::parse(t))
        .unwrap_or(Theme::System);
    let reload = (parts.method == axum::http::Method::GET).then(|| parts.uri.path().to_owned());
    let mut response = next.run(Request::from_parts(parts, body)).await;
    // A refused form is shown at the address it was posted to; reloading it there is a GET of
    // a form's address. Go to the page the form belongs to rather than "405".
    if let Some(path) = reload
        && response.status() == StatusCode::METHOD_NOT_ALLOWED
        && !path.starts_with("/api/")
    {
        return Redirect::to(&form_page(&path)).into_response();
    }
    if let Some(failure) = response.extensions_mut().remove::<Failure>() {
        response = match failure {
            Failure::SignIn { next } => {
                let target = if next.starts_with('/') && !next.starts_with("//") {
                    format!("/login?next={}", pages::encode(&next))
                } else {
                    "/login".to_owned()
                };
                Redirect::to(&target).into_response()
            }
            other => {
                let tr = Tr::new(lang);
                let page = pages::ErrorPage {
                    lang: lang.code(),
                    theme: theme.code(),
                    title: tr.t(other.message_key()),
                    detail: tr.t(&format!("{}-detail", other.message_key())),
                    home: tr.t("error-home"),
                    asset_version: pages::ASSET_VERSION.as_str(),
                };
                let mut r = render(&page).into_response();
                *r.status_mut() = other.status();
                r
            }
        };
    }
    let headers = response.headers_mut();
    for cookie in jar.take() {
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            headers.append(header::SET_COOKIE, value);
        }
    }
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    headers.insert(
        header::VARY,
        HeaderValue::from_static("Cookie, Accept-Language"),
    );
    response
}

/// The page a form's address belongs to: `/customers/{id}`, `/portal/{customer}` and
/// `/invoices/{id}` for their forms, else the section (`/plans/{id}/price` → `/plans`); `/` for a form that is its own
/// section (`/logout`).
fn form_page(path: &str) -> String {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let keep = match segments.first() {
        Some(&"customers") | Some(&"portal") | Some(&"invoices") if segments.len() > 2 => 2,
        _ => 1,
    };
    if segments.len() <= keep {
        return "/".to_owned();
    }
    format!("/{}", segments[..keep].join("/"))
}

/// Renders a template; a rendering error (a bug) is logged and answered as a bare 500.
pub fn render<T: Template>(template: &T) -> Response {
    match template.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "a console template failed to render");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::form_page;

    #[test]
    fn a_forms_address_leads_back_to_its_page() {
        assert_eq!(form_page("/plans/0192/price"), "/plans");
        assert_eq!(form_page("/billing/coupons"), "/billing");
        assert_eq!(form_page("/customers/0192/contacts"), "/customers/0192");
        assert_eq!(form_page("/portal/0192/payment-methods"), "/portal/0192");
        assert_eq!(form_page("/invoices/0192/void"), "/invoices/0192");
        assert_eq!(
            form_page("/invoices/0192/lines/0193/delete"),
            "/invoices/0192"
        );
        assert_eq!(form_page("/users/0192/roles"), "/users");
        assert_eq!(form_page("/logout"), "/");
        assert_eq!(form_page("/preferences"), "/");
        assert_eq!(form_page("/imports/confirm"), "/imports");
    }
}
