//! From a notice (plain data about what happened) to the text of a mail: subject, plain-text
//! body and the same body as simple HTML. Amounts read `฿1,234.50`; dates are Buddhist Era in
//! Thai (`24 พ.ย. 2569`) and `24 Nov 2026` in English. Pure: no I/O, no clock.

use chrono::NaiveDate;

use satang_domain::money::{Currency, Money};
use satang_domain::{Interval, SubscriptionChange};

use crate::catalog::{Args, Catalog, CatalogError, Locale};

/// Who writes and who reads, as the mail addresses them.
#[derive(Debug, Clone)]
pub struct Parties {
    /// The seller's company name in the mail's language.
    pub seller: String,
    pub customer: String,
}

/// The catalogue's selector for a change: its action without the `subscription.` prefix.
fn selector(change: SubscriptionChange) -> &'static str {
    let action = change.as_str();
    action.strip_prefix("subscription.").unwrap_or(action)
}

/// A plan as a mail names it.
#[derive(Debug, Clone)]
pub struct PlanTerms {
    /// The name in the mail's language.
    pub name: String,
    /// Price per period and seat, excluding VAT.
    pub price: Money,
    pub interval: Interval,
    pub quantity: i64,
}

/// What happened, with the figures the mail shows.
#[derive(Debug, Clone)]
pub enum Notice {
    InvoiceIssued {
        number: String,
        issue_date: NaiveDate,
        total: Money,
        amount_due: Money,
        due_date: Option<NaiveDate>,
        /// Charged automatically to a card on file.
        automatic: bool,
        pdf_attached: bool,
        /// The invoice's pay page (a payment link), for an invoice paid by hand.
        pay_url: Option<String>,
    },
    PaymentReceived {
        number: String,
        amount: Money,
        paid_date: NaiveDate,
        /// Still due on the invoice.
        amount_due: Money,
    },
    PaymentFailed {
        number: String,
        amount_due: Money,
        next_attempt: Option<NaiveDate>,
    },
    TrialEnding {
        plan: PlanTerms,
        trial_end: NaiveDate,
        days_left: i64,
    },
    SubscriptionChanged {
        change: SubscriptionChange,
        plan: PlanTerms,
        /// When the change takes effect.
        date: NaiveDate,
    },
    /// A usage alert's threshold was reached in the period `[period_start, period_end)`.
    UsageThresholdReached {
        /// The plan's name in the mail's language.
        plan: String,
        metric: String,
        threshold: i64,
        usage: i64,
        period_start: NaiveDate,
        period_end: NaiveDate,
    },
}

/// A composed mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Composed {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// `฿1,234.50` for baht; other currencies as `1,234.50 USD`.
pub fn money_text(money: Money) -> String {
    let figure = satang_documents::amount(money);
    match money.currency {
        Currency::Thb => match figure.strip_prefix('-') {
            Some(positive) => format!("-฿{positive}"),
            None => format!("฿{figure}"),
        },
        other => format!("{figure} {}", other.code()),
    }
}

/// A calendar date as the reader expects it: Buddhist Era in Thai.
pub fn date_text(locale: Locale, date: NaiveDate) -> String {
    match locale {
        Locale::Th => satang_documents::thai_date(date),
        Locale::En => date.format("%-d %b %Y").to_string(),
    }
}

