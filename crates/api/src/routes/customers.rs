//! Customers (SPEC §2.3): create, search, read, partial update with versions, suspend and
//! reactivate, soft delete and restore, GDPR export and erasure.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use satang_auth::Permission;
use satang_billing::customers::{self as billing_customers, CustomerStatusChange};
use satang_domain::CustomerStatus;
use satang_store::customers::{self, Customer, CustomerQuery, PostalAddress};

use crate::access::{CustomerAction, authorize};
use crate::error::{ApiError, FieldErrors, Problem, Validator};
use crate::extract::{Caller, Created, Json, Path, Query, double_option};
use crate::pagination::{Page, PageParams};
use crate::state::AppState;

mod parse;

use parse::{parse_changes, validate};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_customers, create_customer))
        .routes(routes!(get_customer, update_customer, delete_customer))
        .routes(routes!(restore_customer))
        .routes(routes!(export_customer))
        .routes(routes!(erase_customer))
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Address {
    pub line1: Option<String>,
    pub line2: Option<String>,
    /// ตำบล / แขวง
    pub subdistrict: Option<String>,
    /// อำเภอ / เขต
    pub district: Option<String>,
    pub province: Option<String>,
    pub postal_code: Option<String>,
    /// ISO 3166-1 alpha-2, `TH` by default.
    pub country: Option<String>,
}

/// A customer as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CustomerView {
    pub id: Uuid,
    pub name: String,
    pub legal_name: Option<String>,
    /// 13-digit Thai tax id.
    pub tax_id: Option<String>,
    /// 5 digits; `00000` is the head office (สำนักงานใหญ่).
    pub branch_code: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub billing_email: Option<String>,
    #[schema(value_type = Option<Address>)]
    pub address: Option<PostalAddress>,
    pub currency: String,
    pub locale: String,
    pub payment_terms_days: i64,
    pub metadata: serde_json::Value,
    /// `active`, `suspended` or `deleted`.
    #[schema(value_type = String)]
    pub status: CustomerStatus,
    /// Credit balance in minor units, consumed by the next invoice.
    pub balance: i64,
    #[serde(serialize_with = "crate::rfc3339::serialize")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::rfc3339::serialize")]
    pub updated_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::rfc3339::option")]
    pub deleted_at: Option<DateTime<Utc>>,
    /// Send as `If-Match` to update only this version.
    pub version: i64,
}

impl From<Customer> for CustomerView {
    fn from(c: Customer) -> Self {
        CustomerView {
            id: c.id,
            name: c.name,
            legal_name: c.legal_name,
            tax_id: c.tax_id,
            branch_code: c.branch_code,
            email: c.email,
            phone: c.phone,
            billing_email: c.billing_email,
            address: c.address.map(|a| a.0),
            currency: c.currency.code().to_owned(),
            locale: c.locale,
            payment_terms_days: c.payment_terms_days,
            metadata: c.metadata.0,
            status: c.status,
            balance: c.balance,
            created_at: c.created_at,
            updated_at: c.updated_at,
            deleted_at: c.deleted_at,
            version: c.version,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCustomer {
    #[schema(example = "สหกรณ์การเกษตรบ้านนา จำกัด")]
    pub name: String,
    pub legal_name: Option<String>,
    #[schema(example = "0105536000315")]
    pub tax_id: Option<String>,
    #[schema(example = "00000")]
    pub branch_code: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub billing_email: Option<String>,
    pub address: Option<Address>,
    /// ISO 4217, `THB` by default.
    pub currency: Option<String>,
    /// `th` (default) or `en`.
    pub locale: Option<String>,
    /// Days until an invoice is due, 0–365 (default 30).
    pub payment_terms_days: Option<i64>,
    /// Up to 50 keys of your own, values strings (≤ 500 characters), numbers or booleans.
    pub metadata: Option<serde_json::Map<String, serde_json::Value>>,
}

/// A partial update: absent fields stay, `null` clears an optional field.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateCustomer {
    pub name: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub legal_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub tax_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub branch_code: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub email: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub phone: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub billing_email: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<Address>)]
    pub address: Option<Option<Address>>,
    pub currency: Option<String>,
    pub locale: Option<String>,
    pub payment_terms_days: Option<i64>,
    pub metadata: Option<serde_json::Map<String, serde_json::Value>>,
    /// `active` (reactivate) or `suspended`.
    pub status: Option<String>,
}

