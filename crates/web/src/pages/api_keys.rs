//! API keys (`/api-keys`, administrators): the keys of the seller's own software with their
//! scopes and last use, creating one (its secret is shown once, as the API returns it once) and
//! revoking one.

use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use satang_api::pagination::Page;
use satang_api::routes::api_keys::{ApiKeyView, CreatedApiKey};
use satang_auth::ApiScope;

use super::auth::FormState;
use super::{Chrome, Fields, delete_then, entered, field, notice_text, refusal};
use crate::session::{CsrfForm, Ctx};
use crate::{Console, Failure, render};

pub fn router() -> Router<Arc<Console>> {
    Router::new()
        .route("/api-keys", get(index).post(create))
        .route("/api-keys/{id}/revoke", post(revoke))
}

#[derive(Debug, Default, Deserialize)]
pub struct ApiKeysQuery {
    #[serde(default)]
    dialog: String,
    #[serde(default)]
    notice: String,
}

#[derive(Template)]
#[template(path = "api_keys.html")]
pub struct ApiKeysPage {
    pub c: Chrome,
    pub keys: Vec<ApiKeyView>,
    pub scopes: Vec<&'static str>,
    pub dialog: String,
    pub form: FormState,
    /// A just-created key with its secret, shown once.
    pub created: Option<CreatedApiKey>,
}

impl ApiKeysPage {
    pub fn dialog_is(&self, name: &str) -> bool {
        self.dialog == name
    }

    pub fn scope_checked(&self, scope: &str) -> bool {
        self.form.value(&format!("scope_{scope}")) == "on"
    }

    /// When the key was last used (to the minute it is recorded), or "never".
    pub fn last_used(&self, key: &ApiKeyView) -> String {
        match key.last_used_at {
            Some(at) => super::audit::date_time(&self.c, at),
            None => self.c.t("api-keys-never-used"),
        }
    }
}

async fn index(ctx: Ctx, Query(q): Query<ApiKeysQuery>) -> Result<Response, Failure> {
    page(ctx, q, FormState::default(), None, None).await
}

async fn page(
    mut ctx: Ctx,
    query: ApiKeysQuery,
    form: FormState,
    created: Option<CreatedApiKey>,
    status: Option<StatusCode>,
) -> Result<Response, Failure> {
    let me = ctx.staff().await?;
    if !me.is_admin() {
        return Err(Failure::Forbidden);
    }
    let list: Page<ApiKeyView> = ctx.get("/api/api-keys?limit=200").await?;
    let mut c = ctx.chrome("api-keys", Some(me.clone()));
    c.notice = notice_text(&c.tr, &query.notice);
    let mut response = render(&ApiKeysPage {
        c,
        keys: list.data,
        scopes: ApiScope::ALL.iter().map(|s| s.as_str()).collect(),
        dialog: query.dialog,
        form,
        created,
    });
    if let Some(status) = status {
        *response.status_mut() = status;
    }
    Ok(response)
}

/// `POST /api-keys`: a new key; the answer shows its secret once.
async fn create(mut ctx: Ctx, CsrfForm(fields): CsrfForm<Fields>) -> Result<Response, Failure> {
    let scopes: Vec<&str> = ApiScope::ALL
        .iter()
        .map(|s| s.as_str())
        .filter(|s| field(&fields, &format!("scope_{s}")) == "on")
        .collect();
    let body = json!({ "name": field(&fields, "name"), "scopes": scopes });
    let reply = ctx
        .send(
            Method::POST,
            "/api/api-keys",
            Some(body),
            fields.get("_key").map(String::as_str),
        )
        .await;
    if reply.ok() {
        let created: CreatedApiKey = reply.json()?;
        let query = ApiKeysQuery {
            notice: "api-key-created".to_owned(),
            ..ApiKeysQuery::default()
        };
        return page(ctx, query, FormState::default(), Some(created), None).await;
    }
    let form = refusal(&ctx, entered(&fields), &reply)?;
    let query = ApiKeysQuery {
        dialog: "new-key".to_owned(),
        ..ApiKeysQuery::default()
    };
    let status = reply.status;
    page(ctx, query, form, None, Some(status)).await
}

async fn revoke(
    mut ctx: Ctx,
    Path(id): Path<Uuid>,
    CsrfForm(_): CsrfForm<Fields>,
) -> Result<Response, Failure> {
    match delete_then(
        &mut ctx,
        format!("/api/api-keys/{id}"),
        "/api-keys?notice=api-key-revoked",
    )
    .await?
    {
        Ok(done) => Ok(done),
        Err((form, status)) => page(ctx, ApiKeysQuery::default(), form, None, Some(status)).await,
    }
}
