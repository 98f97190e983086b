//! Plans (`/plans`): the catalogue by sales code with every version — on sale and archived
//! (grandfathered subscribers keep theirs). Administrators create a plan, give one a new price
//! (the API makes that a new version and archives the old one) and archive a plan. Billing staff
//! see, add and delete each plan code's usage alerts (`/api/usage-alerts?plan_code=`).

use std::collections::BTreeMap;
use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use satang_api::pagination::Page;
use satang_api::routes::plans::{PlanView, Pricing};
use satang_api::routes::usage_alerts::UsageAlertView;
use satang_domain::Interval;
use satang_domain::typed_amount::parse_baht;

use super::auth::FormState;
use super::billing::{label_or_raw, localized};
use super::payments::baht;
use super::{Chrome, Fields, delete_then, entered, field, notice_text, refusal};
use crate::session::{CsrfForm, Ctx};
use crate::{Console, Failure, render};

pub fn router() -> Router<Arc<Console>> {
    Router::new()
        .route("/plans", get(index).post(create))
        .route("/plans/{id}/price", post(reprice))
        .route("/plans/{id}/archive", post(archive))
        .route("/plans/alerts", post(create_alert))
        .route("/plans/alerts/{id}/delete", post(delete_alert))
}

#[derive(Debug, Default, Deserialize)]
pub struct PlansQuery {
    #[serde(default)]
    dialog: String,
    #[serde(default)]
    notice: String,
}

/// One sales code and its versions, those on sale first, newest first.
pub struct CodeGroup {
    pub code: String,
    pub name: String,
    pub versions: Vec<PlanView>,
    /// The live usage alerts of this plan code (empty for people who may not see them).
    pub alerts: Vec<UsageAlertView>,
}

#[derive(Template)]
#[template(path = "plans.html")]
pub struct PlansPage {
    pub c: Chrome,
    pub groups: Vec<CodeGroup>,
    pub can_edit: bool,
    /// May see, add and delete usage alerts (billing staff, admins).
    pub can_alert: bool,
    pub dialog: String,
    pub form: FormState,
}

impl PlansPage {
    pub fn dialog_is(&self, name: &str) -> bool {
        self.dialog == name
    }

    pub fn price(&self, p: &PlanView) -> String {
        let price = self.c.money(p.price, &p.currency);
        let interval = if p.interval_count > 1 {
            format!(
                "{} {}",
                p.interval_count,
                self.c.tk("interval", p.interval.as_str())
            )
        } else {
            self.c.tk("interval", p.interval.as_str())
        };
        if p.pricing == Pricing::PerSeat {
            format!("{price} / {} / {interval}", self.c.t("per-seat"))
        } else {
            format!("{price} / {interval}")
        }
    }

    pub fn features(&self, p: &PlanView) -> String {
        p.features
            .iter()
            .map(|f| label_or_raw(&self.c, "feature", f))
            .collect::<Vec<_>>()
            .join(", ")
    }

