//! What became of a notification: the `status` of an email delivery and of a webhook delivery,
//! as the delivery tables and the API's delivery views hold it.

use crate::wire::wire_enum;

wire_enum! {
    /// What a customer is mailed about; which outbox events turn into which mail is
    /// `satang_store::emails::kind_for`.
    pub enum EmailKind, unknown UnknownEmailKind "email kind" {
        InvoiceIssued = "invoice_issued",
        PaymentReceived = "payment_received",
        PaymentFailed = "payment_failed",
        TrialEnding = "trial_ending",
        SubscriptionChanged = "subscription_changed",
        UsageThresholdReached = "usage_threshold_reached",
    }
}

wire_enum! {
    /// A queued mail: waiting (`pending`, also between retries), `sent`, `skipped` (nobody to
    /// write to, or nothing left to say) or `failed` (given up).
    pub enum EmailStatus, unknown UnknownEmailStatus "email status" {
        Pending = "pending",
        Sent = "sent",
        Skipped = "skipped",
        Failed = "failed",
    }
}

wire_enum! {
    /// A webhook delivery: waiting (`pending`, also between retries), `succeeded` (the endpoint
    /// answered 2xx) or `failed` (given up).
    pub enum DeliveryStatus, unknown UnknownDeliveryStatus "delivery status" {
        Pending = "pending",
        Succeeded = "succeeded",
        Failed = "failed",
    }
}

impl DeliveryStatus {
    pub const fn is_pending(self) -> bool {
        matches!(self, DeliveryStatus::Pending)
    }
}
