//! The auth service (SPEC §2.1): signup, login, refresh with rotation and reuse detection,
//! logout, the caller's profile, invitation acceptance, and the JWKS.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use satang_auth::tokens::{hash_opaque_token, issue_access_token};
use satang_auth::{Jwks, password};
use satang_billing::sessions::{self, Refreshed, Session};
use satang_billing::users as billing_users;
use satang_store::{invitations, users};

use crate::error::{ApiError, Problem, Validator};
use crate::extract::{AnonymousActor, Caller, Created, Json};
use crate::routes::users::UserView;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(signup))
        .routes(routes!(login))
        .routes(routes!(refresh))
        .routes(routes!(logout))
        .routes(routes!(me))
        .routes(routes!(accept_invitation))
        .routes(routes!(jwks))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignupRequest {
    #[schema(example = "somchai@farm.example")]
    pub email: String,
    /// 8–128 characters, not easily guessed.
    pub password: String,
    #[schema(example = "สมชาย ใจดี")]
    pub name: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptInvitationRequest {
    pub token: String,
    pub password: String,
}

/// A signed-in session: a short-lived access token and a refresh token to get the next one.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AuthResponse {
    pub user: UserView,
    pub access_token: String,
    pub refresh_token: String,
    #[schema(example = "Bearer")]
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: u64,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MembershipView {
    pub customer_id: Uuid,
    pub customer_name: String,
    pub role: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MeResponse {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    pub roles: Vec<String>,
    pub memberships: Vec<MembershipView>,
}

const BAD_CREDENTIALS: &str = "the email or password is incorrect";

/// The API's answer for a login `session` of `user`: its refresh token and a signed access
/// token of the same family.
fn session_response(
    state: &AppState,
    user: &users::User,
    session: Session,
    now: DateTime<Utc>,
) -> Result<AuthResponse, ApiError> {
    let keys = state
        .signing_keys
        .as_ref()
        .ok_or_else(|| ApiError::Internal("this process does not issue tokens".into()))?;
    let access_token = issue_access_token(
        keys,
        user.id,
        session.family_id,
        now,
        state.config.access_token_ttl,
    );
    Ok(AuthResponse {
        user: UserView::from(user.clone()),
        access_token,
        refresh_token: session.refresh_token,
        token_type: "Bearer",
        expires_in: state.config.access_token_ttl.as_secs(),
    })
}

/// How long a refresh token lives.
fn refresh_ttl(state: &AppState) -> TimeDelta {
    TimeDelta::from_std(state.config.refresh_token_ttl).unwrap_or(TimeDelta::days(30))
}

/// Create an account (no staff role; sees only customers it is a member of). Limited per
/// e-mail and per client address, since the answer tells whether an address has an account.
#[utoipa::path(post, path = "/api/auth/signup", tag = "auth", request_body = SignupRequest,
    responses((status = 201, body = AuthResponse), (status = 409, body = Problem), (status = 422, body = Problem), (status = 429, body = Problem)))]
async fn signup(
    State(state): State<AppState>,
    AnonymousActor(actor): AnonymousActor,
    Json(body): Json<SignupRequest>,
) -> Result<Created<AuthResponse>, ApiError> {
    let mut v = Validator::new();
    let email = v.email("email", &body.email);
    let name = v.text("name", &body.name, 200);
    if let Err(message) = state
        .check_password_strength(&body.password, &[&email, &name])
        .await
    {
        v.add("password", message);
    }
    v.finish()?;
    // A refused request says nothing about the address and is not counted; every other attempt
    // is, whether it creates the account or finds it taken.
    let now = state.clock.now();
    let email_key = email.to_lowercase();
    let ip_key = actor.ip.clone().unwrap_or_default();
    state
        .signup_by_ip
        .check(&ip_key, now)
        .map_err(ApiError::RateLimited)?;
    state
        .signup_by_email
        .check(&email_key, now)
        .map_err(ApiError::RateLimited)?;
    state.signup_by_ip.record_failure(&ip_key, now);
    state.signup_by_email.record_failure(&email_key, now);
    let password_hash = state.hash_password(body.password).await?;
    let mut tx = state.db.begin().await?;
    let user = billing_users::sign_up(&mut tx, &actor, &email, &name, password_hash, now).await?;
    let session =
        sessions::open(&mut tx, user.id, Uuid::now_v7(), refresh_ttl(&state), now).await?;
    tx.commit().await?;
    Ok(Created(session_response(&state, &user, session, now)?))
}

/// Sign in with email and password.
#[utoipa::path(post, path = "/api/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = AuthResponse), (status = 401, body = Problem), (status = 429, body = Problem)))]
async fn login(
    State(state): State<AppState>,
    AnonymousActor(actor): AnonymousActor,
    Json(body): Json<LoginRequest>,
) -> Result<axum::Json<AuthResponse>, ApiError> {
    let now = state.clock.now();
    let account_key = body.email.trim().to_lowercase();
    let ip_key = actor.ip.clone().unwrap_or_default();
    if body.email.len() > 254 || body.password.len() > 4 * password::MAX_LENGTH {
        return Err(ApiError::Unauthorized(BAD_CREDENTIALS.into()));
    }
    state
        .login_by_ip
        .check(&ip_key, now)
        .map_err(ApiError::RateLimited)?;
    state
        .login_by_account
        .check(&account_key, now)
        .map_err(ApiError::RateLimited)?;

    let user = users::find_by_email(&state.db, &account_key).await?;
    let stored = user.as_ref().and_then(|u| u.password_hash.clone());
    let ok = state.verify_password(body.password, stored).await?;
    let user = match user {
        Some(user) if ok && !user.disabled => user,
        _ => {
            state.login_by_ip.record_failure(&ip_key, now);
            state.login_by_account.record_failure(&account_key, now);
            return Err(ApiError::Unauthorized(BAD_CREDENTIALS.into()));
        }
    };
    state.login_by_account.reset(&account_key);
    let mut tx = state.db.begin().await?;
    let session = sessions::log_in(&mut tx, &actor, &user, refresh_ttl(&state), now).await?;
    tx.commit().await?;
    Ok(axum::Json(session_response(&state, &user, session, now)?))
}

