-- Analytics kept per day, so that the business's figures read a few hundred rows instead of
-- every invoice (SPEC §2.7). Whole-business figures only: a member's own figures are small
-- enough to compute from their invoices on every call.
--
-- `analytics_days` holds, per day:
-- * how MRR moved from the day before (the classification is `satang_domain::mrr`): kept by
--   recomputing the days that `analytics_pending` marks `mrr_dirty` (a recurring invoice
--   starting or ending that day was added, voided or changed);
-- * `outstanding`: amount due of the open invoices due that day (no due date: 9999-12-31);
-- * `paid`: money received that Bangkok day (payments and withheld tax, less overpayments);
-- * `invoiced`: totals of the invoices issued that Bangkok day (void ones excluded);
--   these three are sums, kept by adding the deltas that `analytics_pending` collects.
CREATE TABLE billing.analytics_days (
    day                  date PRIMARY KEY,
    mrr_change           bigint NOT NULL DEFAULT 0,
    subscriptions_change bigint NOT NULL DEFAULT 0,
    customers_change     bigint NOT NULL DEFAULT 0,
    new_mrr              bigint NOT NULL DEFAULT 0,
    expansion_mrr        bigint NOT NULL DEFAULT 0,
    contraction_mrr      bigint NOT NULL DEFAULT 0,
    churned_mrr          bigint NOT NULL DEFAULT 0,
    churned_customers    bigint NOT NULL DEFAULT 0,
    outstanding          bigint NOT NULL DEFAULT 0,
    paid                 bigint NOT NULL DEFAULT 0,
    invoiced             bigint NOT NULL DEFAULT 0
);

-- What changed since `analytics_days` was last brought up to date, written by the triggers
-- below in the transaction of the change itself. Append-only (no key, no update), so that
-- concurrent billing transactions never wait for each other here; the refresh takes the rows
-- it folds in with one `DELETE … RETURNING` (rows of transactions still running stay behind).
CREATE TABLE billing.analytics_pending (
    day         date NOT NULL,
    outstanding bigint NOT NULL DEFAULT 0,
    paid        bigint NOT NULL DEFAULT 0,
    invoiced    bigint NOT NULL DEFAULT 0,
    mrr_dirty   boolean NOT NULL DEFAULT false
);

-- An invoice row's contributions, signed; `mrr_moved` says whether its recurring span counts
-- as changed.
CREATE FUNCTION billing.analytics_invoice_parts(sign bigint, r billing.invoices, mrr_moved boolean)
RETURNS TABLE (day date, outstanding bigint, invoiced bigint, mrr_dirty boolean)
LANGUAGE sql STABLE AS $$
    SELECT v.day, v.outstanding, v.invoiced, v.mrr_dirty FROM (VALUES
        (CASE WHEN r.status = 'open' THEN COALESCE(r.due_date, DATE '9999-12-31') END,
            sign * r.amount_due, 0::bigint, false),
        (CASE WHEN r.status IN ('open', 'paid', 'uncollectible') AND r.issued_at IS NOT NULL
            THEN ((r.issued_at AT TIME ZONE 'UTC') + interval '7 hours')::date END,
            0::bigint, sign * r.total, false),
        (CASE WHEN r.mrr > 0 AND mrr_moved THEN r.period_start END, 0::bigint, 0::bigint, true),
        (CASE WHEN r.mrr > 0 AND mrr_moved THEN r.period_end END, 0::bigint, 0::bigint, true)
    ) v(day, outstanding, invoiced, mrr_dirty)
    WHERE v.day IS NOT NULL
$$;

