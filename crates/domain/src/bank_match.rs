//! Suggested matches between a bank statement line and open invoices (SPEC §2.13).
//!
//! A line is money received (amount > 0). An invoice is a candidate when the line's amount is
//! - its amount due (`exact`), or
//! - its amount due less the withholding tax still to be withheld on it (`less_withholding`):
//!   the customer paid net of the 50 ทวิ tax, the settings rate (3 % by default) of the pre-VAT
//!   amount, less what earlier payments already withheld.
//!
//! Among candidates, what the description says scores: the invoice number (compared without
//! case, spaces or punctuation, so `INV 2026 000042` finds `INV-2026-000042`), the customer's
//! 13-digit tax id, or its name or legal name (at least three letters). Best first; ties keep the
//! candidates' order (the caller passes them oldest due date first).

use std::collections::HashMap;

/// Score of the amount equal to the amount due.
pub const SCORE_EXACT: u32 = 50;
/// Score of the amount equal to the amount due less withholding tax.
pub const SCORE_LESS_WITHHOLDING: u32 = 40;
pub const SCORE_INVOICE_NUMBER: u32 = 40;
pub const SCORE_TAX_ID: u32 = 30;
pub const SCORE_NAME: u32 = 20;
/// Suggestions kept per line.
pub const MAX_SUGGESTIONS: usize = 5;
/// Shortest name (in characters, once normalised) looked for in a description.
const MIN_NAME_CHARS: usize = 3;

/// An open invoice as matching needs it.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub number: String,
    pub tax_id: Option<String>,
    /// The customer's name and legal name.
    pub names: Vec<String>,
    pub amount_due: i64,
    /// Withholding tax that may still be withheld on the invoice (0: none).
    pub withholding_left: i64,
}

/// How the amount matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AmountMatch {
    Exact,
    LessWithholding,
}

impl AmountMatch {
    pub const fn as_str(self) -> &'static str {
        match self {
            AmountMatch::Exact => "amount",
            AmountMatch::LessWithholding => "amount_less_withholding_tax",
        }
    }
}

/// One suggestion: `candidate` indexes the slice given to [`Matcher::new`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suggestion {
    pub candidate: usize,
    pub amount_match: AmountMatch,
    /// The withholding tax to record with the match (0 for an exact amount).
    pub withholding_tax: i64,
    pub score: u32,
    /// `amount` or `amount_less_withholding_tax`, then any of `invoice_number`, `tax_id`,
    /// `customer_name`.
    pub reasons: Vec<&'static str>,
}

/// Lower case, without whitespace or ASCII punctuation: how numbers and names are compared.
pub fn normalize(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_whitespace() && !c.is_ascii_punctuation())
        .flat_map(char::to_lowercase)
        .collect()
}

struct Prepared {
    number: String,
    tax_id: Option<String>,
    names: Vec<String>,
}

/// The candidates indexed by the amounts they would be paid with.
pub struct Matcher {
    by_amount: HashMap<i64, Vec<(usize, AmountMatch)>>,
    prepared: Vec<Prepared>,
    withholding: Vec<i64>,
}

impl Matcher {
    pub fn new(candidates: &[Candidate]) -> Self {
        let mut by_amount: HashMap<i64, Vec<(usize, AmountMatch)>> = HashMap::new();
        for (i, c) in candidates.iter().enumerate() {
            if c.amount_due <= 0 {
                continue;
            }
            by_amount
                .entry(c.amount_due)
                .or_default()
                .push((i, AmountMatch::Exact));
            if c.withholding_left > 0 && c.withholding_left < c.amount_due {
                by_amount
                    .entry(c.amount_due - c.withholding_left)
                    .or_default()
                    .push((i, AmountMatch::LessWithholding));
            }
        }
        let prepared = candidates
            .iter()
            .map(|c| Prepared {
                number: normalize(&c.number),
                tax_id: c.tax_id.as_deref().map(normalize).filter(|t| t.len() == 13),
                names: c
                    .names
                    .iter()
                    .map(|n| normalize(n))
                    .filter(|n| n.chars().count() >= MIN_NAME_CHARS)
                    .collect(),
            })
            .collect();
        Matcher {
            by_amount,
            prepared,
            withholding: candidates.iter().map(|c| c.withholding_left).collect(),
        }
    }