    pub fn limits(&self, p: &PlanView) -> String {
        p.limits
            .iter()
            .map(|(k, v)| {
                let value = match v {
                    Some(n) => n.to_string(),
                    None => self.c.t("limit-unlimited"),
                };
                format!("{}: {value}", label_or_raw(&self.c, "limit", k))
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The new-price dialog's value: what was typed when refused, else the current price.
    pub fn price_value(&self, p: &PlanView) -> String {
        if self.dialog_is(&format!("price-{}", p.id)) && self.form.values.contains_key("price") {
            return self.form.value("price").to_owned();
        }
        baht(p.price)
    }

    /// The alert form of `code` is the one a refusal belongs to.
    pub fn alert_form_is(&self, code: &str) -> bool {
        self.dialog == format!("alert-{code}")
    }

    /// What was typed in the alert form of `code` when it was refused.
    pub fn alert_value(&self, code: &str, name: &str) -> &str {
        if self.alert_form_is(code) {
            self.form.value(name)
        } else {
            ""
        }
    }

    pub fn alert_error(&self, code: &str, name: &str) -> Option<&str> {
        if self.alert_form_is(code) {
            self.form.error(name)
        } else {
            None
        }
    }

    pub fn price_error(&self, p: &PlanView) -> Option<&str> {
        if self.dialog_is(&format!("price-{}", p.id)) {
            self.form.error("price").or(self.form.message.as_deref())
        } else {
            None
        }
    }
}

async fn index(ctx: Ctx, Query(q): Query<PlansQuery>) -> Result<Response, Failure> {
    page(ctx, q, FormState::default(), None).await
}

async fn page(
    mut ctx: Ctx,
    query: PlansQuery,
    form: FormState,
    status: Option<StatusCode>,
) -> Result<Response, Failure> {
    let me = ctx.staff().await?;
    let plans: Page<PlanView> = ctx
        .get("/api/plans?include_archived=true&limit=200")
        .await?;
    let mut groups: Vec<CodeGroup> = Vec::new();
    for plan in plans.data {
        match groups.iter_mut().find(|g| g.code == plan.code) {
            Some(g) => g.versions.push(plan),
            None => groups.push(CodeGroup {
                code: plan.code.clone(),
                name: localized(ctx.lang, &plan.name.th, &plan.name.en),
                versions: vec![plan],
                alerts: Vec::new(),
            }),
        }
    }
    let can_alert = me.can_bill();
    if can_alert {
        let alerts: Page<UsageAlertView> = ctx.get("/api/usage-alerts?limit=200").await?;
        for alert in alerts.data {
            if let Some(g) = groups
                .iter_mut()
                .find(|g| alert.plan_code.as_deref() == Some(g.code.as_str()))
            {
                g.alerts.push(alert);
            }
        }
    }
    for g in &mut groups {
        g.versions.sort_by(|a, b| {
            b.active
                .cmp(&a.active)
                .then(a.interval.as_str().cmp(b.interval.as_str()).reverse())
                .then(b.version.cmp(&a.version))
        });
        if let Some(current) = g.versions.iter().find(|p| p.active) {
            g.name = localized(ctx.lang, &current.name.th, &current.name.en);
        }
    }
    let mut c = ctx.chrome("plans", Some(me.clone()));
    c.notice = notice_text(&c.tr, &query.notice);
    let mut response = render(&PlansPage {
        c,
        groups,
        can_edit: me.is_admin(),
        can_alert,
        dialog: query.dialog,
        form,
    });
    if let Some(status) = status {
        *response.status_mut() = status;
    }
    Ok(response)
}

/// `name = 3` lines → limits; `unlimited`, `-` or nothing after `=` is no limit.
fn parse_limits(text: &str) -> Option<BTreeMap<String, Option<i64>>> {
    let mut limits = BTreeMap::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let (name, value) = line.split_once('=')?;
        let value = value.trim();
        let limit = match value {
            "" | "-" | "unlimited" | "ไม่จำกัด" => None,
            n => Some(n.parse::<i64>().ok()?),
        };
        limits.insert(name.trim().to_owned(), limit);
    }
    Some(limits)
}

/// The API's create request from the dialog, or the fields a person has to correct.
fn plan_body(ctx: &Ctx, fields: &Fields) -> Result<Value, BTreeMap<String, String>> {
    let tr = ctx.tr();
    let mut errors = BTreeMap::new();
    let price = parse_baht(field(fields, "price"));
    if price.is_none() {
        errors.insert("price".to_owned(), tr.t("payment-amount-invalid"));
    }
    let trial = match field(fields, "trial_days") {
        "" => Some(0),
        t => t.parse::<i64>().ok(),
    };
    if trial.is_none() {
        errors.insert("trial_days".to_owned(), tr.t("settings-number-invalid"));
    }
    let limits = parse_limits(fields.get("limits").map_or("", String::as_str));
    if limits.is_none() {
        errors.insert("limits".to_owned(), tr.t("plans-limits-invalid"));
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let features: Vec<&str> = fields
        .get("features")
        .map_or("", String::as_str)
        .split([',', '\n'])
        .map(str::trim)
        .filter(|f| !f.is_empty())
        .collect();
    let mut body = Map::new();
    body.insert("code".into(), json!(field(fields, "code")));
    body.insert(
        "name".into(),
        json!({ "th": field(fields, "name_th"), "en": field(fields, "name_en") }),
    );
    body.insert(
        "description".into(),
        json!({ "th": field(fields, "description_th"), "en": field(fields, "description_en") }),
    );
    let interval = field(fields, "interval").parse().unwrap_or(Interval::Month);
    body.insert("interval".into(), json!(interval));
    body.insert("price".into(), json!(price));
    body.insert(
        "pricing".into(),
        json!(if field(fields, "pricing") == "per_seat" {
            "per_seat"
        } else {
            "flat"
        }),
    );
    body.insert("trial_days".into(), json!(trial));
    body.insert("features".into(), json!(features));
    body.insert("limits".into(), json!(limits));
    Ok(Value::Object(body))
}

/// API errors on `features[2]` or `limits.farms` belong to the one text box each.
fn fold_list_errors(form: &mut FormState) {
    let keys: Vec<String> = form.errors.keys().cloned().collect();
    for key in keys {
        for list in ["features", "limits"] {
            if key != list
                && key.starts_with(list)
                && let Some(e) = form.errors.remove(&key)
            {
                let entry = form.errors.entry(list.to_owned()).or_default();
                if !entry.is_empty() {
                    entry.push(' ');
                }
                entry.push_str(&e);
            }
        }
    }
}

async fn create(mut ctx: Ctx, CsrfForm(fields): CsrfForm<Fields>) -> Result<Response, Failure> {
    let query = PlansQuery {
        dialog: "new-plan".to_owned(),
        ..PlansQuery::default()
    };
    let body = match plan_body(&ctx, &fields) {
        Ok(body) => body,
        Err(errors) => {
            let form = FormState {
                values: entered(&fields),
                errors,
                message: None,
            };
            return page(ctx, query, form, Some(StatusCode::UNPROCESSABLE_ENTITY)).await;
        }
    };
    let reply = ctx
        .send(
            Method::POST,
            "/api/plans",
            Some(body),
            fields.get("_key").map(String::as_str),
        )
        .await;
    if reply.ok() {
        return Ok(Redirect::to("/plans?notice=plan-created").into_response());
    }
    let mut form = refusal(&ctx, entered(&fields), &reply)?;
    fold_list_errors(&mut form);
    let status = reply.status;
    page(ctx, query, form, Some(status)).await
}

/// A new price: the API answers with a new version and archives this one.
async fn reprice(
    mut ctx: Ctx,
    Path(id): Path<Uuid>,
    CsrfForm(fields): CsrfForm<Fields>,
) -> Result<Response, Failure> {
    let query = PlansQuery {
        dialog: format!("price-{id}"),
        ..PlansQuery::default()
    };
    let Some(price) = parse_baht(field(&fields, "price")) else {
        let mut errors = BTreeMap::new();
        errors.insert("price".to_owned(), ctx.tr().t("payment-amount-invalid"));
        let form = FormState {
            values: entered(&fields),
            errors,
            message: None,
        };
        return page(ctx, query, form, Some(StatusCode::UNPROCESSABLE_ENTITY)).await;
    };
    let reply = ctx
        .send(
            Method::PATCH,
            format!("/api/plans/{id}"),
            Some(json!({ "price": price })),
            None,
        )
        .await;
    if reply.ok() {
        return Ok(Redirect::to("/plans?notice=plan-repriced").into_response());
    }
    let form = refusal(&ctx, entered(&fields), &reply)?;
    let status = reply.status;
    page(ctx, query, form, Some(status)).await
}

async fn archive(
    mut ctx: Ctx,
    Path(id): Path<Uuid>,
    CsrfForm(_): CsrfForm<Fields>,
) -> Result<Response, Failure> {
    let reply = ctx
        .send(Method::POST, format!("/api/plans/{id}/archive"), None, None)
        .await;
    if reply.ok() {
        return Ok(Redirect::to("/plans?notice=plan-archived").into_response());
    }
    let form = refusal(&ctx, Fields::new(), &reply)?;
    let status = reply.status;
    page(ctx, PlansQuery::default(), form, Some(status)).await
}

/// `POST /plans/alerts`: a usage alert for one plan code (metric, threshold).
async fn create_alert(
    mut ctx: Ctx,
    CsrfForm(fields): CsrfForm<Fields>,
) -> Result<Response, Failure> {
    let code = field(&fields, "plan_code").to_owned();
    let query = PlansQuery {
        dialog: format!("alert-{code}"),
        ..PlansQuery::default()
    };
    let Ok(threshold) = field(&fields, "threshold").trim().parse::<i64>() else {
        let mut errors = BTreeMap::new();
        errors.insert(
            "threshold".to_owned(),
            ctx.tr().t("plans-alert-threshold-invalid"),
        );
        let form = FormState {
            values: entered(&fields),
            errors,
            message: None,
        };
        return page(ctx, query, form, Some(StatusCode::UNPROCESSABLE_ENTITY)).await;
    };
    let body = json!({
        "metric": field(&fields, "metric").trim(),
        "threshold": threshold,
        "plan_code": code,
    });
    let reply = ctx
        .send(
            Method::POST,
            "/api/usage-alerts",
            Some(body),
            fields.get("_key").map(String::as_str),
        )
        .await;
    if reply.ok() {
        return Ok(Redirect::to("/plans?notice=plan-alert-created").into_response());
    }
    let form = refusal(&ctx, entered(&fields), &reply)?;
    let status = reply.status;
    page(ctx, query, form, Some(status)).await
}

/// `POST /plans/alerts/{id}/delete`.
async fn delete_alert(
    mut ctx: Ctx,
    Path(id): Path<Uuid>,
    CsrfForm(_): CsrfForm<Fields>,
) -> Result<Response, Failure> {
    match delete_then(
        &mut ctx,
        format!("/api/usage-alerts/{id}"),
        "/plans?notice=plan-alert-deleted",
    )
    .await?
    {
        Ok(done) => Ok(done),
        Err((form, status)) => page(ctx, PlansQuery::default(), form, Some(status)).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_read_from_lines() {
        let limits = parse_limits("farms = 3\nusers = unlimited\n\n sensors=0 ").unwrap();
        assert_eq!(limits.get("farms"), Some(&Some(3)));
        assert_eq!(limits.get("users"), Some(&None));
        assert_eq!(limits.get("sensors"), Some(&Some(0)));
        assert_eq!(parse_limits("farms 3"), None);
        assert_eq!(parse_limits("farms = many"), None);
        assert_eq!(parse_limits(""), Some(BTreeMap::new()));
    }
}