impl UpdateCustomer {
    /// True when the PATCH touches the profile (needs `EditProfile`), not only the status.
    fn edits_profile(&self) -> bool {
        self.name.is_some()
            || self.legal_name.is_some()
            || self.tax_id.is_some()
            || self.branch_code.is_some()
            || self.email.is_some()
            || self.phone.is_some()
            || self.billing_email.is_some()
            || self.address.is_some()
            || self.currency.is_some()
            || self.locale.is_some()
            || self.payment_terms_days.is_some()
            || self.metadata.is_some()
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CustomerFilter {
    /// Substring of name, legal name, email or tax id (Thai included; case-insensitive).
    pub q: Option<String>,
    /// `active`, `suspended` or `deleted` (deleted customers appear only when asked for).
    pub status: Option<String>,
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

/// Customers the caller may see: all of them for staff, their own for members.
#[utoipa::path(get, path = "/api/customers", tag = "customers", params(CustomerFilter), security(("bearer" = [])),
    responses((status = 200, body = Page<CustomerView>), (status = 400, body = Problem)))]
async fn list_customers(
    State(state): State<AppState>,
    caller: Caller,
    Query(filter): Query<CustomerFilter>,
) -> Result<axum::Json<Page<CustomerView>>, ApiError> {
    let (limit, after) = PageParams {
        limit: filter.limit,
        cursor: filter.cursor,
    }
    .keyset()?;
    let status = match filter.status.as_deref() {
        None => None,
        Some(s) => Some(CustomerStatus::parse(s).ok_or_else(|| {
            ApiError::BadRequest("status must be active, suspended or deleted".into())
        })?),
    };
    if filter.q.as_ref().is_some_and(|q| q.chars().count() > 200) {
        return Err(ApiError::BadRequest(
            "q must be at most 200 characters".into(),
        ));
    }
    let rows = customers::list(
        &state.db,
        caller.scope(Permission::ReadCustomers),
        &CustomerQuery {
            q: filter.q,
            status,
            after,
            limit: limit + 1,
        },
    )
    .await?;
    Ok(axum::Json(Page::from_rows(
        rows,
        limit,
        |c| c.id,
        CustomerView::from,
    )))
}

/// Create a customer (staff who may write customers).
#[utoipa::path(post, path = "/api/customers", tag = "customers", request_body = CreateCustomer, security(("bearer" = [])),
    responses((status = 201, body = CustomerView), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn create_customer(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<CreateCustomer>,
) -> Result<Created<CustomerView>, ApiError> {
    caller.require(Permission::WriteCustomers)?;
    let mut v = Validator::new();
    let fields = validate(&mut v, body);
    v.finish()?;
    let customer =
        billing_customers::create_customer(&state.db, &caller.actor, &fields, state.clock.now())
            .await?;
    Ok(Created(customer.into()))
}

/// The checks of a create for a caller that is not a request (a row of an import): the fields
/// to store, or every refused field with its messages.
pub fn validate_new(
    body: CreateCustomer,
) -> Result<satang_store::customers::CustomerFields, FieldErrors> {
    let mut v = Validator::new();
    let fields = validate(&mut v, body);
    match v.finish() {
        // `finish` fails only with the collected fields.
        Err(ApiError::Validation { errors, .. }) => Err(errors),
        _ => Ok(fields),
    }
}

/// One customer (deleted customers stay readable by id for staff).
#[utoipa::path(get, path = "/api/customers/{id}", tag = "customers", params(("id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 200, body = CustomerView), (status = 404, body = Problem)))]
async fn get_customer(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> Result<axum::Json<CustomerView>, ApiError> {
    // Staff need only the permission: the read itself answers 404 for an unknown id, so the
    // separate existence check of `authorize` would be a second query for nothing. Members go
    // through `authorize` (their membership decides between 404 and 403).
    if caller.is_staff() {
        caller.require(CustomerAction::Read.staff_permission())?;
    } else {
        authorize(&state, &caller, id, CustomerAction::Read).await?;
    }
    let customer = customers::get(&state.db, caller.scope(Permission::ReadCustomers), id)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(axum::Json(CustomerView::from(customer)))
}

/// `If-Match: 3` or `If-Match: "3"`.
fn if_match(headers: &HeaderMap) -> Result<Option<i64>, ApiError> {
    let Some(value) = headers.get(axum::http::header::IF_MATCH) else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .map(|v| v.trim().trim_start_matches("W/").trim_matches('"'))
        .and_then(|v| v.parse().ok())
        .map(Some)
        .ok_or_else(|| {
            ApiError::BadRequest("If-Match must be the customer's version number".into())
        })
}

/// Change some fields, or suspend/reactivate with `status`.
#[utoipa::path(patch, path = "/api/customers/{id}", tag = "customers", params(("id" = Uuid, Path),
        ("If-Match" = Option<i64>, Header, description = "the version you read; 409 if it changed")),
    request_body = UpdateCustomer, security(("bearer" = [])),
    responses((status = 200, body = CustomerView), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn update_customer(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
    Json(patch): Json<UpdateCustomer>,
) -> Result<axum::Json<CustomerView>, ApiError> {
    let expected_version = if_match(&headers)?;
    authorize(&state, &caller, id, CustomerAction::Read).await?;
    if patch.edits_profile() {
        authorize(&state, &caller, id, CustomerAction::EditProfile).await?;
    }
    if patch.status.is_some() {
        authorize(&state, &caller, id, CustomerAction::ChangeStatus).await?;
    }
    let changes = parse_changes(patch)?;
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let updated = billing_customers::update_customer(
        &mut tx,
        &caller.actor,
        id,
        changes,
        expected_version,
        now,
    )
    .await?;
    tx.commit().await?;
    state.users.invalidate_memberships();
    state.entitlements.forget(&[id]);
    Ok(axum::Json(updated.into()))
}

/// Shared by delete and restore: authorise, then the status operation.
async fn change_status(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
    change: CustomerStatusChange,
) -> Result<CustomerView, ApiError> {
    authorize(state, caller, id, CustomerAction::Read).await?;
    authorize(state, caller, id, CustomerAction::ChangeStatus).await?;
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let updated = billing_customers::change_status(&mut tx, &caller.actor, id, change, now).await?;
    tx.commit().await?;
    state.users.invalidate_memberships();
    state.entitlements.forget(&[id]);
    Ok(updated.into())
}

/// Soft delete: the customer is kept for audit and tax records, hidden from lists.
#[utoipa::path(delete, path = "/api/customers/{id}", tag = "customers", params(("id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 204), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn delete_customer(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    change_status(&state, &caller, id, CustomerStatusChange::Delete).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Undo a soft delete.
#[utoipa::path(post, path = "/api/customers/{id}/restore", tag = "customers", params(("id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 200, body = CustomerView), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn restore_customer(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> Result<axum::Json<CustomerView>, ApiError> {
    Ok(axum::Json(
        change_status(&state, &caller, id, CustomerStatusChange::Restore).await?,
    ))
}

/// Everything Satang holds about one customer.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CustomerExport {
    pub exported_at: DateTime<Utc>,
    pub customer: CustomerView,
    pub contacts: Vec<serde_json::Value>,
    pub members: Vec<serde_json::Value>,
    pub audit_events: Vec<serde_json::Value>,
}

/// GDPR export: one JSON document (staff who may write customers, or the customer's owner or
/// admin).
#[utoipa::path(get, path = "/api/customers/{id}/export", tag = "customers", params(("id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 200, body = CustomerExport), (status = 404, body = Problem)))]
async fn export_customer(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> Result<axum::Json<CustomerExport>, ApiError> {
    authorize(&state, &caller, id, CustomerAction::Read).await?;
    authorize(&state, &caller, id, CustomerAction::EditProfile).await?;
    let records = billing_customers::export_customer(&state.db, id).await?;
    Ok(axum::Json(CustomerExport {
        exported_at: state.clock.now(),
        customer: records.customer.into(),
        contacts: json_values(records.contacts),
        members: json_values(records.members),
        audit_events: json_values(records.audit_events),
    }))
}

fn json_values<T: Serialize>(rows: Vec<T>) -> Vec<serde_json::Value> {
    rows.into_iter()
        .filter_map(|r| serde_json::to_value(r).ok())
        .collect()
}

/// GDPR erasure: contacts are anonymised, memberships end, the customer's personal contact
/// details are removed and the customer is deleted. Name, legal name, tax id, branch and address
/// stay: Thai tax law requires them on issued tax invoices for five years.
#[utoipa::path(post, path = "/api/customers/{id}/erase", tag = "customers", params(("id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 200, body = CustomerView), (status = 404, body = Problem)))]
async fn erase_customer(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> Result<axum::Json<CustomerView>, ApiError> {
    authorize(&state, &caller, id, CustomerAction::Read).await?;
    authorize(&state, &caller, id, CustomerAction::ChangeStatus).await?;
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let erased = billing_customers::erase_customer(&mut tx, &caller.actor, id, now).await?;
    tx.commit().await?;
    state.users.invalidate_memberships();
    Ok(axum::Json(erased.into()))
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use satang_billing::customers::customer_json;

    use super::*;

    /// The outbox payload and audit entries the billing operations write are the API's view.
    #[test]
    fn customer_json_is_the_view() {
        let mut v = Validator::new();
        let fields = validate(
            &mut v,
            CreateCustomer {
                name: "สหกรณ์การเกษตรบ้านนา จำกัด".into(),
                tax_id: Some("0105536000313".into()),
                email: Some("a@example.com".into()),
                address: Some(Address {
                    line1: Some("1 ถนนสุขุมวิท".into()),
                    postal_code: Some("10110".into()),
                    ..Address::default()
                }),
                metadata: Some(serde_json::json!({"crm": 7}).as_object().cloned().unwrap()),
                ..CreateCustomer::default()
            },
        );
        v.finish().unwrap();
        let created = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap()
            + chrono::Duration::microseconds(123_456);
        let mut c = customers::new(Uuid::now_v7(), &fields, created);
        let view = serde_json::to_value(CustomerView::from(c.clone())).unwrap();
        assert_eq!(view, customer_json(&c));
        c.status = CustomerStatus::Deleted;
        c.deleted_at = Some(created + chrono::Duration::days(1));
        c.address = None;
        let view = serde_json::to_value(CustomerView::from(c.clone())).unwrap();
        assert_eq!(view, customer_json(&c));
    }
}
