# Email notifications, English. Amounts and dates arrive formatted ($total = "฿1,234.50",
# $due_date = "24 Nov 2026"); the code only chooses which messages make up a mail.

greeting = Dear { $customer },
closing =
    Kind regards,
    { $seller }
footer = This message was sent automatically by the billing system of { $seller }.

## Invoice issued
invoice-issued-subject = Invoice { $number } from { $seller }
invoice-issued-intro = { $seller } has issued invoice / tax invoice { $number } dated { $issue_date } for { $total }.
invoice-issued-due = Amount due: { $amount_due }, payable by { $due_date }.
invoice-issued-due-now = Amount due: { $amount_due }.
invoice-issued-automatic = It will be charged to your card on file; you need not do anything.
invoice-issued-pay-link = Pay online (PromptPay): { $pay_url }
invoice-issued-settled = Nothing is due on this invoice.
invoice-issued-attached = The invoice is attached as a PDF.

## Payment received
payment-received-subject = Payment of { $amount } received for invoice { $number }
payment-received-intro = Thank you: we received { $amount } for invoice { $number } on { $paid_date }.
payment-received-remaining = Still due on this invoice: { $amount_due }.
payment-received-settled = The invoice is now paid in full.

## Payment failed
payment-failed-subject = Payment for invoice { $number } failed
payment-failed-intro = We could not charge { $amount_due } for invoice { $number } to your card on file.
payment-failed-retry = We will try again on { $next_date }.
payment-failed-no-retry = We will not try to charge this card again.
payment-failed-action = Please update your card, or pay by PromptPay or bank transfer, so that your service continues without interruption.

## Trial ending
trial-ending-subject = Your { $plan } trial ends on { $trial_end }
trial-ending-intro = Your trial of { $plan } ends on { $trial_end }, in { $days ->
        [one] one day
       *[other] { $days } days
    }.
trial-ending-next = After the trial, the subscription is billed at { $price } per { $interval ->
        [year] year
       *[month] month
    }, excluding VAT. To change plan or cancel, please do so before the trial ends.

## Subscription changed
# $change: plan_changed, plan_change_scheduled, pending_change_canceled, paused, resumed,
# cancel_scheduled, canceled. $date: when it takes effect.
subscription-changed-subject = { $change ->
        [plan_changed] Your subscription is now { $plan }
        [plan_change_scheduled] Your subscription changes to { $plan } on { $date }
        [pending_change_canceled] Your scheduled plan change was withdrawn
        [paused] Your { $plan } subscription is paused
        [resumed] Your { $plan } subscription is active again
        [cancel_scheduled] Your { $plan } subscription ends on { $date }
        [canceled] Your { $plan } subscription is cancelled
       *[other] Your { $plan } subscription has changed
    }
subscription-changed-body = { $change ->
        [plan_changed] Your subscription has moved to { $plan } ({ $quantity } × { $price } per period) as of { $date }. Any proration is invoiced separately.
        [plan_change_scheduled] Your subscription will move to { $plan } ({ $quantity } × { $price } per period) at the end of the current period, on { $date }.
        [pending_change_canceled] The plan change scheduled for the end of the period was withdrawn; your subscription stays on { $plan }.
        [paused] Your { $plan } subscription was paused on { $date }. No invoices are issued while it is paused.
        [resumed] Your { $plan } subscription was resumed on { $date }.
        [cancel_scheduled] Your { $plan } subscription will end on { $date }, at the end of the period you have paid for. Until then everything works as before.
        [canceled] Your { $plan } subscription was cancelled on { $date }.
       *[other] Your { $plan } subscription has changed.
    }

## Usage threshold reached
# $period_end: the period's last day.
usage-threshold-subject = Your { $metric } usage has reached { $threshold }
usage-threshold-body = Your { $plan } subscription has used { $usage } { $metric } between { $period_start } and { $period_end }, reaching the alert threshold of { $threshold }. Usage beyond your plan's allowance may be billed on your next invoice.
