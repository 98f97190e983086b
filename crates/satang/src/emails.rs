//! The email worker inside `satang serve`: sends the mails the outbox queued
//! (`satang_store::emails`), over SMTP or into `<data dir>/outbox/`, in the customer's language.
//!
//! Each pass claims due deliveries with a two-minute lease (`FOR UPDATE SKIP LOCKED` on
//! PostgreSQL), so several processes share the queue. For each it reads what the mail needs as
//! it is now (customer, address, invoice, plan), composes it from the catalogues, sends it and
//! records the outcome: `sent`; `skipped` when there is nobody to write to; a failure is retried
//! after base × 2^attempt (at most six hours apart, eight attempts), and a permanent SMTP refusal
//! (5xx) is given up at once. The `Message-ID` is fixed per delivery, so the one resend a crash
//! between "accepted" and "recorded" can cause carries the same id.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use uuid::Uuid;

use satang_api::AppState;
use satang_billing::documents::invoice_document;
use satang_billing::settings::SellerProfile;
use satang_domain::money::Money;
use satang_domain::{EmailStatus, Status, SubscriptionChange, bangkok_date};
use satang_email::{
    Catalog, Locale, Mailbox, Mailer, Notice, Outgoing, Parties, PlanTerms, SendError,
    build_message, compose,
};
use satang_store::contacts::{self, Contact};
use satang_store::customers::Customer;
use satang_store::emails::{self, DueEmail, EmailKind, Envelope, Outcome};
use satang_store::invoices::{self, Invoice};
use satang_store::payments::{self, PaymentFilter};
use satang_store::plans::{self, Plan};
use satang_store::{Scope, customers, payment_methods, subscriptions};

/// Attempts before a mail is given up.
const MAX_ATTEMPTS: i64 = 8;
/// Mails claimed per pass.
const BATCH: i64 = 20;
/// How long a claimed mail is left alone by other processes.
const LEASE: TimeDelta = TimeDelta::minutes(2);

/// What the worker sends with.
pub struct Sender {
    pub mailer: Mailer,
    pub from: Mailbox,
    pub retry_base: Duration,
    catalog: Catalog,
}

impl Sender {
    pub fn new(mailer: Mailer, from: Mailbox, retry_base: Duration) -> anyhow::Result<Sender> {
        Ok(Sender {
            mailer,
            from,
            retry_base,
            catalog: Catalog::load()?,
        })
    }
}

pub struct EmailWorker {
    stop: Arc<AtomicBool>,
    wake: Arc<Notify>,
    task: JoinHandle<()>,
}

impl EmailWorker {
    pub fn start(state: AppState, sender: Sender, every: Duration) -> EmailWorker {
        let stop = Arc::new(AtomicBool::new(false));
        let wake = Arc::new(Notify::new());
        let (flag, notified) = (stop.clone(), wake.clone());
        tracing::info!(to = %sender.mailer.describe(), "email notifications");
        let task = tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(every) => {}
                    _ = notified.notified() => {}
                }
                if flag.load(Ordering::Relaxed) {
                    break;
                }
                let stopping = || flag.load(Ordering::Relaxed);
                if let Err(e) = deliver_due(&state, &sender, &stopping).await {
                    tracing::error!(error = %e, "email delivery pass failed");
                }
            }
        });
        EmailWorker { stop, wake, task }
    }

    /// Stops after the mail in flight.
    pub async fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        self.wake.notify_one();
        let _ = self.task.await;
    }
}

