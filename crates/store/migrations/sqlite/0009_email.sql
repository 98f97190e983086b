-- Email notifications (see the PostgreSQL migration for the why).
CREATE TABLE email_deliveries (
    id               BLOB PRIMARY KEY,
    event_id         BLOB NOT NULL UNIQUE REFERENCES outbox_events(id),
    kind             TEXT NOT NULL,
    customer_id      BLOB NOT NULL,
    status           TEXT NOT NULL DEFAULT 'pending',
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  TEXT NOT NULL,
    recipient        TEXT,
    locale           TEXT,
    subject          TEXT,
    message_id       TEXT,
    last_error       TEXT,
    sent_at          TEXT,
    created_at       TEXT NOT NULL
);
CREATE INDEX email_deliveries_due ON email_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX email_deliveries_customer ON email_deliveries (customer_id, id);

CREATE TABLE subscription_notices (
    subscription_id  BLOB NOT NULL REFERENCES subscriptions(id),
    kind             TEXT NOT NULL,
    created_at       TEXT NOT NULL,
    PRIMARY KEY (subscription_id, kind)
);
