//! Staff user administration (SPEC §2.2): admins list, create, change and disable users.

use axum::extract::State;
use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use satang_auth::tokens::new_opaque_token;
use satang_auth::{Permission, StaffRole, password};
use satang_store::audit::{self, Change};
use satang_store::{invitations, refresh_tokens, users};

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

fn parse_roles(v: &mut Validator, roles: &[String]) -> Vec<String> {
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
    parsed.into_iter().map(|r| r.as_str().to_owned()).collect()
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
        && let Err(message) = password::check_strength(pw, &[&email, &name])
    {
        v.add("password", message);
    }
    v.finish()?;
    let password_hash = match body.password {
        Some(pw) => Some(state.hash_password(pw).await?),
        None => None,
    };
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let invite = password_hash.is_none();
    let user = users::insert(
        &mut tx,
        users::NewUser {
            email: &email,
            name: &name,
            password_hash,
            roles,
        },
        now,
    )
    .await
    .map_err(|e| match e {
        satang_store::Error::Conflict(_) => {
            ApiError::Conflict("a user with this email already exists".into())
        }
        other => other.into(),
    })?;
    let invitation = if invite {
        let (token, token_hash) = new_opaque_token();
        let expires_at =
            now + TimeDelta::from_std(state.config.invitation_ttl).unwrap_or(TimeDelta::days(7));
        invitations::insert(
            &mut tx,
            invitations::NewInvitation {
                email: &email,
                user_id: Some(user.id),
                customer_id: None,
                member_role: None,
                token_hash,
                created_by: Some(caller.user_id),
                expires_at,
            },
            now,
        )
        .await?;
        Some(Invitation {
            url: format!(
                "{}/invitations/{token}",
                state.config.public_url.trim_end_matches('/')
            ),
            token,
            expires_at,
        })
    } else {
        None
    };
    let view = UserView::from(user);
    audit::record(
        &mut tx,
        &caller.actor,
        Change {
            action: "user.created",
            entity_type: "user",
            entity_id: view.id.to_string(),
            before: None,
            after: Some(serde_json::to_value(&view).unwrap_or_default()),
        },
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(Created(CreatedUser {
        user: view,
        invitation,
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
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let before = users::lock_by_id(&mut tx, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let was_admin = !before.disabled && before.roles.0.iter().any(|r| r == "admin");
    let stays_admin = !body.disabled.unwrap_or(before.disabled)
        && roles
            .as_ref()
            .unwrap_or(&before.roles.0)
            .iter()
            .any(|r| r == "admin");
    if was_admin && !stays_admin && users::count_admins_in(&mut tx).await? <= 1 {
        return Err(ApiError::Conflict(
            "this is the last administrator; make someone else admin first".into(),
        ));
    }
    let after = users::update(
        &mut tx,
        id,
        users::UserChanges {
            name,
            roles,
            disabled: body.disabled,
            password_hash: None,
        },
        now,
    )
    .await?;
    if body.disabled == Some(true) && !before.disabled {
        refresh_tokens::revoke_user(&mut tx, id, now).await?;
    }
    let before_view = UserView::from(before);
    let after_view = UserView::from(after);
    audit::record(
        &mut tx,
        &caller.actor,
        Change {
            action: if body.disabled == Some(true) && !before_view.disabled {
                "user.disabled"
            } else {
                "user.updated"
            },
            entity_type: "user",
            entity_id: id.to_string(),
            before: Some(serde_json::to_value(&before_view).unwrap_or_default()),
            after: Some(serde_json::to_value(&after_view).unwrap_or_default()),
        },
        now,
    )
    .await?;
    tx.commit().await?;
    state.users.invalidate(id);
    Ok(axum::Json(after_view))
}
