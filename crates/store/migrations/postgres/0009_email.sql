-- Email notifications. An event that deserves a mail (invoice issued, payment received or
-- failed, trial ending, subscription changed) gets one row here, written by the outbox in the
-- transaction of the change; the unique event id makes "one mail per event" a database
-- guarantee. A worker claims due rows with a lease (FOR UPDATE SKIP LOCKED), sends them over
-- SMTP or into the data directory's outbox folder, and retries failures with back-off.
CREATE TABLE satang.email_deliveries (
    id               uuid PRIMARY KEY,
    event_id         uuid NOT NULL UNIQUE REFERENCES satang.outbox_events(id),
    -- invoice_issued, payment_received, payment_failed, trial_ending, subscription_changed
    kind             text NOT NULL,
    customer_id      uuid NOT NULL,
    -- pending, sent, skipped (nobody to send to), failed (given up)
    status           text NOT NULL DEFAULT 'pending',
    attempts         bigint NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL,
    recipient        text,
    locale           text,
    subject          text,
    -- The Message-ID header, fixed per delivery, so a resend after a crash is recognisable.
    message_id       text,
    last_error       text,
    sent_at          timestamptz,
    created_at       timestamptz NOT NULL
);
CREATE INDEX email_deliveries_due ON satang.email_deliveries (next_attempt_at)
    WHERE status = 'pending';
CREATE INDEX email_deliveries_customer ON satang.email_deliveries (customer_id, id);

-- Notices sent once per subscription (e.g. the trial-ending warning): the primary key is what
-- makes the scheduler's notice idempotent, even with several processes.
CREATE TABLE customers.subscription_notices (
    subscription_id  uuid NOT NULL REFERENCES customers.subscriptions(id),
    kind             text NOT NULL,
    created_at       timestamptz NOT NULL,
    PRIMARY KEY (subscription_id, kind)
);
