-- Metered usage (see the PostgreSQL migration for the why).
CREATE TABLE usage_events (
    id               BLOB PRIMARY KEY,
    subscription_id  BLOB NOT NULL REFERENCES subscriptions(id),
    customer_id      BLOB NOT NULL REFERENCES customers(id),
    metric           TEXT NOT NULL,
    quantity         INTEGER NOT NULL,
    occurred_at      TEXT NOT NULL,
    idempotency_key  TEXT NOT NULL,
    created_at       TEXT NOT NULL,
    UNIQUE (subscription_id, idempotency_key)
);
CREATE INDEX usage_events_period ON usage_events (subscription_id, metric, occurred_at);
