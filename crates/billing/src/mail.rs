//! What a queued mail says and to whom. For one due delivery of `satang_store::emails` this
//! reads things as they are now (customer, contacts, seller, invoice, payment, plan) and decides
//! the recipient, the language, the notice with its figures and the invoice to attach, or why
//! nothing is sent. Composing, rendering the PDF, sending and recording the outcome are the
//! worker's (in the `satang` binary).

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;
use uuid::Uuid;

use satang_documents::InvoiceDocument;
use satang_domain::money::Money;
use satang_domain::{EmailKind, Status, SubscriptionChange, bangkok_date};
use satang_email::{Locale, Mailbox, Notice, Parties, PlanTerms};
use satang_store::contacts::{self, Contact};
use satang_store::customers::Customer;
use satang_store::emails::DueEmail;
use satang_store::invoices::{self, Invoice};
use satang_store::payments::{self, PaymentFilter};
use satang_store::plans::{self, Plan};
use satang_store::{Db, Scope, customers, payment_methods, subscriptions};

use crate::documents::invoice_document;
use crate::settings::SellerProfile;

/// A mail ready to compose.
pub struct Mail {
    pub to: Mailbox,
    pub locale: Locale,
    pub parties: Parties,
    pub reply_to: Option<Mailbox>,
    /// `pdf_attached` is set when [`Mail::invoice`] is; the sender clears it if the PDF fails.
    pub notice: Notice,
    /// The invoice to attach as a PDF.
    pub invoice: Option<InvoiceDocument>,
}

/// Why a mail is not sent on this attempt.
#[derive(Debug)]
pub enum NotSent {
    /// Nobody to send it to, or nothing left to say: recorded as skipped.
    Skip(String),
    /// Worth another try (the database hiccuped).
    Retry(String),
    /// Will never work (data that cannot make a mail).
    GiveUp(String),
}

impl From<satang_store::Error> for NotSent {
    fn from(e: satang_store::Error) -> Self {
        NotSent::Retry(e.to_string())
    }
}

type Result<T> = std::result::Result<T, NotSent>;

/// Where an invoice mail's payment link points: the key that signs links and the public URL.
#[derive(Clone, Copy)]
pub struct PayLinks<'a> {
    pub key: &'a satang_auth::crypto::MacKey,
    pub public_url: &'a str,
}

/// The mail `due` should become. `default_seller` names the seller when the settings hold no
/// company name (the sender's display name); `pay_links` adds a pay page link to the mail of
/// an invoice paid by hand.
pub async fn prepare_mail(
    db: &Db,
    due: &DueEmail,
    default_seller: Option<&str>,
    pay_links: Option<PayLinks<'_>>,
) -> Result<Mail> {
    let customer = customers::get(db, Scope::All, due.customer_id)
        .await?
        .ok_or_else(|| NotSent::Skip("the customer no longer exists".into()))?;
    if customer.status.is_deleted() {
        return Err(NotSent::Skip("the customer is deleted".into()));
    }
    let contacts = contacts::list(db, customer.id, None, 200).await?;
    let address = recipient(&customer, &contacts)
        .ok_or_else(|| NotSent::Skip("no email address on file".into()))?;
    let address = address
        .parse()
        .map_err(|_| NotSent::GiveUp(format!("{address:?} is not an email address")))?;
    let locale = Locale::from_tag(&customer.locale);
    let seller = SellerProfile::load(db)
        .await
        .map_err(|e| NotSent::Retry(format!("settings: {e:?}")))?;
    let (notice, invoice) = notice(db, due, &customer, &seller, locale, pay_links).await?;
    Ok(Mail {
        to: Mailbox::new(Some(customer.name.clone()), address),
        locale,
        parties: Parties {
            seller: seller_name(&seller, locale, default_seller),
            customer: customer.name,
        },
        reply_to: seller.email.as_deref().and_then(|e| e.parse().ok()),
        notice,
        invoice,
    })
}

