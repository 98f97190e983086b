//! Thai tax documents (SPEC §4.1): when VAT falls due (the tax point), which document each
//! event issues with its ETDA document type code, and how the VAT of a partial payment is
//! apportioned so that the receipts of one invoice add up to its VAT exactly.
//!
//! Type codes are those of ETDA's code list `ThaiDocumentNameCode_Invoice_1p0` (e-Tax Invoice &
//! e-Receipt v2.1):
//!
//! | type                  | code | Thai name                     | issued                          |
//! |-----------------------|------|-------------------------------|---------------------------------|
//! | `tax_invoice`         | 388  | ใบกำกับภาษี                    | at issue, tax point `issue`     |
//! | `receipt_tax_invoice` | T03  | ใบเสร็จรับเงิน/ใบกำกับภาษี       | by a payment, tax point `payment` |
//! | `receipt`             | T01  | ใบรับ (ใบเสร็จรับเงิน)           | by a payment, tax point `issue` |
//! | `credit_note`         | 81   | ใบลดหนี้                       | by a credit note                |
//!
//! T02 (ใบแจ้งหนี้/ใบกำกับภาษี) is not used: ETDA's v2.1 code list names it "Factored credit
//! note", so the unambiguous 388 is issued for an invoice that is the tax invoice.

use serde::{Deserialize, Serialize};

use crate::money::{MoneyError, round_half_up_div};

/// When VAT falls due: on payment (services, Revenue Code s. 78/1, the default) or when the
/// invoice is issued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaxPoint {
    #[default]
    Payment,
    Issue,
}

impl TaxPoint {
    pub const fn as_str(self) -> &'static str {
        match self {
            TaxPoint::Payment => "payment",
            TaxPoint::Issue => "issue",
        }
    }

    /// The document a payment issues under this tax point.
    pub const fn payment_document(self) -> TaxDocumentType {
        match self {
            TaxPoint::Payment => TaxDocumentType::ReceiptTaxInvoice,
            TaxPoint::Issue => TaxDocumentType::Receipt,
        }
    }
}

/// The kinds of tax document Satang issues.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaxDocumentType {
    TaxInvoice,
    ReceiptTaxInvoice,
    Receipt,
    CreditNote,
}

impl TaxDocumentType {
    pub const ALL: [TaxDocumentType; 4] = [
        TaxDocumentType::TaxInvoice,
        TaxDocumentType::ReceiptTaxInvoice,
        TaxDocumentType::Receipt,
        TaxDocumentType::CreditNote,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            TaxDocumentType::TaxInvoice => "tax_invoice",
            TaxDocumentType::ReceiptTaxInvoice => "receipt_tax_invoice",
            TaxDocumentType::Receipt => "receipt",
            TaxDocumentType::CreditNote => "credit_note",
        }
    }

    /// ETDA's document type code (`ram:TypeCode`).
    pub const fn type_code(self) -> &'static str {
        match self {
            TaxDocumentType::TaxInvoice => "388",
            TaxDocumentType::ReceiptTaxInvoice => "T03",
            TaxDocumentType::Receipt => "T01",
            TaxDocumentType::CreditNote => "81",
        }
    }

    /// The printed title in Thai and English.
    pub const fn title(self) -> (&'static str, &'static str) {
        match self {
            TaxDocumentType::TaxInvoice => ("ใบแจ้งหนี้/ใบกำกับภาษี", "Invoice / Tax invoice"),
            TaxDocumentType::ReceiptTaxInvoice => {
                ("ใบเสร็จรับเงิน/ใบกำกับภาษี", "Receipt / Tax invoice")
            }
            TaxDocumentType::Receipt => ("ใบเสร็จรับเงิน", "Receipt"),
            TaxDocumentType::CreditNote => ("ใบลดหนี้", "Credit note"),
        }
    }

    pub fn parse(s: &str) -> Option<TaxDocumentType> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// The VAT of one payment towards an invoice of `total` (VAT included) carrying `vat`.
///
/// `paid_before` is what earlier payments settled and `vat_before` the VAT their receipts
/// carry; `paid` is this payment (money, withholding certificate or credit). The payment's VAT
/// is the invoice's VAT share of everything settled so far, half-up, less what earlier receipts
/// already carry: each receipt is within one satang of its exact share, and the payment that
/// settles the invoice takes the remainder, so the receipts' VAT adds up to `vat` exactly.
/// Amounts past the total (overpayment) carry no VAT.
pub fn payment_vat(
    total: i64,
    vat: i64,
    paid_before: i64,
    vat_before: i64,
    paid: i64,
) -> Result<i64, MoneyError> {
    if total <= 0 {
        return Ok(0);
    }
    let settled = paid_before.saturating_add(paid).clamp(0, total);
    let due = if settled == total {
        vat
    } else {
        round_half_up_div(i128::from(vat) * i128::from(settled), i128::from(total))?
    };
    Ok(due - vat_before)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn codes_and_names() {
        for t in TaxDocumentType::ALL {
            assert_eq!(TaxDocumentType::parse(t.as_str()), Some(t));
        }
        assert_eq!(TaxPoint::default(), TaxPoint::Payment);
        assert_eq!(TaxPoint::Payment.payment_document().type_code(), "T03");
        assert_eq!(TaxPoint::Issue.payment_document().type_code(), "T01");
        assert_eq!(
            serde_json::to_string(&TaxPoint::Issue).unwrap(),
            "\"issue\""
        );
    }

    #[test]
    fn thirds_of_an_invoice() {
        // 107.00 with 7.00 VAT paid in three parts of 35.67, 35.67, 35.66: cumulative shares
        // 2.33, 4.67, 7.00.
        let a = payment_vat(10_700, 700, 0, 0, 3_567).unwrap();
        let b = payment_vat(10_700, 700, 3_567, a, 3_567).unwrap();
        let c = payment_vat(10_700, 700, 7_134, a + b, 3_566).unwrap();
        assert_eq!((a, b, c), (233, 234, 233));
    }

    proptest! {
        #[test]
        fn receipts_add_up_to_the_invoice_vat(
            total in 1_i64..10_000_000_000,
            vat_bps in 0_i64..=10_000,
            cuts in proptest::collection::vec(1_u32..1_000, 1..12),
        ) {
            let vat = total * vat_bps / 10_000;
            // Split the total into payments proportional to the cuts, the last settling it.
            let weight: i64 = cuts.iter().map(|c| i64::from(*c)).sum();
            let mut payments: Vec<i64> = cuts.iter().map(|c| total * i64::from(*c) / weight).collect();
            let paid: i64 = payments.iter().sum();
            *payments.last_mut().unwrap() += total - paid;
            let (mut paid_before, mut vat_before) = (0, 0);
            for p in payments {
                let share = payment_vat(total, vat, paid_before, vat_before, p).unwrap();
                // Never negative, within one satang of the exact share.
                prop_assert!(share >= 0);
                let exact = i128::from(vat) * i128::from(p);
                prop_assert!((i128::from(share) * i128::from(total) - exact).abs() <= i128::from(total));
                paid_before += p;
                vat_before += share;
            }
            prop_assert_eq!(vat_before, vat);
        }

        #[test]
        fn one_payment_of_everything_carries_all_the_vat(total in 1_i64..i64::MAX / 2, vat in 0_i64..1_000_000) {
            prop_assert_eq!(payment_vat(total, vat, 0, 0, total).unwrap(), vat);
        }
    }
}
