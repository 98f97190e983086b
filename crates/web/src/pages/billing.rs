//! Billing Management (`/billing`): the revenue cards and the monthly revenue chart, and the
//! tabs Active Subscriptions (with pause, resume and cancel), Available Plans (a feature
//! comparison), Billing History (invoices and payments, filtered by status and customer, with
//! the record-a-payment dialog of [`super::payments`]) and Payment Methods. Every figure is
//! read from the API; every change goes through it.

use std::borrow::Borrow;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use chrono::Datelike;
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use satang_api::pagination::Page;
use satang_api::routes::analytics::{Revenue, Summary};
use satang_api::routes::coupons::CouponView;
use satang_api::routes::customers::CustomerView;
use satang_api::routes::invoices::InvoiceView;
use satang_api::routes::invoices::settlement::PaymentView;
use satang_api::routes::payment_methods::PaymentMethodView;
use satang_api::routes::plans::{PlanInterval, PlanView, Pricing};
use satang_api::routes::subscriptions::SubscriptionView;
use satang_domain::{InvoiceStatus, Status};

use super::auth::FormState;
use super::payments::Prefill;
use super::{Chrome, Fields, encode, field, notice_text, refusal};
use crate::chart::{Bar, revenue_svg};
use crate::client::ApiRequest;
use crate::i18n::Lang;
use crate::session::{CsrfForm, Ctx};
use crate::{Console, Failure, format, render};

pub fn router() -> Router<Arc<Console>> {
    Router::new()
        .route("/billing", get(index))
        .route(
            "/billing/subscriptions/{id}/{action}",
            post(subscription_action),
        )
        .route("/billing/coupons", post(super::coupons::create))
        .route(
            "/billing/coupons/{id}/archive",
            post(super::coupons::archive),
        )
}

pub const TABS: [&str; 5] = ["subscriptions", "plans", "history", "methods", "coupons"];
const PAGE_SIZE: usize = 25;

/// The page's state, carried in its links and forms.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct BillingQuery {
    #[serde(default)]
    pub tab: String,
    /// Subscriptions: a status or `all` (`active` when empty). History: an invoice status.
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub cursor: String,
    /// The payments list's own cursor.
    #[serde(default)]
    pub pcursor: String,
    /// A customer id (history and payment methods).
    #[serde(default)]
    pub customer: String,
    /// A customer search (history and payment methods).
    #[serde(default)]
    pub customer_q: String,
    #[serde(default)]
    pub dialog: String,
    #[serde(default)]
    pub notice: String,
    /// `invoice` when the payment dialog was opened from the invoice's page: it goes back there.
    #[serde(default)]
    pub from: String,
}

impl BillingQuery {
    /// The tab's list state as query parameters (no dialog, notice or cursor of the payments).
    pub fn list_params(&self) -> String {
        let mut pairs = vec![format!("tab={}", encode(&self.tab))];
        for (name, value) in [
            ("status", &self.status),
            ("cursor", &self.cursor),
            ("customer", &self.customer),
        ] {
            if !value.is_empty() {
                pairs.push(format!("{name}={}", encode(value)));
            }
        }
        pairs.join("&")
    }

    /// The subscriptions' status filter: a status, or none for `all`.
    fn subscription_status(&self) -> Option<Status> {
        match self.status.as_str() {
            "" => Some(Status::Active),
            s => s.parse().ok(),
        }
    }

    fn invoice_status(&self) -> Option<InvoiceStatus> {
        self.status.parse().ok()
    }

    fn customer_id(&self) -> Option<Uuid> {
        Uuid::parse_str(self.customer.trim()).ok()
    }
}

/// A subscription with the names the table shows.
pub struct SubscriptionRow {
    pub sub: SubscriptionView,
    pub customer_name: String,
    pub plan_name: String,
    pub amount: i64,
    pub currency: String,
    pub interval: String,
}

/// An invoice with its customer's name and, when it can be paid, what the payment dialog
/// starts with.
pub struct InvoiceRow {
    pub inv: InvoiceView,
    pub customer_name: String,
    pub prefill: Option<Prefill>,
}

/// A payment with its customer's name and its invoice's number.
pub struct PaymentRow {
    pub payment: PaymentView,
    pub customer_name: String,
    pub invoice_number: Option<String>,
}