/// Whom a customer's mail goes to: the billing email, else the primary billing contact, else
/// the customer's own email, else the primary owner contact.
pub fn recipient(customer: &Customer, contacts: &[Contact]) -> Option<String> {
    let primary = |role: &str| {
        contacts
            .iter()
            .find(|c| c.role == role && c.is_primary && c.email.is_some())
            .and_then(|c| c.email.clone())
    };
    customer
        .billing_email
        .clone()
        .or_else(|| primary("billing"))
        .or_else(|| customer.email.clone())
        .or_else(|| primary("owner"))
        .filter(|e| !e.trim().is_empty())
}

/// The seller's company name in the mail's language, else in the other, else `default`.
fn seller_name(seller: &SellerProfile, locale: Locale, default: Option<&str>) -> String {
    let name = &seller.company_name;
    let first = match locale {
        Locale::Th => &name.th,
        Locale::En => &name.en,
    };
    [first, &name.th, &name.en]
        .into_iter()
        .find(|n| !n.trim().is_empty())
        .cloned()
        .or_else(|| default.map(str::to_owned))
        .unwrap_or_else(|| "Satang".into())
}

/// What the mail tells, by its kind, and the invoice it attaches.
async fn notice(
    db: &Db,
    due: &DueEmail,
    customer: &Customer,
    seller: &SellerProfile,
    locale: Locale,
    pay_links: Option<PayLinks<'_>>,
) -> Result<(Notice, Option<InvoiceDocument>)> {
    let payload = &due.payload.0;
    let event_date = bangkok_date(due.event_created_at);
    Ok(match due.kind {
        EmailKind::InvoiceIssued => {
            return invoice_issued(db, due, customer, seller, event_date, pay_links).await;
        }
        EmailKind::PaymentReceived => (payment_received(db, payload).await?, None),
        EmailKind::PaymentFailed => (payment_failed(db, &due.entity_id, payload).await?, None),
        EmailKind::TrialEnding => {
            let notice = trial_ending(db, &due.entity_id, event_date, locale).await?;
            (notice, None)
        }
        EmailKind::SubscriptionChanged => (
            subscription_changed(db, payload, event_date, locale).await?,
            None,
        ),
        EmailKind::UsageThresholdReached => (usage_threshold(db, payload, locale).await?, None),
    })
}

async fn invoice_issued(
    db: &Db,
    due: &DueEmail,
    customer: &Customer,
    seller: &SellerProfile,
    event_date: NaiveDate,
    pay_links: Option<PayLinks<'_>>,
) -> Result<(Notice, Option<InvoiceDocument>)> {
    let inv = invoice(db, &due.entity_id).await?;
    // The link lives a month from the invoice's issue (the same link however late the mail).
    let pay_url = pay_links
        .filter(|_| inv.status.accepts_payment() && inv.amount_due > 0)
        .map(|l| {
            let issued = inv.issued_at.unwrap_or(due.event_created_at);
            let expires = issued + chrono::Duration::days(crate::pay_links::LINK_DAYS);
            crate::pay_links::url_for(l.key, l.public_url, inv.id, expires)
        });
    let automatic = inv.collection_method.is_automatic()
        && payment_methods::default_is_card(db, customer.id).await?;
    let lines = invoices::lines_of(db, &[inv.id]).await?;
    let document = invoice_document(&inv, &lines, seller.promptpay_id.clone()).ok();
    let currency = inv.currency;
    let notice = Notice::InvoiceIssued {
        number: number_of(&inv)?,
        issue_date: inv.issued_at.map(bangkok_date).unwrap_or(event_date),
        total: Money::new(inv.total, currency),
        // As issued (the event's copy), not after payments made since.
        amount_due: Money::new(
            due.payload.0["amount_due"]
                .as_i64()
                .unwrap_or(inv.amount_due),
            currency,
        ),
        due_date: inv.due_date,
        automatic,
        pdf_attached: document.is_some(),
        pay_url,
    };
    Ok((notice, document))
}

