-- Automatic collection: payment methods (cards only as a gateway token, sealed) and the dunning
-- state of each invoice charged automatically.
CREATE TABLE billing.payment_methods (
    id            uuid PRIMARY KEY,
    customer_id   uuid NOT NULL REFERENCES customers.customers(id),
    method_type   text NOT NULL CHECK (method_type IN ('card', 'promptpay', 'bank_transfer')),
    gateway       text,
    token_sealed  bytea,
    brand         text,
    last4         text,
    exp_month     bigint,
    exp_year      bigint,
    is_default    boolean NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL,
    removed_at    timestamptz
);
CREATE INDEX payment_methods_customer ON billing.payment_methods (customer_id, id);
CREATE UNIQUE INDEX payment_methods_one_default ON billing.payment_methods (customer_id)
    WHERE is_default AND removed_at IS NULL;

ALTER TABLE billing.invoices ADD COLUMN collection_method text NOT NULL DEFAULT 'send_invoice';
ALTER TABLE billing.invoices ADD COLUMN collection_attempts bigint NOT NULL DEFAULT 0;
ALTER TABLE billing.invoices ADD COLUMN next_collection_at timestamptz;
ALTER TABLE billing.invoices ADD COLUMN first_failed_at timestamptz;
CREATE INDEX invoices_collection_due ON billing.invoices (next_collection_at)
    WHERE next_collection_at IS NOT NULL;
