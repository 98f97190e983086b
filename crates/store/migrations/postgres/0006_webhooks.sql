-- Events and webhooks. An event is written to the outbox in the transaction of the change it
-- describes, together with one delivery per subscribed endpoint; a worker delivers them with
-- retries and exponential back-off.
CREATE TABLE satang.outbox_events (
    id           uuid PRIMARY KEY,
    event_type   text NOT NULL,
    entity_type  text NOT NULL,
    entity_id    text NOT NULL,
    customer_id  uuid,
    payload      jsonb NOT NULL,
    created_at   timestamptz NOT NULL
);
CREATE INDEX outbox_events_type ON satang.outbox_events (event_type, id);

CREATE TABLE satang.webhook_endpoints (
    id                uuid PRIMARY KEY,
    url               text NOT NULL,
    description       text,
    -- Event types this endpoint receives; ["*"] for all.
    events            jsonb NOT NULL,
    -- The signing secret, sealed with the server's encryption key.
    secret_sealed     bytea NOT NULL,
    active            boolean NOT NULL DEFAULT true,
    created_at        timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL
);

CREATE TABLE satang.webhook_deliveries (
    id                uuid PRIMARY KEY,
    endpoint_id       uuid NOT NULL REFERENCES satang.webhook_endpoints(id) ON DELETE CASCADE,
    event_id          uuid NOT NULL REFERENCES satang.outbox_events(id),
    status            text NOT NULL DEFAULT 'pending',
    attempts          bigint NOT NULL DEFAULT 0,
    next_attempt_at   timestamptz NOT NULL,
    last_status_code  bigint,
    last_error        text,
    delivered_at      timestamptz,
    created_at        timestamptz NOT NULL,
    UNIQUE (endpoint_id, event_id)
);
CREATE INDEX webhook_deliveries_due ON satang.webhook_deliveries (next_attempt_at)
    WHERE status = 'pending';
CREATE INDEX webhook_deliveries_endpoint ON satang.webhook_deliveries (endpoint_id, id);
