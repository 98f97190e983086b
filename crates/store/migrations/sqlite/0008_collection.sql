-- Automatic collection (see the PostgreSQL migration for the why).
CREATE TABLE payment_methods (
    id            BLOB PRIMARY KEY,
    customer_id   BLOB NOT NULL REFERENCES customers(id),
    method_type   TEXT NOT NULL CHECK (method_type IN ('card', 'promptpay', 'bank_transfer')),
    gateway       TEXT,
    token_sealed  BLOB,
    brand         TEXT,
    last4         TEXT,
    exp_month     INTEGER,
    exp_year      INTEGER,
    is_default    INTEGER NOT NULL DEFAULT 0,
    created_at    TEXT NOT NULL,
    removed_at    TEXT
);
CREATE INDEX payment_methods_customer ON payment_methods (customer_id, id);
CREATE UNIQUE INDEX payment_methods_one_default ON payment_methods (customer_id)
    WHERE is_default AND removed_at IS NULL;

ALTER TABLE invoices ADD COLUMN collection_method TEXT NOT NULL DEFAULT 'send_invoice';
ALTER TABLE invoices ADD COLUMN collection_attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE invoices ADD COLUMN next_collection_at TEXT;
ALTER TABLE invoices ADD COLUMN first_failed_at TEXT;
CREATE INDEX invoices_collection_due ON invoices (next_collection_at)
    WHERE next_collection_at IS NOT NULL;
