-- Usage alerts (SPEC §2.12): "tell me when a subscription's usage of `metric` reaches
-- `threshold` in its current period", for every subscription, those of one plan (by code) or
-- those of one customer. A deleted alert keeps its row (`deleted_at`): the notices and events
-- it produced still name it.
CREATE TABLE billing.usage_alerts (
    id           uuid PRIMARY KEY,
    metric       text NOT NULL,
    threshold    bigint NOT NULL CHECK (threshold > 0),
    plan_code    text,
    customer_id  uuid REFERENCES customers.customers(id),
    created_at   timestamptz NOT NULL,
    deleted_at   timestamptz
);
CREATE INDEX usage_alerts_live ON billing.usage_alerts (metric) WHERE deleted_at IS NULL;

-- One row per (subscription, alert, period) that reached its threshold. The primary key is the
-- guarantee of "once": the transaction that inserts the row emits `usage.threshold_reached`; a
-- concurrent ingestion that finds the row already there (ON CONFLICT DO NOTHING) emits nothing.
CREATE TABLE billing.usage_alert_notices (
    subscription_id  uuid NOT NULL REFERENCES customers.subscriptions(id),
    alert_id         uuid NOT NULL REFERENCES billing.usage_alerts(id),
    period_start     date NOT NULL,
    created_at       timestamptz NOT NULL,
    PRIMARY KEY (subscription_id, alert_id, period_start)
);
