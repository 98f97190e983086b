//! The subscription import (SPEC §2.14): one running subscription per CSV row, for a book moved
//! from spreadsheets or another system. Import the customers first.
//!
//! - **Columns**: [`COLUMNS`]. The customer by `customer_tax_id` (with `customer_branch_code`;
//!   without one, the head office `00000`, as a customer's tax id is stored), `customer_email`
//!   (ignoring case) or `customer_id` — at least one; when several are given they must name the
//!   same customer, which must be active. `plan_code` (required; any case) names the plan on
//!   sale under that code, with `interval` (`month`/`year`) when both are sold (else monthly is
//!   preferred, as `POST /api/subscriptions` prefers it); `quantity` (default 1; 1 on a flat
//!   plan); `unit_price`, a negotiated price per period (per seat) in baht as a spreadsheet
//!   holds it (`1,070.00`, `฿990`); `start_date` (required); `current_period_end`;
//!   `collection_method` (`charge_automatically`, the default, or `send_invoice`). Dates are
//!   `YYYY-MM-DD` (Christian Era).
//! - **What an imported subscription is**: `active`, in a current period that the system it
//!   comes from has billed already — nothing is invoiced at import. The period ends on
//!   `current_period_end`, which must lie between today and one billing cycle ahead; the billing
//!   run invoices the next period on that day, like any subscription's. Without it, the period
//!   is the one of the plan's cycle, counted from `start_date`, that holds today. `start_date`
//!   may lie years back but not after today (a subscription that starts later is
//!   `POST /api/subscriptions`'). Later periods keep `start_date`'s day of the month when
//!   `current_period_end` falls on that schedule, else `current_period_end`'s day.
//! - **The same checks as a create** where they apply: the quantity and price limits, the
//!   plan's currency against the customer's, seats only on per-seat plans; no trial, no coupon.
//! - **Duplicates**: a subscription is known by its customer, plan code and start date. A row
//!   repeating an earlier row's is an error of the later line; a row whose customer already has
//!   a subscription (canceled ones included) with that plan code and start date is skipped,
//!   reported with that subscription's id — so running the same file again creates nothing.
//! - **Events and audit**: each subscription created has its `subscription.created` event
//!   (webhooks) and audit entry, as a single create has, written in batches.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use uuid::Uuid;

use satang_domain::{BranchCode, CollectionMethod, Interval, Period, Status, TaxId, bangkok_date};
use satang_store::audit::{self, Actor, Change};
use satang_store::imports::{self as store, Reader};
use satang_store::outbox::{self, NewEvent};
use satang_store::plans::Plan;
use satang_store::subscriptions::{RunningDiscount, Subscription};
use satang_store::{Db, Tx};

mod named_customers;
mod period;

use named_customers::Customers;
use period::current_period;

use super::{
    BATCH_ROWS, Existing, ImportOptions, ImportReport, Message, RecordImport, RowError, SkippedRow,
    Table, nul_error, run,
};
use crate::Result;
use crate::subscriptions::{MAX_QUANTITY, MAX_UNIT_PRICE, NotForSale, sale_price};
use crate::subscriptions::{cycle_of, subscription_json};

/// The columns a subscription import may have.
pub const COLUMNS: [&str; 11] = [
    "customer_tax_id",
    "customer_branch_code",
    "customer_email",
    "customer_id",
    "plan_code",
    "interval",
    "quantity",
    "unit_price",
    "start_date",
    "current_period_end",
    "collection_method",
];

/// How a row names its customer, each key checked but not yet looked up.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct CustomerKeys {
    /// Tax id and branch code.
    tax: Option<(String, String)>,
    /// Lower-cased (ASCII), as the look-up compares.
    email: Option<String>,
    id: Option<Uuid>,
}

/// A row that passed its own checks.
#[derive(Debug, Clone)]
pub(crate) struct Candidate {
    line: u64,
    customer: CustomerKeys,
    /// Upper-cased.
    plan_code: String,
    interval: Option<Interval>,
    quantity: i64,
    unit_price: Option<i64>,
    start: NaiveDate,
    period_end: Option<NaiveDate>,
    collection_method: CollectionMethod,
}