/// One sales code in the comparison: its monthly and yearly versions on sale.
pub struct PlanColumn {
    pub code: String,
    pub name: String,
    pub description: String,
    pub monthly: Option<PlanView>,
    pub yearly: Option<PlanView>,
    pub per_seat: bool,
    pub trial_days: i64,
    pub features: Vec<String>,
    pub limits: BTreeMap<String, Option<i64>>,
}

/// The Available Plans tab: plans side by side, every feature and limit a row.
#[derive(Default)]
pub struct Comparison {
    pub columns: Vec<PlanColumn>,
    pub features: Vec<String>,
    pub limits: Vec<String>,
}

impl Comparison {
    pub fn build(plans: &[PlanView], lang: Lang) -> Comparison {
        let mut by_code: Vec<PlanColumn> = Vec::new();
        for plan in plans.iter().filter(|p| p.active) {
            let at = match by_code.iter().position(|c| c.code == plan.code) {
                Some(i) => i,
                None => {
                    by_code.push(PlanColumn {
                        code: plan.code.clone(),
                        name: localized(lang, &plan.name.th, &plan.name.en),
                        description: localized(lang, &plan.description.th, &plan.description.en),
                        monthly: None,
                        yearly: None,
                        per_seat: plan.pricing == Pricing::PerSeat,
                        trial_days: plan.trial_days,
                        features: plan.features.clone(),
                        limits: plan.limits.clone(),
                    });
                    by_code.len() - 1
                }
            };
            let column = &mut by_code[at];
            match plan.interval {
                PlanInterval::Month if column.monthly.is_none() => {
                    // The monthly version decides what the column lists.
                    column.features = plan.features.clone();
                    column.limits = plan.limits.clone();
                    column.monthly = Some(plan.clone());
                }
                PlanInterval::Year if column.yearly.is_none() => column.yearly = Some(plan.clone()),
                _ => {}
            }
        }
        // Cheapest first, the way a price page reads.
        by_code.sort_by_key(|c| {
            c.monthly
                .as_ref()
                .map(|p| p.price)
                .or_else(|| c.yearly.as_ref().map(|p| p.price / 12))
                .unwrap_or(i64::MAX)
        });
        let mut features: Vec<String> = Vec::new();
        let mut limits: Vec<String> = Vec::new();
        for column in &by_code {
            for f in &column.features {
                if !features.contains(f) {
                    features.push(f.clone());
                }
            }
            for l in column.limits.keys() {
                if !limits.contains(l) {
                    limits.push(l.clone());
                }
            }
        }
        Comparison {
            columns: by_code,
            features,
            limits,
        }
    }
}

pub fn localized(lang: Lang, th: &str, en: &str) -> String {
    match lang {
        Lang::Th if !th.is_empty() => th.to_owned(),
        _ if !en.is_empty() => en.to_owned(),
        _ => th.to_owned(),
    }
}

/// A customer chosen for a tab, or the customers a search found.
#[derive(Default)]
pub struct CustomerPick {
    pub selected: Option<CustomerView>,
    pub matches: Vec<CustomerView>,
}

#[derive(Template)]
#[template(path = "billing.html")]
pub struct BillingPage {
    pub c: Chrome,
    pub query: BillingQuery,
    pub tab: &'static str,
    pub summary: Summary,
    pub chart: String,
    pub can_bill: bool,
    pub subscriptions: Vec<SubscriptionRow>,
    pub next_cursor: Option<String>,
    pub comparison: Comparison,
    pub invoices: Vec<InvoiceRow>,
    pub payments: Vec<PaymentRow>,
    pub payments_next: Option<String>,
    /// Invoices whose payment dialog is on the page (the open ones listed, and the one a
    /// refused payment was for).
    pub payable: Vec<InvoiceRow>,
    pub pick: CustomerPick,
    pub methods: Vec<PaymentMethodView>,
    /// The Coupons tab's page of coupons.
    pub coupons: Vec<CouponView>,
    /// The seller's withholding-tax rate, for the payment dialog's hint.
    pub wht_rate_bps: u32,
    /// Today in Bangkok (`YYYY-MM-DD`): the payment date's default and latest day.
    pub today: String,
    pub form: FormState,
}

/// The subscription status filter in the order the console offers it: the usual first.
const SUBSCRIPTION_FILTERS: [Status; 5] = [
    Status::Active,
    Status::Trialing,
    Status::PastDue,
    Status::Paused,
    Status::Canceled,
];