    /// The best candidates for a line of `amount` with `description`, best first.
    pub fn suggest(&self, amount: i64, description: &str) -> Vec<Suggestion> {
        if amount <= 0 {
            return Vec::new();
        }
        let Some(bucket) = self.by_amount.get(&amount) else {
            return Vec::new();
        };
        let text = normalize(description);
        let mut out: Vec<Suggestion> = bucket
            .iter()
            .map(|&(i, amount_match)| {
                let p = &self.prepared[i];
                let (mut score, withholding_tax) = match amount_match {
                    AmountMatch::Exact => (SCORE_EXACT, 0),
                    AmountMatch::LessWithholding => (SCORE_LESS_WITHHOLDING, self.withholding[i]),
                };
                let mut reasons = vec![amount_match.as_str()];
                if !p.number.is_empty() && text.contains(&p.number) {
                    score += SCORE_INVOICE_NUMBER;
                    reasons.push("invoice_number");
                }
                if p.tax_id.as_ref().is_some_and(|t| text.contains(t)) {
                    score += SCORE_TAX_ID;
                    reasons.push("tax_id");
                }
                if p.names.iter().any(|n| text.contains(n)) {
                    score += SCORE_NAME;
                    reasons.push("customer_name");
                }
                Suggestion {
                    candidate: i,
                    amount_match,
                    withholding_tax,
                    score,
                    reasons,
                }
            })
            .collect();
        // Stable: equal scores keep the caller's order.
        out.sort_by_key(|s| std::cmp::Reverse(s.score));
        out.truncate(MAX_SUGGESTIONS);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn candidate(number: &str, name: &str, tax_id: Option<&str>, due: i64, wht: i64) -> Candidate {
        Candidate {
            number: number.into(),
            tax_id: tax_id.map(Into::into),
            names: vec![name.into()],
            amount_due: due,
            withholding_left: wht,
        }
    }

    #[test]
    fn the_description_ranks_amount_matches() {
        let cands = vec![
            candidate("INV-2026-000001", "ไร่ทองคำ", None, 107_000, 3_000),
            candidate(
                "INV-2026-000002",
                "ฟาร์มสุขใจ",
                Some("0105551234567"),
                107_000,
                3_000,
            ),
            candidate("INV-2026-000003", "Green Acres", None, 104_000, 0),
        ];
        let m = Matcher::new(&cands);
        let s = m.suggest(107_000, "โอนเงิน ฟาร์มสุขใจ");
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].candidate, 1);
        assert_eq!(s[0].reasons, vec!["amount", "customer_name"]);
        assert_eq!(s[1].candidate, 0);

        let s = m.suggest(107_000, "payment inv 2026 000001");
        assert_eq!(s[0].candidate, 0);
        assert!(s[0].reasons.contains(&"invoice_number"));

        // 1,070.00 less 30.00 withheld: the net transfer, with the tax id.
        let s = m.suggest(104_000, "TAX ID 0-1055-51234-56-7");
        assert_eq!(s[0].candidate, 1);
        assert_eq!(s[0].amount_match, AmountMatch::LessWithholding);
        assert_eq!(s[0].withholding_tax, 3_000);
        assert_eq!(s[0].reasons, vec!["amount_less_withholding_tax", "tax_id"]);
        // The exact 1,040.00 invoice is there too, below it.
        assert!(
            s.iter()
                .any(|x| x.candidate == 2 && x.amount_match == AmountMatch::Exact)
        );

        assert!(m.suggest(-107_000, "ฟาร์มสุขใจ").is_empty());
        assert!(m.suggest(1, "INV-2026-000001").is_empty());
    }

    proptest! {
        #[test]
        fn every_suggestion_pays_the_invoice_exactly(
            dues in proptest::collection::vec((1_i64..10_000, 0_i64..500), 1..30),
            pick in 0_usize..30, net: bool,
        ) {
            let cands: Vec<Candidate> = dues
                .iter()
                .enumerate()
                .map(|(i, &(due, wht))| candidate(&format!("INV-{i}"), "x", None, due, wht))
                .collect();
            let m = Matcher::new(&cands);
            let c = &cands[pick % cands.len()];
            let amount = if net && c.withholding_left > 0 && c.withholding_left < c.amount_due {
                c.amount_due - c.withholding_left
            } else {
                c.amount_due
            };
            let s = m.suggest(amount, "");
            prop_assert!(!s.is_empty());
            prop_assert!(s.len() <= MAX_SUGGESTIONS);
            for x in &s {
                let c = &cands[x.candidate];
                // Money received plus the tax withheld settles exactly what is due.
                prop_assert_eq!(amount + x.withholding_tax, c.amount_due);
                prop_assert!(x.withholding_tax <= c.withholding_left);
            }
            for w in s.windows(2) {
                prop_assert!(w[0].score >= w[1].score);
            }
        }
    }
}
