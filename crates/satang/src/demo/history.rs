//! Twelve months of billing history for the demo customers, made by the real engine: each
//! customer subscribes on the day it joined, then a demo clock walks day by day to today, running
//! the billing run every day and paying invoices the way customers do — most a few days after
//! the invoice, some with 3 % withholding tax, a few late (their last invoices stay open and
//! overdue). Some customers cancel, one pauses. Every number on every page comes from this.

use anyhow::Context;
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use serde_json::json;
use uuid::Uuid;

use satang_billing::BillingSettings;
use satang_billing::invoicing::settlement::{PaymentInput, record_payment};
use satang_billing::run::run_billing;
use satang_billing::subscriptions::{
    CollectionMethod, NewSubscription, PlanRef, Trial, create_subscription,
};
use satang_domain::{Interval, InvoiceStatus, Status, bangkok_date};
use satang_store::audit::{self, Actor, Change};
use satang_store::clock::Clock;
use satang_store::subscriptions::{self, SubscriptionFields};
use satang_store::{Db, Scope, invoices, payment_methods};

/// One demo customer's commercial life.
pub struct Account {
    pub customer_id: Uuid,
    pub index: usize,
    /// The Bangkok date the customer joined.
    pub joined: NaiveDate,
}

/// (plan code, interval, seats) by customer index.
fn plan_for(index: usize) -> (&'static str, Interval, i64) {
    match index % 10 {
        0..=4 => ("PRO", Interval::Month, 1),
        5 | 6 => ("TEAM", Interval::Month, 2 + (index % 9) as i64),
        7 => ("ENTERPRISE", Interval::Month, 1),
        8 => ("PRO", Interval::Year, 1),
        _ => ("TEAM", Interval::Year, 5),
    }
}

/// Customers who pay late leave their recent invoices open.
fn pays_late(index: usize) -> bool {
    index % 6 == 5
}

/// B2B customers who withhold 3 % and hand over a certificate.
fn withholds(index: usize) -> bool {
    index % 4 == 1
}

fn at_noon(date: NaiveDate) -> DateTime<Utc> {
    // 12:00 in Bangkok is 05:00 UTC.
    date.and_hms_opt(5, 0, 0)
        .map(|t| t.and_utc())
        .unwrap_or_default()
}

/// Builds the history; `today` is the real current time.
pub async fn load(db: &Db, accounts: &[Account], today: DateTime<Utc>) -> anyhow::Result<()> {
    let first_day = accounts
        .iter()
        .map(|a| a.joined)
        .min()
        .unwrap_or(bangkok_date(today));
    let offset = (at_noon(first_day) - Utc::now())
        .num_microseconds()
        .unwrap_or_default();
    let clock = Clock::test(offset);
    let actor = Actor {
        request_id: Some("demo".into()),
        ..Actor::default()
    };
    let settings = BillingSettings::load(db).await?;
    let last_day = bangkok_date(today);
    let mut day = first_day;
    while day <= last_day {
        let now = at_noon(day).min(today);
        if now > clock.now() {
            clock.move_to(now).ok();
        }
        for account in accounts.iter().filter(|a| a.joined == day) {
            subscribe(db, &actor, account, day, clock.now()).await?;
        }
        churn(db, &actor, accounts, day, first_day, clock.now()).await?;
        run_billing(db, &clock, clock.now()).await?;
        // The tax documents the run leaves to the worker, as `satang serve` makes them.
        while satang_billing::tax_documents::issue_queued(db, clock.now(), 500).await? > 0 {}
        pay_due(db, &actor, accounts, day, last_day, &settings, clock.now()).await?;
        day = day.succ_opt().context("calendar overflow")?;
    }
    Ok(())
}

