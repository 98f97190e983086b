//! Webhook deliveries applied together: applier tasks take the charges that arrive at the same
//! moment and record them in one transaction per batch.
//!
//! Why: every payment takes the next number of the gapless receipt series, and that counter's
//! row stays locked until its transaction commits. Applied one delivery per transaction, the
//! deliveries take turns at the counter one commit each. A batch writes its receipts with the
//! numbers held back and numbers them as one block just before its commit, so it holds the
//! counter for one short turn however many payments it records. A handler hands its fetched (or
//! signature-checked) charge over and waits for its own answer, so what a provider sees is
//! unchanged.
//!
//! That pays on SQLite, whose one writer otherwise commits each delivery on its own. On
//! PostgreSQL the limit is the database's own CPU per payment, which batching does not lower
//! (the provider-webhooks bench gave the same rate either way), so there every delivery is
//! applied at once in its handler's task, the simpler path.
//!
//! A batch that fails as a whole (a bad charge, a deadlock) is rolled back and its deliveries
//! are applied again one by one, so one delivery's error never becomes another's.

use std::sync::OnceLock;

use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use satang_store::audit::Actor;
use satang_store::providers as store;
use satang_store::{Backend, Db, Scope, Tx, customers, invoices};

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

    /// Applies one delivery: on SQLite together with whatever else is waiting.
    pub async fn apply(&self, delivery: Delivery) -> Result<WebhookOutcome> {
        if self.db.backend() == Backend::Postgres {
            return apply_one(&self.db, &delivery).await;
        }
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
    let applied = satang_store::tax_documents::deferring_numbers(async {
        let outcomes = apply_in(&mut tx, batch).await?;
        satang_store::tax_documents::assign_deferred_numbers(&mut tx).await?;
        Ok::<_, Error>(outcomes)
    })
    .await;
    match applied {
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
    // The locks a delivery takes, in the order one delivery alone takes them — its event, its
    // intent, its invoice, its customer — each kind in id order, so batches cannot deadlock with
    // each other or with a delivery applied alone; the receipt counter comes last (numbers held
    // back).
    let mut order: Vec<usize> = (0..batch.len()).collect();
    order.sort_by(|&a, &b| batch[a].delivery.event_id.cmp(&batch[b].delivery.event_id));
    let mut fresh = vec![false; batch.len()];
    for i in order {
        fresh[i] = claim(tx, &batch[i].delivery).await?;
    }
    let mut refs: Vec<(&str, &str)> = batch
        .iter()
        .filter(|j| j.delivery.charge.status != ChargeStatus::Pending)
        .map(|j| {
            (
                j.delivery.provider.as_str(),
                j.delivery.charge.reference.as_str(),
            )
        })
        .collect();
    refs.sort_unstable();
    refs.dedup();
    let mut intents = Vec::with_capacity(refs.len());
    for (provider, reference) in refs {
        if let Some(i) = store::intent_by_ref(tx, provider, reference).await? {
            intents.push(i);
        }
    }
    let mut locked: Vec<Uuid> = batch
        .iter()
        .filter(|j| j.delivery.charge.status == ChargeStatus::Succeeded)
        .filter_map(|j| {
            let d = &j.delivery;
            d.charge.invoice_id.or_else(|| {
                intents
                    .iter()
                    .find(|i| {
                        i.provider == d.provider.as_str() && i.provider_ref == d.charge.reference
                    })
                    .map(|i| i.invoice_id)
            })
        })
        .collect();
    locked.sort_unstable();
    locked.dedup();
    let mut owners = Vec::with_capacity(locked.len());
    for id in locked {
        owners.extend(
            invoices::lock(tx, id, Scope::All)
                .await?
                .map(|i| i.customer_id),
        );
    }
    customers::lock_many_in(tx, &owners).await?;
    let mut outcomes = Vec::with_capacity(batch.len());
    for (job, fresh) in batch.iter().zip(fresh) {
        outcomes.push(apply_claimed(tx, &job.delivery, fresh).await?);
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
    let fresh = claim(tx, d).await?;
    apply_claimed(tx, d, fresh).await
}

/// Remembers the delivery's event; false when it was seen before. A pending charge's event is
/// not remembered: a later delivery may find it settled.
async fn claim(tx: &mut Tx, d: &Delivery) -> Result<bool> {
    if d.charge.status == ChargeStatus::Pending {
        return Ok(true);
    }
    Ok(store::claim_event(tx, d.provider.as_str(), &d.event_id, &d.event_type, d.now).await?)
}

async fn apply_claimed(tx: &mut Tx, d: &Delivery, fresh: bool) -> Result<WebhookOutcome> {
    if !fresh {
        return Ok(WebhookOutcome {
            event_id: d.event_id.clone(),
            result: "replayed",
            payment_id: None,
        });
    }
    let applied = apply_charge(tx, &d.actor, d.provider, &d.charge, d.now).await?;
    Ok(outcome(d.event_id.clone(), applied))
}