/// The invoice status filter in the order the console offers it: what needs attention first.
const INVOICE_FILTERS: [InvoiceStatus; 5] = [
    InvoiceStatus::Open,
    InvoiceStatus::Paid,
    InvoiceStatus::Draft,
    InvoiceStatus::Void,
    InvoiceStatus::Uncollectible,
];

impl BillingPage {
    pub fn subscription_filters(&self) -> [Status; 5] {
        SUBSCRIPTION_FILTERS
    }

    pub fn invoice_filters(&self) -> [InvoiceStatus; 5] {
        INVOICE_FILTERS
    }

    /// A link to a tab of this page; the filters stay when the tab stays.
    pub fn tab_link(&self, tab: &str) -> String {
        format!("/billing?tab={tab}")
    }

    /// This tab's list with another dialog open.
    pub fn dialog_link(&self, dialog: &str) -> String {
        format!(
            "/billing?{}&dialog={}",
            self.query.list_params(),
            encode(dialog)
        )
    }

    /// This tab's list, no dialog.
    pub fn here(&self) -> String {
        format!("/billing?{}", self.query.list_params())
    }

    pub fn dialog_is(&self, name: &str) -> bool {
        self.query.dialog == name
    }

    pub fn next_page(&self) -> Option<String> {
        let cursor = self.next_cursor.as_ref()?;
        let mut q = self.query.clone();
        q.cursor = cursor.clone();
        Some(format!("/billing?{}", q.list_params()))
    }

    pub fn first_page(&self) -> Option<String> {
        if self.query.cursor.is_empty() {
            return None;
        }
        let mut q = self.query.clone();
        q.cursor.clear();
        Some(format!("/billing?{}", q.list_params()))
    }

    pub fn payments_next_page(&self) -> Option<String> {
        let cursor = self.payments_next.as_ref()?;
        Some(format!(
            "/billing?{}&pcursor={}",
            self.query.list_params(),
            encode(cursor)
        ))
    }

    /// Which customer a tab shows: its id as the tab's filter link.
    pub fn customer_link(&self, id: impl Borrow<Uuid>) -> String {
        format!("/billing?tab={}&customer={}", self.tab, id.borrow())
    }

    /// The monthly or yearly price of a column, or a dash.
    pub fn price(&self, plan: &Option<PlanView>) -> String {
        match plan {
            Some(p) => self.c.money(p.price, &p.currency),
            None => "—".to_owned(),
        }
    }

    /// A feature's name from the catalogue; a feature an admin invented shows as written.
    pub fn feature_label(&self, feature: &str) -> String {
        label_or_raw(&self.c, "feature", feature)
    }

    pub fn limit_label(&self, limit: &str) -> String {
        label_or_raw(&self.c, "limit", limit)
    }

    /// A column's value for a limit: the number, "unlimited", or a dash when not listed.
    pub fn limit_value(&self, column: &PlanColumn, limit: &str) -> String {
        match column.limits.get(limit) {
            Some(Some(n)) => n.to_string(),
            Some(None) => self.c.t("limit-unlimited"),
            None => "—".to_owned(),
        }
    }

    pub fn has_feature(&self, column: &PlanColumn, feature: &str) -> bool {
        column.features.iter().any(|f| f == feature)
    }

    /// The yearly price as months free against twelve monthly payments, when it saves.
    pub fn yearly_saving(&self, column: &PlanColumn) -> Option<String> {
        let (m, y) = (column.monthly.as_ref()?, column.yearly.as_ref()?);
        let saving = m.price.checked_mul(12)?.checked_sub(y.price)?;
        (saving > 0).then(|| {
            self.c.t1(
                "plan-yearly-saving",
                "amount",
                self.c.money(saving, &y.currency),
            )
        })
    }

    /// An amount in the overview's currency.
    pub fn thb(&self, minor: impl Borrow<i64>) -> String {
        self.c.money(minor, &self.summary.currency)
    }

    /// The withholding-tax rate as a percentage ("3.00 %").
    pub fn wht_rate(&self) -> String {
        format!(
            "{}.{:02} %",
            self.wht_rate_bps / 100,
            self.wht_rate_bps % 100
        )
    }

    /// The churn rate as a percentage with two decimals ("2.50 %").
    pub fn churn(&self) -> String {
        format!("{:.2} %", self.summary.customer_churn_rate * 100.0)
    }

