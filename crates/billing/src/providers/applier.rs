//! Webhook deliveries applied together: one task takes the charges that arrive at the same
//! moment and records them in one transaction.
//!
//! Why: every payment takes the next number of the gapless receipt series, and that counter's
//! row stays locked until its transaction commits. Applied one delivery per transaction, the
//! deliveries take turns at the counter one commit each; applied together they pay for one turn
//! and one commit. A handler hands its fetched (or signature-checked) charge to the task and
//! waits for its own answer, so what a provider sees is unchanged.
//!
//! A batch that fails as a whole (a bad charge, a lock timeout) is rolled back and its deliveries
//! are applied again one by one, so one delivery's error never becomes another's.

use std::sync::OnceLock;

use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use satang_store::audit::Actor;
use satang_store::providers as store;
use satang_store::{Db, Scope, Tx, invoices};

use super::{ChargeStatus, Provider, ProviderCharge, WebhookOutcome, apply_charge, outcome};
use crate::{Error, Result};

/// At most this many deliveries share a transaction: enough to share the counter's turn among a
/// burst from many connections, few enough that the first of them does not wait long.
const MAX_BATCH: usize = 64;

/// One delivery whose charge is ready to apply.
pub struct Delivery {
    pub provider: Provider,
    pub event_id: String,
    pub event_type: String,
    pub charge: ProviderCharge,
    pub actor: Actor,
    pub now: DateTime<Utc>,
}

struct Job {
    delivery: Delivery,
    reply: oneshot::Sender<Result<WebhookOutcome>>,
}

/// The handle webhook handlers apply through; its task starts with the first delivery, so an
/// instance that never hears from a provider runs no task for it.
pub struct Applier {
    db: Db,
    jobs: OnceLock<mpsc::Sender<Job>>,
}

impl Applier {
    pub fn new(db: Db) -> Applier {
        Applier {
            db,
            jobs: OnceLock::new(),
        }
    }

    /// Applies one delivery, together with whatever else is waiting.
    pub async fn apply(&self, delivery: Delivery) -> Result<WebhookOutcome> {
        let jobs = self.jobs.get_or_init(|| {
            let (sender, receiver) = mpsc::channel(MAX_BATCH * 4);
            tokio::spawn(run(self.db.clone(), receiver));
            sender
        });
        let (reply, answer) = oneshot::channel();
        jobs.send(Job { delivery, reply })
            .await
            .map_err(|_| Error::Internal("the webhook applier has stopped".into()))?;
        answer
            .await
            .map_err(|_| Error::Internal("the webhook applier dropped a delivery".into()))?
    }
}

async fn run(db: Db, mut jobs: mpsc::Receiver<Job>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while jobs.recv_many(&mut batch, MAX_BATCH).await > 0 {
        apply_batch(&db, std::mem::take(&mut batch)).await;
    }
}

async fn apply_batch(db: &Db, batch: Vec<Job>) {
    if batch.len() > 1 {
        match apply_together(db, &batch).await {
            Ok(outcomes) => {
                for (job, outcome) in batch.into_iter().zip(outcomes) {
                    let _ = job.reply.send(Ok(outcome));
                }
                return;
            }
            Err(e) => {
                tracing::warn!(deliveries = batch.len(), error = %e,
                    "a batch of provider deliveries failed; applying them one by one");
            }
        }
    }
    for job in batch {
        let answer = apply_one(db, &job.delivery).await;
        // A handler that stopped waiting (its client went away) needs no answer.
        let _ = job.reply.send(answer);
    }
}

/// Every delivery in one transaction, or none of them.
async fn apply_together(db: &Db, batch: &[Job]) -> Result<Vec<WebhookOutcome>> {
    let mut tx = db.begin().await?;
    match apply_in(&mut tx, batch).await {
        Ok(outcomes) => {
            tx.commit().await?;
            Ok(outcomes)
        }
        Err(e) => {
            // Rolled back now, not when dropped, so the one-by-one retry finds no lock held.
            tx.rollback().await?;
            Err(e)
        }
    }
}

async fn apply_in(tx: &mut Tx, batch: &[Job]) -> Result<Vec<WebhookOutcome>> {
    // The invoices' locks first, in one order: a payment locks its invoice, then the receipt
    // counter, so a batch holding the counter must not go on to wait for an invoice lock that
    // someone waiting for the counter holds.
    let mut locked: Vec<Uuid> = Vec::with_capacity(batch.len());
    for job in batch {
        let d = &job.delivery;
        if d.charge.status != ChargeStatus::Succeeded {
            continue;
        }
        let invoice_id = match d.charge.invoice_id {
            Some(id) => Some(id),
            None => store::intent_by_ref(tx, d.provider.as_str(), &d.charge.reference)
                .await?
                .map(|i| i.invoice_id),
        };
        locked.extend(invoice_id);
    }
    locked.sort_unstable();
    locked.dedup();
    for id in locked {
        invoices::lock(tx, id, Scope::All).await?;
    }
    let mut outcomes = Vec::with_capacity(batch.len());
    for job in batch {
        outcomes.push(apply_in_tx(tx, &job.delivery).await?);
    }
    Ok(outcomes)
}

/// One delivery in its own transaction.
pub(super) async fn apply_one(db: &Db, delivery: &Delivery) -> Result<WebhookOutcome> {
    let mut tx = db.begin().await?;
    let outcome = apply_in_tx(&mut tx, delivery).await?;
    tx.commit().await?;
    Ok(outcome)
}

async fn apply_in_tx(tx: &mut Tx, d: &Delivery) -> Result<WebhookOutcome> {
    // A pending charge's event is not remembered: a later delivery may find it settled.
    if d.charge.status != ChargeStatus::Pending
        && !store::claim_event(tx, d.provider.as_str(), &d.event_id, &d.event_type, d.now).await?
    {
        return Ok(WebhookOutcome {
            event_id: d.event_id.clone(),
            result: "replayed",
            payment_id: None,
        });
    }
    let applied = apply_charge(tx, &d.actor, d.provider, &d.charge, d.now).await?;
    Ok(outcome(d.event_id.clone(), applied))
}
