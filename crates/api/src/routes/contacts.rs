//! Contact people of a customer (SPEC §2.3): roles owner, ops, billing, technical; one primary
//! per role (making a contact primary demotes the previous one).

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use satang_store::audit::{self, Change};
use satang_store::contacts::{self, Contact, ContactFields};

use crate::access::{CustomerAction, authorize};
use crate::error::{ApiError, Problem, Validator};
use crate::extract::{Caller, Created, Json, Path, Query, double_option};
use crate::pagination::{Page, PageParams};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_contacts, create_contact))
        .routes(routes!(get_contact, update_contact, delete_contact))
}

const ROLES: [&str; 4] = ["owner", "ops", "billing", "technical"];

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ContactView {
    pub id: Uuid,
    pub customer_id: Uuid,
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    /// `owner`, `ops`, `billing` or `technical`.
    pub role: String,
    pub is_primary: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
}

impl From<Contact> for ContactView {
    fn from(c: Contact) -> Self {
        ContactView {
            id: c.id,
            customer_id: c.customer_id,
            name: c.name,
            email: c.email,
            phone: c.phone,
            role: c.role,
            is_primary: c.is_primary,
            created_at: c.created_at,
            updated_at: c.updated_at,
            version: c.version,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateContact {
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub role: String,
    #[serde(default)]
    pub is_primary: bool,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateContact {
    pub name: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub email: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub phone: Option<Option<String>>,
    pub role: Option<String>,
    pub is_primary: Option<bool>,
}

fn validate(v: &mut Validator, input: CreateContact) -> ContactFields {
    let name = v.text("name", &input.name, 200);
    let email = input
        .email
        .filter(|e| !e.trim().is_empty())
        .map(|e| v.email("email", &e));
    let phone = input
        .phone
        .map(|p| p.trim().to_owned())
        .filter(|p| !p.is_empty())
        .inspect(|p| {
            if p.chars().count() > 30
                || !p
                    .chars()
                    .all(|c| c.is_ascii_digit() || " +-().".contains(c))
            {
                v.add("phone", "must be at most 30 digits, spaces and + - ( ) .");
            }
        });
    v.check(
        ROLES.contains(&input.role.as_str()),
        "role",
        "must be owner, ops, billing or technical",
    );
    ContactFields {
        name,
        email,
        phone,
        role: input.role,
        is_primary: input.is_primary,
    }
}

fn snapshot(c: &ContactView) -> Option<serde_json::Value> {
    serde_json::to_value(c).ok()
}

/// The contacts of a customer.
#[utoipa::path(get, path = "/api/customers/{id}/contacts", tag = "contacts", params(("id" = Uuid, Path), PageParams),
    security(("bearer" = [])), responses((status = 200, body = Page<ContactView>), (status = 404, body = Problem)))]
async fn list_contacts(
    State(state): State<AppState>,
    caller: Caller,
    Path(customer_id): Path<Uuid>,
    Query(params): Query<PageParams>,
) -> Result<axum::Json<Page<ContactView>>, ApiError> {
    authorize(&state, &caller, customer_id, CustomerAction::Read).await?;
    let (limit, after) = params.keyset()?;
    let rows = contacts::list(&state.db, customer_id, after, limit + 1).await?;
    Ok(axum::Json(Page::from_rows(
        rows,
        limit,
        |c| c.id,
        ContactView::from,
    )))
}

/// Add a contact.
#[utoipa::path(post, path = "/api/customers/{id}/contacts", tag = "contacts", params(("id" = Uuid, Path)),
    request_body = CreateContact, security(("bearer" = [])),
    responses((status = 201, body = ContactView), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn create_contact(
    State(state): State<AppState>,
    caller: Caller,
    Path(customer_id): Path<Uuid>,
    Json(body): Json<CreateContact>,
) -> Result<Created<ContactView>, ApiError> {
    authorize(&state, &caller, customer_id, CustomerAction::Read).await?;
    authorize(&state, &caller, customer_id, CustomerAction::EditContacts).await?;
    let mut v = Validator::new();
    let fields = validate(&mut v, body);
    v.finish()?;
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    // The customer must exist (a staff caller is not checked by membership).
    satang_store::customers::get_in(&mut tx, customer_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let view = ContactView::from(contacts::insert(&mut tx, customer_id, &fields, now).await?);
    audit::record(
        &mut tx,
        &caller.actor,
        Change {
            action: "contact.created",
            entity_type: "contact",
            entity_id: view.id.to_string(),
            before: None,
            after: snapshot(&view),
        },
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(Created(view))
}

/// One contact.
#[utoipa::path(get, path = "/api/customers/{id}/contacts/{contact_id}", tag = "contacts",
    params(("id" = Uuid, Path), ("contact_id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 200, body = ContactView), (status = 404, body = Problem)))]
async fn get_contact(
    State(state): State<AppState>,
    caller: Caller,
    Path((customer_id, contact_id)): Path<(Uuid, Uuid)>,
) -> Result<axum::Json<ContactView>, ApiError> {
    authorize(&state, &caller, customer_id, CustomerAction::Read).await?;
    let contact = contacts::get(&state.db, customer_id, contact_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(axum::Json(contact.into()))
}

/// Change a contact.
#[utoipa::path(patch, path = "/api/customers/{id}/contacts/{contact_id}", tag = "contacts",
    params(("id" = Uuid, Path), ("contact_id" = Uuid, Path)), request_body = UpdateContact, security(("bearer" = [])),
    responses((status = 200, body = ContactView), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn update_contact(
    State(state): State<AppState>,
    caller: Caller,
    Path((customer_id, contact_id)): Path<(Uuid, Uuid)>,
    Json(patch): Json<UpdateContact>,
) -> Result<axum::Json<ContactView>, ApiError> {
    authorize(&state, &caller, customer_id, CustomerAction::Read).await?;
    authorize(&state, &caller, customer_id, CustomerAction::EditContacts).await?;
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let current = contacts::get_in(&mut tx, customer_id, contact_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let before = ContactView::from(current.clone());
    let merged = CreateContact {
        name: patch.name.unwrap_or(current.name),
        email: patch.email.unwrap_or(current.email),
        phone: patch.phone.unwrap_or(current.phone),
        role: patch.role.unwrap_or(current.role),
        is_primary: patch.is_primary.unwrap_or(current.is_primary),
    };
    let mut v = Validator::new();
    let fields = validate(&mut v, merged);
    v.finish()?;
    let after =
        ContactView::from(contacts::update(&mut tx, customer_id, contact_id, &fields, now).await?);
    audit::record(
        &mut tx,
        &caller.actor,
        Change {
            action: "contact.updated",
            entity_type: "contact",
            entity_id: contact_id.to_string(),
            before: snapshot(&before),
            after: snapshot(&after),
        },
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(axum::Json(after))
}

/// Remove a contact.
#[utoipa::path(delete, path = "/api/customers/{id}/contacts/{contact_id}", tag = "contacts",
    params(("id" = Uuid, Path), ("contact_id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 204), (status = 404, body = Problem)))]
async fn delete_contact(
    State(state): State<AppState>,
    caller: Caller,
    Path((customer_id, contact_id)): Path<(Uuid, Uuid)>,
) -> Result<StatusCode, ApiError> {
    authorize(&state, &caller, customer_id, CustomerAction::Read).await?;
    authorize(&state, &caller, customer_id, CustomerAction::EditContacts).await?;
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let current = contacts::get_in(&mut tx, customer_id, contact_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    contacts::delete(&mut tx, customer_id, contact_id).await?;
    audit::record(
        &mut tx,
        &caller.actor,
        Change {
            action: "contact.deleted",
            entity_type: "contact",
            entity_id: contact_id.to_string(),
            before: snapshot(&ContactView::from(current)),
            after: None,
        },
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
