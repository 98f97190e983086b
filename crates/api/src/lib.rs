//! Satang's HTTP API: the routers under `/api`, the health and metrics endpoints, the layers
//! every request passes through, and the OpenAPI document generated from the handlers.

pub mod access;
pub mod api_key_cache;
pub mod error;
pub mod events;
pub mod extract;
pub mod idempotency;
pub mod middleware;
pub mod openapi;
pub mod pagination;
pub mod rfc3339;
pub mod routes;
pub mod state;
pub mod telemetry;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::Request;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::SwaggerUi;

pub use error::ApiError;
pub use state::{ApiConfig, AppState, Inner, Services, UserCache};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Satang API",
        description = "Customer management and subscription billing. Money is an integer count of \
                       minor units (satang for THB) next to an ISO 4217 `currency`. Errors are \
                       `application/problem+json`.",
    ),
    modifiers(&BearerAuth),
    components(schemas(error::Problem))
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "An access token (JWT) from /api/auth/login, or an API key (sk_…) \
                         from /api/api-keys, accepted on the routes its scopes name.",
                    ))
                    .build(),
            ),
        );
    }
}

/// The routes this process serves, with their OpenAPI document.
pub fn api_routes(state: &AppState, test_clock: bool) -> OpenApiRouter<AppState> {
    let mut api = OpenApiRouter::with_openapi(ApiDoc::openapi()).merge(routes::system::router());
    if state.services.serves_auth() {
        api = api
            .merge(routes::auth::router())
            .merge(routes::users::router());
    }
    if state.services.serves_customers() {
        api = api
            .merge(routes::audit::router())
            .merge(routes::analytics::router())
            .merge(routes::api_keys::router())
            .merge(routes::customers::router())
            .merge(routes::contacts::router())
            .merge(routes::emails::router())
            .merge(routes::members::router())
            .merge(routes::settings::router())
            .merge(routes::webhooks::router())
            .merge(routes::usage::router())
            .merge(routes::usage_alerts::router())
            .merge(routes::entitlements::router())
            .merge(routes::payment_methods::router())
            .merge(routes::plans::router())
            .merge(routes::subscriptions::router())
            .merge(routes::coupons::router())
            .merge(routes::credit_grants::router())
            .merge(routes::invoices::router())
            .merge(routes::providers::router())
            .merge(routes::tax_documents::router())
            .merge(routes::bank_statements::router())
            .merge(routes::imports::router())
            .merge(routes::reports::router())
            .merge(routes::exports::router());
        if test_clock {
            api = api.merge(routes::test_clock::router());
        }
    }
    api
}

/// The OpenAPI document of everything Satang can serve (for docs generation and tests).
pub fn openapi_document(state: &AppState) -> utoipa::openapi::OpenApi {
    let mut doc = api_routes(state, true).split_for_parts().1;
    openapi::declare_errors(&mut doc);
    doc
}

/// The complete application: routes, documentation and every layer.
pub fn app(state: AppState) -> Router {
    telemetry::install_metrics();
    let (routes, mut openapi) = api_routes(&state, state.clock.is_test()).split_for_parts();
    openapi::declare_errors(&mut openapi);
    let mut router = routes
        .merge(SwaggerUi::new("/api/docs").url("/api/openapi.json", openapi))
        .fallback(middleware::not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            idempotency::idempotency,
        ))
        .layer(DefaultBodyLimit::max(state.config.max_body_bytes));
    if let Some(limiter) = middleware::client_limiter(state.config.api_rate_per_second) {
        router = router.layer(axum::middleware::from_fn_with_state(
            limiter,
            middleware::rate_limit,
        ));
    }
    let layers = ServiceBuilder::new()
        .layer(CatchPanicLayer::custom(middleware::panic_response))
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .layer(
            TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
                let request_id = req
                    .headers()
                    .get("x-request-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                // The path only: query strings may carry search terms, never logged.
                tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id)
            })
            .on_response(DefaultOnResponse::new().level(tracing::Level::INFO)),
        )
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(axum::middleware::from_fn(telemetry::record_request))
        .layer(axum::middleware::from_fn(middleware::security_headers))
        .layer(axum::middleware::from_fn_with_state(
            state.config.request_timeout,
            middleware::timeout,
        ));
    router.layer(layers).with_state(state)
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}
