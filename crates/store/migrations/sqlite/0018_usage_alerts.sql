-- Usage alerts and their once-per-period notices (see the PostgreSQL migration for the why).
CREATE TABLE usage_alerts (
    id           BLOB PRIMARY KEY,
    metric       TEXT NOT NULL,
    threshold    INTEGER NOT NULL CHECK (threshold > 0),
    plan_code    TEXT,
    customer_id  BLOB REFERENCES customers(id),
    created_at   TEXT NOT NULL,
    deleted_at   TEXT
);
CREATE INDEX usage_alerts_live ON usage_alerts (metric) WHERE deleted_at IS NULL;

CREATE TABLE usage_alert_notices (
    subscription_id  BLOB NOT NULL REFERENCES subscriptions(id),
    alert_id         BLOB NOT NULL REFERENCES usage_alerts(id),
    period_start     TEXT NOT NULL,
    created_at       TEXT NOT NULL,
    PRIMARY KEY (subscription_id, alert_id, period_start)
);
