-- Billing thresholds and the usage their invoices billed (see the PostgreSQL migration).
ALTER TABLE subscriptions ADD COLUMN billing_threshold INTEGER
    CHECK (billing_threshold IS NULL OR billing_threshold > 0);

CREATE TABLE usage_billed (
    invoice_id       BLOB NOT NULL REFERENCES invoices(id),
    subscription_id  BLOB NOT NULL REFERENCES subscriptions(id),
    period_start     TEXT NOT NULL,
    metric           TEXT NOT NULL,
    quantity         INTEGER NOT NULL CHECK (quantity >= 0),
    amount           INTEGER NOT NULL,
    created_at       TEXT NOT NULL,
    PRIMARY KEY (invoice_id, metric)
);
CREATE INDEX usage_billed_period ON usage_billed (subscription_id, period_start);