/// A whole number with thousands separators: `12,500`.
pub fn grouped(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if n < 0 {
        out.push('-');
    }
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Writes `notice` to `parties` in `locale`.
pub fn compose(
    catalog: &Catalog,
    locale: Locale,
    parties: &Parties,
    notice: &Notice,
) -> Result<Composed, CatalogError> {
    let date = |d: NaiveDate| date_text(locale, d);
    let base = || {
        Args::new()
            .text("seller", parties.seller.clone())
            .text("customer", parties.customer.clone())
    };
    let (subject_key, args, paragraphs): (&str, Args, Vec<&str>) = match notice {
        Notice::InvoiceIssued {
            number,
            issue_date,
            total,
            amount_due,
            due_date,
            automatic,
            pdf_attached,
            pay_url,
        } => {
            let mut args = base()
                .text("number", number.clone())
                .text("issue_date", date(*issue_date))
                .text("total", money_text(*total))
                .text("amount_due", money_text(*amount_due));
            let mut keys = vec!["invoice-issued-intro"];
            if amount_due.is_positive() {
                match due_date {
                    Some(d) => {
                        args = args.text("due_date", date(*d));
                        keys.push("invoice-issued-due");
                    }
                    None => keys.push("invoice-issued-due-now"),
                }
                if *automatic {
                    keys.push("invoice-issued-automatic");
                } else if let Some(url) = pay_url {
                    args = args.text("pay_url", url.clone());
                    keys.push("invoice-issued-pay-link");
                }
            } else {
                keys.push("invoice-issued-settled");
            }
            if *pdf_attached {
                keys.push("invoice-issued-attached");
            }
            ("invoice-issued-subject", args, keys)
        }
        Notice::PaymentReceived {
            number,
            amount,
            paid_date,
            amount_due,
        } => {
            let args = base()
                .text("number", number.clone())
                .text("amount", money_text(*amount))
                .text("paid_date", date(*paid_date))
                .text("amount_due", money_text(*amount_due));
            let rest = if amount_due.is_positive() {
                "payment-received-remaining"
            } else {
                "payment-received-settled"
            };
            (
                "payment-received-subject",
                args,
                vec!["payment-received-intro", rest],
            )
        }
        Notice::PaymentFailed {
            number,
            amount_due,
            next_attempt,
        } => {
            let mut args = base()
                .text("number", number.clone())
                .text("amount_due", money_text(*amount_due));
            let retry = match next_attempt {
                Some(d) => {
                    args = args.text("next_date", date(*d));
                    "payment-failed-retry"
                }
                None => "payment-failed-no-retry",
            };
            (
                "payment-failed-subject",
                args,
                vec!["payment-failed-intro", retry, "payment-failed-action"],
            )
        }
        Notice::TrialEnding {
            plan,
            trial_end,
            days_left,
        } => {
            let price = Money::new(
                plan.price.minor.saturating_mul(plan.quantity),
                plan.price.currency,
            );
            let args = base()
                .text("plan", plan.name.clone())
                .text("trial_end", date(*trial_end))
                .number("days", *days_left)
                .text("price", money_text(price))
                .text("interval", plan.interval.as_str());
            (
                "trial-ending-subject",
                args,
                vec!["trial-ending-intro", "trial-ending-next"],
            )
        }
        Notice::SubscriptionChanged {
            change,
            plan,
            date: on,
        } => {
            let args = base()
                .text("change", selector(*change))
                .text("plan", plan.name.clone())
                .text("date", date(*on))
                .number("quantity", plan.quantity)
                .text("price", money_text(plan.price));
            (
                "subscription-changed-subject",
                args,
                vec!["subscription-changed-body"],
            )
        }
        Notice::UsageThresholdReached {
            plan,
            metric,
            threshold,
            usage,
            period_start,
            period_end,
        } => {
            // The period as the customer reads it: its last day, not the next period's first.
            let last_day = period_end.pred_opt().unwrap_or(*period_end);
            let args = base()
                .text("plan", plan.clone())
                .text("metric", metric.clone())
                .text("threshold", grouped(*threshold))
                .text("usage", grouped(*usage))
                .text("period_start", date(*period_start))
                .text("period_end", date(last_day));
            (
                "usage-threshold-subject",
                args,
                vec!["usage-threshold-body"],
            )
        }
    };
    let subject = catalog.text(locale, subject_key, &args)?;
    let mut body = vec![catalog.text(locale, "greeting", &args)?];
    for key in paragraphs {
        body.push(catalog.text(locale, key, &args)?);
    }
    body.push(catalog.text(locale, "closing", &args)?);
    let footer = catalog.text(locale, "footer", &args)?;
    let text = format!("{}\n\n-- \n{footer}\n", body.join("\n\n"));
    let html = html_body(locale, &body, &footer);
    Ok(Composed {
        subject,
        text,
        html,
    })
}

/// The same paragraphs as minimal HTML, every text escaped.
fn html_body(locale: Locale, paragraphs: &[String], footer: &str) -> String {
    let mut html = format!(
        "<!DOCTYPE html>\n<html lang=\"{}\"><head><meta charset=\"utf-8\"></head>\
         <body style=\"font-family: sans-serif; line-height: 1.5\">\n",
        locale.tag()
    );
    for p in paragraphs {
        html.push_str("<p>");
        html.push_str(&escape(p).replace('\n', "<br>\n"));
        html.push_str("</p>\n");
    }
    html.push_str("<hr><p style=\"color: #666; font-size: small\">");
    html.push_str(&escape(footer));
    html.push_str("</p>\n</body></html>\n");
    html
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    fn parties() -> Parties {
        Parties {
            seller: "สตางค์ <จำกัด>".into(),
            customer: "ไร่บ้านนา".into(),
        }
    }

    #[test]
    fn amounts_and_dates_read_as_people_write_them() {
        assert_eq!(money_text(Money::thb(123_450)), "฿1,234.50");
        assert_eq!(money_text(Money::thb(-5)), "-฿0.05");
        assert_eq!(money_text(Money::new(1_000, Currency::Usd)), "10.00 USD");
        assert_eq!(date_text(Locale::Th, d(2026, 11, 24)), "24 พ.ย. 2569");
        assert_eq!(date_text(Locale::En, d(2026, 11, 4)), "4 Nov 2026");
    }

    #[test]
    fn an_issued_invoice_in_thai_and_english() {
        let catalog = Catalog::load().unwrap();
        let notice = Notice::InvoiceIssued {
            number: "INV-2026-000042".into(),
            issue_date: d(2026, 11, 1),
            total: Money::thb(105_930),
            amount_due: Money::thb(105_930),
            due_date: Some(d(2026, 12, 1)),
            automatic: false,
            pay_url: None,
            pdf_attached: true,
        };
        let th = compose(&catalog, Locale::Th, &parties(), &notice).unwrap();
        assert!(th.subject.contains("ใบแจ้งหนี้") && th.subject.contains("INV-2026-000042"));
        assert!(th.text.starts_with("เรียน ไร่บ้านนา\n\n"), "{}", th.text);
        assert!(th.text.contains("฿1,059.30") && th.text.contains("1 ธ.ค. 2569"));
        assert!(th.text.contains("PDF"));
        let en = compose(&catalog, Locale::En, &parties(), &notice).unwrap();
        assert!(en.subject.starts_with("Invoice INV-2026-000042"));
        assert!(en.text.contains("payable by 1 Dec 2026"), "{}", en.text);
        assert_ne!(th.text, en.text);
        // Names are escaped in HTML and left alone in text.
        assert!(en.html.contains("สตางค์ &lt;จำกัด&gt;") && !en.html.contains("<จำกัด>"));
        assert!(en.text.contains("สตางค์ <จำกัด>"));
    }

    #[test]
    fn every_notice_composes_in_both_languages() {
        let catalog = Catalog::load().unwrap();
        let plan = PlanTerms {
            name: "PRO".into(),
            price: Money::thb(99_000),
            interval: Interval::Month,
            quantity: 2,
        };
        let mut notices = vec![
            Notice::PaymentReceived {
                number: "INV-1".into(),
                amount: Money::thb(50_000),
                paid_date: d(2026, 1, 2),
                amount_due: Money::thb(0),
            },
            Notice::PaymentFailed {
                number: "INV-1".into(),
                amount_due: Money::thb(50_000),
                next_attempt: Some(d(2026, 1, 3)),
            },
            Notice::PaymentFailed {
                number: "INV-1".into(),
                amount_due: Money::thb(50_000),
                next_attempt: None,
            },
            Notice::TrialEnding {
                plan: plan.clone(),
                trial_end: d(2026, 1, 15),
                days_left: 1,
            },
        ];
        for &change in SubscriptionChange::ALL {
            notices.push(Notice::SubscriptionChanged {
                change,
                plan: plan.clone(),
                date: d(2026, 2, 1),
            });
        }
        let mut subjects = std::collections::HashSet::new();
        for notice in &notices {
            for locale in [Locale::Th, Locale::En] {
                let mail = compose(&catalog, locale, &parties(), notice).unwrap();
                assert!(!mail.subject.is_empty() && !mail.subject.contains('{'));
                assert!(!mail.text.contains('{'), "{}", mail.text);
                subjects.insert(mail.subject);
            }
        }
        // Each change reads differently (the payment-failed pair shares its subject).
        assert_eq!(subjects.len(), notices.len() * 2 - 2);
        let trial = compose(&catalog, Locale::En, &parties(), &notices[3]).unwrap();
        assert!(trial.text.contains("in one day") && trial.text.contains("฿1,980.00"));
        let th = compose(&catalog, Locale::Th, &parties(), &notices[3]).unwrap();
        assert!(th.subject.contains("15 ม.ค. 2569"), "{}", th.subject);
    }

    #[test]
    fn a_usage_threshold_names_the_metric_the_figures_and_the_last_day() {
        let catalog = Catalog::load().unwrap();
        let notice = Notice::UsageThresholdReached {
            plan: "PRO".into(),
            metric: "sms_alerts".into(),
            threshold: 10_000,
            usage: 12_500,
            period_start: d(2026, 1, 10),
            period_end: d(2026, 2, 10),
        };
        let en = compose(&catalog, Locale::En, &parties(), &notice).unwrap();
        assert_eq!(en.subject, "Your sms_alerts usage has reached 10,000");
        assert!(
            en.text.contains("12,500") && en.text.contains("9 Feb 2026"),
            "{}",
            en.text
        );
        let th = compose(&catalog, Locale::Th, &parties(), &notice).unwrap();
        assert!(
            th.subject.contains("sms_alerts") && !th.text.contains('{'),
            "{}",
            th.text
        );
        assert!(th.text.contains("9 ก.พ. 2569"), "{}", th.text);
        assert_eq!(grouped(-1_234_567), "-1,234,567");
        assert_eq!(grouped(999), "999");
    }
}