-- Statement-level, with transition tables: one insert per statement whatever its row count
-- (the billing run writes invoices many rows at a time).
CREATE FUNCTION billing.analytics_note_invoices() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO billing.analytics_pending (day, outstanding, invoiced, mrr_dirty)
        SELECT p.day, SUM(p.outstanding), SUM(p.invoiced), bool_or(p.mrr_dirty)
        FROM new_rows n CROSS JOIN LATERAL billing.analytics_invoice_parts(1, n, true) p
        GROUP BY p.day;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO billing.analytics_pending (day, outstanding, invoiced, mrr_dirty)
        SELECT p.day, SUM(p.outstanding), SUM(p.invoiced), bool_or(p.mrr_dirty)
        FROM old_rows o CROSS JOIN LATERAL billing.analytics_invoice_parts(-1, o, true) p
        GROUP BY p.day;
    ELSE
        INSERT INTO billing.analytics_pending (day, outstanding, invoiced, mrr_dirty)
        SELECT p.day, SUM(p.outstanding), SUM(p.invoiced), bool_or(p.mrr_dirty)
        FROM old_rows o JOIN new_rows n ON n.id = o.id
        CROSS JOIN LATERAL (SELECT
            (o.mrr, o.status = 'void', o.period_start, o.period_end, o.subscription_id, o.customer_id)
            IS DISTINCT FROM
            (n.mrr, n.status = 'void', n.period_start, n.period_end, n.subscription_id, n.customer_id)
            AS moved) m
        CROSS JOIN LATERAL (
            SELECT * FROM billing.analytics_invoice_parts(-1, o, m.moved)
            UNION ALL
            SELECT * FROM billing.analytics_invoice_parts(1, n, m.moved)) p
        GROUP BY p.day
        HAVING SUM(p.outstanding) <> 0 OR SUM(p.invoiced) <> 0 OR bool_or(p.mrr_dirty);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER analytics_invoices_insert AFTER INSERT ON billing.invoices
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION billing.analytics_note_invoices();
CREATE TRIGGER analytics_invoices_update AFTER UPDATE ON billing.invoices
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION billing.analytics_note_invoices();
CREATE TRIGGER analytics_invoices_delete AFTER DELETE ON billing.invoices
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION billing.analytics_note_invoices();

CREATE FUNCTION billing.analytics_payment_parts(sign bigint, r billing.payments)
RETURNS TABLE (day date, paid bigint)
LANGUAGE sql STABLE AS $$
    SELECT ((r.paid_at AT TIME ZONE 'UTC') + interval '7 hours')::date,
        sign * (r.amount + r.withholding_tax - r.overpayment)
    WHERE r.status = 'succeeded'
$$;

CREATE FUNCTION billing.analytics_note_payments() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO billing.analytics_pending (day, paid)
        SELECT p.day, SUM(p.paid) FROM new_rows n
        CROSS JOIN LATERAL billing.analytics_payment_parts(1, n) p GROUP BY p.day;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO billing.analytics_pending (day, paid)
        SELECT p.day, SUM(p.paid) FROM old_rows o
        CROSS JOIN LATERAL billing.analytics_payment_parts(-1, o) p GROUP BY p.day;
    ELSE
        INSERT INTO billing.analytics_pending (day, paid)
        SELECT p.day, SUM(p.paid) FROM (
            SELECT q.* FROM old_rows o CROSS JOIN LATERAL billing.analytics_payment_parts(-1, o) q
            UNION ALL
            SELECT q.* FROM new_rows n CROSS JOIN LATERAL billing.analytics_payment_parts(1, n) q) p
        GROUP BY p.day HAVING SUM(p.paid) <> 0;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER analytics_payments_insert AFTER INSERT ON billing.payments
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION billing.analytics_note_payments();
CREATE TRIGGER analytics_payments_update AFTER UPDATE ON billing.payments
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION billing.analytics_note_payments();
CREATE TRIGGER analytics_payments_delete AFTER DELETE ON billing.payments
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION billing.analytics_note_payments();

-- What is already there: folded in by the first refresh.
INSERT INTO billing.analytics_pending (day, outstanding, invoiced, mrr_dirty)
SELECT p.day, SUM(p.outstanding), SUM(p.invoiced), bool_or(p.mrr_dirty)
FROM billing.invoices i CROSS JOIN LATERAL billing.analytics_invoice_parts(1, i, true) p
GROUP BY p.day;
INSERT INTO billing.analytics_pending (day, paid)
SELECT p.day, SUM(p.paid) FROM billing.payments y
CROSS JOIN LATERAL billing.analytics_payment_parts(1, y) p GROUP BY p.day;
