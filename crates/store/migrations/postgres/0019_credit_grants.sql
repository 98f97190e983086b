-- Credit grants (SPEC §2.11): promotional credit (a discount before VAT) and prepaid credit
-- (pays the amount due after VAT, recorded as a payment with method `credit`).
--
-- `remaining` only ever falls, by one conditional UPDATE that also requires the grant to be
-- active and to hold enough (`satang_store::credit_grants::consume`): two invoices finalised
-- at once for one customer cannot overdraw it, and the CHECK is the last line of defence.
CREATE TABLE billing.credit_grants (
    id           uuid PRIMARY KEY,
    customer_id  uuid NOT NULL REFERENCES customers.customers(id),
    grant_type   text NOT NULL CHECK (grant_type IN ('promotional', 'prepaid')),
    amount       bigint NOT NULL CHECK (amount > 0),
    remaining    bigint NOT NULL CHECK (remaining >= 0 AND remaining <= amount),
    currency     text NOT NULL,
    expires_at   timestamptz,
    priority     bigint NOT NULL CHECK (priority BETWEEN 0 AND 100),
    note         text,
    status       text NOT NULL CHECK (status IN ('active', 'depleted', 'expired', 'voided')),
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    depleted_at  timestamptz,
    expired_at   timestamptz,
    voided_at    timestamptz
);
CREATE INDEX credit_grants_customer ON billing.credit_grants (customer_id, id);
-- The grants an invoice may consume, and those the billing run checks for expiry.
CREATE INDEX credit_grants_active ON billing.credit_grants (customer_id)
    WHERE status = 'active';

ALTER TABLE billing.payments DROP CONSTRAINT payments_method_check;
ALTER TABLE billing.payments ADD CONSTRAINT payments_method_check
    CHECK (method IN ('card', 'promptpay', 'bank_transfer', 'cash', 'other', 'credit'));
-- The grant a `credit` payment drew on.
ALTER TABLE billing.payments ADD COLUMN credit_grant_id uuid REFERENCES billing.credit_grants(id);
