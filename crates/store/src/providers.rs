//! Payment providers' rows (`billing.payment_intents`, `billing.provider_charges`,
//! `billing.provider_events`): what a person started at Opn or Stripe for an invoice, and the
//! once-guards of provider events and charges (see migration 0025).

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::{Backend, Result, Sql, Tx};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PaymentIntent {
    pub id: Uuid,
    pub invoice_id: Uuid,
    pub customer_id: Uuid,
    /// `opn` or `stripe`.
    pub provider: String,
    /// `promptpay` or `card`.
    pub method: String,
    pub provider_ref: String,
    /// `pending`, `succeeded`, `failed` or `expired`.
    pub status: String,
    pub amount: i64,
    pub currency: String,
    pub qr_svg: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub payment_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// An intent to record, as the provider answered it.
#[derive(Debug, Clone)]
pub struct NewPaymentIntent {
    pub invoice_id: Uuid,
    pub customer_id: Uuid,
    pub provider: String,
    pub method: String,
    pub provider_ref: String,
    pub status: String,
    pub amount: i64,
    pub currency: String,
    pub qr_svg: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
}

pub async fn insert_intent(
    tx: &mut Tx,
    i: NewPaymentIntent,
    now: DateTime<Utc>,
) -> Result<PaymentIntent> {
    tx.fetch_one(
        Sql::new(
            "INSERT INTO payment_intents (id, invoice_id, customer_id, provider, method, \
             provider_ref, status, amount, currency, qr_svg, expires_at, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12) RETURNING *",
        )
        .bind(Uuid::now_v7())
        .bind(i.invoice_id)
        .bind(i.customer_id)
        .bind(i.provider)
        .bind(i.method)
        .bind(i.provider_ref)
        .bind(i.status)
        .bind(i.amount)
        .bind(i.currency)
        .bind(i.qr_svg)
        .bind(i.expires_at)
        .bind(now),
    )
    .await
}

/// The intent a provider knows by `provider_ref`, locked on PostgreSQL.
pub async fn intent_by_ref(
    tx: &mut Tx,
    provider: &str,
    provider_ref: &str,
) -> Result<Option<PaymentIntent>> {
    let lock = match tx.backend() {
        Backend::Postgres => " FOR UPDATE",
        Backend::Sqlite => "",
    };
    tx.fetch_optional(
        Sql::new(format!(
            "SELECT * FROM payment_intents WHERE provider = $1 AND provider_ref = $2{lock}"
        ))
        .bind(provider)
        .bind(provider_ref),
    )
    .await
}

/// The invoice's newest intent that is still pending for `provider` and `method`.
pub async fn pending_intent(
    tx: &mut Tx,
    invoice_id: Uuid,
    provider: &str,
    method: &str,
) -> Result<Option<PaymentIntent>> {
    tx.fetch_optional(
        Sql::new(
            "SELECT * FROM payment_intents WHERE invoice_id = $1 AND provider = $2 \
             AND method = $3 AND status = 'pending' ORDER BY id DESC LIMIT 1",
        )
        .bind(invoice_id)
        .bind(provider)
        .bind(method),
    )
    .await
}

/// The invoice's intents, newest first.
pub async fn intents_of(tx: &mut Tx, invoice_id: Uuid) -> Result<Vec<PaymentIntent>> {
    tx.fetch_all(
        Sql::new("SELECT * FROM payment_intents WHERE invoice_id = $1 ORDER BY id DESC")
            .bind(invoice_id),
    )
    .await
}

/// Moves an intent out of `pending`; `None` when it had already left it.
pub async fn settle_intent(
    tx: &mut Tx,
    id: Uuid,
    status: &str,
    payment_id: Option<Uuid>,
    now: DateTime<Utc>,
) -> Result<Option<PaymentIntent>> {
    tx.fetch_optional(
        Sql::new(
            "UPDATE payment_intents SET status = $2, payment_id = $3, updated_at = $4 \
             WHERE id = $1 AND status = 'pending' RETURNING *",
        )
        .bind(id)
        .bind(status)
        .bind(payment_id)
        .bind(now),
    )
    .await
}

/// Claims a provider charge for recording; `false` when it was recorded before (or by a
/// transaction that committed while this one waited on the key).
pub async fn claim_charge(
    tx: &mut Tx,
    provider: &str,
    charge_id: &str,
    invoice_id: Uuid,
    now: DateTime<Utc>,
) -> Result<bool> {
    let inserted = tx
        .execute(
            Sql::new(
                "INSERT INTO provider_charges (provider, charge_id, invoice_id, applied_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (provider, charge_id) DO NOTHING",
            )
            .bind(provider)
            .bind(charge_id)
            .bind(invoice_id)
            .bind(now),
        )
        .await?;
    Ok(inserted == 1)
}

/// Names the payment a claimed charge recorded.
pub async fn set_charge_payment(
    tx: &mut Tx,
    provider: &str,
    charge_id: &str,
    payment_id: Uuid,
) -> Result<()> {
    tx.execute(
        Sql::new(
            "UPDATE provider_charges SET payment_id = $3 WHERE provider = $1 AND charge_id = $2",
        )
        .bind(provider)
        .bind(charge_id)
        .bind(payment_id),
    )
    .await?;
    Ok(())
}

/// Records a provider event as handled; `false` when it was handled before.
pub async fn claim_event(
    tx: &mut Tx,
    provider: &str,
    event_id: &str,
    event_type: &str,
    now: DateTime<Utc>,
) -> Result<bool> {
    let inserted = tx
        .execute(
            Sql::new(
                "INSERT INTO provider_events (provider, event_id, event_type, received_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (provider, event_id) DO NOTHING",
            )
            .bind(provider)
            .bind(event_id)
            .bind(event_type)
            .bind(now),
        )
        .await?;
    Ok(inserted == 1)
}
