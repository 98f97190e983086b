-- Bank reconciliation (SPEC §2.13): uploaded bank statements and their lines, each line money
-- received (or paid) that staff match to an invoice, ignore, or leave unmatched.
--
-- A line's `fingerprint` (SHA-256 of its date, amount, description and its occurrence among
-- identical lines of the file) is unique: uploading the same statement again, or a later one
-- that repeats some days, inserts those lines with `ON CONFLICT DO NOTHING`, so they exist
-- once. A line is matched once: `satang_store::bank_statements::mark_matched` changes it only
-- from `unmatched`, and a matched line names the payment it recorded.
CREATE TABLE billing.bank_statements (
    id                  uuid PRIMARY KEY,
    date_column         text NOT NULL,
    amount_column       text NOT NULL,
    description_column  text NOT NULL,
    date_format         text NOT NULL,
    -- Lines this upload added, and lines an earlier upload had already added.
    line_count          bigint NOT NULL,
    duplicate_count     bigint NOT NULL,
    uploaded_by         uuid,
    created_at          timestamptz NOT NULL
);

CREATE TABLE billing.bank_statement_lines (
    id               uuid PRIMARY KEY,
    statement_id     uuid NOT NULL REFERENCES billing.bank_statements(id),
    -- The file line the record started on (header = 1).
    line_no          bigint NOT NULL,
    booked_on        date NOT NULL,
    -- Minor units; positive is money received.
    amount           bigint NOT NULL,
    currency         text NOT NULL,
    description      text NOT NULL,
    fingerprint      text NOT NULL UNIQUE,
    status           text NOT NULL CHECK (status IN ('unmatched', 'matched', 'ignored')),
    invoice_id       uuid REFERENCES billing.invoices(id),
    customer_id      uuid REFERENCES customers.customers(id),
    payment_id       uuid REFERENCES billing.payments(id),
    withholding_tax  bigint NOT NULL DEFAULT 0,
    matched_at       timestamptz,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    CHECK ((status = 'matched') = (payment_id IS NOT NULL))
);
CREATE INDEX bank_statement_lines_statement ON billing.bank_statement_lines (statement_id, id);
CREATE INDEX bank_statement_lines_unmatched ON billing.bank_statement_lines (statement_id)
    WHERE status = 'unmatched';