/// Imports the subscriptions of `csv` (see the module's rules), today being `now`'s date in
/// Bangkok. `Ok` with [`ImportReport::refused`] when a bad row (or header) kept the import from
/// writing anything.
pub async fn import_subscriptions(
    db: &Db,
    actor: &Actor,
    csv: &str,
    options: ImportOptions,
    now: DateTime<Utc>,
) -> Result<ImportReport> {
    let import = SubscriptionImport {
        today: bangkok_date(now),
        now,
    };
    run(&import, db, actor, csv, options, now).await
}

struct SubscriptionImport {
    today: NaiveDate,
    now: DateTime<Utc>,
}

impl RecordImport for SubscriptionImport {
    type Candidate = Candidate;
    type New = Subscription;
    const COLUMNS: &'static [&'static str] = &COLUMNS;
    const REQUIRED: &'static [&'static str] = &["plan_code", "start_date"];

    fn check(&self, table: &Table, errors: &mut Vec<RowError>) -> Vec<Candidate> {
        let mut candidates = Vec::with_capacity(table.rows.len());
        for row in &table.rows {
            match candidate_of(table.cells(row), row.line) {
                Ok(c) => candidates.push(c),
                Err(mut row_errors) => errors.append(&mut row_errors),
            }
        }
        candidates
    }

    async fn sort_out(
        &self,
        reader: &mut Reader<'_>,
        candidates: Vec<Candidate>,
        errors: &mut Vec<RowError>,
    ) -> Result<(Vec<Subscription>, Vec<SkippedRow>)> {
        let customers = Customers::look_up(reader, &candidates).await?;
        let mut codes: Vec<String> = candidates.iter().map(|c| c.plan_code.clone()).collect();
        codes.sort_unstable();
        codes.dedup();
        let plans = store::plans_on_sale(reader, &codes).await?;
        // Each row with its customer and plan, or its errors.
        let mut resolved = Vec::with_capacity(candidates.len());
        for c in candidates {
            let mut row_errors = Vec::new();
            let customer = customers.resolve(&c, &mut row_errors);
            let plan = plan_for(&plans, &c, &mut row_errors);
            if let (Some(customer), Some(plan)) = (customer, plan) {
                match sale_price(plan, c.unit_price, c.quantity, customer.currency) {
                    Ok(_) => {}
                    Err(refusal) => row_errors.push(not_for_sale(c.line, refusal)),
                }
                match current_period(c.start, c.period_end, cycle_of(plan)?, self.today) {
                    Ok(period) => {
                        if row_errors.is_empty() {
                            resolved.push((c, customer.id, plan, period));
                            continue;
                        }
                    }
                    Err(refused) => {
                        row_errors.extend(
                            refused
                                .into_iter()
                                .map(|(field, message)| RowError::new(c.line, field, message)),
                        );
                    }
                }
            }
            errors.append(&mut row_errors);
        }
        let mut customer_ids: Vec<Uuid> = resolved.iter().map(|r| r.1).collect();
        customer_ids.sort_unstable();
        customer_ids.dedup();
        let stored = store::subscriptions_of(reader, &customer_ids).await?;
        let stored: HashMap<(Uuid, &str, NaiveDate), Uuid> = stored
            .iter()
            .map(|s| ((s.customer_id, s.plan_code.as_str(), s.start_date), s.id))
            .collect();
        let mut first_lines: HashMap<(Uuid, String, NaiveDate), u64> = HashMap::new();
        let mut new = Vec::with_capacity(resolved.len());
        let mut skipped = Vec::new();
        for (c, customer_id, plan, (period, anchor_day)) in resolved {
            match first_lines.entry((customer_id, plan.code.clone(), c.start)) {
                Entry::Occupied(first) => {
                    errors.push(RowError::new(
                        c.line,
                        "start_date",
                        Message::new(
                            format!(
                                "the same customer, plan and start date as line {}",
                                first.get()
                            ),
                            format!("ลูกค้า แผน และวันเริ่มซ้ำกับบรรทัดที่ {}", first.get()),
                        ),
                    ));
                    continue;
                }
                Entry::Vacant(slot) => {
                    slot.insert(c.line);
                }
            }
            if let Some(id) = stored.get(&(customer_id, plan.code.as_str(), c.start)) {
                skipped.push(SkippedRow {
                    line: c.line,
                    existing: Existing::Subscription {
                        id: *id,
                        customer_id,
                    },
                });
                continue;
            }
            new.push(imported(
                &c,
                customer_id,
                plan,
                period,
                anchor_day,
                self.now,
            ));
        }
        Ok((new, skipped))
    }

    async fn create_all(
        &self,
        tx: &mut Tx,
        actor: &Actor,
        new: &[Subscription],
        now: DateTime<Utc>,
    ) -> Result<()> {
        for batch in new.chunks(BATCH_ROWS) {
            store::insert_subscriptions(tx, batch).await?;
            let (events, changes): (Vec<_>, Vec<_>) = batch.iter().map(creation_records).unzip();
            outbox::emit_many(tx, events, now).await?;
            audit::record_many(tx, actor, changes, now).await?;
        }
        Ok(())
    }
}

