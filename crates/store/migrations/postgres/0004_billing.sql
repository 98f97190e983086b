-- Billing: invoices and their lines, gapless document numbers, payments, credit notes.
-- Money is bigint minor units of the invoice's currency; rates are basis points.

CREATE TABLE billing.invoices (
    id                  uuid PRIMARY KEY,
    -- NULL while a draft; assigned from billing.document_sequences when finalised.
    number              text UNIQUE,
    customer_id         uuid NOT NULL REFERENCES customers.customers(id),
    subscription_id     uuid REFERENCES customers.subscriptions(id),
    status              text NOT NULL CHECK (status IN ('draft', 'open', 'paid', 'void', 'uncollectible')),
    currency            text NOT NULL,
    subtotal            bigint NOT NULL DEFAULT 0,
    discount            bigint NOT NULL DEFAULT 0,
    vat_rate_bps        bigint NOT NULL,
    vat_amount          bigint NOT NULL DEFAULT 0,
    total               bigint NOT NULL DEFAULT 0,
    -- Withholding tax recorded by payments (50 ทวิ certificates), not money received.
    withholding_tax     bigint NOT NULL DEFAULT 0,
    amount_paid         bigint NOT NULL DEFAULT 0,
    amount_due          bigint NOT NULL DEFAULT 0,
    -- The customer's credit balance consumed at finalisation.
    credit_applied      bigint NOT NULL DEFAULT 0,
    -- Credit notes issued against this invoice.
    amount_credited     bigint NOT NULL DEFAULT 0,
    prices_include_vat  boolean NOT NULL DEFAULT false,
    issued_at           timestamptz,
    due_date            date,
    paid_at             timestamptz,
    voided_at           timestamptz,
    marked_uncollectible_at timestamptz,
    period_start        date,
    period_end          date,
    billing_reason      text NOT NULL CHECK (billing_reason IN ('subscription_create', 'subscription_cycle', 'proration', 'manual')),
    customer_snapshot   jsonb,
    seller_snapshot     jsonb,
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL,
    version             bigint NOT NULL DEFAULT 1
);
-- At most one period invoice per subscription and period: the billing run's guarantee, held
-- by the database even with two processes or after a crash.
CREATE UNIQUE INDEX invoices_one_per_period ON billing.invoices (subscription_id, period_start)
    WHERE billing_reason IN ('subscription_create', 'subscription_cycle');
CREATE INDEX invoices_customer ON billing.invoices (customer_id, id);
CREATE INDEX invoices_status ON billing.invoices (status, id);

CREATE TABLE billing.invoice_lines (
    id            uuid PRIMARY KEY,
    invoice_id    uuid NOT NULL REFERENCES billing.invoices(id),
    position      bigint NOT NULL,
    -- `subscription` (a period fee), `proration` or `manual`.
    kind          text NOT NULL,
    description   text NOT NULL,
    period_start  date,
    period_end    date,
    quantity      bigint NOT NULL,
    unit_amount   bigint NOT NULL,
    amount        bigint NOT NULL,
    UNIQUE (invoice_id, position)
);

-- Gapless numbers per document kind, prefix and year: the row is incremented inside the
-- finalising transaction (and so row-locked until it commits); a rollback gives the number back.
CREATE TABLE billing.document_sequences (
    kind        text NOT NULL,
    prefix      text NOT NULL,
    year        bigint NOT NULL,
    last_value  bigint NOT NULL,
    PRIMARY KEY (kind, prefix, year)
);

CREATE TABLE billing.payments (
    id                      uuid PRIMARY KEY,
    invoice_id              uuid NOT NULL REFERENCES billing.invoices(id),
    customer_id             uuid NOT NULL REFERENCES customers.customers(id),
    amount                  bigint NOT NULL,
    currency                text NOT NULL,
    method                  text NOT NULL CHECK (method IN ('card', 'promptpay', 'bank_transfer', 'cash', 'other')),
    reference               text,
    paid_at                 timestamptz NOT NULL,
    withholding_tax         bigint NOT NULL DEFAULT 0,
    withholding_certificate_no text,
    -- What went to the customer's credit balance because it exceeded the amount due.
    overpayment             bigint NOT NULL DEFAULT 0,
    status                  text NOT NULL DEFAULT 'succeeded',
    created_at              timestamptz NOT NULL
);
CREATE INDEX payments_customer ON billing.payments (customer_id, id);
CREATE INDEX payments_invoice ON billing.payments (invoice_id, id);

CREATE TABLE billing.credit_notes (
    id            uuid PRIMARY KEY,
    number        text NOT NULL UNIQUE,
    invoice_id    uuid NOT NULL REFERENCES billing.invoices(id),
    customer_id   uuid NOT NULL REFERENCES customers.customers(id),
    currency      text NOT NULL,
    reason        text,
    -- The document's lines as issued (immutable): [{description, quantity, unit_amount, amount}].
    lines         jsonb NOT NULL,
    subtotal      bigint NOT NULL,
    vat_amount    bigint NOT NULL,
    total         bigint NOT NULL,
    -- Of the total: how much reduced the invoice's amount due, how much went to the balance.
    applied_to_invoice bigint NOT NULL,
    credited_to_balance bigint NOT NULL,
    issued_at     timestamptz NOT NULL
);
CREATE INDEX credit_notes_invoice ON billing.credit_notes (invoice_id, id);
CREATE INDEX credit_notes_customer ON billing.credit_notes (customer_id, id);
