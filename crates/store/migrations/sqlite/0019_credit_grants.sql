-- Credit grants on SQLite: the same table as PostgreSQL (see there). UUIDs are 16-byte blobs,
-- times RFC 3339 text.
CREATE TABLE credit_grants (
    id           BLOB PRIMARY KEY,
    customer_id  BLOB NOT NULL REFERENCES customers(id),
    grant_type   TEXT NOT NULL CHECK (grant_type IN ('promotional', 'prepaid')),
    amount       INTEGER NOT NULL CHECK (amount > 0),
    remaining    INTEGER NOT NULL CHECK (remaining >= 0 AND remaining <= amount),
    currency     TEXT NOT NULL,
    expires_at   TEXT,
    priority     INTEGER NOT NULL CHECK (priority BETWEEN 0 AND 100),
    note         TEXT,
    status       TEXT NOT NULL CHECK (status IN ('active', 'depleted', 'expired', 'voided')),
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    depleted_at  TEXT,
    expired_at   TEXT,
    voided_at    TEXT
);
CREATE INDEX credit_grants_customer ON credit_grants (customer_id, id);
CREATE INDEX credit_grants_active ON credit_grants (customer_id) WHERE status = 'active';

-- SQLite cannot change a CHECK: payments is rebuilt with `credit` among the methods (no table
-- references payments; its analytics triggers are recreated as 0011 wrote them).
CREATE TABLE payments_new (
    id                      BLOB PRIMARY KEY,
    invoice_id              BLOB NOT NULL REFERENCES invoices(id),
    customer_id             BLOB NOT NULL REFERENCES customers(id),
    amount                  INTEGER NOT NULL,
    currency                TEXT NOT NULL,
    method                  TEXT NOT NULL CHECK (method IN ('card', 'promptpay', 'bank_transfer', 'cash', 'other', 'credit')),
    reference               TEXT,
    paid_at                 TEXT NOT NULL,
    withholding_tax         INTEGER NOT NULL DEFAULT 0,
    withholding_certificate_no TEXT,
    overpayment             INTEGER NOT NULL DEFAULT 0,
    status                  TEXT NOT NULL DEFAULT 'succeeded',
    created_at              TEXT NOT NULL,
    credit_grant_id         BLOB REFERENCES credit_grants(id)
);
INSERT INTO payments_new (id, invoice_id, customer_id, amount, currency, method, reference,
    paid_at, withholding_tax, withholding_certificate_no, overpayment, status, created_at)
    SELECT id, invoice_id, customer_id, amount, currency, method, reference, paid_at,
        withholding_tax, withholding_certificate_no, overpayment, status, created_at
    FROM payments;
DROP TABLE payments;
ALTER TABLE payments_new RENAME TO payments;
CREATE INDEX payments_customer ON payments (customer_id, id);
CREATE INDEX payments_invoice ON payments (invoice_id, id);

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
