//! Users (`/users`, administrators): the staff and member accounts, inviting a staff member
//! with roles (the API issues a one-time invitation link, shown once), changing roles, and
//! disabling or enabling an account (a disabled person's sessions end at once).

use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use satang_api::pagination::Page;
use satang_api::routes::users::{CreatedUser, UserView};

use super::auth::FormState;
use super::{Chrome, Fields, encode, entered, field, notice_text, refusal};
use crate::session::{CsrfForm, Ctx};
use crate::{Console, Failure, render};

pub fn router() -> Router<Arc<Console>> {
    Router::new()
        .route("/users", get(index).post(invite))
        .route("/users/{id}/roles", post(set_roles))
        .route("/users/{id}/{action}", post(set_disabled))
}

pub const ROLES: [&str; 4] = ["admin", "billing", "support", "viewer"];

#[derive(Debug, Default, Deserialize)]
pub struct UsersQuery {
    #[serde(default)]
    cursor: String,
    #[serde(default)]
    dialog: String,
    #[serde(default)]
    notice: String,
}

#[derive(Template)]
#[template(path = "users.html")]
pub struct UsersPage {
    pub c: Chrome,
    pub me: Uuid,
    pub users: Vec<UserView>,
    pub cursor: String,
    pub next_cursor: Option<String>,
    pub dialog: String,
    pub form: FormState,
    /// The link of a just-invited person, shown once.
    pub invitation: Option<Invited>,
}

/// Who was just invited and the link that lets them choose a password.
pub struct Invited {
    pub email: String,
    pub url: String,
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

impl UsersPage {
    pub fn dialog_is(&self, name: &str) -> bool {
        self.dialog == name
    }

    pub fn has_role(&self, user: &UserView, role: &str) -> bool {
        user.roles.iter().any(|r| r == role)
    }

    /// Whether the invite form (shown again after a refusal) had `role` ticked.
    pub fn role_checked(&self, role: &str) -> bool {
        self.form.value(&format!("role_{role}")) == "on"
    }

    pub fn next_page(&self) -> Option<String> {
        self.next_cursor
            .as_ref()
            .map(|c| format!("/users?cursor={}", encode(c)))
    }

    pub fn roles_text(&self, user: &UserView) -> String {
        if user.roles.is_empty() {
            return self.c.t("users-no-role");
        }
        user.roles
            .iter()
            .map(|r| self.c.tk("role", r))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

async fn index(ctx: Ctx, Query(q): Query<UsersQuery>) -> Result<Response, Failure> {
    page(ctx, q, FormState::default(), None, None).await
}

async fn page(
    mut ctx: Ctx,
    query: UsersQuery,
    form: FormState,
    invitation: Option<Invited>,
    status: Option<StatusCode>,
) -> Result<Response, Failure> {
    let me = ctx.staff().await?;
    if !me.is_admin() {
        return Err(Failure::Forbidden);
    }
    let mut uri = "/api/users?limit=50".to_owned();
    if !query.cursor.is_empty() {
        uri.push_str(&format!("&cursor={}", encode(&query.cursor)));
    }
    let list: Page<UserView> = ctx.get(uri).await?;
    let mut c = ctx.chrome("users", Some(me.clone()));
    c.notice = notice_text(&c.tr, &query.notice);
    let mut response = render(&UsersPage {
        c,
        me: me.id,
        users: list.data,
        cursor: query.cursor,
        next_cursor: list.next_cursor,
        dialog: query.dialog,
        form,
        invitation,
    });
    if let Some(status) = status {
        *response.status_mut() = status;
    }
    Ok(response)
}

/// The roles ticked in a form (`role_admin=on` …).
fn ticked_roles(fields: &Fields) -> Vec<&'static str> {
    ROLES
        .iter()
        .copied()
        .filter(|r| field(fields, &format!("role_{r}")) == "on")
        .collect()
}

/// `POST /users`: invites a staff member; the answer shows the invitation link once.
async fn invite(mut ctx: Ctx, CsrfForm(fields): CsrfForm<Fields>) -> Result<Response, Failure> {
    let body = json!({
        "email": field(&fields, "email"),
        "name": field(&fields, "name"),
        "roles": ticked_roles(&fields),
    });
    let reply = ctx
        .send(
            Method::POST,
            "/api/users",
            Some(body),
            fields.get("_key").map(String::as_str),
        )
        .await;
    if reply.ok() {
        let created: CreatedUser = reply.json()?;
        let query = UsersQuery {
            notice: "user-invited".to_owned(),
            ..UsersQuery::default()
        };
        let invitation = created.invitation.map(|i| Invited {
            email: created.user.email,
            url: i.url,
            expires_at: i.expires_at,
        });
        return page(ctx, query, FormState::default(), invitation, None).await;
    }
    let form = refusal(&ctx, entered(&fields), &reply)?;
    let query = UsersQuery {
        dialog: "invite".to_owned(),
        ..UsersQuery::default()
    };
    let status = reply.status;
    page(ctx, query, form, None, Some(status)).await
}

async fn update(
    mut ctx: Ctx,
    id: Uuid,
    body: serde_json::Value,
    dialog: String,
    notice: &str,
) -> Result<Response, Failure> {
    let reply = ctx
        .send(Method::PATCH, format!("/api/users/{id}"), Some(body), None)
        .await;
    if reply.ok() {
        return Ok(Redirect::to(&format!("/users?notice={notice}")).into_response());
    }
    let form = refusal(&ctx, Fields::new(), &reply)?;
    let query = UsersQuery {
        dialog,
        ..UsersQuery::default()
    };
    let status = reply.status;
    page(ctx, query, form, None, Some(status)).await
}

async fn set_roles(
    ctx: Ctx,
    Path(id): Path<Uuid>,
    CsrfForm(fields): CsrfForm<Fields>,
) -> Result<Response, Failure> {
    let body = json!({ "roles": ticked_roles(&fields) });
    update(ctx, id, body, format!("roles-{id}"), "user-roles-saved").await
}

async fn set_disabled(
    ctx: Ctx,
    Path((id, action)): Path<(Uuid, String)>,
    CsrfForm(_): CsrfForm<Fields>,
) -> Result<Response, Failure> {
    let disabled = match action.as_str() {
        "disable" => true,
        "enable" => false,
        _ => return Err(Failure::NotFound),
    };
    let notice = if disabled {
        "user-disabled"
    } else {
        "user-enabled"
    };
    update(
        ctx,
        id,
        json!({ "disabled": disabled }),
        String::new(),
        notice,
    )
    .await
}
