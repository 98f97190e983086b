//! Audit log (`/audit`, staff with the audit right): every recorded change, newest first,
//! filtered by entity type and id, with who did it and the before and after of the change.

use std::collections::HashMap;
use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::Query;
use axum::http::{Method, StatusCode};
use axum::response::Response;
use axum::routing::get;
use chrono::{DateTime, Timelike, Utc};
use serde::Deserialize;
use uuid::Uuid;

use satang_api::pagination::Page;
use satang_api::routes::audit::AuditEventView;
use satang_api::routes::users::UserView;

use super::{Chrome, encode};
use crate::client::ApiRequest;
use crate::session::Ctx;
use crate::{Console, Failure, render};

pub fn router() -> Router<Arc<Console>> {
    Router::new().route("/audit", get(index))
}

const PAGE_SIZE: usize = 50;

#[derive(Debug, Default, Deserialize)]
pub struct AuditQuery {
    #[serde(default)]
    pub entity_type: String,
    #[serde(default)]
    pub entity_id: String,
    #[serde(default)]
    pub cursor: String,
}

#[derive(Template)]
#[template(path = "audit.html")]
pub struct AuditPage {
    pub c: Chrome,
    pub query: AuditQuery,
    pub events: Vec<AuditEventView>,
    pub next_cursor: Option<String>,
    /// Names of the people who acted, when the signed-in person may read users.
    pub actors: HashMap<Uuid, String>,
    /// The filter was refused by the API (too long).
    pub bad_filter: bool,
}

/// A moment as its Bangkok date and time of day: "24 พ.ย. 2569 14:05".
pub fn date_time(c: &Chrome, at: DateTime<Utc>) -> String {
    let bangkok = at + chrono::TimeDelta::hours(7);
    format!(
        "{} {:02}:{:02}",
        c.time(at),
        bangkok.hour(),
        bangkok.minute()
    )
}

/// The message key naming an audit action: `audit-action-` and the action, `.` as `-`
/// (Fluent keys have no dots).
pub fn action_key(action: &str) -> String {
    format!("audit-action-{}", action.replace('.', "-"))
}

impl AuditPage {
    /// The entity types the filter offers: every type the log holds.
    pub fn entity_types(&self) -> &'static [&'static str] {
        satang_store::audit::ENTITY_TYPES
    }

    /// An action in words ("Signed in"); one the catalogue does not know yet, readably.
    pub fn action_label(&self, e: &AuditEventView) -> String {
        let key = action_key(&e.action);
        if self.c.tr.has(&key) {
            self.c.t(&key)
        } else {
            tracing::warn!(key, lang = self.c.lang, "missing console message");
            crate::format::readable_code(&e.action)
        }
    }

    pub fn when(&self, at: impl std::borrow::Borrow<DateTime<Utc>>) -> String {
        date_time(&self.c, *at.borrow())
    }

    pub fn actor(&self, e: &AuditEventView) -> String {
        if let Some(name) = &e.actor_api_key_name {
            return self.c.t1("audit-api-key", "name", name);
        }
        match e.actor_id {
            None => self.c.t("audit-system"),
            Some(id) => self
                .actors
                .get(&id)
                .cloned()
                .unwrap_or_else(|| id.to_string()),
        }
    }

    /// Where an entity can be seen in the console, when it has a page.
    pub fn entity_link(&self, e: &AuditEventView) -> Option<String> {
        match e.entity_type.as_str() {
            "customer" => Some(format!("/customers/{}", e.entity_id)),
            "invoice" if e.action != "invoice.deleted" => {
                Some(format!("/invoices/{}", e.entity_id))
            }
            _ => None,
        }
    }

    /// A link listing only this entity's events.
    pub fn entity_filter(&self, e: &AuditEventView) -> String {
        format!(
            "/audit?entity_type={}&entity_id={}",
            encode(&e.entity_type),
            encode(&e.entity_id)
        )
    }

    pub fn pretty(&self, value: &Option<serde_json::Value>) -> String {
        value
            .as_ref()
            .and_then(|v| serde_json::to_string_pretty(v).ok())
            .unwrap_or_else(|| "—".to_owned())
    }

    pub fn first_page(&self) -> Option<String> {
        (!self.query.cursor.is_empty()).then(|| {
            format!(
                "/audit?entity_type={}&entity_id={}",
                encode(&self.query.entity_type),
                encode(&self.query.entity_id)
            )
        })
    }

    pub fn next_page(&self) -> Option<String> {
        let cursor = self.next_cursor.as_ref()?;
        Some(format!(
            "/audit?entity_type={}&entity_id={}&cursor={}",
            encode(&self.query.entity_type),
            encode(&self.query.entity_id),
            encode(cursor)
        ))
    }
}

async fn index(mut ctx: Ctx, Query(query): Query<AuditQuery>) -> Result<Response, Failure> {
    let me = ctx.staff().await?;
    let mut uri = format!("/api/audit-events?limit={PAGE_SIZE}");
    for (name, value) in [
        ("entity_type", query.entity_type.trim()),
        ("entity_id", query.entity_id.trim()),
        ("cursor", query.cursor.as_str()),
    ] {
        if !value.is_empty() {
            uri.push_str(&format!("&{name}={}", encode(value)));
        }
    }
    let reply = ctx.api(ApiRequest::new(Method::GET, uri)).await;
    // A filter the API refuses (too long, a stale cursor) shows an empty list and says so.
    let (list, bad_filter) = if reply.status == StatusCode::BAD_REQUEST {
        (
            Page {
                data: Vec::new(),
                next_cursor: None,
            },
            true,
        )
    } else {
        (ctx.expect::<Page<AuditEventView>>(reply)?, false)
    };
    let mut actors = HashMap::new();
    if me.is_admin() {
        let users: Page<UserView> = ctx.get("/api/users?limit=200").await?;
        actors.extend(users.data.into_iter().map(|u| (u.id, u.name)));
    }
    actors.insert(me.id, me.name.clone());
    let page = AuditPage {
        c: ctx.chrome("audit", Some(me)),
        query,
        events: list.data,
        next_cursor: list.next_cursor,
        actors,
        bad_filter,
    };
    Ok(render(&page))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::i18n::{Lang, Tr};

    /// Every entity type and action the audit log can hold (the store's lists, which every
    /// write is checked against in debug builds) has its words in both languages.
    #[test]
    fn every_entity_type_and_action_has_a_message() {
        for lang in [Lang::Th, Lang::En] {
            let tr = Tr::new(lang);
            for entity in satang_store::audit::ENTITY_TYPES {
                let key = format!("entity-{entity}");
                assert!(tr.has(&key), "{key} is missing in {}", lang.code());
            }
            for action in satang_store::audit::ACTIONS {
                let key = action_key(action);
                assert!(tr.has(&key), "{key} is missing in {}", lang.code());
            }
        }
    }
}