/// The event and audit entry of a subscription created, as `create_subscription` writes them.
fn creation_records(sub: &Subscription) -> (NewEvent<'static>, Change<'static>) {
    let json = subscription_json(sub);
    (
        NewEvent {
            event_type: "subscription.created",
            entity_type: "subscription",
            entity_id: sub.id.to_string(),
            customer_id: Some(sub.customer_id),
            payload: json.clone(),
        },
        Change {
            action: "subscription.created",
            entity_type: "subscription",
            entity_id: sub.id.to_string(),
            before: None,
            after: Some(json),
        },
    )
}

/// The subscription a resolved row makes: active in `period`, its next invoice due at the
/// period's end.
fn imported(
    c: &Candidate,
    customer_id: Uuid,
    plan: &Plan,
    period: Period,
    anchor_day: u32,
    now: DateTime<Utc>,
) -> Subscription {
    Subscription {
        id: Uuid::now_v7(),
        customer_id,
        plan_id: plan.id,
        plan_code: plan.code.clone(),
        plan_version: plan.version,
        plan_interval: plan.billing_interval,
        plan_interval_count: plan.interval_count,
        quantity: c.quantity,
        status: Status::Active,
        collection_method: c.collection_method,
        start_date: c.start,
        trial_end: None,
        current_period_start: period.start(),
        current_period_end: period.end(),
        billing_anchor_day: i64::from(anchor_day),
        next_billing_date: Some(period.end()),
        cancel_at_period_end: false,
        paused_at: None,
        canceled_at: None,
        pending_plan_id: None,
        pending_quantity: None,
        pending_plan_code: None,
        pending_plan_version: None,
        unit_price: c.unit_price,
        pending_unit_price: None,
        discount: RunningDiscount::default(),
        billing_threshold: None,
        created_at: now,
        updated_at: now,
        version: 1,
    }
}