    /// The payment dialog was opened from the invoice's page.
    pub fn from_invoice(&self) -> bool {
        self.query.from == "invoice"
    }

    /// Where the payment dialog of `row` closes to: the invoice's page when opened from there,
    /// else this list.
    pub fn pay_back(&self, row: &InvoiceRow) -> String {
        if self.from_invoice() {
            format!("/invoices/{}", row.inv.id)
        } else {
            self.here()
        }
    }

    /// A payment field of an invoice's dialog: what was typed when this dialog was refused,
    /// else the pre-filled value.
    pub fn pay_value(&self, row: &InvoiceRow, name: &str) -> String {
        if self.dialog_is(&format!("pay-{}", row.inv.id)) && self.form.values.contains_key(name) {
            return self.form.value(name).to_owned();
        }
        match (name, &row.prefill) {
            ("amount", Some(p)) => p.amount.clone(),
            ("withholding_tax_amount", Some(p)) => p.withholding.clone(),
            ("method", _) => "bank_transfer".to_owned(),
            ("paid_at", _) => self.today.clone(),
            _ => String::new(),
        }
    }

    pub fn pay_error(&self, row: &InvoiceRow, name: &str) -> Option<&str> {
        if self.dialog_is(&format!("pay-{}", row.inv.id)) {
            self.form.error(name)
        } else {
            None
        }
    }

    pub fn pay_message(&self, row: &InvoiceRow) -> Option<&str> {
        if self.dialog_is(&format!("pay-{}", row.inv.id)) {
            self.form.message.as_deref()
        } else {
            None
        }
    }

    /// A payment whose withholding tax still waits for its 50 ทวิ certificate.
    pub fn certificate_pending(&self, p: &PaymentView) -> bool {
        p.withholding_tax
            .as_ref()
            .is_some_and(|w| w.certificate_no.is_none())
    }

    /// The reason a payment's certificate form was refused, beside that form.
    pub fn cert_error(&self, p: &PaymentView) -> Option<&str> {
        if self.dialog_is(&format!("cert-{}", p.id)) {
            self.form
                .error("certificate_no")
                .or(self.form.message.as_deref())
        } else {
            None
        }
    }

    pub fn cert_value(&self, p: &PaymentView) -> &str {
        if self.dialog_is(&format!("cert-{}", p.id)) {
            self.form.value("certificate_no")
        } else {
            ""
        }
    }

    /// "Visa •••• 4242".
    pub fn card_label(&self, m: &PaymentMethodView) -> String {
        let brand = m.brand.clone().unwrap_or_default();
        match &m.last4 {
            Some(last4) => format!("{brand} •••• {last4}").trim().to_owned(),
            None => brand,
        }
    }

    pub fn expiry(&self, m: &PaymentMethodView) -> String {
        match (m.exp_month, m.exp_year) {
            (Some(mo), Some(y)) => format!("{mo:02}/{y}"),
            _ => "—".to_owned(),
        }
    }

    /// A payment's withholding tax, or a dash.
    pub fn withheld(&self, p: &PaymentView) -> String {
        match &p.withholding_tax {
            Some(w) => match &w.certificate_no {
                Some(no) => format!("{} ({no})", self.c.money(w.amount, &p.currency)),
                None => self.c.money(w.amount, &p.currency),
            },
            None => "—".to_owned(),
        }
    }
}

/// `prefix-value` from the catalogue, or `value` itself when the catalogue has no such key.
pub fn label_or_raw(c: &Chrome, prefix: &str, value: &str) -> String {
    let key = format!("{prefix}-{value}");
    if c.tr.has(&key) {
        c.t(&key)
    } else {
        value.to_owned()
    }
}

async fn index(mut ctx: Ctx, Query(query): Query<BillingQuery>) -> Result<Response, Failure> {
    // A payment dialog opened by its address (a refused payment reloaded) shows even when its
    // invoice is not on this page of the list.
    let paying = match query
        .dialog
        .strip_prefix("pay-")
        .and_then(|id| Uuid::parse_str(id).ok())
    {
        Some(id) if query.tab == "history" => {
            let reply = ctx
                .api(ApiRequest::new(Method::GET, format!("/api/invoices/{id}")))
                .await;
            if reply.ok() {
                Some(reply.json()?)
            } else {
                None
            }
        }
        _ => None,
    };
    page(ctx, query, FormState::default(), None, paying).await
}

