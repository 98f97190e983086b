//! Emitting outbox events from handlers: one call, inside the change's transaction.

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use satang_store::Tx;
use satang_store::outbox::{self, NewEvent};

use crate::error::ApiError;

/// Writes `event_type` about an entity (its API view as the payload) to the outbox.
pub async fn emit(
    tx: &mut Tx,
    event_type: &str,
    entity_type: &str,
    entity_id: Uuid,
    customer_id: Uuid,
    view: &impl Serialize,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    outbox::emit(
        tx,
        NewEvent {
            event_type,
            entity_type,
            entity_id: entity_id.to_string(),
            customer_id: Some(customer_id),
            payload: serde_json::to_value(view).unwrap_or_default(),
        },
        now,
    )
    .await?;
    Ok(())
}