/// Trade a refresh token for a new pair. The presented token is spent; presenting it again
/// revokes the whole login.
#[utoipa::path(post, path = "/api/auth/refresh", tag = "auth", request_body = RefreshRequest,
    responses((status = 200, body = AuthResponse), (status = 401, body = Problem)))]
async fn refresh(
    State(state): State<AppState>,
    AnonymousActor(actor): AnonymousActor,
    Json(body): Json<RefreshRequest>,
) -> Result<axum::Json<AuthResponse>, ApiError> {
    let invalid =
        || ApiError::Unauthorized("the refresh token is invalid, expired or revoked".into());
    if body.refresh_token.len() > 256 {
        return Err(invalid());
    }
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let refreshed = sessions::refresh(
        &mut tx,
        &actor,
        &body.refresh_token,
        refresh_ttl(&state),
        now,
    )
    .await?;
    tx.commit().await?;
    match refreshed {
        Refreshed::Renewed { user, session } => {
            Ok(axum::Json(session_response(&state, &user, session, now)?))
        }
        Refreshed::Replayed { family_id } => {
            state.users.end_session(family_id);
            Err(invalid())
        }
        Refreshed::Refused => Err(invalid()),
    }
}

/// End a login: its refresh tokens and its access tokens stop working.
#[utoipa::path(post, path = "/api/auth/logout", tag = "auth", request_body = RefreshRequest,
    security(("bearer" = [])), responses((status = 204), (status = 401, body = Problem)))]
async fn logout(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<RefreshRequest>,
) -> Result<StatusCode, ApiError> {
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let ended = sessions::log_out(
        &mut tx,
        &caller.actor,
        caller.user_id,
        &body.refresh_token,
        now,
    )
    .await?;
    tx.commit().await?;
    if let Some(family_id) = ended {
        state.users.end_session(family_id);
    }
    Ok(StatusCode::NO_CONTENT)
}

/// The signed-in user, staff roles and customer memberships.
#[utoipa::path(get, path = "/api/auth/me", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = MeResponse), (status = 401, body = Problem)))]
async fn me(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<axum::Json<MeResponse>, ApiError> {
    let memberships = state.users.memberships(&state.db, caller.user_id).await?;
    Ok(axum::Json(MeResponse {
        id: caller.user_id,
        email: caller.email,
        name: caller.name,
        roles: caller.roles.iter().map(|r| r.as_str().to_owned()).collect(),
        memberships: memberships
            .iter()
            .map(|m| MembershipView {
                customer_id: m.customer_id,
                customer_name: m.customer_name.clone(),
                role: m.role.clone(),
            })
            .collect(),
    }))
}

/// Set a password from an invitation link and sign in.
#[utoipa::path(post, path = "/api/auth/invitations/accept", tag = "auth", request_body = AcceptInvitationRequest,
    responses((status = 200, body = AuthResponse), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn accept_invitation(
    State(state): State<AppState>,
    AnonymousActor(actor): AnonymousActor,
    Json(body): Json<AcceptInvitationRequest>,
) -> Result<axum::Json<AuthResponse>, ApiError> {
    if body.token.len() > 256 {
        return Err(ApiError::NotFound);
    }
    let now = state.clock.now();
    let invitation = invitations::find_open(&state.db, hash_opaque_token(&body.token), now)
        .await?
        .ok_or(ApiError::NotFound)?;
    let user_id = invitation.user_id.ok_or(ApiError::NotFound)?;
    let user = users::find_by_id(&state.db, user_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let mut v = Validator::new();
    if let Err(message) = state
        .check_password_strength(&body.password, &[&user.email, &user.name])
        .await
    {
        v.add("password", message);
    }
    v.finish()?;
    let password_hash = state.hash_password(body.password).await?;
    let mut tx = state.db.begin().await?;
    let user = billing_users::accept_invitation(
        &mut tx,
        &actor,
        invitation.id,
        user_id,
        password_hash,
        now,
    )
    .await?;
    let session =
        sessions::open(&mut tx, user.id, Uuid::now_v7(), refresh_ttl(&state), now).await?;
    tx.commit().await?;
    state.users.invalidate(user.id);
    Ok(axum::Json(session_response(&state, &user, session, now)?))
}

/// The public keys that verify access tokens (RFC 7517).
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "auth",
    responses((status = 200, description = "JSON Web Key Set", content_type = "application/json")))]
async fn jwks(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    let keys: Jwks = state
        .signing_keys
        .as_ref()
        .map(|k| k.jwks())
        .ok_or(ApiError::NotFound)?;
    Ok((
        [(axum::http::header::CACHE_CONTROL, "public, max-age=300")],
        axum::Json(keys),
    ))
}
