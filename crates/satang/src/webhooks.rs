//! The webhook delivery worker inside `satang serve`: sends due deliveries from the outbox,
//! signed with `Satang-Signature`, and retries failures with exponential back-off (base ×
//! 2^attempt, at most six hours apart, eight attempts in all). Deliveries are claimed with a
//! lease, so several processes share the work and a crash mid-send only delays a retry.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::TimeDelta;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use satang_api::AppState;
use satang_auth::crypto::webhook_signature;
use satang_store::outbox;

/// Attempts before a delivery is marked failed.
const MAX_ATTEMPTS: i64 = 8;
/// Deliveries claimed per pass.
const BATCH: i64 = 50;

pub struct WebhookWorker {
    stop: Arc<AtomicBool>,
    wake: Arc<Notify>,
    task: JoinHandle<()>,
}

impl WebhookWorker {
    pub fn start(state: AppState, every: Duration, retry_base: Duration) -> WebhookWorker {
        let stop = Arc::new(AtomicBool::new(false));
        let wake = Arc::new(Notify::new());
        let (flag, notified) = (stop.clone(), wake.clone());
        let task = tokio::spawn(async move {
            let client = reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap_or_default();
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(every) => {}
                    _ = notified.notified() => {}
                }
                if flag.load(Ordering::Relaxed) {
                    break;
                }
                if let Err(e) = deliver_due(&state, &client, retry_base).await {
                    tracing::error!(error = %e, "webhook delivery pass failed");
                }
            }
        });
        WebhookWorker { stop, wake, task }
    }

    /// Stops after the delivery in flight.
    pub async fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        self.wake.notify_one();
        let _ = self.task.await;
    }
}

/// One pass: claims what is due and sends it. Returns how many were sent successfully.
pub async fn deliver_due(
    state: &AppState,
    client: &reqwest::Client,
    retry_base: Duration,
) -> anyhow::Result<usize> {
    let now = state.clock.now();
    let due = outbox::claim_due(&state.db, now, now + TimeDelta::minutes(2), BATCH).await?;
    let mut delivered = 0;
    for d in due {
        let body = serde_json::to_vec(&serde_json::json!({
            "id": d.event_id,
            "type": d.event_type,
            "created_at": d.event_created_at,
            "data": d.payload.0,
        }))?;
        let outcome = match state.secrets.open(&d.secret_sealed) {
            Ok(secret) => {
                let signature = webhook_signature(&secret, state.clock.now().timestamp(), &body);
                client
                    .post(&d.url)
                    .header("content-type", "application/json")
                    .header("user-agent", "Satang-Webhooks/1")
                    .header("satang-signature", signature)
                    .header("satang-event-id", d.event_id.to_string())
                    .header("satang-event-type", d.event_type.as_str())
                    .body(body)
                    .send()
                    .await
                    .map(|r| r.status())
                    .map_err(|e| e.without_url().to_string())
            }
            Err(e) => Err(e.to_string()),
        };
        let now = state.clock.now();
        let (code, error, ok) = match outcome {
            Ok(status) => (
                Some(status.as_u16()),
                (!status.is_success()).then(|| format!("answered {status}")),
                status.is_success(),
            ),
            Err(e) => (None, Some(e), false),
        };
        let retry_at = (!ok && d.attempts + 1 < MAX_ATTEMPTS).then(|| {
            let factor = 1u32 << d.attempts.clamp(0, 16);
            let wait = retry_base
                .saturating_mul(factor)
                .min(Duration::from_secs(6 * 3600));
            now + TimeDelta::from_std(wait).unwrap_or(TimeDelta::hours(6))
        });
        outbox::record_attempt(&state.db, d.id, code, error, ok, retry_at, now).await?;
        delivered += usize::from(ok);
    }
    metrics::gauge!("webhook_backlog").set(outbox::backlog(&state.db).await? as f64);
    Ok(delivered)
}
