//! Staff user administration (SPEC §2.2): admins list, create, change and disable users.

use axum::extract::State;
use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use satang_auth::{Permission, StaffRole};
use satang_billing::users::{self as billing_users, CreatedBy, NewStaffUser, UserUpdate};
use satang_store::users;

use crate::error::{ApiError, Problem, Validator};
use crate::extract::{Caller, Created, Json, Path, Query};
use crate::pagination::{Page, PageParams};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_users, create_user))
        .routes(routes!(get_user, update_user))
}

/// A user as the API shows it (never the password hash).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct UserView {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    /// Staff roles: admin, billing, support, viewer. Empty for customer members.
    pub roles: Vec<String>,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<users::User> for UserView {
    fn from(u: users::User) -> Self {
        UserView {
            id: u.id,
            email: u.email,
            name: u.name,
            roles: u.roles.0,
            disabled: u.disabled,
            created_at: u.created_at,
            updated_at: u.updated_at,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUserRequest {
    pub email: String,
    pub name: String,
    /// Without a password the response carries an invitation link to choose one.
    pub password: Option<String>,
    #[serde(default)]
    pub roles: Vec<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUserRequest {
    pub roles: Option<Vec<String>>,
    pub name: Option<String>,
    pub disabled: Option<bool>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Invitation {
    /// Open this link to choose a password (`POST /api/auth/invitations/accept` with the token).
    pub url: String,
    pub token: String,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CreatedUser {
    #[serde(flatten)]
    pub user: UserView,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invitation: Option<Invitation>,
}

fn parse_roles(v: &mut Validator, roles: &[String]) -> Vec<StaffRole> {
    let mut parsed: Vec<StaffRole> = Vec::new();
    for role in roles {
        match StaffRole::parse(role) {
            Some(r) if !parsed.contains(&r) => parsed.push(r),
            Some(_) => {}
            None => v.add(
                "roles",
                format!(
                    "'{}' is not a role; use admin, billing, support or viewer",
                    truncate(role)
                ),
            ),
        }
    }
    parsed.sort();
    parsed
}

fn truncate(s: &str) -> String {
    s.chars().take(40).collect()
}

/// All users, in creation order.
#[utoipa::path(get, path = "/api/users", tag = "users", params(PageParams), security(("bearer" = [])),
    responses((status = 200, body = Page<UserView>), (status = 403, body = Problem)))]
async fn list_users(
    State(state): State<AppState>,
    caller: Caller,
    Query(params): Query<PageParams>,
) -> Result<axum::Json<Page<UserView>>, ApiError> {
    caller.require(Permission::ManageUsers)?;
    let (limit, after) = params.keyset()?;
    let rows = users::list(&state.db, after, limit + 1).await?;
    Ok(axum::Json(Page::from_rows(
        rows,
        limit,
        |u| u.id,
        UserView::from,
    )))
}

/// Create a staff user, with a password or an invitation link.
#[utoipa::path(post, path = "/api/users", tag = "users", request_body = CreateUserRequest, security(("bearer" = [])),
    responses((status = 201, body = CreatedUser), (status = 403, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn create_user(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<CreateUserRequest>,
) -> Result<Created<CreatedUser>, ApiError> {
    caller.require(Permission::ManageUsers)?;
    let mut v = Validator::new();
    let email = v.email("email", &body.email);
    let name = v.text("name", &body.name, 200);
    let roles = parse_roles(&mut v, &body.roles);
    if let Some(pw) = &body.password
        && let Err(message) = state.check_password_strength(pw, &[&email, &name]).await
    {
        v.add("password", message);
    }
    v.finish()?;
    let password_hash = match body.password {
        Some(pw) => Some(state.hash_password(pw).await?),
        None => None,
    };
    let mut tx = state.db.begin().await?;
    let created = billing_users::create_user(
        &mut tx,
        &caller.actor,
        NewStaffUser {
            email,
            name,
            password_hash,
            roles,
        },
        CreatedBy::Administrator,
        TimeDelta::from_std(state.config.invitation_ttl).unwrap_or(TimeDelta::days(7)),
        state.clock.now(),
    )
    .await?;
    tx.commit().await?;
    let public_url = state.config.public_url.trim_end_matches('/');
    Ok(Created(CreatedUser {
        user: created.user.into(),
        invitation: created.invitation.map(|i| Invitation {
            url: format!("{public_url}/invitations/{}", i.token),
            token: i.token,
            expires_at: i.expires_at,
        }),
    }))
}

/// One user.
#[utoipa::path(get, path = "/api/users/{id}", tag = "users", params(("id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 200, body = UserView), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn get_user(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> Result<axum::Json<UserView>, ApiError> {
    caller.require(Permission::ManageUsers)?;
    let user = users::find_by_id(&state.db, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(axum::Json(user.into()))
}

/// Change roles or name, or disable a user (their tokens stop working at once).
#[utoipa::path(patch, path = "/api/users/{id}", tag = "users", params(("id" = Uuid, Path)), request_body = UpdateUserRequest,
    security(("bearer" = [])),
    responses((status = 200, body = UserView), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn update_user(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    Json(body): Json<UpdateUserRequest>,
) -> Result<axum::Json<UserView>, ApiError> {
    caller.require(Permission::ManageUsers)?;
    let mut v = Validator::new();
    let name = body.name.as_deref().map(|n| v.text("name", n, 200));
    let roles = body.roles.as_deref().map(|r| parse_roles(&mut v, r));
    v.finish()?;
    let mut tx = state.db.begin().await?;
    let after = billing_users::update_user(
        &mut tx,
        &caller.actor,
        id,
        UserUpdate {
            name,
            roles,
            disabled: body.disabled,
        },
        state.clock.now(),
    )
    .await?;
    tx.commit().await?;
    state.users.invalidate(id);
    Ok(axum::Json(after.into()))
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    /// The audit entries the user operations write hold the API's view.
    #[test]
    fn user_json_is_the_view() {
        let at = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap()
            + chrono::Duration::microseconds(123_456);
        let mut user = users::User {
            id: Uuid::now_v7(),
            email: "a@example.com".into(),
            name: "สมชาย".into(),
            password_hash: Some("secret".into()),
            roles: Default::default(),
            disabled: false,
            created_at: at,
            updated_at: at,
            version: 1,
        };
        user.roles.push("admin".into());
        let view = serde_json::to_value(UserView::from(user.clone())).unwrap();
        assert_eq!(view, billing_users::user_json(&user));
    }
}
