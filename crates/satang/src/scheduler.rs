//! The billing scheduler inside `satang serve`: runs the billing engine every
//! `SATANG_BILLING_INTERVAL` seconds (60 by default, 0 = off) on the server's one clock, so the
//! test clock drives it too. Several processes may each run one: the run's locking and unique
//! key make that safe (see `satang_billing::run`).
//!
//! Shutdown is graceful: the stop flag is checked between steps, so the step in progress (one
//! subscription period, one transaction) completes and nothing is left half done.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::JoinHandle;

use satang_api::AppState;
use satang_api::routes::test_clock::OFFSET_KEY;
use satang_store::Db;
use satang_store::audit::Actor;
use satang_store::clock::Clock;

use crate::Config;

/// Queued invoices the tax document worker takes per pass.
const TAX_DOCUMENT_BATCH: i64 = 500;

/// Documents the signing worker claims, signs and stores per pass: a short claim and a short
/// store transaction each, and enough documents to keep every core signing in between.
const SIGN_BATCH: i64 = 64;

pub struct BillingScheduler {
    stop: Arc<AtomicBool>,
    wake: Arc<Notify>,
    task: JoinHandle<()>,
}

impl BillingScheduler {
    pub fn start(state: AppState, every: Duration) -> BillingScheduler {
        let stop = Arc::new(AtomicBool::new(false));
        let wake = Arc::new(Notify::new());
        let (flag, notified) = (stop.clone(), wake.clone());
        let task = tokio::spawn(async move {
            let actor = Actor {
                // Which process billed: several may share one database.
                request_id: Some(format!("billing-scheduler:{}", std::process::id())),
                ..Actor::default()
            };
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(every) => {}
                    _ = notified.notified() => {}
                }
                if flag.load(Ordering::Relaxed) {
                    break;
                }
                let now = state.clock.now();
                let stopping = {
                    let flag = flag.clone();
                    Arc::new(move || flag.load(Ordering::Relaxed))
                };
                match satang_billing::run_billing_until(
                    &state.db,
                    &state.clock,
                    now,
                    &actor,
                    stopping,
                )
                .await
                {
                    Ok(r) if r.invoices_created + r.subscriptions_canceled + r.failed > 0 => {
                        if r.subscriptions_canceled > 0 {
                            state.entitlements.forget_everyone();
                        }
                        tracing::info!(
                            invoices = r.invoices_created,
                            canceled = r.subscriptions_canceled,
                            failed = r.failed,
                            "billing run"
                        );
                    }
                    Ok(_) => {}
                    Err(e) => tracing::error!(error = %e, "billing run failed"),
                }
                // The tax documents the run left to a worker (SPEC §4.1), outside its
                // transactions so its rate does not depend on them.
                loop {
                    match satang_billing::tax_documents::issue_queued(
                        &state.db,
                        state.clock.now(),
                        TAX_DOCUMENT_BATCH,
                    )
                    .await
                    {
                        Ok(n)
                            if n as i64 == TAX_DOCUMENT_BATCH && !flag.load(Ordering::Relaxed) => {}
                        Ok(_) => break,
                        Err(e) => {
                            tracing::error!(error = %e, "tax documents failed");
                            break;
                        }
                    }
                }
                // Their signed e-Tax XML (SPEC §4.2), when the seller's certificate is set:
                // made here so a request rarely has to sign one.
                if let Err(e) = state.etax_signers.refresh(&state.db, &state.secrets).await {
                    tracing::error!(error = %e, "reading the uploaded e-Tax certificate failed");
                }
                if let Some(signer) = state.etax_signers.current() {
                    loop {
                        if flag.load(Ordering::Relaxed) {
                            break;
                        }
                        match satang_billing::tax_documents::sign_unsigned(
                            &state.db,
                            &signer,
                            state.clock.now(),
                            SIGN_BATCH,
                        )
                        .await
                        {
                            Ok(p) if p.claimed as i64 == SIGN_BATCH => {}
                            Ok(_) => break,
                            Err(e) => {
                                tracing::error!(error = %e, "signing tax documents failed");
                                break;
                            }
                        }
                    }
                }
                match state.collect_payments(&actor).await {
                    Ok(c) if c.charged + c.declined + c.customers_suspended > 0 => {
                        if c.customers_suspended > 0 {
                            state.entitlements.forget_everyone();
                        }
                        tracing::info!(
                            charged = c.charged,
                            declined = c.declined,
                            suspended = c.customers_suspended,
                            "automatic collection"
                        );
                    }
                    Ok(_) => {}
                    Err(e) => tracing::error!(error = %e, "automatic collection failed"),
                }
                metrics::counter!("billing_runs_total").increment(1);
            }
        });
        BillingScheduler { stop, wake, task }
    }

    /// Asks the scheduler to stop after its current step and waits for it.
    pub async fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        self.wake.notify_one();
        let _ = self.task.await;
    }
}

/// The clock `satang bill` runs on: the test clock (with its saved offset) when enabled, as
/// `satang serve` would use.
pub async fn clock_for(config: &Config, db: &Db) -> anyhow::Result<Clock> {
    Ok(if config.test_clock {
        let offset = satang_store::kv::get(db, OFFSET_KEY)
            .await?
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        Clock::test(offset)
    } else {
        Clock::system()
    })
}
