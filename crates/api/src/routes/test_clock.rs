//! The test clock (SPEC §2.9): mounted only when `SATANG_TEST_CLOCK=1`.

use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use satang_auth::Permission;
use satang_store::audit::{self, Change};
use satang_store::clock::ClockError;

use crate::error::{ApiError, Problem};
use crate::extract::{Caller, Json};
use crate::state::AppState;

/// Where the offset is kept so a restarted server continues at the same "now".
pub const OFFSET_KEY: &str = "test_clock_offset_micros";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(read_clock, move_clock))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ClockView {
    pub now: DateTime<Utc>,
    /// How far the test clock runs ahead of the wall clock.
    pub offset_seconds: i64,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MoveClock {
    /// The new "now"; never earlier than the current one.
    pub now: DateTime<Utc>,
}

fn view(state: &AppState) -> ClockView {
    ClockView {
        now: state.clock.now(),
        offset_seconds: state.clock.offset_micros() / 1_000_000,
    }
}

/// The server's current time.
#[utoipa::path(get, path = "/api/test-clock", tag = "test clock", security(("bearer" = [])),
    responses((status = 200, body = ClockView)))]
async fn read_clock(State(state): State<AppState>, _caller: Caller) -> axum::Json<ClockView> {
    axum::Json(view(&state))
}

/// Move the server's time forward (admin).
#[utoipa::path(post, path = "/api/test-clock", tag = "test clock", request_body = MoveClock, security(("bearer" = [])),
    responses((status = 200, body = ClockView), (status = 403, body = Problem), (status = 409, body = Problem)))]
async fn move_clock(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<MoveClock>,
) -> Result<axum::Json<ClockView>, ApiError> {
    caller.require(Permission::MoveTestClock)?;
    let before = state.clock.now();
    let offset = state.clock.move_to(body.now).map_err(|e| match e {
        ClockError::Backwards => ApiError::Conflict("the test clock only moves forward".into()),
        ClockError::NotMovable => ApiError::NotFound,
    })?;
    let now = state.clock.now();
    // The offset and its audit entry in one transaction (with the stored response of a keyed
    // request, see `crate::idempotency`).
    let mut tx = state.db.begin().await?;
    satang_store::kv::set_in(&mut tx, OFFSET_KEY, &offset.to_string()).await?;
    audit::record(
        &mut tx,
        &caller.actor,
        Change {
            action: "test_clock.moved",
            entity_type: "test_clock",
            entity_id: "test_clock".into(),
            before: Some(serde_json::json!({ "now": before })),
            after: Some(serde_json::json!({ "now": now })),
        },
        now,
    )
    .await?;
    tx.commit().await?;
    // Periods end by the clock: what was remembered may belong to a period now past.
    state.entitlements.forget_everyone();
    Ok(axum::Json(view(&state)))
}
