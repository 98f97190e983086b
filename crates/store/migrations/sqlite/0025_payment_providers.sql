-- Payment providers on SQLite: the same tables as PostgreSQL (see there). UUIDs are 16-byte
-- blobs, times RFC 3339 text; no foreign key to invoices (SQLite rebuilds a table to change it).
CREATE TABLE payment_intents (
    id            BLOB PRIMARY KEY,
    invoice_id    BLOB NOT NULL,
    customer_id   BLOB NOT NULL,
    provider      TEXT NOT NULL CHECK (provider IN ('opn', 'stripe')),
    method        TEXT NOT NULL CHECK (method IN ('promptpay', 'card')),
    provider_ref  TEXT NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed', 'expired')),
    amount        INTEGER NOT NULL,
    currency      TEXT NOT NULL,
    qr_svg        TEXT,
    expires_at    TEXT,
    payment_id    BLOB,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    UNIQUE (provider, provider_ref)
);
CREATE INDEX payment_intents_invoice ON payment_intents (invoice_id, id);

CREATE TABLE provider_charges (
    provider    TEXT NOT NULL,
    charge_id   TEXT NOT NULL,
    invoice_id  BLOB NOT NULL,
    payment_id  BLOB,
    applied_at  TEXT NOT NULL,
    PRIMARY KEY (provider, charge_id)
);

CREATE TABLE provider_events (
    provider     TEXT NOT NULL,
    event_id     TEXT NOT NULL,
    event_type   TEXT NOT NULL,
    received_at  TEXT NOT NULL,
    PRIMARY KEY (provider, event_id)
);
