//! Health, readiness and metrics for operators and load balancers.

use std::time::Duration;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(metrics))
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct Health {
    pub status: &'static str,
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, body = Health)))]
async fn healthz() -> axum::Json<Health> {
    axum::Json(Health { status: "ok" })
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct Readiness {
    /// `ready` or `not ready`.
    pub status: &'static str,
    /// `ok`, or `unreachable` when it did not answer within 1.5 s.
    pub database: &'static str,
    /// `done`, `pending`, or `unknown` while the database is unreachable.
    pub migrations: &'static str,
}

/// How long `/readyz` waits for the database: a load balancer's probe gives up after a few
/// seconds, and a database that takes longer to answer `SELECT 1` is not ready for traffic.
const READINESS_WAIT: Duration = Duration::from_millis(1500);

/// The database answers and every migration has run.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses((status = 200, body = Readiness), (status = 503, body = Readiness)))]
async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let check = async {
        state.db.ping().await?;
        match state.db.migrations_done().await {
            Err(e) if !e.is_unavailable() => Ok(false), // no migration table yet
            answer => answer,
        }
    };
    let (database, migrations) = match tokio::time::timeout(READINESS_WAIT, check).await {
        Ok(Ok(true)) => ("ok", "done"),
        Ok(Ok(false)) => ("ok", "pending"),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness: the database is unreachable");
            ("unreachable", "unknown")
        }
        Err(_) => {
            tracing::warn!("readiness: the database did not answer within 1.5 s");
            ("unreachable", "unknown")
        }
    };
    let ready = migrations == "done";
    (
        if ready {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        },
        axum::Json(Readiness {
            status: if ready { "ready" } else { "not ready" },
            database,
            migrations,
        }),
    )
}

/// Prometheus metrics in the text exposition format.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
async fn metrics() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        crate::telemetry::render_metrics(),
    )
}
