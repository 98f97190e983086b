-- Events and webhooks (see the PostgreSQL migration for the why).
CREATE TABLE outbox_events (
    id           BLOB PRIMARY KEY,
    event_type   TEXT NOT NULL,
    entity_type  TEXT NOT NULL,
    entity_id    TEXT NOT NULL,
    customer_id  BLOB,
    payload      TEXT NOT NULL,
    created_at   TEXT NOT NULL
);
CREATE INDEX outbox_events_type ON outbox_events (event_type, id);

CREATE TABLE webhook_endpoints (
    id                BLOB PRIMARY KEY,
    url               TEXT NOT NULL,
    description       TEXT,
    events            TEXT NOT NULL,
    secret_sealed     BLOB NOT NULL,
    active            INTEGER NOT NULL DEFAULT 1,
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL
);

CREATE TABLE webhook_deliveries (
    id                BLOB PRIMARY KEY,
    endpoint_id       BLOB NOT NULL REFERENCES webhook_endpoints(id) ON DELETE CASCADE,
    event_id          BLOB NOT NULL REFERENCES outbox_events(id),
    status            TEXT NOT NULL DEFAULT 'pending',
    attempts          INTEGER NOT NULL DEFAULT 0,
    next_attempt_at   TEXT NOT NULL,
    last_status_code  INTEGER,
    last_error        TEXT,
    delivered_at      TEXT,
    created_at        TEXT NOT NULL,
    UNIQUE (endpoint_id, event_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, id);
