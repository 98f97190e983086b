//! A recorded payment's status: what the `status` column of payments and the API's `status`
//! field of a payment may hold.

use crate::wire::wire_enum;

wire_enum! {
    /// Only `succeeded` today: a payment row records money received. A declined charge is not
    /// a payment; it feeds dunning instead.
    pub enum PaymentStatus, unknown UnknownPaymentStatus "payment status" {
        Succeeded = "succeeded",
    }
}
