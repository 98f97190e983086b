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
use satang_auth::tokens::new_opaque_token;
use satang_store::audit::{self, Change};
use satang_store::memberships::{self, Member};
use satang_store::{customers, invitations, users};

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
    pub status: std::borrow::Cow<'static, str>,
    pub created_at: DateTime<Utc>,
}

impl From<Member> for MemberView {
    fn from(m: Member) -> Self {
        MemberView {
            user_id: Some(m.user_id),
            email: m.email,
            name: Some(m.name),
            role: m.role,
            status: "active".into(),
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
    guard_member_change(reach, body.user_id == Some(caller.user_id), None, role)?;
    let role = role.map(MemberRole::as_str).unwrap_or("member");
    let user = match (body.user_id, &email) {
        (Some(id), _) => Some(
            users::find_by_id(&state.db, id)
                .await?
                .ok_or_else(|| ApiError::field("user_id", "no user has this id"))?,
        ),
        (None, Some(email)) => users::find_by_email(&state.db, email).await?,
        (None, None) => None,
    };
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    customers::get_in(&mut tx, customer_id)
        .await?
        .filter(|c| c.status != "deleted")
        .ok_or(ApiError::NotFound)?;
    let view = match user {
        Some(user) => MemberView::from(
            memberships::add_member(&mut tx, customer_id, user.id, role, now).await?,
        ),
        None => {
            let email = email.unwrap_or_default();
            // Nobody needs the token: signing up with the invited email is the acceptance.
            let (_token, token_hash) = new_opaque_token();
            invitations::insert(
                &mut tx,
                invitations::NewInvitation {
                    email: &email,
                    user_id: None,
                    customer_id: Some(customer_id),
                    member_role: Some(role),
                    token_hash,
                    created_by: Some(caller.user_id),
                    expires_at: now
                        + TimeDelta::from_std(state.config.invitation_ttl)
                            .unwrap_or(TimeDelta::days(7)),
                },
                now,
            )
            .await?;
            MemberView {
                user_id: None,
                email,
                name: None,
                role: role.to_owned(),
                status: "invited".into(),
                created_at: now,
            }
        }
    };
    audit::record(
        &mut tx,
        &caller.actor,
        Change {
            action: if view.user_id.is_some() {
                "member.added"
            } else {
                "member.invited"
            },
            entity_type: "customer",
            entity_id: customer_id.to_string(),
            before: None,
            after: serde_json::to_value(&view).ok(),
        },
        now,
    )
    .await?;
    tx.commit().await?;
    if let Some(user) = view.user_id {
        state.users.invalidate(user);
    }
    Ok((StatusCode::CREATED, axum::Json(view)))
}

/// A member (not staff) may not grant or take the owner role without being an owner, nor raise
/// their own role: the account stays with the people the owner chose.
fn guard_member_change(
    reach: Reach,
    target_is_self: bool,
    from: Option<&str>,
    to: Option<MemberRole>,
) -> Result<(), ApiError> {
    match reach {
        Reach::Staff => Ok(()),
        Reach::Member(actor) => {
            let from = from.and_then(MemberRole::parse);
            if actor.may_change_member(target_is_self, from, to) {
                Ok(())
            } else {
                Err(ApiError::Forbidden)
            }
        }
    }
}

/// Refuses to leave a customer that has owners without any.
async fn guard_last_owner(
    tx: &mut satang_store::Tx,
    customer_id: Uuid,
    current: &Member,
    new_role: Option<&str>,
) -> Result<(), ApiError> {
    if current.role == "owner"
        && new_role != Some("owner")
        && memberships::count_owners(tx, customer_id).await? <= 1
    {
        return Err(ApiError::Conflict(
            "this is the customer's last owner; make someone else owner first".into(),
        ));
    }
    Ok(())
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
    let parsed = parse_role(&mut v, &body.role);
    v.finish()?;
    let role = parsed.map(MemberRole::as_str).unwrap_or("member");
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let current = memberships::get_member(&mut tx, customer_id, user_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    guard_member_change(
        reach,
        user_id == caller.user_id,
        Some(&current.role),
        parsed,
    )?;
    guard_last_owner(&mut tx, customer_id, &current, Some(role)).await?;
    memberships::set_member_role(&mut tx, customer_id, user_id, role).await?;
    let after = memberships::get_member(&mut tx, customer_id, user_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let (before, after) = (MemberView::from(current), MemberView::from(after));
    audit::record(
        &mut tx,
        &caller.actor,
        Change {
            action: "member.updated",
            entity_type: "customer",
            entity_id: customer_id.to_string(),
            before: serde_json::to_value(&before).ok(),
            after: serde_json::to_value(&after).ok(),
        },
        now,
    )
    .await?;
    tx.commit().await?;
    state.users.invalidate(user_id);
    Ok(axum::Json(after))
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
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let current = memberships::get_member(&mut tx, customer_id, user_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    guard_member_change(reach, user_id == caller.user_id, Some(&current.role), None)?;
    guard_last_owner(&mut tx, customer_id, &current, None).await?;
    memberships::remove_member(&mut tx, customer_id, user_id).await?;
    audit::record(
        &mut tx,
        &caller.actor,
        Change {
            action: "member.removed",
            entity_type: "customer",
            entity_id: customer_id.to_string(),
            before: serde_json::to_value(MemberView::from(current)).ok(),
            after: None,
        },
        now,
    )
    .await?;
    tx.commit().await?;
    state.users.invalidate(user_id);
    Ok(StatusCode::NO_CONTENT)
}