/// Renders the page. `form` and `status` are set when it answers a refused form (the dialog
/// named in the query open again); `paying` is the invoice a refused payment was for.
pub async fn page(
    mut ctx: Ctx,
    mut query: BillingQuery,
    form: FormState,
    status: Option<StatusCode>,
    paying: Option<InvoiceView>,
) -> Result<Response, Failure> {
    let me = ctx.staff().await?;
    let tab = TABS
        .iter()
        .copied()
        .find(|t| *t == query.tab)
        .unwrap_or("subscriptions");
    query.tab = tab.to_owned();
    let summary: Summary = ctx.get("/api/analytics/summary").await?;
    let revenue: Revenue = ctx.get("/api/analytics/revenue").await?;
    let chart = chart(&ctx, &revenue);
    let mut page = BillingPage {
        c: ctx.chrome("billing", Some(me.clone())),
        query,
        tab,
        summary,
        chart,
        can_bill: me.can_bill(),
        subscriptions: Vec::new(),
        next_cursor: None,
        comparison: Comparison::default(),
        invoices: Vec::new(),
        payments: Vec::new(),
        payments_next: None,
        payable: Vec::new(),
        pick: CustomerPick::default(),
        methods: Vec::new(),
        coupons: Vec::new(),
        wht_rate_bps: 0,
        today: super::payments::today(&ctx).format("%Y-%m-%d").to_string(),
        form,
    };
    page.c.notice = notice_text(&page.c.tr, &page.query.notice);
    match tab {
        "subscriptions" => load_subscriptions(&mut ctx, &mut page).await?,
        "plans" => {
            let plans: Page<PlanView> = ctx.get("/api/plans?limit=200").await?;
            page.comparison = Comparison::build(&plans.data, ctx.lang);
        }
        "history" => load_history(&mut ctx, &mut page, paying).await?,
        "coupons" => {
            let mut uri = format!("/api/coupons?limit={PAGE_SIZE}");
            if !page.query.cursor.is_empty() {
                uri.push_str(&format!("&cursor={}", encode(&page.query.cursor)));
            }
            let list: Page<CouponView> = ctx.get(uri).await?;
            page.coupons = list.data;
            page.next_cursor = list.next_cursor;
        }
        _ => {
            page.pick = pick_customer(&mut ctx, &page.query).await?;
            if let Some(customer) = &page.pick.selected {
                let methods: Page<PaymentMethodView> = ctx
                    .get(format!(
                        "/api/customers/{}/payment-methods?limit=200",
                        customer.id
                    ))
                    .await?;
                page.methods = methods.data;
            }
        }
    }
    let mut response = render(&page);
    if let Some(status) = status {
        *response.status_mut() = status;
    }
    Ok(response)
}

/// The revenue chart: a bar of money received and a line of money invoiced per month.
fn chart(ctx: &Ctx, revenue: &Revenue) -> String {
    let tr = ctx.tr();
    let bars: Vec<Bar> = revenue
        .months
        .iter()
        .map(|m| {
            let date = chrono::NaiveDate::parse_from_str(&format!("{}-01", m.month), "%Y-%m-%d")
                .unwrap_or_default();
            Bar {
                label: format::month_label(ctx.lang, date.year(), date.month0()),
                paid: m.paid,
                invoiced: m.invoiced,
            }
        })
        .collect();
    let currency = revenue.currency.to_string();
    revenue_svg(
        &bars,
        &tr.t("billing-chart-title"),
        &tr.t("billing-chart-description"),
        |v| format::money(v, &currency),
    )
}

/// Customer names by id, read once each (a name that cannot be read shows as the id).
pub async fn customer_names(
    ctx: &mut Ctx,
    ids: Vec<Uuid>,
) -> Result<HashMap<Uuid, String>, Failure> {
    let mut names = HashMap::new();
    for id in ids {
        if names.contains_key(&id) {
            continue;
        }
        let reply = ctx
            .api(ApiRequest::new(Method::GET, format!("/api/customers/{id}")))
            .await;
        if reply.status == StatusCode::UNAUTHORIZED {
            return Err(Failure::from_status(reply.status, &ctx.here));
        }
        let name = if reply.ok() {
            reply.json::<CustomerView>()?.name
        } else {
            id.to_string()
        };
        names.insert(id, name);
    }
    Ok(names)
}