/// A row's cells checked: the candidate, or every error of the row.
fn candidate_of<'a>(
    cells: impl Iterator<Item = (&'static str, &'a str)>,
    line: u64,
) -> Result<Candidate, Vec<RowError>> {
    let mut errors = Vec::new();
    let error =
        |column: &str, en: &str, th: &str| RowError::new(line, column, Message::new(en, th));
    let mut customer = CustomerKeys::default();
    let (mut tax_id, mut branch) = (None, None);
    let mut plan_code = None;
    let mut interval = None;
    let mut quantity = 1;
    let mut unit_price = None;
    let mut start = None;
    let mut period_end = None;
    let mut collection_method = CollectionMethod::ChargeAutomatically;
    for (column, cell) in cells {
        if cell.contains('\0') {
            errors.push(nul_error(line, column));
            continue;
        }
        let text = cell.trim();
        let refusal = match column {
            "customer_tax_id" => TaxId::parse(text)
                .map(|t| tax_id = Some(t))
                .map_err(|e| Message::new(e.to_string(), e.thai())),
            "customer_branch_code" => BranchCode::parse(text)
                .map(|b| branch = Some(b))
                .map_err(|e| Message::new(e.to_string(), e.thai())),
            "customer_email" => {
                customer.email = Some(text.to_ascii_lowercase());
                Ok(())
            }
            "customer_id" => Uuid::parse_str(text)
                .map(|id| customer.id = Some(id))
                .map_err(|_| {
                    Message::new("must be a customer's id (a UUID)", "ต้องเป็นรหัสลูกค้า (UUID)")
                }),
            "plan_code" => {
                plan_code = Some(text.to_ascii_uppercase());
                Ok(())
            }
            "interval" => text
                .to_ascii_lowercase()
                .parse::<Interval>()
                .map(|i| interval = Some(i))
                .map_err(|_| Message::new("must be month or year", "ต้องเป็น month หรือ year")),
            "quantity" => match text.parse::<i64>() {
                Ok(q) if (1..=MAX_QUANTITY).contains(&q) => {
                    quantity = q;
                    Ok(())
                }
                _ => Err(Message::new(
                    format!("must be a whole number between 1 and {MAX_QUANTITY}"),
                    format!("ต้องเป็นจำนวนเต็มตั้งแต่ 1 ถึง {MAX_QUANTITY}"),
                )),
            },
            "unit_price" => match satang_domain::typed_amount::parse_baht(text) {
                Some(p) if (0..=MAX_UNIT_PRICE).contains(&p) => {
                    unit_price = Some(p);
                    Ok(())
                }
                _ => Err(Message::new(
                    "must be an amount in baht of 0 or more, e.g. 1,070.00",
                    "ต้องเป็นจำนวนเงินบาทตั้งแต่ 0 ขึ้นไป เช่น 1,070.00",
                )),
            },
            "start_date" => date_of(text).map(|d| start = Some(d)),
            "current_period_end" => date_of(text).map(|d| period_end = Some(d)),
            "collection_method" => text
                .to_ascii_lowercase()
                .parse::<CollectionMethod>()
                .map(|m| collection_method = m)
                .map_err(|_| {
                    Message::new(
                        "must be charge_automatically or send_invoice",
                        "ต้องเป็น charge_automatically หรือ send_invoice",
                    )
                }),
            _ => Ok(()),
        };
        if let Err(message) = refusal {
            errors.push(RowError::new(line, column, message));
        }
    }
    match (tax_id, branch) {
        (Some(t), b) => {
            let b = b.unwrap_or_else(BranchCode::head_office);
            customer.tax = Some((t.as_str().to_owned(), b.as_str().to_owned()));
        }
        (None, Some(_)) => errors.push(error(
            "customer_branch_code",
            "applies only with customer_tax_id",
            "ใช้ได้เมื่อมี customer_tax_id เท่านั้น",
        )),
        (None, None) => {}
    }
    let named = |field: &str| errors.iter().any(|e: &RowError| e.field == field);
    if customer == CustomerKeys::default()
        && ![
            "customer_tax_id",
            "customer_branch_code",
            "customer_email",
            "customer_id",
        ]
        .iter()
        .any(|f| named(f))
    {
        errors.push(error(
            "customer_tax_id",
            "a row names its customer by customer_tax_id, customer_email or customer_id",
            "แต่ละแถวต้องระบุลูกค้าด้วย customer_tax_id, customer_email หรือ customer_id",
        ));
    }
    if plan_code.is_none() {
        errors.push(error("plan_code", "must not be empty", "ต้องไม่เว้นว่าง"));
    }
    if start.is_none() && !errors.iter().any(|e| e.field == "start_date") {
        errors.push(error("start_date", "must not be empty", "ต้องไม่เว้นว่าง"));
    }
    match (plan_code, start) {
        (Some(plan_code), Some(start)) if errors.is_empty() => Ok(Candidate {
            line,
            customer,
            plan_code,
            interval,
            quantity,
            unit_price,
            start,
            period_end,
            collection_method,
        }),
        _ => Err(errors),
    }
}

/// A `YYYY-MM-DD` date, with a hint when the year is the Buddhist Era's.
fn date_of(text: &str) -> Result<NaiveDate, Message> {
    match NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        Ok(d) if d.year() > 2400 => Err(Message::new(
            format!(
                "{} looks like a Buddhist Era year; give the Christian Era year ({})",
                d.year(),
                d.year() - 543
            ),
            format!(
                "ปี {} เป็นปีพุทธศักราช โปรดใช้ปีคริสต์ศักราช ({})",
                d.year(),
                d.year() - 543
            ),
        )),
        Ok(d) => Ok(d),
        Err(_) => Err(Message::new(
            "must be a date as YYYY-MM-DD, e.g. 2026-11-24",
            "ต้องเป็นวันที่แบบ YYYY-MM-DD (ปีคริสต์ศักราช) เช่น 2026-11-24",
        )),
    }
}

