//! Members of a customer (SPEC §2.2, §2.3): users linked to one customer with the role owner,
//! admin, billing or member. Adding an email nobody has signed up with yet creates an
//! invitation; signing up with that email makes the person a member.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use satang_auth::MemberRole;
use satang_billing::members::{self as billing_members, ActingAs, AddedMember, Invitee, NewMember};
use satang_domain::MemberStatus;
use satang_store::memberships::{self, Member};

use crate::access::{CustomerAction, Reach, authorize};
use crate::error::{ApiError, Problem, Validator};
use crate::extract::{Caller, Json, Path, Query};
use crate::pagination::{Page, PageParams};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_members, add_member))
        .routes(routes!(update_member, remove_member))
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MemberView {
    /// Absent while the person has not signed up yet (`status: invited`).
    pub user_id: Option<Uuid>,
    pub email: String,
    pub name: Option<String>,
    /// `owner`, `admin`, `billing` or `member`.
    pub role: String,
    /// `active`, or `invited` until the person signs up with this email.
    #[schema(value_type = String)]
    pub status: MemberStatus,
    pub created_at: DateTime<Utc>,
}

impl From<Member> for MemberView {
    fn from(m: Member) -> Self {
        MemberView {
            user_id: Some(m.user_id),
            email: m.email,
            name: Some(m.name),
            role: m.role,
            status: MemberStatus::Active,
            created_at: m.created_at,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddMember {
    /// An existing user …
    pub user_id: Option<Uuid>,
    /// … or an email (invited if nobody has it yet).
    pub email: Option<String>,
    pub role: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMember {
    pub role: String,
}

fn parse_role(v: &mut Validator, role: &str) -> Option<MemberRole> {
    let parsed = MemberRole::parse(role);
    if parsed.is_none() {
        v.add("role", "must be owner, admin, billing or member");
    }
    parsed
}

/// The members of a customer.
#[utoipa::path(get, path = "/api/customers/{id}/members", tag = "members", params(("id" = Uuid, Path), PageParams),
    security(("bearer" = [])), responses((status = 200, body = Page<MemberView>), (status = 404, body = Problem)))]
async fn list_members(
    State(state): State<AppState>,
    caller: Caller,
    Path(customer_id): Path<Uuid>,
    Query(params): Query<PageParams>,
) -> Result<axum::Json<Page<MemberView>>, ApiError> {
    authorize(&state, &caller, customer_id, CustomerAction::Read).await?;
    let (limit, after) = params.keyset()?;
    let rows = memberships::list_members(&state.db, customer_id, after, limit + 1).await?;
    Ok(axum::Json(Page::from_rows(
        rows,
        limit,
        |m| m.user_id,
        MemberView::from,
    )))
}

/// Add a member by user id or email.
#[utoipa::path(post, path = "/api/customers/{id}/members", tag = "members", params(("id" = Uuid, Path)),
    request_body = AddMember, security(("bearer" = [])),
    responses((status = 201, body = MemberView), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn add_member(
    State(state): State<AppState>,
    caller: Caller,
    Path(customer_id): Path<Uuid>,
    Json(body): Json<AddMember>,
) -> Result<(StatusCode, axum::Json<MemberView>), ApiError> {
    authorize(&state, &caller, customer_id, CustomerAction::Read).await?;
    let reach = authorize(&state, &caller, customer_id, CustomerAction::ManageMembers).await?;
    let mut v = Validator::new();
    let role = parse_role(&mut v, &body.role);
    let email = body.email.as_deref().map(|e| v.email("email", e));
    if body.user_id.is_some() == email.is_some() {
        v.add("user_id", "give either user_id or email");
    }
    v.finish()?;
    let role = role.unwrap_or(MemberRole::Member);
    let invitee = match (body.user_id, email) {
        (Some(id), _) => Invitee::User(id),
        (None, email) => Invitee::Email(email.unwrap_or_default()),
    };
    let added = billing_members::add_member(
        &state.db,
        &caller.actor,
        acting_as(reach),
        customer_id,
        NewMember { invitee, role },
        TimeDelta::from_std(state.config.invitation_ttl).unwrap_or(TimeDelta::days(7)),
        state.clock.now(),
    )
    .await?;
    if let Some(user) = added.user_id() {
        state.users.invalidate(user);
    }
    Ok((StatusCode::CREATED, axum::Json(added.into())))
}

impl From<AddedMember> for MemberView {
    fn from(added: AddedMember) -> Self {
        match added {
            AddedMember::Active(m) => m.into(),
            AddedMember::Invited {
                email,
                role,
                created_at,
            } => MemberView {
                user_id: None,
                email,
                name: None,
                role: role.as_str().to_owned(),
                status: MemberStatus::Invited,
                created_at,
            },
        }
    }
}

fn acting_as(reach: Reach) -> ActingAs {
    match reach {
        Reach::Staff => ActingAs::Staff,
        Reach::Member(role) => ActingAs::Member(role),
    }
}

/// Change a member's role.
#[utoipa::path(patch, path = "/api/customers/{id}/members/{user_id}", tag = "members",
    params(("id" = Uuid, Path), ("user_id" = Uuid, Path)), request_body = UpdateMember, security(("bearer" = [])),
    responses((status = 200, body = MemberView), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn update_member(
    State(state): State<AppState>,
    caller: Caller,
    Path((customer_id, user_id)): Path<(Uuid, Uuid)>,
    Json(body): Json<UpdateMember>,
) -> Result<axum::Json<MemberView>, ApiError> {
    authorize(&state, &caller, customer_id, CustomerAction::Read).await?;
    let reach = authorize(&state, &caller, customer_id, CustomerAction::ManageMembers).await?;
    let mut v = Validator::new();
    let role = parse_role(&mut v, &body.role);
    v.finish()?;
    let role = role.unwrap_or(MemberRole::Member);
    let mut tx = state.db.begin().await?;
    let after = billing_members::change_member_role(
        &mut tx,
        &caller.actor,
        acting_as(reach),
        customer_id,
        user_id,
        role,
        state.clock.now(),
    )
    .await?;
    tx.commit().await?;
    state.users.invalidate(user_id);
    Ok(axum::Json(after.into()))
}

/// Remove a member.
#[utoipa::path(delete, path = "/api/customers/{id}/members/{user_id}", tag = "members",
    params(("id" = Uuid, Path), ("user_id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn remove_member(
    State(state): State<AppState>,
    caller: Caller,
    Path((customer_id, user_id)): Path<(Uuid, Uuid)>,
) -> Result<StatusCode, ApiError> {
    authorize(&state, &caller, customer_id, CustomerAction::Read).await?;
    let reach = authorize(&state, &caller, customer_id, CustomerAction::ManageMembers).await?;
    let mut tx = state.db.begin().await?;
    billing_members::remove_member(
        &mut tx,
        &caller.actor,
        acting_as(reach),
        customer_id,
        user_id,
        state.clock.now(),
    )
    .await?;
    tx.commit().await?;
    state.users.invalidate(user_id);
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    /// The audit entries the member operations write hold the API's view.
    #[test]
    fn member_json_is_the_view() {
        let at = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap()
            + chrono::Duration::microseconds(123_456);
        let member = Member {
            user_id: Uuid::now_v7(),
            email: "a@example.com".into(),
            name: "สมชาย".into(),
            role: "owner".into(),
            created_at: at,
        };
        let view = serde_json::to_value(MemberView::from(member.clone())).unwrap();
        assert_eq!(view, billing_members::member_json(&member));
    }
}
