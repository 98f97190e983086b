//! Signing in and out, the first-run page that creates the first administrator, and accepting
//! an invitation (the link `POST /api/users` and member invitations send).

use std::collections::BTreeMap;
use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query};
use axum::http::Method;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use serde::Deserialize;

use satang_api::error::{ApiError, Validator};
use satang_billing::users as billing_users;
use satang_store::audit::Actor;
use satang_store::users;

use super::{Chrome, local_path};
use crate::session::{CsrfForm, Ctx, TokenPair};
use crate::{Console, Failure, render};

pub fn router() -> Router<Arc<Console>> {
    Router::new()
        .route("/login", get(login_page).post(login))
        .route("/logout", axum::routing::post(logout))
        .route("/setup", get(setup_page).post(setup))
        .route(
            "/invitations/{token}",
            get(invitation_page).post(accept_invitation),
        )
}

/// Field errors translated for the person: the API's messages are English sentences; the
/// known ones have a catalogue entry, the rest are shown as they are.
pub fn field_errors(
    tr: &crate::i18n::Tr,
    errors: &BTreeMap<String, Vec<String>>,
) -> BTreeMap<String, String> {
    errors
        .iter()
        .map(|(field, messages)| {
            let text: Vec<String> = messages
                .iter()
                .map(|m| translate_api_message(tr, m))
                .collect();
            (field.clone(), text.join(" "))
        })
        .collect()
}

fn translate_api_message(tr: &crate::i18n::Tr, message: &str) -> String {
    let key: String = message
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    let key = format!("api-{}", key.trim_matches('-'));
    if tr.has(&key) {
        tr.t(&key)
    } else {
        message.to_owned()
    }
}

/// The values and errors of a form being filled in again after a refusal.
#[derive(Default)]
pub struct FormState {
    pub values: BTreeMap<String, String>,
    pub errors: BTreeMap<String, String>,
    /// A message about the whole form (wrong password, conflict).
    pub message: Option<String>,
}

impl FormState {
    pub fn value(&self, field: &str) -> &str {
        self.values.get(field).map_or("", String::as_str)
    }

    pub fn error(&self, field: &str) -> Option<&str> {
        self.errors.get(field).map(String::as_str)
    }

    pub fn has_errors(&self) -> bool {
        !self.errors.is_empty() || self.message.is_some()
    }
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    c: Chrome,
    next: String,
    form: FormState,
}

#[derive(Deserialize)]
struct NextQuery {
    #[serde(default)]
    next: String,
}

pub async fn needs_first_admin(ctx: &Ctx) -> Result<bool, Failure> {
    let admins = users::count_admins(&ctx.console.app.db)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "cannot count administrators");
            Failure::Internal
        })?;
    Ok(admins == 0)
}

async fn login_page(ctx: Ctx, Query(q): Query<NextQuery>) -> Result<Response, Failure> {
    if needs_first_admin(&ctx).await? {
        return Ok(Redirect::to("/setup").into_response());
    }
    Ok(render(&LoginPage {
        c: ctx.chrome("login", None),
        next: local_path(&q.next).to_owned(),
        form: FormState::default(),
    }))
}

#[derive(Deserialize)]
struct LoginForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    next: String,
}

async fn login(mut ctx: Ctx, CsrfForm(form): CsrfForm<LoginForm>) -> Result<Response, Failure> {
    let reply = ctx
        .send(
            Method::POST,
            "/api/auth/login",
            Some(serde_json::json!({ "email": form.email, "password": form.password })),
            None,
        )
        .await;
    if reply.ok() {
        let pair: TokenPair = reply.json()?;
        ctx.sign_in(pair);
        return Ok(Redirect::to(local_path(&form.next)).into_response());
    }
    let tr = ctx.tr();
    let message = match reply.status.as_u16() {
        429 => tr.t("login-too-many"),
        401 | 422 | 400 => tr.t("login-failed"),
        _ => return Err(Failure::from_status(reply.status, "/login")),
    };
    let mut values = BTreeMap::new();
    values.insert("email".to_owned(), form.email);
    let mut page = render(&LoginPage {
        c: ctx.chrome("login", None),
        next: local_path(&form.next).to_owned(),
        form: FormState {
            values,
            errors: BTreeMap::new(),
            message: Some(message),
        },
    });
    *page.status_mut() = reply.status;
    Ok(page)
}