/// One pass: claims what is due and sends it. Returns how many were sent.
pub async fn deliver_due(
    state: &AppState,
    sender: &Sender,
    stop: &(dyn Fn() -> bool + Sync),
) -> anyhow::Result<usize> {
    let now = state.clock.now();
    let due = emails::claim_due(&state.db, now, now + LEASE, BATCH).await?;
    let mut sent = 0;
    for mail in due {
        // A claimed mail left here is picked up again when its lease ends.
        if stop() {
            break;
        }
        let kind = mail.kind.as_str();
        let (envelope, outcome) = deliver_one(state, sender, &mail).await;
        let label = match &outcome {
            Outcome::Sent => EmailStatus::Sent,
            Outcome::Skipped(_) => EmailStatus::Skipped,
            Outcome::Failed { .. } => EmailStatus::Failed,
        };
        metrics::counter!("emails_total", "kind" => kind, "outcome" => label.as_str()).increment(1);
        match &outcome {
            Outcome::Sent => sent += 1,
            Outcome::Skipped(why) => {
                tracing::info!(delivery = %mail.id, %kind, reason = %why, "email skipped");
            }
            Outcome::Failed { error, retry_at } => {
                tracing::warn!(delivery = %mail.id, %kind, %error, ?retry_at, "email not sent");
            }
        }
        emails::record_attempt(&state.db, mail.id, &envelope, &outcome, state.clock.now()).await?;
    }
    metrics::gauge!("email_backlog").set(emails::backlog(&state.db).await? as f64);
    Ok(sent)
}