async fn payment_received(db: &Db, payload: &Value) -> Result<Notice> {
    let inv = invoice(db, payload["invoice_id"].as_str().unwrap_or("")).await?;
    let currency = inv.currency;
    let payment_id = payload["id"].as_str().and_then(|s| s.parse::<Uuid>().ok());
    let filter = PaymentFilter {
        invoice_id: Some(inv.id),
        customer_id: None,
    };
    let payment = payments::list(db, Scope::All, filter, None, 200)
        .await?
        .into_iter()
        .find(|p| Some(p.id) == payment_id)
        .ok_or_else(|| NotSent::GiveUp("the payment is not recorded".into()))?;
    Ok(Notice::PaymentReceived {
        number: number_of(&inv)?,
        amount: Money::new(payment.amount, currency),
        paid_date: bangkok_date(payment.paid_at),
        // As it was right after this payment, not after later ones.
        amount_due: Money::new(
            payload["invoice_amount_due"]
                .as_i64()
                .unwrap_or(inv.amount_due),
            currency,
        ),
    })
}

async fn payment_failed(db: &Db, invoice_id: &str, payload: &Value) -> Result<Notice> {
    let inv = invoice(db, invoice_id).await?;
    if !inv.status.is_open() || inv.amount_due <= 0 {
        return Err(NotSent::Skip("the invoice was settled meanwhile".into()));
    }
    let next_attempt = payload["next_attempt_at"]
        .as_str()
        .and_then(|s| s.parse::<DateTime<Utc>>().ok())
        .map(bangkok_date);
    Ok(Notice::PaymentFailed {
        number: number_of(&inv)?,
        amount_due: Money::new(inv.amount_due, inv.currency),
        next_attempt,
    })
}

async fn trial_ending(
    db: &Db,
    subscription_id: &str,
    event_date: NaiveDate,
    locale: Locale,
) -> Result<Notice> {
    let sub = subscription(db, subscription_id).await?;
    if sub.status != Status::Trialing {
        return Err(NotSent::Skip(
            "the subscription is no longer in trial".into(),
        ));
    }
    let trial_end = sub
        .trial_end
        .ok_or_else(|| NotSent::Skip("the trial has no end".into()))?;
    let plan = plan(db, sub.plan_id).await?;
    Ok(Notice::TrialEnding {
        plan: terms(&plan, sub.quantity, locale),
        trial_end,
        days_left: (trial_end - event_date).num_days().max(0),
    })
}

async fn subscription_changed(
    db: &Db,
    payload: &Value,
    event_date: NaiveDate,
    locale: Locale,
) -> Result<Notice> {
    let change = payload["change"]
        .as_str()
        .and_then(|c| c.parse::<SubscriptionChange>().ok())
        .ok_or_else(|| NotSent::GiveUp("the event names no change".into()))?;
    let period_end = payload["current_period_end"]
        .as_str()
        .and_then(|s| s.parse::<NaiveDate>().ok());
    // A scheduled change names the plan it moves to; everything else the plan it is on.
    let (plan_id, quantity) = match change {
        SubscriptionChange::PlanChangeScheduled => (
            &payload["pending_change"]["plan_id"],
            &payload["pending_change"]["quantity"],
        ),
        _ => (&payload["plan_id"], &payload["quantity"]),
    };
    let plan_id = plan_id
        .as_str()
        .and_then(|s| s.parse::<Uuid>().ok())
        .ok_or_else(|| NotSent::GiveUp("the event names no plan".into()))?;
    let date = match change {
        SubscriptionChange::PlanChangeScheduled | SubscriptionChange::CancelScheduled => {
            period_end.unwrap_or(event_date)
        }
        _ => event_date,
    };
    let plan = plan(db, plan_id).await?;
    Ok(Notice::SubscriptionChanged {
        change,
        plan: terms(&plan, quantity.as_i64().unwrap_or(1), locale),
        date,
    })
}

