//! The `billing` section of `BENCHMARKS.md`.

use std::fmt::Write as _;

use crate::billing::{
    BackendResult, BackendRun, BillingArgs, USAGE_BATCH, USAGE_SUBSCRIPTIONS_PER_BATCH,
};
use crate::customers_report::thousands;
use crate::proc_stats::Machine;
use crate::report::{ms, pass};

pub const BILLING_SECTION: &str = "billing";

/// Targets of issue 4.
const RUN_SHARE_TARGET: f64 = 0.25;
const USAGE_EVENTS_TARGET: f64 = 50_000.0;
const SUMMARY_P95_TARGET_MS: f64 = 200.0;
/// Targets of issue 24: the run with coupons and credit against the plain one, and the
/// upcoming invoice on one connection.
const PRICED_SHARE_TARGET: f64 = 0.90;
const UPCOMING_P95_TARGET_MS: f64 = 10.0;

pub struct BillingReport<'a> {
    pub machine: &'a Machine,
    pub command_line: &'a str,
    pub args: &'a BillingArgs,
    pub backends: &'a [(&'a str, &'a BackendRun)],
}

impl BillingReport<'_> {
    pub fn render(&self) -> String {
        let m = self.machine;
        let a = self.args;
        let sizes: Vec<String> = a.sizes.iter().map(|n| thousands(*n)).collect();
        let largest = a.sizes.last().copied().unwrap_or(0);
        let mut out = String::new();
        let _ = writeln!(
            out,
            "## Billing at scale: the billing run over {} due subscriptions, usage ingestion, \
             analytics\n",
            sizes.join(" and ")
        );
        crate::report::run_header(&mut out, m, self.command_line);
        let _ = writeln!(
            out,
            "- **Data**: per size a fresh database with that many generated customers (the \
             customer book of the customers bench, bulk-loaded the same way) and one \
             subscription each, inserted by one `INSERT … SELECT`, all due today (Bangkok): \
             55 % PRO monthly, 10 % PRO yearly, 20 % TEAM monthly with 5 seats (metered SMS \
             alerts: the run sums each one's usage), 5 % ENTERPRISE monthly (metered), all \
             `active` with the period ending today, and 10 % PRO monthly `trialing` with the \
             trial ending today; `send_invoice`, no webhook endpoints."
        );
        let _ = writeln!(
            out,
            "- **Billing run**: `satang_billing::run_billing` — the code of `satang bill` and \
             of the scheduler — called in the bench process on the default pool (PostgreSQL 16 \
             connections; SQLite one writer), timed from the call to its report; afterwards \
             the bench checks one invoice per subscription, `count(DISTINCT number)` = \
             invoices = the sequence's last value (gapless), nothing left due. Cores: the \
             engine (this process), PostgreSQL's processes, the whole machine."
        );
        let _ = writeln!(
            out,
            "- **Baseline**: in the same run on the same data, a plain `INSERT … SELECT` of one \
             invoice-shaped row per subscription (every column of `invoices`, the customer \
             snapshot built from the customer row, numbered by `row_number()`) into a copy of \
             `invoices` with its indexes, then one line per invoice into a copy of \
             `invoice_lines`, one transaction: the database's own rate for the rows a run \
             writes, without audit or outbox rows."
        );
        let _ = writeln!(
            out,
            "- **Usage**: on the {} data, the release `satang serve` (API rate limit off, log \
             level `warn`); {} keep-alive connections post `POST /api/usage-events` batches of \
             {USAGE_BATCH} events ({USAGE_SUBSCRIPTIONS_PER_BATCH} TEAM subscriptions per \
             batch, every idempotency key new), closed loop, {} s after a 1 s warm-up.",
            thousands(largest),
            a.usage_connections,
            a.usage_seconds
        );
        let _ = writeln!(
            out,
            "- **Analytics**: `GET /api/analytics/summary` (today) on the same server, over the \
             {} invoices just issued: on one connection (the request's own latency) and on {} \
             concurrent connections, {} s each after a 1 s warm-up. Staff figures are read from \
             the per-day rows the billing run brought up to date at its end (its time above \
             includes that refresh).",
            thousands(largest),
            a.analytics_connections,
            a.analytics_seconds
        );
        let _ = writeln!(
            out,
            "- **Coupons and credit** (unless `--no-pricing`): each size loaded again into a \
             fresh database with the same subscriptions, a coupon (20 % off, three periods) \
             running on a quarter of them and a ฿500.00 credit grant (promotional or prepaid) \
             for a tenth of the customers, then billed and checked the same way.\n\
             - **Upcoming invoice**: `GET /api/subscriptions/{{id}}/upcoming-invoice` on the \
             same server after the usage phase, over the TEAM subscriptions that received \
             usage, one connection, {} s after a 1 s warm-up.",
            a.upcoming_seconds
        );
        let _ = writeln!(
            out,
            "- **Caveat**: everything shares the {}-core machine; other engineers' builds may \
             run at the same time (the bench waits for a quiet machine before each measurement \
             and shows the cores each part took).",
            m.cores
        );
        for (name, run) in self.backends {
            let _ = writeln!(out, "\n### {name}\n");
            match run {
                BackendRun::Skipped(why) => {
                    let _ = writeln!(out, "Not measured: {why}.");
                }
                BackendRun::Measured(r) => render_backend(&mut out, name, r, a),
            }
        }
        out
    }
}

