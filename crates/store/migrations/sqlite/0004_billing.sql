-- Billing on SQLite: the same tables as PostgreSQL (see there). UUIDs are 16-byte blobs, times
-- RFC 3339 text, dates YYYY-MM-DD text, JSON text, booleans integers.
-- Billing: invoices and their lines, gapless document numbers, payments, credit notes.
-- Money is INTEGER minor units of the invoice's currency; rates are basis points.

CREATE TABLE invoices (
    id                  BLOB PRIMARY KEY,
    -- NULL while a draft; assigned from document_sequences when finalised.
    number              TEXT UNIQUE,
    customer_id         BLOB NOT NULL REFERENCES customers(id),
    subscription_id     BLOB REFERENCES subscriptions(id),
    status              TEXT NOT NULL CHECK (status IN ('draft', 'open', 'paid', 'void', 'uncollectible')),
    currency            TEXT NOT NULL,
    subtotal            INTEGER NOT NULL DEFAULT 0,
    discount            INTEGER NOT NULL DEFAULT 0,
    vat_rate_bps        INTEGER NOT NULL,
    vat_amount          INTEGER NOT NULL DEFAULT 0,
    total               INTEGER NOT NULL DEFAULT 0,
    -- Withholding tax recorded by payments (50 ทวิ certificates), not money received.
    withholding_tax     INTEGER NOT NULL DEFAULT 0,
    amount_paid         INTEGER NOT NULL DEFAULT 0,
    amount_due          INTEGER NOT NULL DEFAULT 0,
    -- The customer's credit balance consumed at finalisation.
    credit_applied      INTEGER NOT NULL DEFAULT 0,
    -- Credit notes issued against this invoice.
    amount_credited     INTEGER NOT NULL DEFAULT 0,
    prices_include_vat  INTEGER NOT NULL DEFAULT 0,
    issued_at           TEXT,
    due_date            TEXT,
    paid_at             TEXT,
    voided_at           TEXT,
    marked_uncollectible_at TEXT,
    period_start        TEXT,
    period_end          TEXT,
    billing_reason      TEXT NOT NULL CHECK (billing_reason IN ('subscription_create', 'subscription_cycle', 'proration', 'manual')),
    customer_snapshot   TEXT,
    seller_snapshot     TEXT,
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL,
    version             INTEGER NOT NULL DEFAULT 1
);
-- At most one period invoice per subscription and period: the billing run's guarantee, held
-- by the database even with two processes or after a crash.
CREATE UNIQUE INDEX invoices_one_per_period ON invoices (subscription_id, period_start)
    WHERE billing_reason IN ('subscription_create', 'subscription_cycle');
CREATE INDEX invoices_customer ON invoices (customer_id, id);
CREATE INDEX invoices_status ON invoices (status, id);

CREATE TABLE invoice_lines (
    id            BLOB PRIMARY KEY,
    invoice_id    BLOB NOT NULL REFERENCES invoices(id),
    position      INTEGER NOT NULL,
    -- `subscription` (a period fee), `proration` or `manual`.
    kind          TEXT NOT NULL,
    description   TEXT NOT NULL,
    period_start  TEXT,
    period_end    TEXT,
    quantity      INTEGER NOT NULL,
    unit_amount   INTEGER NOT NULL,
    amount        INTEGER NOT NULL,
    UNIQUE (invoice_id, position)
);

-- Gapless numbers per document kind, prefix and year: the row is incremented inside the
-- finalising transaction (and so row-locked until it commits); a rollback gives the number back.
CREATE TABLE document_sequences (
    kind        TEXT NOT NULL,
    prefix      TEXT NOT NULL,
    year        INTEGER NOT NULL,
    last_value  INTEGER NOT NULL,
    PRIMARY KEY (kind, prefix, year)
);

CREATE TABLE payments (
    id                      BLOB PRIMARY KEY,
    invoice_id              BLOB NOT NULL REFERENCES invoices(id),
    customer_id             BLOB NOT NULL REFERENCES customers(id),
    amount                  INTEGER NOT NULL,
    currency                TEXT NOT NULL,
    method                  TEXT NOT NULL CHECK (method IN ('card', 'promptpay', 'bank_transfer', 'cash', 'other')),
    reference               TEXT,
    paid_at                 TEXT NOT NULL,
    withholding_tax         INTEGER NOT NULL DEFAULT 0,
    withholding_certificate_no TEXT,
    -- What went to the customer's credit balance because it exceeded the amount due.
    overpayment             INTEGER NOT NULL DEFAULT 0,
    status                  TEXT NOT NULL DEFAULT 'succeeded',
    created_at              TEXT NOT NULL
);
CREATE INDEX payments_customer ON payments (customer_id, id);
CREATE INDEX payments_invoice ON payments (invoice_id, id);

CREATE TABLE credit_notes (
    id            BLOB PRIMARY KEY,
    number        TEXT NOT NULL UNIQUE,
    invoice_id    BLOB NOT NULL REFERENCES invoices(id),
    customer_id   BLOB NOT NULL REFERENCES customers(id),
    currency      TEXT NOT NULL,
    reason        TEXT,
    -- The document's lines as issued (immutable): [{description, quantity, unit_amount, amount}].
    lines         TEXT NOT NULL,
    subtotal      INTEGER NOT NULL,
    vat_amount    INTEGER NOT NULL,
    total         INTEGER NOT NULL,
    -- Of the total: how much reduced the invoice's amount due, how much went to the balance.
    applied_to_invoice INTEGER NOT NULL,
    credited_to_balance INTEGER NOT NULL,
    issued_at     TEXT NOT NULL
);
CREATE INDEX credit_notes_invoice ON credit_notes (invoice_id, id);
CREATE INDEX credit_notes_customer ON credit_notes (customer_id, id);