async fn load_subscriptions(ctx: &mut Ctx, page: &mut BillingPage) -> Result<(), Failure> {
    let mut uri = format!("/api/subscriptions?limit={PAGE_SIZE}");
    if let Some(status) = page.query.subscription_status() {
        uri.push_str(&format!("&status={status}"));
    }
    if !page.query.cursor.is_empty() {
        uri.push_str(&format!("&cursor={}", encode(&page.query.cursor)));
    }
    let list: Page<SubscriptionView> = ctx.get(uri).await?;
    // Archived versions too: subscribers keep the version they bought.
    let plans: Page<PlanView> = ctx
        .get("/api/plans?include_archived=true&limit=200")
        .await?;
    let ids: Vec<Uuid> = list.data.iter().map(|s| s.customer_id).collect();
    let names = customer_names(ctx, ids).await?;
    for sub in list.data {
        let plan = match plans.data.iter().find(|p| p.id == sub.plan_id) {
            Some(p) => p.clone(),
            None => ctx.get(format!("/api/plans/{}", sub.plan_id)).await?,
        };
        page.subscriptions.push(SubscriptionRow {
            customer_name: names.get(&sub.customer_id).cloned().unwrap_or_default(),
            plan_name: localized(ctx.lang, &plan.name.th, &plan.name.en),
            amount: if plan.pricing == Pricing::PerSeat {
                plan.price.saturating_mul(sub.quantity)
            } else {
                plan.price
            },
            currency: plan.currency.clone(),
            interval: plan.interval.as_str().to_owned(),
            sub,
        });
    }
    page.next_cursor = list.next_cursor;
    Ok(())
}

/// The customer a tab is about (`customer=`), or those a search (`customer_q=`) found; one
/// match is taken at once.
async fn pick_customer(ctx: &mut Ctx, query: &BillingQuery) -> Result<CustomerPick, Failure> {
    if let Some(id) = query.customer_id() {
        let reply = ctx
            .api(ApiRequest::new(Method::GET, format!("/api/customers/{id}")))
            .await;
        if reply.ok() {
            return Ok(CustomerPick {
                selected: Some(reply.json()?),
                matches: Vec::new(),
            });
        }
        if reply.status == StatusCode::UNAUTHORIZED {
            return Err(Failure::from_status(reply.status, &ctx.here));
        }
        return Ok(CustomerPick::default());
    }
    let term = query.customer_q.trim();
    if term.is_empty() {
        return Ok(CustomerPick::default());
    }
    let reply = ctx
        .api(ApiRequest::new(
            Method::GET,
            format!("/api/customers?limit=10&q={}", encode(term)),
        ))
        .await;
    if reply.status == StatusCode::UNAUTHORIZED {
        return Err(Failure::from_status(reply.status, &ctx.here));
    }
    let mut found: Vec<CustomerView> = if reply.ok() {
        reply.json::<Page<CustomerView>>()?.data
    } else {
        Vec::new()
    };
    if found.len() == 1 {
        return Ok(CustomerPick {
            selected: found.pop(),
            matches: Vec::new(),
        });
    }
    Ok(CustomerPick {
        selected: None,
        matches: found,
    })
}

