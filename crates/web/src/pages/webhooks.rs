//! Webhooks (`/webhooks`, administrators): the endpoints events are delivered to, adding one
//! (its signing secret is shown once, as the API returns it once), removing one, and the recent
//! deliveries of an endpoint with their attempts and last answer.

use std::collections::VecDeque;
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
use satang_api::routes::webhooks::{CreatedEndpoint, DeliveryView, EVENT_TYPES, EndpointView};

use super::auth::FormState;
use super::{Chrome, Fields, delete_then, encode, entered, field, notice_text, refusal};
use crate::session::{CsrfForm, Ctx};
use crate::{Console, Failure, render};

pub fn router() -> Router<Arc<Console>> {
    Router::new()
        .route("/webhooks", get(index).post(create))
        .route("/webhooks/{id}/delete", post(delete))
}

/// How many of an endpoint's latest deliveries the page shows.
const RECENT: usize = 50;

#[derive(Debug, Default, Deserialize)]
pub struct WebhooksQuery {
    /// The endpoint whose deliveries are shown.
    #[serde(default)]
    endpoint: String,
    #[serde(default)]
    dialog: String,
    #[serde(default)]
    notice: String,
}

#[derive(Template)]
#[template(path = "webhooks.html")]
pub struct WebhooksPage {
    pub c: Chrome,
    pub endpoints: Vec<EndpointView>,
    pub selected: Option<EndpointView>,
    /// The selected endpoint's latest deliveries, newest first.
    pub deliveries: Vec<DeliveryView>,
    pub events: &'static [&'static str],
    pub dialog: String,
    pub form: FormState,
    /// A just-created endpoint's secret, shown once.
    pub created: Option<CreatedEndpoint>,
}

impl WebhooksPage {
    pub fn dialog_is(&self, name: &str) -> bool {
        self.dialog == name
    }

    pub fn event_checked(&self, event: &str) -> bool {
        self.form.value(&format!("event_{event}")) == "on"
    }

    pub fn events_text(&self, endpoint: &EndpointView) -> String {
        if endpoint.events.iter().any(|e| e == "*") {
            return self.c.t("webhooks-all-events");
        }
        endpoint.events.join(", ")
    }

    pub fn is_selected(&self, id: impl std::borrow::Borrow<Uuid>) -> bool {
        self.selected.as_ref().is_some_and(|s| s.id == *id.borrow())
    }

    /// "12:30" in Bangkok, beside the date.
    pub fn clock(&self, at: impl std::borrow::Borrow<chrono::DateTime<chrono::Utc>>) -> String {
        super::audit::date_time(&self.c, *at.borrow())
    }
}

async fn index(ctx: Ctx, Query(q): Query<WebhooksQuery>) -> Result<Response, Failure> {
    page(ctx, q, FormState::default(), None, None).await
}

async fn page(
    mut ctx: Ctx,
    query: WebhooksQuery,
    form: FormState,
    created: Option<CreatedEndpoint>,
    status: Option<StatusCode>,
) -> Result<Response, Failure> {
    let me = ctx.staff().await?;
    if !me.is_admin() {
        return Err(Failure::Forbidden);
    }
    let list: Page<EndpointView> = ctx.get("/api/webhook-endpoints?limit=200").await?;
    let selected_id = Uuid::parse_str(&query.endpoint).ok();
    let selected = list
        .data
        .iter()
        .find(|e| Some(e.id) == selected_id)
        .map(|e| EndpointView {
            id: e.id,
            url: e.url.clone(),
            description: e.description.clone(),
            events: e.events.clone(),
            active: e.active,
            created_at: e.created_at,
            updated_at: e.updated_at,
        });
    let deliveries = match &selected {
        Some(e) => recent_deliveries(&mut ctx, e.id).await?,
        None => Vec::new(),
    };
    let mut c = ctx.chrome("webhooks", Some(me.clone()));
    c.notice = notice_text(&c.tr, &query.notice);
    let mut response = render(&WebhooksPage {
        c,
        endpoints: list.data,
        selected,
        deliveries,
        events: &EVENT_TYPES,
        dialog: query.dialog,
        form,
        created,
    });
    if let Some(status) = status {
        *response.status_mut() = status;
    }
    Ok(response)
}

/// The latest deliveries of an endpoint. The API lists them oldest first; the pages are read
/// to the end (at most ten of 200) keeping the last [`RECENT`].
async fn recent_deliveries(ctx: &mut Ctx, id: Uuid) -> Result<Vec<DeliveryView>, Failure> {
    let mut recent: VecDeque<DeliveryView> = VecDeque::new();
    let mut cursor: Option<String> = None;
    for _ in 0..10 {
        let mut uri = format!("/api/webhook-endpoints/{id}/deliveries?limit=200");
        if let Some(c) = &cursor {
            uri.push_str(&format!("&cursor={}", encode(c)));
        }
        let page: Page<DeliveryView> = ctx.get(uri).await?;
        for d in page.data {
            if recent.len() == RECENT {
                recent.pop_front();
            }
            recent.push_back(d);
        }
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    Ok(recent.into_iter().rev().collect())
}

/// `POST /webhooks`: a new endpoint; the answer shows its secret once.
async fn create(mut ctx: Ctx, CsrfForm(fields): CsrfForm<Fields>) -> Result<Response, Failure> {
    let events: Vec<&str> = if field(&fields, "all_events") == "on" {
        vec!["*"]
    } else {
        EVENT_TYPES
            .iter()
            .copied()
            .filter(|e| field(&fields, &format!("event_{e}")) == "on")
            .collect()
    };
    let description = field(&fields, "description");
    let mut body = json!({ "url": field(&fields, "url"), "events": events });
    if !description.is_empty() {
        body["description"] = json!(description);
    }
    let reply = ctx
        .send(
            Method::POST,
            "/api/webhook-endpoints",
            Some(body),
            fields.get("_key").map(String::as_str),
        )
        .await;
    if reply.ok() {
        let created: CreatedEndpoint = reply.json()?;
        let query = WebhooksQuery {
            endpoint: created.endpoint.id.to_string(),
            notice: "webhook-created".to_owned(),
            ..WebhooksQuery::default()
        };
        return page(ctx, query, FormState::default(), Some(created), None).await;
    }
    let form = refusal(&ctx, entered(&fields), &reply)?;
    let query = WebhooksQuery {
        dialog: "new-endpoint".to_owned(),
        ..WebhooksQuery::default()
    };
    let status = reply.status;
    page(ctx, query, form, None, Some(status)).await
}

async fn delete(
    mut ctx: Ctx,
    Path(id): Path<Uuid>,
    CsrfForm(_): CsrfForm<Fields>,
) -> Result<Response, Failure> {
    match delete_then(
        &mut ctx,
        format!("/api/webhook-endpoints/{id}"),
        "/webhooks?notice=webhook-deleted",
    )
    .await?
    {
        Ok(done) => Ok(done),
        Err((form, status)) => page(ctx, WebhooksQuery::default(), form, None, Some(status)).await,
    }
}