async fn subscribe(
    db: &Db,
    actor: &Actor,
    account: &Account,
    day: NaiveDate,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    let (code, interval, seats) = plan_for(account.index);
    let mut tx = db.begin().await?;
    // Every third customer starts with the plan's free trial; the others pay their first
    // period at once, as a customer subscribing through the API does.
    let trial = if account.index.is_multiple_of(3) {
        Trial::Plan
    } else {
        Trial::Days(0)
    };
    create_subscription(
        &mut tx,
        actor,
        NewSubscription {
            customer_id: account.customer_id,
            plan: PlanRef::Code {
                code: code.to_owned(),
                interval: Some(interval),
            },
            quantity: seats,
            start: day,
            trial,
            collection_method: CollectionMethod::SendInvoice,
            unit_price: None,
            coupon: None,
        },
        now,
    )
    .await
    .with_context(|| format!("subscribing demo customer {} to {code}", account.index))?;
    // How each customer says it pays (cards need the gateway, so the demo keeps to these).
    let method_type = if account.index.is_multiple_of(2) {
        "promptpay"
    } else {
        "bank_transfer"
    };
    payment_methods::insert(
        &mut tx,
        account.customer_id,
        payment_methods::NewPaymentMethod {
            method_type: method_type.into(),
            gateway: None,
            token_sealed: None,
            brand: None,
            last4: None,
            exp_month: None,
            exp_year: None,
            is_default: true,
        },
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Around month eight two customers give notice (canceled at period end), and one pauses.
async fn churn(
    db: &Db,
    actor: &Actor,
    accounts: &[Account],
    day: NaiveDate,
    first_day: NaiveDate,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    let elapsed = (day - first_day).num_days();
    for account in accounts {
        let (action, pause) = match (account.index, elapsed) {
            (12 | 23, 240) => ("subscription.cancel_scheduled", false),
            (17, 300) => ("subscription.paused", true),
            _ => continue,
        };
        let page = subscriptions::list(
            db,
            Scope::All,
            subscriptions::SubscriptionFilter {
                customer_id: Some(account.customer_id),
                status: Some(Status::Active),
                plan_code: None,
            },
            None,
            10,
        )
        .await?;
        for sub in page.into_iter().filter(|s| s.status == Status::Active) {
            let mut tx = db.begin().await?;
            let mut f = SubscriptionFields::of(&sub);
            if pause {
                f.status = Status::Paused;
                f.paused_at = Some(now);
            } else {
                f.cancel_at_period_end = true;
            }
            subscriptions::update(&mut tx, sub.id, f, now).await?;
            audit::record(
                &mut tx,
                actor,
                Change {
                    action,
                    entity_type: "subscription",
                    entity_id: sub.id.to_string(),
                    before: Some(json!({ "status": sub.status })),
                    after: Some(json!({ "paused": pause, "cancel_at_period_end": !pause })),
                },
                now,
            )
            .await?;
            tx.commit().await?;
        }
    }
    Ok(())
}

/// Pays open invoices that have waited their customer's usual number of days.
async fn pay_due(
    db: &Db,
    actor: &Actor,
    accounts: &[Account],
    day: NaiveDate,
    last_day: NaiveDate,
    settings: &BillingSettings,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    let filter = invoices::InvoiceFilter {
        status: Some(InvoiceStatus::Open),
        ..Default::default()
    };
    // The demo has a few hundred invoices at most: one page holds every open one.
    for invoice in invoices::list(db, Scope::All, filter, None, 10_000).await? {
        let Some(account) = accounts
            .iter()
            .find(|a| a.customer_id == invoice.customer_id)
        else {
            continue;
        };
        let issued = invoice.issued_at.map(bangkok_date).unwrap_or(day);
        let wait = 2 + (account.index % 5) as i64 * 3;
        if (day - issued).num_days() < wait {
            continue;
        }
        if pays_late(account.index) && (last_day - issued).num_days() < 50 {
            continue;
        }
        let mut tx = db.begin().await?;
        let Some(inv) = invoices::lock(&mut tx, invoice.id, Scope::All).await? else {
            continue;
        };
        let withholding = withholds(account.index).then(|| {
            let pre_vat = inv.total - inv.vat_amount;
            let wht =
                satang_domain::vat::withholding_tax(pre_vat, settings.withholding_tax_rate_bps)
                    .unwrap_or(0);
            (
                wht,
                Some(format!(
                    "50ทวิ-{}-{:04}",
                    day.year() + 543,
                    account.index * 37 % 10_000
                )),
            )
        });
        let amount = inv.amount_due - withholding.as_ref().map_or(0, |(w, _)| *w);
        let method = [
            "bank_transfer",
            "promptpay",
            "bank_transfer",
            "cash",
            "promptpay",
        ][account.index % 5];
        record_payment(
            &mut tx,
            actor,
            &inv,
            PaymentInput {
                amount,
                method: method.into(),
                reference: Some(format!("DEMO-{}", inv.number.clone().unwrap_or_default())),
                paid_at: now,
                withholding,
            },
            settings,
            now,
        )
        .await?;
        tx.commit().await?;
    }
    Ok(())
}
