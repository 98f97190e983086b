-- Analytics kept per day (see the PostgreSQL migration of the same name for the whole story):
-- `analytics_days` is brought up to date from `analytics_pending`, which the triggers below fill
-- in the transaction of each change. SQLite has one writer, so here the pending rows are one
-- per day, added to in place.
CREATE TABLE analytics_days (
    day                  TEXT PRIMARY KEY,
    mrr_change           INTEGER NOT NULL DEFAULT 0,
    subscriptions_change INTEGER NOT NULL DEFAULT 0,
    customers_change     INTEGER NOT NULL DEFAULT 0,
    new_mrr              INTEGER NOT NULL DEFAULT 0,
    expansion_mrr        INTEGER NOT NULL DEFAULT 0,
    contraction_mrr      INTEGER NOT NULL DEFAULT 0,
    churned_mrr          INTEGER NOT NULL DEFAULT 0,
    churned_customers    INTEGER NOT NULL DEFAULT 0,
    outstanding          INTEGER NOT NULL DEFAULT 0,
    paid                 INTEGER NOT NULL DEFAULT 0,
    invoiced             INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

CREATE TABLE analytics_pending (
    day         TEXT PRIMARY KEY,
    outstanding INTEGER NOT NULL DEFAULT 0,
    paid        INTEGER NOT NULL DEFAULT 0,
    invoiced    INTEGER NOT NULL DEFAULT 0,
    mrr_dirty   INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

-- Bangkok's calendar day of a stored UTC timestamp: date(ts, '+7 hours').
CREATE TRIGGER analytics_invoices_insert AFTER INSERT ON invoices BEGIN
    INSERT INTO analytics_pending (day, outstanding)
        SELECT COALESCE(NEW.due_date, '9999-12-31'), NEW.amount_due WHERE NEW.status = 'open'
        ON CONFLICT (day) DO UPDATE SET outstanding = outstanding + excluded.outstanding;
    INSERT INTO analytics_pending (day, invoiced)
        SELECT date(NEW.issued_at, '+7 hours'), NEW.total
        WHERE NEW.status IN ('open', 'paid', 'uncollectible') AND NEW.issued_at IS NOT NULL
        ON CONFLICT (day) DO UPDATE SET invoiced = invoiced + excluded.invoiced;
    INSERT INTO analytics_pending (day, mrr_dirty)
        SELECT d, 1 FROM (SELECT NEW.period_start AS d UNION SELECT NEW.period_end)
        WHERE NEW.mrr > 0 AND d IS NOT NULL
        ON CONFLICT (day) DO UPDATE SET mrr_dirty = 1;
END;

CREATE TRIGGER analytics_invoices_update AFTER UPDATE ON invoices BEGIN
    INSERT INTO analytics_pending (day, outstanding)
        SELECT d, SUM(a) FROM (
            SELECT COALESCE(OLD.due_date, '9999-12-31') AS d, -OLD.amount_due AS a
                WHERE OLD.status = 'open'
            UNION ALL
            SELECT COALESCE(NEW.due_date, '9999-12-31'), NEW.amount_due WHERE NEW.status = 'open')
        GROUP BY d HAVING SUM(a) <> 0
        ON CONFLICT (day) DO UPDATE SET outstanding = outstanding + excluded.outstanding;
    INSERT INTO analytics_pending (day, invoiced)
        SELECT d, SUM(a) FROM (
            SELECT date(OLD.issued_at, '+7 hours') AS d, -OLD.total AS a
                WHERE OLD.status IN ('open', 'paid', 'uncollectible') AND OLD.issued_at IS NOT NULL
            UNION ALL
            SELECT date(NEW.issued_at, '+7 hours'), NEW.total
                WHERE NEW.status IN ('open', 'paid', 'uncollectible') AND NEW.issued_at IS NOT NULL)
        GROUP BY d HAVING SUM(a) <> 0
        ON CONFLICT (day) DO UPDATE SET invoiced = invoiced + excluded.invoiced;
    INSERT INTO analytics_pending (day, mrr_dirty)
        SELECT d, 1 FROM (
            SELECT OLD.period_start AS d WHERE OLD.mrr > 0
            UNION SELECT OLD.period_end WHERE OLD.mrr > 0
            UNION SELECT NEW.period_start WHERE NEW.mrr > 0
            UNION SELECT NEW.period_end WHERE NEW.mrr > 0)
        WHERE d IS NOT NULL AND (
            OLD.mrr IS NOT NEW.mrr OR (OLD.status = 'void') IS NOT (NEW.status = 'void')
            OR OLD.period_start IS NOT NEW.period_start OR OLD.period_end IS NOT NEW.period_end
            OR OLD.subscription_id IS NOT NEW.subscription_id
            OR OLD.customer_id IS NOT NEW.customer_id)
        ON CONFLICT (day) DO UPDATE SET mrr_dirty = 1;
END;

CREATE TRIGGER analytics_invoices_delete AFTER DELETE ON invoices BEGIN
    INSERT INTO analytics_pending (day, outstanding)
        SELECT COALESCE(OLD.due_date, '9999-12-31'), -OLD.amount_due WHERE OLD.status = 'open'
        ON CONFLICT (day) DO UPDATE SET outstanding = outstanding + excluded.outstanding;
    INSERT INTO analytics_pending (day, invoiced)
        SELECT date(OLD.issued_at, '+7 hours'), -OLD.total
        WHERE OLD.status IN ('open', 'paid', 'uncollectible') AND OLD.issued_at IS NOT NULL
        ON CONFLICT (day) DO UPDATE SET invoiced = invoiced + excluded.invoiced;
    INSERT INTO analytics_pending (day, mrr_dirty)
        SELECT d, 1 FROM (SELECT OLD.period_start AS d UNION SELECT OLD.period_end)
        WHERE OLD.mrr > 0 AND d IS NOT NULL
        ON CONFLICT (day) DO UPDATE SET mrr_dirty = 1;
END;

CREATE TRIGGER analytics_payments_insert AFTER INSERT ON payments WHEN NEW.status = 'succeeded'
BEGIN
    INSERT INTO analytics_pending (day, paid)
        VALUES (date(NEW.paid_at, '+7 hours'), NEW.amount + NEW.withholding_tax - NEW.overpayment)
        ON CONFLICT (day) DO UPDATE SET paid = paid + excluded.paid;
END;

CREATE TRIGGER analytics_payments_update AFTER UPDATE ON payments BEGIN
    INSERT INTO analytics_pending (day, paid)
        SELECT d, SUM(a) FROM (
            SELECT date(OLD.paid_at, '+7 hours') AS d,
                -(OLD.amount + OLD.withholding_tax - OLD.overpayment) AS a
                WHERE OLD.status = 'succeeded'
            UNION ALL
            SELECT date(NEW.paid_at, '+7 hours'),
                NEW.amount + NEW.withholding_tax - NEW.overpayment WHERE NEW.status = 'succeeded')
        GROUP BY d HAVING SUM(a) <> 0
        ON CONFLICT (day) DO UPDATE SET paid = paid + excluded.paid;
END;

CREATE TRIGGER analytics_payments_delete AFTER DELETE ON payments WHEN OLD.status = 'succeeded'
BEGIN
    INSERT INTO analytics_pending (day, paid)
        VALUES (date(OLD.paid_at, '+7 hours'), -(OLD.amount + OLD.withholding_tax - OLD.overpayment))
        ON CONFLICT (day) DO UPDATE SET paid = paid + excluded.paid;
END;

-- What is already there: folded in by the first refresh.
INSERT INTO analytics_pending (day, outstanding, invoiced, mrr_dirty)
    SELECT d, SUM(o), SUM(i), MAX(m) FROM (
        SELECT COALESCE(due_date, '9999-12-31') AS d, amount_due AS o, 0 AS i, 0 AS m
            FROM invoices WHERE status = 'open'
        UNION ALL
        SELECT date(issued_at, '+7 hours'), 0, total, 0 FROM invoices
            WHERE status IN ('open', 'paid', 'uncollectible') AND issued_at IS NOT NULL
        UNION ALL
        SELECT period_start, 0, 0, 1 FROM invoices WHERE mrr > 0 AND period_start IS NOT NULL
        UNION ALL
        SELECT period_end, 0, 0, 1 FROM invoices WHERE mrr > 0 AND period_end IS NOT NULL)
    GROUP BY d;
INSERT INTO analytics_pending (day, paid)
    SELECT date(paid_at, '+7 hours'), SUM(amount + withholding_tax - overpayment)
    FROM payments WHERE status = 'succeeded' GROUP BY 1
    ON CONFLICT (day) DO UPDATE SET paid = paid + excluded.paid;
