//! The email worker inside `satang serve`: sends the mails the outbox queued
//! (`satang_store::emails`), over SMTP or into `<data dir>/outbox/`, in the customer's language.
//!
//! Each pass claims due deliveries with a two-minute lease (`FOR UPDATE SKIP LOCKED` on
//! PostgreSQL), so several processes share the queue. For each it asks the billing layer what
//! the mail says and to whom (`satang_billing::mail`), composes it from the catalogues, attaches
//! the invoice PDF, sends it and records the outcome: `sent`; `skipped` when there is nobody to write to; a failure is retried
//! after base × 2^attempt (at most six hours apart, eight attempts), and a permanent SMTP refusal
//! (5xx) is given up at once. The `Message-ID` is fixed per delivery, so the one resend a crash
//! between "accepted" and "recorded" can cause carries the same id.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use satang_api::AppState;
use satang_billing::mail::{Mail, NotSent, PayLinks, prepare_mail};
use satang_documents::InvoiceDocument;
use satang_domain::EmailStatus;
use satang_email::{Catalog, Mailbox, Mailer, Notice, Outgoing, SendError, build_message, compose};
use satang_store::emails::{self, DueEmail, Envelope, Outcome};

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

/// Sends one mail: what [`prepare_mail`] decided, composed, with its PDF.
async fn deliver_one(state: &AppState, sender: &Sender, due: &DueEmail) -> (Envelope, Outcome) {
    let mut envelope = Envelope {
        message_id: Some(satang_email::transport::message_id(due.id, &sender.from)),
        ..Envelope::default()
    };
    let failed = |error: String, retry: bool| Outcome::Failed {
        error,
        retry_at: if retry {
            retry_at(sender, due.attempts, state.clock.now())
        } else {
            None
        },
    };
    let default_seller = sender.from.name.as_deref();
    let pay_links = PayLinks {
        key: &state.pay_link_key,
        public_url: &state.config.public_url,
    };
    let mut mail = match prepare_mail(&state.db, due, default_seller, Some(pay_links)).await {
        Ok(mail) => mail,
        Err(NotSent::Skip(why)) => return (envelope, Outcome::Skipped(why)),
        Err(NotSent::Retry(e)) => return (envelope, failed(e, true)),
        Err(NotSent::GiveUp(e)) => return (envelope, failed(e, false)),
    };
    envelope.recipient = Some(mail.to.email.to_string());
    envelope.locale = Some(mail.locale.tag().to_owned());
    let attachment = attachment(&mut mail).await;
    let composed = match compose(&sender.catalog, mail.locale, &mail.parties, &mail.notice) {
        Ok(c) => c,
        Err(e) => return (envelope, failed(e.to_string(), false)),
    };
    envelope.subject = Some(composed.subject.clone());
    let message = build_message(Outgoing {
        id: due.id,
        from: &sender.from,
        reply_to: mail.reply_to,
        to: mail.to,
        composed: &composed,
        date: state.clock.now(),
        attachment,
    });
    let sent = match message {
        Ok(message) => sender.mailer.send(due.id, &message).await,
        Err(e) => Err(e),
    };
    let outcome = match sent {
        Ok(()) => Outcome::Sent,
        Err(SendError::Transient(e)) => failed(e, true),
        Err(SendError::Permanent(e)) => failed(e, false),
    };
    (envelope, outcome)
}

/// When to try again after `attempts` failures: base × 2^attempts, at most six hours apart;
/// `None` once [`MAX_ATTEMPTS`] is reached.
fn retry_at(sender: &Sender, attempts: i64, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    (attempts + 1 < MAX_ATTEMPTS).then(|| {
        let factor = 1u32 << attempts.clamp(0, 16);
        let wait = sender
            .retry_base
            .saturating_mul(factor)
            .min(Duration::from_secs(6 * 3600));
        now + TimeDelta::from_std(wait).unwrap_or(TimeDelta::hours(6))
    })
}

/// The invoice PDF as `(file name, media type, bytes)`. A PDF that fails to render is left off
/// and the mail says so, rather than holding the mail back.
async fn attachment(mail: &mut Mail) -> Option<(String, String, Vec<u8>)> {
    let document: InvoiceDocument = mail.invoice.take()?;
    let name = format!("{}.pdf", document.number);
    let rendered = tokio::task::spawn_blocking(move || satang_documents::render_invoice(&document))
        .await
        .map_err(|e| e.to_string())
        .and_then(|pdf| pdf.map_err(|e| e.to_string()));
    let pdf = match rendered {
        Ok(pdf) => Some(pdf),
        Err(error) => {
            tracing::warn!(invoice = %name, %error, "no PDF for the mail");
            None
        }
    };
    if let Notice::InvoiceIssued { pdf_attached, .. } = &mut mail.notice {
        *pdf_attached = pdf.is_some();
    }
    pdf.map(|pdf| (name, "application/pdf".to_owned(), pdf))
}
