-- Metered usage reported by the product, summed per period onto the arrears invoice. A repeated
-- idempotency key of the same subscription is ignored.
CREATE TABLE billing.usage_events (
    id               uuid PRIMARY KEY,
    subscription_id  uuid NOT NULL REFERENCES customers.subscriptions(id),
    customer_id      uuid NOT NULL REFERENCES customers.customers(id),
    metric           text NOT NULL,
    quantity         bigint NOT NULL,
    occurred_at      timestamptz NOT NULL,
    idempotency_key  text NOT NULL,
    created_at       timestamptz NOT NULL,
    UNIQUE (subscription_id, idempotency_key)
);
CREATE INDEX usage_events_period ON billing.usage_events (subscription_id, metric, occurred_at);