/// The figures as the event recorded them; the plan's name as it is now.
async fn usage_threshold(db: &Db, payload: &Value, locale: Locale) -> Result<Notice> {
    let sub = subscription(db, payload["subscription_id"].as_str().unwrap_or("")).await?;
    let plan = plan(db, sub.plan_id).await?;
    let date = |key: &str| {
        payload[key]
            .as_str()
            .and_then(|s| s.parse::<NaiveDate>().ok())
            .ok_or_else(|| NotSent::GiveUp(format!("the event has no {key}")))
    };
    Ok(Notice::UsageThresholdReached {
        plan: terms(&plan, sub.quantity, locale).name,
        metric: payload["metric"].as_str().unwrap_or_default().to_owned(),
        threshold: payload["threshold"].as_i64().unwrap_or_default(),
        usage: payload["usage"].as_i64().unwrap_or_default(),
        period_start: date("period_start")?,
        period_end: date("period_end")?,
    })
}

async fn invoice(db: &Db, id: &str) -> Result<Invoice> {
    let id: Uuid = id
        .parse()
        .map_err(|_| NotSent::GiveUp(format!("the event names invoice {id:?}")))?;
    invoices::find(db, id, Scope::All)
        .await?
        .ok_or_else(|| NotSent::GiveUp(format!("invoice {id} does not exist")))
}

async fn subscription(db: &Db, id: &str) -> Result<subscriptions::Subscription> {
    let id: Uuid = id
        .parse()
        .map_err(|_| NotSent::GiveUp(format!("the event names subscription {id:?}")))?;
    subscriptions::find(db, id, Scope::All)
        .await?
        .ok_or_else(|| NotSent::GiveUp(format!("subscription {id} does not exist")))
}

async fn plan(db: &Db, id: Uuid) -> Result<Plan> {
    plans::find_by_id(db, id)
        .await?
        .ok_or_else(|| NotSent::GiveUp(format!("plan {id} does not exist")))
}

fn terms(plan: &Plan, quantity: i64, locale: Locale) -> PlanTerms {
    let name = match locale {
        Locale::Th => &plan.name_th,
        Locale::En => &plan.name_en,
    };
    PlanTerms {
        name: if name.trim().is_empty() {
            plan.code.clone()
        } else {
            name.clone()
        },
        price: Money::new(plan.price, plan.currency),
        interval: plan.billing_interval,
        quantity,
    }
}

fn number_of(inv: &Invoice) -> Result<String> {
    inv.number
        .clone()
        .ok_or_else(|| NotSent::GiveUp(format!("invoice {} has no number", inv.id)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use satang_domain::Currency;
    use satang_store::customers::CustomerFields;

    fn customer(email: Option<&str>, billing: Option<&str>) -> Customer {
        let fields = CustomerFields {
            name: "ไร่ทดสอบ".into(),
            email: email.map(str::to_owned),
            billing_email: billing.map(str::to_owned),
            currency: Currency::Thb,
            locale: "th".into(),
            payment_terms_days: 30,
            ..CustomerFields::default()
        };
        customers::new(Uuid::now_v7(), &fields, Utc::now())
    }

    fn contact(role: &str, primary: bool, email: &str) -> Contact {
        Contact {
            id: Uuid::now_v7(),
            customer_id: Uuid::now_v7(),
            name: "ติดต่อ".into(),
            email: Some(email.into()),
            phone: None,
            role: role.into(),
            is_primary: primary,
            created_at: Utc::now(),
            updated_at: Utc::now(),
            version: 1,
        }
    }

    #[test]
    fn mail_goes_to_billing_first() {
        let contacts = [
            contact("owner", true, "owner@farm.test"),
            contact("billing", false, "clerk@farm.test"),
            contact("billing", true, "accounts@farm.test"),
        ];
        let both = customer(Some("info@farm.test"), Some("billing@farm.test"));
        assert_eq!(
            recipient(&both, &contacts).as_deref(),
            Some("billing@farm.test")
        );
        let general = customer(Some("info@farm.test"), None);
        assert_eq!(
            recipient(&general, &contacts).as_deref(),
            Some("accounts@farm.test")
        );
        assert_eq!(
            recipient(&general, &contacts[..2]).as_deref(),
            Some("info@farm.test")
        );
        let nothing = customer(None, None);
        assert_eq!(
            recipient(&nothing, &contacts[..1]).as_deref(),
            Some("owner@farm.test")
        );
        assert_eq!(recipient(&nothing, &[]), None);
    }
}