async fn logout(mut ctx: Ctx, CsrfForm(_): CsrfForm<serde_json::Value>) -> Response {
    if let Some(tokens) = ctx.tokens.clone() {
        // Revokes the refresh token's family; the access token ends with its short life.
        let _ = ctx
            .send(
                Method::POST,
                "/api/auth/logout",
                Some(serde_json::json!({ "refresh_token": tokens.refresh })),
                None,
            )
            .await;
    }
    ctx.sign_out();
    Redirect::to("/login").into_response()
}

#[derive(Template)]
#[template(path = "setup.html")]
struct SetupPage {
    c: Chrome,
    form: FormState,
}

async fn setup_page(ctx: Ctx) -> Result<Response, Failure> {
    if !needs_first_admin(&ctx).await? {
        return Ok(Redirect::to("/login").into_response());
    }
    Ok(render(&SetupPage {
        c: ctx.chrome("setup", None),
        form: FormState::default(),
    }))
}

#[derive(Deserialize)]
struct SetupForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

/// Creates the first administrator — only while there is none (`create_first_admin` decides it
/// in one transaction, so two people racing on a fresh install cannot both become admin).
async fn setup(mut ctx: Ctx, CsrfForm(form): CsrfForm<SetupForm>) -> Result<Response, Failure> {
    if !needs_first_admin(&ctx).await? {
        return Ok(Redirect::to("/login").into_response());
    }
    let mut v = Validator::new();
    let name = v.text("name", &form.name, 200);
    let email = v.email("email", &form.email);
    if let Err(message) = ctx
        .console
        .app
        .check_password_strength(&form.password, &[&email, &name])
        .await
    {
        v.add("password", message);
    }
    if let Err(ApiError::Validation { errors, .. }) = v.finish() {
        let tr = ctx.tr();
        let mut values = BTreeMap::new();
        values.insert("name".to_owned(), form.name.clone());
        values.insert("email".to_owned(), form.email.clone());
        let mut page = render(&SetupPage {
            c: ctx.chrome("setup", None),
            form: FormState {
                values,
                errors: field_errors(&tr, &errors),
                message: None,
            },
        });
        *page.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
        return Ok(page);
    }
    let app = ctx.console.app.clone();
    let hash = app
        .hash_password(form.password.clone())
        .await
        .map_err(|_| Failure::Internal)?;
    let actor = Actor {
        ip: ctx.peer.map(|p| p.ip().to_string()),
        ..Actor::default()
    };
    let created =
        billing_users::create_first_admin(&app.db, &actor, &email, &name, hash, app.clock.now())
            .await;
    match created {
        Ok(Some(_)) => {}
        // Someone else was first, or already holds this email: they sign in.
        Ok(None) | Err(satang_billing::Error::InvalidState(_)) => {
            return Ok(Redirect::to("/login").into_response());
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot create the first administrator");
            return Err(Failure::Internal);
        }
    }
    let reply = ctx
        .send(
            Method::POST,
            "/api/auth/login",
            Some(serde_json::json!({ "email": email, "password": form.password })),
            None,
        )
        .await;
    let pair: TokenPair = ctx.expect(reply)?;
    ctx.sign_in(pair);
    Ok(Redirect::to("/customers").into_response())
}

#[derive(Template)]
#[template(path = "invitation.html")]
struct InvitationPage {
    c: Chrome,
    token: String,
    form: FormState,
}

async fn invitation_page(ctx: Ctx, Path(token): Path<String>) -> Response {
    render(&InvitationPage {
        c: ctx.chrome("login", None),
        token,
        form: FormState::default(),
    })
}

#[derive(Deserialize)]
struct InvitationForm {
    #[serde(default)]
    password: String,
}

async fn accept_invitation(
    mut ctx: Ctx,
    Path(token): Path<String>,
    CsrfForm(form): CsrfForm<InvitationForm>,
) -> Result<Response, Failure> {
    let reply = ctx
        .send(
            Method::POST,
            "/api/auth/invitations/accept",
            Some(serde_json::json!({ "token": token, "password": form.password })),
            None,
        )
        .await;
    if reply.ok() {
        let pair: TokenPair = reply.json()?;
        ctx.sign_in(pair);
        return Ok(Redirect::to("/").into_response());
    }
    let tr = ctx.tr();
    let problem = reply.problem();
    let form = FormState {
        values: BTreeMap::new(),
        errors: field_errors(&tr, &problem.errors),
        message: problem
            .errors
            .is_empty()
            .then(|| tr.t("invitation-invalid")),
    };
    let mut page = render(&InvitationPage {
        c: ctx.chrome("login", None),
        token,
        form,
    });
    *page.status_mut() = reply.status;
    Ok(page)
}