async fn load_history(
    ctx: &mut Ctx,
    page: &mut BillingPage,
    paying: Option<InvoiceView>,
) -> Result<(), Failure> {
    page.pick = pick_customer(ctx, &page.query).await?;
    let searching = !page.query.customer_q.trim().is_empty() && page.pick.selected.is_none();
    if let Some(c) = &page.pick.selected {
        page.query.customer = c.id.to_string();
    }
    let customer = page.pick.selected.as_ref().map(|c| c.id);
    let settings = super::payments::withholding_rate(ctx).await?;
    page.wht_rate_bps = settings;
    if !searching {
        let mut uri = format!("/api/invoices?limit={PAGE_SIZE}");
        if let Some(status) = page.query.invoice_status() {
            uri.push_str(&format!("&status={status}"));
        }
        if let Some(id) = customer {
            uri.push_str(&format!("&customer_id={id}"));
        }
        if !page.query.cursor.is_empty() {
            uri.push_str(&format!("&cursor={}", encode(&page.query.cursor)));
        }
        let list: Page<InvoiceView> = ctx.get(uri).await?;
        let mut payments_uri = format!("/api/payments?limit={PAGE_SIZE}");
        if let Some(id) = customer {
            payments_uri.push_str(&format!("&customer_id={id}"));
        }
        if !page.query.pcursor.is_empty() {
            payments_uri.push_str(&format!("&cursor={}", encode(&page.query.pcursor)));
        }
        let payments: Page<PaymentView> = ctx.get(payments_uri).await?;
        let unnamed: Vec<Uuid> = list
            .data
            .iter()
            .filter(|i| snapshot_name(i).is_none())
            .map(|i| i.customer_id)
            .chain(payments.data.iter().map(|p| p.customer_id))
            .collect();
        let names = customer_names(ctx, unnamed).await?;
        let mut numbers: HashMap<Uuid, Option<String>> =
            list.data.iter().map(|i| (i.id, i.number.clone())).collect();
        for inv in list.data {
            page.invoices.push(invoice_row(inv, &names, settings));
        }
        for payment in payments.data {
            let invoice_number = match numbers.get(&payment.invoice_id) {
                Some(n) => n.clone(),
                None => {
                    let n = invoice_number(ctx, payment.invoice_id).await?;
                    numbers.insert(payment.invoice_id, n.clone());
                    n
                }
            };
            page.payments.push(PaymentRow {
                customer_name: names.get(&payment.customer_id).cloned().unwrap_or_default(),
                invoice_number,
                payment,
            });
        }
        page.next_cursor = list.next_cursor;
        page.payments_next = payments.next_cursor;
    }
    let names = HashMap::new();
    for row in &page.invoices {
        if row.prefill.is_some() {
            page.payable.push(InvoiceRow {
                inv: row.inv.clone(),
                customer_name: row.customer_name.clone(),
                prefill: row.prefill.clone(),
            });
        }
    }
    if let Some(inv) = paying
        && !page.payable.iter().any(|r| r.inv.id == inv.id)
    {
        page.payable.push(invoice_row(inv, &names, settings));
    }
    Ok(())
}

/// An invoice's number, read by id (none for one that cannot be read).
async fn invoice_number(ctx: &mut Ctx, id: Uuid) -> Result<Option<String>, Failure> {
    let reply = ctx
        .api(ApiRequest::new(Method::GET, format!("/api/invoices/{id}")))
        .await;
    if reply.status == StatusCode::UNAUTHORIZED {
        return Err(Failure::from_status(reply.status, &ctx.here));
    }
    Ok(if reply.ok() {
        reply.json::<InvoiceView>()?.number
    } else {
        None
    })
}

/// The buyer's name on an issued invoice.
fn snapshot_name(inv: &InvoiceView) -> Option<String> {
    inv.customer
        .as_ref()
        .and_then(|c| c.get("name"))
        .and_then(|n| n.as_str())
        .map(str::to_owned)
}

fn invoice_row(inv: InvoiceView, names: &HashMap<Uuid, String>, wht_rate_bps: u32) -> InvoiceRow {
    let customer_name = snapshot_name(&inv)
        .or_else(|| names.get(&inv.customer_id).cloned())
        .unwrap_or_else(|| inv.customer_id.to_string());
    let prefill = super::payments::prefill(&inv, wht_rate_bps);
    InvoiceRow {
        inv,
        customer_name,
        prefill,
    }
}

/// Pause, resume or cancel (at the period's end) from the subscriptions tab, then back to the
/// same list.
async fn subscription_action(
    mut ctx: Ctx,
    Path((id, action)): Path<(Uuid, String)>,
    CsrfForm(fields): CsrfForm<Fields>,
) -> Result<Response, Failure> {
    let body = match action.as_str() {
        "pause" | "resume" => None,
        "cancel" => Some(json!({ "at_period_end": true })),
        _ => return Err(Failure::NotFound),
    };
    let reply = ctx
        .send(
            Method::POST,
            format!("/api/subscriptions/{id}/{action}"),
            body,
            fields.get("_key").map(String::as_str),
        )
        .await;
    let query = BillingQuery {
        tab: "subscriptions".to_owned(),
        status: field(&fields, "back_status").to_owned(),
        cursor: field(&fields, "back_cursor").to_owned(),
        ..BillingQuery::default()
    };
    if reply.ok() {
        return Ok(Redirect::to(&format!(
            "/billing?{}&notice=subscription-{action}",
            query.list_params()
        ))
        .into_response());
    }
    let form = refusal(&ctx, Fields::new(), &reply)?;
    let status = reply.status;
    page(ctx, query, form, Some(status), None).await
}
