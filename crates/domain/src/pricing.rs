//! How a plan's price applies to a subscription's quantity.

use crate::wire::wire_enum;

wire_enum! {
    /// `flat`: one price per period, whatever the quantity (which must be 1); `per_seat`:
    /// `price × quantity` per period.
    pub enum Pricing, unknown UnknownPricing "pricing" {
        Flat = "flat",
        PerSeat = "per_seat",
    }
}