/// The plan on sale that the row names (its interval, else monthly when sold, else yearly), or
/// its error pushed.
fn plan_for<'a>(plans: &'a [Plan], c: &Candidate, errors: &mut Vec<RowError>) -> Option<&'a Plan> {
    let mut sold: Vec<&Plan> = plans
        .iter()
        .filter(|p| p.code == c.plan_code && c.interval.is_none_or(|i| p.billing_interval == i))
        .collect();
    sold.sort_by_key(|p| {
        (
            p.billing_interval != Interval::Month,
            p.billing_interval.as_str(),
        )
    });
    if let Some(plan) = sold.first() {
        return Some(plan);
    }
    let code = &c.plan_code;
    let message = match c.interval {
        Some(i) => Message::new(
            format!("no {} plan with code {code} is on sale", i.as_str()),
            format!("ไม่มีแผนรหัส {code} แบบราย{} ที่เปิดขายอยู่", interval_th(i)),
        ),
        None => Message::new(
            format!("no plan with code {code} is on sale"),
            format!("ไม่มีแผนรหัส {code} ที่เปิดขายอยู่"),
        ),
    };
    errors.push(RowError::new(c.line, "plan_code", message));
    None
}

fn interval_th(i: Interval) -> &'static str {
    match i {
        Interval::Month => "เดือน",
        Interval::Year => "ปี",
    }
}

fn not_for_sale(line: u64, refusal: NotForSale) -> RowError {
    let column = match refusal {
        NotForSale::OtherCurrency { .. } => "plan_code",
        NotForSale::SeatsOnFlatPlan | NotForSale::TooLarge => "quantity",
    };
    RowError::new(
        line,
        column,
        Message::new(refusal.english(), refusal.thai()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    fn cells<'a>(
        pairs: &'a [(&'static str, &'a str)],
    ) -> impl Iterator<Item = (&'static str, &'a str)> + 'a {
        pairs.iter().copied()
    }

    #[test]
    fn cells_become_a_candidate() {
        let c = candidate_of(
            cells(&[
                ("customer_tax_id", "0-1055-36000-31-3"),
                ("customer_email", " Billing@Farm.example "),
                ("plan_code", " pro "),
                ("interval", "Year"),
                ("quantity", "3"),
                ("unit_price", "฿1,070.50"),
                ("start_date", "2025-01-31"),
                ("collection_method", "send_invoice"),
            ]),
            7,
        )
        .unwrap();
        assert_eq!(
            c.customer.tax,
            Some(("0105536000313".to_owned(), "00000".to_owned()))
        );
        assert_eq!(c.customer.email.as_deref(), Some("billing@farm.example"));
        assert_eq!(c.plan_code, "PRO");
        assert_eq!(c.interval, Some(Interval::Year));
        assert_eq!(c.quantity, 3);
        assert_eq!(c.unit_price, Some(107_050));
        assert_eq!(c.start, d(2025, 1, 31));
        assert_eq!(c.period_end, None);
        assert_eq!(c.collection_method, CollectionMethod::SendInvoice);
    }

    #[test]
    fn every_bad_cell_of_a_row_is_reported_in_both_languages() {
        let errors = candidate_of(
            cells(&[
                ("customer_tax_id", "0105536000310"),
                ("plan_code", "PRO"),
                ("quantity", "0"),
                ("unit_price", "-5"),
                ("start_date", "2569-01-31"),
                ("current_period_end", "31/01/2026"),
            ]),
            4,
        )
        .unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            vec![
                "customer_tax_id",
                "quantity",
                "unit_price",
                "start_date",
                "current_period_end"
            ]
        );
        assert!(errors.iter().all(|e| e.line == 4));
        assert!(
            errors[0].message.th.contains("เลขตรวจสอบ"),
            "{:?}",
            errors[0]
        );
        assert!(errors[3].message.en.contains("(2026)"), "{:?}", errors[3]);
        let errors = candidate_of(cells(&[("customer_branch_code", "00001")]), 2).unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            vec!["customer_branch_code", "plan_code", "start_date"]
        );
        let errors = candidate_of(
            cells(&[("plan_code", "PRO"), ("start_date", "2026-01-01")]),
            2,
        )
        .unwrap_err();
        assert_eq!(errors[0].field, "customer_tax_id");
    }
}