/// Why a mail is not sent on this attempt.
enum NotSent {
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

/// A mail ready to build.
struct Prepared {
    to: Mailbox,
    locale: Locale,
    parties: Parties,
    reply_to: Option<Mailbox>,
    notice: Notice,
    attachment: Option<(String, String, Vec<u8>)>,
}

async fn deliver_one(state: &AppState, sender: &Sender, mail: &DueEmail) -> (Envelope, Outcome) {
    let mut envelope = Envelope {
        message_id: Some(satang_email::transport::message_id(mail.id, &sender.from)),
        ..Envelope::default()
    };
    let retry_at = |now: DateTime<Utc>| {
        (mail.attempts + 1 < MAX_ATTEMPTS).then(|| {
            let factor = 1u32 << mail.attempts.clamp(0, 16);
            let wait = sender
                .retry_base
                .saturating_mul(factor)
                .min(Duration::from_secs(6 * 3600));
            now + TimeDelta::from_std(wait).unwrap_or(TimeDelta::hours(6))
        })
    };
    let failed = |error: String, retry: bool| Outcome::Failed {
        error,
        retry_at: if retry {
            retry_at(state.clock.now())
        } else {
            None
        },
    };
    let prepared = match prepare(state, sender, mail).await {
        Ok(p) => p,
        Err(NotSent::Skip(why)) => return (envelope, Outcome::Skipped(why)),
        Err(NotSent::Retry(e)) => return (envelope, failed(e, true)),
        Err(NotSent::GiveUp(e)) => return (envelope, failed(e, false)),
    };
    envelope.recipient = Some(prepared.to.email.to_string());
    envelope.locale = Some(prepared.locale.tag().to_owned());
    let composed = match compose(
        &sender.catalog,
        prepared.locale,
        &prepared.parties,
        &prepared.notice,
    ) {
        Ok(c) => c,
        Err(e) => return (envelope, failed(e.to_string(), false)),
    };
    envelope.subject = Some(composed.subject.clone());
    let message = build_message(Outgoing {
        id: mail.id,
        from: &sender.from,
        reply_to: prepared.reply_to,
        to: prepared.to,
        composed: &composed,
        date: state.clock.now(),
        attachment: prepared.attachment,
    });
    let sent = match message {
        Ok(message) => sender.mailer.send(mail.id, &message).await,
        Err(e) => Err(e),
    };
    let outcome = match sent {
        Ok(()) => Outcome::Sent,
        Err(SendError::Transient(e)) => failed(e, true),
        Err(SendError::Permanent(e)) => failed(e, false),
    };
    (envelope, outcome)
}

/// Reads what the mail needs and decides whom it goes to.
async fn prepare(state: &AppState, sender: &Sender, mail: &DueEmail) -> Result<Prepared, NotSent> {
    let kind = mail.kind;
    let customer = customers::get(&state.db, Scope::All, mail.customer_id)
        .await?
        .ok_or_else(|| NotSent::Skip("the customer no longer exists".into()))?;
    if customer.status.is_deleted() {
        return Err(NotSent::Skip("the customer is deleted".into()));
    }
    let contacts = contacts::list(&state.db, customer.id, None, 200).await?;
    let address = recipient(&customer, &contacts)
        .ok_or_else(|| NotSent::Skip("no email address on file".into()))?;
    let to = Mailbox::new(
        Some(customer.name.clone()),
        address
            .parse()
            .map_err(|_| NotSent::GiveUp(format!("{address:?} is not an email address")))?,
    );
    let locale = Locale::from_tag(&customer.locale);
    let seller = SellerProfile::load(&state.db)
        .await
        .map_err(|e| NotSent::Retry(format!("settings: {e:?}")))?;
    let seller_name = [
        match locale {
            Locale::Th => &seller.company_name.th,
            Locale::En => &seller.company_name.en,
        },
        &seller.company_name.th,
        &seller.company_name.en,
    ]
    .into_iter()
    .find(|n| !n.trim().is_empty())
    .cloned()
    .or_else(|| sender.from.name.clone())
    .unwrap_or_else(|| "Satang".into());
    let reply_to = seller.email.as_deref().and_then(|e| e.parse().ok());
    let payload = &mail.payload.0;
    let event_date = bangkok_date(mail.event_created_at);
    let mut attachment = None;
    let notice = match kind {
        EmailKind::InvoiceIssued => {
            let inv = invoice(state, &mail.entity_id).await?;
            let automatic = inv.collection_method.is_automatic()
                && payment_methods::default_is_card(&state.db, customer.id).await?;
            let lines = invoices::lines_of(&state.db, &[inv.id]).await?;
            attachment = match invoice_document(&inv, &lines, seller.promptpay_id.clone()) {
                Ok(doc) => {
                    let name = format!("{}.pdf", doc.number);
                    match tokio::task::spawn_blocking(move || {
                        satang_documents::render_invoice(&doc)
                    })
                    .await
                    {
                        Ok(Ok(pdf)) => Some((name, "application/pdf".to_owned(), pdf)),
                        Ok(Err(e)) => {
                            tracing::warn!(invoice = %inv.id, error = %e, "no PDF for the mail");
                            None
                        }
                        Err(e) => {
                            tracing::warn!(invoice = %inv.id, error = %e, "no PDF for the mail");
                            None
                        }
                    }
                }
                Err(_) => None,
            };
            let currency = inv.currency;
            Notice::InvoiceIssued {
                number: number_of(&inv)?,
                issue_date: inv.issued_at.map(bangkok_date).unwrap_or(event_date),
                total: Money::new(inv.total, currency),
                // As issued (the event's copy), not after payments made since.
                amount_due: Money::new(
                    payload["amount_due"].as_i64().unwrap_or(inv.amount_due),
                    currency,
                ),
                due_date: inv.due_date,
                automatic,
                pdf_attached: attachment.is_some(),
            }
        }
        EmailKind::PaymentReceived => {
            let inv = invoice(state, payload["invoice_id"].as_str().unwrap_or("")).await?;
            let currency = inv.currency;
            let payment_id = payload["id"].as_str().and_then(|s| s.parse::<Uuid>().ok());
            let payment = payments::list(
                &state.db,
                Scope::All,
                PaymentFilter {
                    invoice_id: Some(inv.id),
                    customer_id: None,
                },
                None,
                200,
            )
            .await?
            .into_iter()
            .find(|p| Some(p.id) == payment_id)
            .ok_or_else(|| NotSent::GiveUp("the payment is not recorded".into()))?;
            Notice::PaymentReceived {
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
            }
        }
        EmailKind::PaymentFailed => {
            let inv = invoice(state, &mail.entity_id).await?;
            if !inv.status.is_open() || inv.amount_due <= 0 {
                return Err(NotSent::Skip("the invoice was settled meanwhile".into()));
            }
            let currency = inv.currency;
            let next_attempt = payload["next_attempt_at"]
                .as_str()
                .and_then(|s| s.parse::<DateTime<Utc>>().ok())
                .map(bangkok_date);
            Notice::PaymentFailed {
                number: number_of(&inv)?,
                amount_due: Money::new(inv.amount_due, currency),
                next_attempt,
            }
        }
        EmailKind::TrialEnding => {
            let sub = subscription(state, &mail.entity_id).await?;
            if sub.status != Status::Trialing {
                return Err(NotSent::Skip(
                    "the subscription is no longer in trial".into(),
                ));
            }
            let trial_end = sub
                .trial_end
                .ok_or_else(|| NotSent::Skip("the trial has no end".into()))?;
            let plan = plan(state, sub.plan_id).await?;
            Notice::TrialEnding {
                plan: terms(&plan, sub.quantity, locale)?,
                trial_end,
                days_left: (trial_end - event_date).num_days().max(0),
            }
        }
        EmailKind::SubscriptionChanged => {
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
            let plan = plan(state, plan_id).await?;
            Notice::SubscriptionChanged {
                change,
                plan: terms(&plan, quantity.as_i64().unwrap_or(1), locale)?,
                date,
            }
        }
    };
    Ok(Prepared {
        to,
        locale,
        parties: Parties {
            seller: seller_name,
            customer: customer.name.clone(),
        },
        reply_to,
        notice,
        attachment,
    })
}

/// Whom a customer's mail goes to: the billing email, else the primary billing contact, else
/// the customer's own email, else the primary owner contact.
fn recipient(customer: &Customer, contacts: &[Contact]) -> Option<String> {
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

async fn invoice(state: &AppState, id: &str) -> Result<Invoice, NotSent> {
    let id: Uuid = id
        .parse()
        .map_err(|_| NotSent::GiveUp(format!("the event names invoice {id:?}")))?;
    invoices::find(&state.db, id, Scope::All)
        .await?
        .ok_or_else(|| NotSent::GiveUp(format!("invoice {id} does not exist")))
}

async fn subscription(state: &AppState, id: &str) -> Result<subscriptions::Subscription, NotSent> {
    let id: Uuid = id
        .parse()
        .map_err(|_| NotSent::GiveUp(format!("the event names subscription {id:?}")))?;
    subscriptions::find(&state.db, id, Scope::All)
        .await?
        .ok_or_else(|| NotSent::GiveUp(format!("subscription {id} does not exist")))
}

async fn plan(state: &AppState, id: Uuid) -> Result<Plan, NotSent> {
    plans::find_by_id(&state.db, id)
        .await?
        .ok_or_else(|| NotSent::GiveUp(format!("plan {id} does not exist")))
}

fn terms(plan: &Plan, quantity: i64, locale: Locale) -> Result<PlanTerms, NotSent> {
    let name = match locale {
        Locale::Th => &plan.name_th,
        Locale::En => &plan.name_en,
    };
    Ok(PlanTerms {
        name: if name.trim().is_empty() {
            plan.code.clone()
        } else {
            name.clone()
        },
        price: Money::new(plan.price, plan.currency),
        interval: plan.billing_interval,
        quantity,
    })
}

fn number_of(inv: &Invoice) -> Result<String, NotSent> {
    inv.number
        .clone()
        .ok_or_else(|| NotSent::GiveUp(format!("invoice {} has no number", inv.id)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use satang_domain::{Currency, CustomerStatus};

    fn customer(email: Option<&str>, billing: Option<&str>) -> Customer {
        Customer {
            id: Uuid::now_v7(),
            name: "ไร่ทดสอบ".into(),
            legal_name: None,
            tax_id: None,
            branch_code: None,
            email: email.map(str::to_owned),
            phone: None,
            billing_email: billing.map(str::to_owned),
            address: None,
            currency: Currency::Thb,
            locale: "th".into(),
            payment_terms_days: 30,
            metadata: sqlx::types::Json(serde_json::json!({})),
            status: CustomerStatus::Active,
            balance: 0,
            created_at: Utc::now(),
            updated_at: Utc::now(),
            deleted_at: None,
            version: 1,
        }
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