fn render_backend(out: &mut String, name: &str, r: &BackendResult, a: &BillingArgs) {
    let postgres = *name == *"PostgreSQL";
    let _ = writeln!(
        out,
        "| due subscriptions | load (customers, contacts; subscriptions) | billing run | \
         invoices/s | cores: engine / database / machine | baseline `INSERT … SELECT` | \
         rows/s | run ÷ baseline | target |"
    );
    let _ = writeln!(out, "|---:|---|---:|---:|---:|---:|---:|---:|---|");
    for s in &r.sizes {
        let share = s.run.per_second() / s.baseline.per_second();
        let target = if postgres {
            format!(
                "≥ {:.0} %: **{}**",
                RUN_SHARE_TARGET * 100.0,
                pass(share >= RUN_SHARE_TARGET)
            )
        } else {
            "(information)".to_owned()
        };
        let _ = writeln!(
            out,
            "| {} | {:.1} s; {:.1} s | {:.1} s | **{:.0}** | {:.2} / {:.2} / {:.2} | {:.1} s \
             (invoices {:.1} s, lines {:.1} s, commit {:.1} s) | {:.0} | {:.1} % | {target} |",
            thousands(s.subscriptions),
            s.load.total.as_secs_f64(),
            s.subscriptions_load.as_secs_f64(),
            s.run.elapsed.as_secs_f64(),
            s.run.per_second(),
            s.run.engine_cores,
            s.run.database_cores,
            s.run.machine_cores,
            s.baseline.total().as_secs_f64(),
            s.baseline.invoices.as_secs_f64(),
            s.baseline.lines.as_secs_f64(),
            s.baseline.commit.as_secs_f64(),
            s.baseline.per_second(),
            100.0 * share,
        );
    }
    let _ = writeln!(out);
    for s in &r.sizes {
        let c = &s.run.check;
        let _ = writeln!(
            out,
            "- {} subscriptions: {} invoices, {} distinct numbers, last number {}, {} \
             subscriptions with exactly one invoice, {} left due; {} audit events and {} outbox \
             events written with them; failed steps {}, skipped duplicates {}",
            thousands(s.subscriptions),
            c.invoices,
            c.distinct_numbers,
            c.last_number,
            c.subscriptions_with_one_invoice,
            c.still_due,
            c.audit_events,
            c.outbox_events,
            s.run.failed,
            s.run.skipped_duplicates
        );
    }
    for s in &r.sizes {
        let Some(p) = &s.priced else {
            continue;
        };
        let share = p.run.per_second() / s.run.per_second();
        let _ = writeln!(
            out,
            "- {} subscriptions **with coupons and credit** ({} discounts, {} grants): {:.1} s, \
             **{:.0} invoices/s** = {:.1} % of the plain run (target ≥ {:.0} %: **{}**); {} \
             invoices discounted, {} grants used; cores {:.2} / {:.2} / {:.2}; failed steps {}",
            thousands(s.subscriptions),
            thousands(p.discounts),
            thousands(p.grants),
            p.run.elapsed.as_secs_f64(),
            p.run.per_second(),
            100.0 * share,
            PRICED_SHARE_TARGET * 100.0,
            pass(share >= PRICED_SHARE_TARGET),
            thousands(p.discounted_invoices.max(0) as u64),
            thousands(p.grants_used.max(0) as u64),
            p.run.engine_cores,
            p.run.database_cores,
            p.run.machine_cores,
            p.run.failed
        );
    }
    if let Some(o) = &r.upcoming {
        let p95 = o.percentile_ms(0.95);
        let _ = writeln!(
            out,
            "- **`GET /api/subscriptions/{{id}}/upcoming-invoice`**: one connection p50 {}, \
             **p95 {}**, p99 {} ({:.1} req/s), errors {}; target p95 ≤ \
             {UPCOMING_P95_TARGET_MS:.0} ms: **{}**",
            ms(o.percentile_ms(0.50)),
            ms(p95),
            ms(o.percentile_ms(0.99)),
            o.per_second(),
            o.errors,
            pass(p95 <= UPCOMING_P95_TARGET_MS)
        );
    }
    if let Some(u) = &r.usage {
        let rate = u.events_per_second();
        let target = if postgres {
            "(information)".to_owned()
        } else {
            format!(
                "target ≥ {}/s: **{}**",
                thousands(USAGE_EVENTS_TARGET as u64),
                pass(rate >= USAGE_EVENTS_TARGET)
            )
        };
        let o = &u.outcome;
        let _ = writeln!(
            out,
            "- **Usage ingestion**: **{} events/s** ({:.1} batches/s, p50 {}, p95 {}, p99 {}, \
             errors {}; cores: server {:.2}, database {:.2}, load generator {:.2}); {target}. \
             Sent {} events in all (warm-up included), {} stored.",
            thousands(rate as u64),
            o.per_second(),
            ms(o.percentile_ms(0.50)),
            ms(o.percentile_ms(0.95)),
            ms(o.percentile_ms(0.99)),
            o.errors,
            o.server_cores,
            o.database_cores,
            o.client_cores,
            thousands(u.events_sent),
            thousands(u.events_stored.max(0) as u64)
        );
    }
    if let Some(l) = &r.analytics {
        let p95 = l.single.percentile_ms(0.95);
        let _ = writeln!(
            out,
            "- **`GET /api/analytics/summary`**: one connection p50 {}, **p95 {}**, p99 {} \
             ({:.1} req/s); {} connections p50 {}, p95 {}, p99 {} ({:.1} req/s); errors {}; \
             target p95 ≤ {SUMMARY_P95_TARGET_MS:.0} ms: **{}**",
            ms(l.single.percentile_ms(0.50)),
            ms(p95),
            ms(l.single.percentile_ms(0.99)),
            l.single.per_second(),
            a.analytics_connections,
            ms(l.loaded.percentile_ms(0.50)),
            ms(l.loaded.percentile_ms(0.95)),
            ms(l.loaded.percentile_ms(0.99)),
            l.loaded.per_second(),
            l.single.errors + l.loaded.errors,
            pass(p95 <= SUMMARY_P95_TARGET_MS)
        );
    }
}
