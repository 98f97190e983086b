-- Tax documents (SPEC §4.1): the tax invoices, receipts / tax invoices, receipts and credit
-- notes Satang issues, one row each, written in the transaction of the event that issues it
-- (finalisation under tax point `issue`, a payment, a credit note).
--
-- Receipts are numbered from `document_sequences` (kind `receipt`, the receipt prefix, the
-- Bangkok year) in that same transaction: the counter row stays locked until it commits, so
-- concurrent payments queue and a rollback gives the number back (gapless). A tax invoice takes
-- its invoice's number and a credit note its credit note's number, already gapless.
--
-- The figures are fixed at issue. The e-Tax XML is rendered from the row, its invoice's lines and
-- snapshots; `xml` keeps the signed form once a signer has made it (`signed` then true).
CREATE TABLE billing.tax_documents (
    id              uuid PRIMARY KEY,
    doc_type        text NOT NULL
        CHECK (doc_type IN ('tax_invoice', 'receipt_tax_invoice', 'receipt', 'credit_note')),
    type_code       text NOT NULL CHECK (type_code IN ('388', 'T02', 'T03', 'T01', '81', '80')),
    number          text NOT NULL UNIQUE,
    customer_id     uuid NOT NULL REFERENCES customers.customers(id),
    invoice_id      uuid NOT NULL REFERENCES billing.invoices(id),
    payment_id      uuid REFERENCES billing.payments(id),
    credit_note_id  uuid REFERENCES billing.credit_notes(id),
    -- The tax document a credit note corrects.
    references_id   uuid REFERENCES billing.tax_documents(id),
    reason          text,
    currency        text NOT NULL,
    customer_snapshot jsonb NOT NULL,
    seller_snapshot jsonb NOT NULL,
    vat_rate_bps    bigint NOT NULL,
    base_amount     bigint NOT NULL,
    vat_amount      bigint NOT NULL,
    total           bigint NOT NULL,
    issued_at       timestamptz NOT NULL,
    signed          boolean NOT NULL DEFAULT false,
    xml             text
);
CREATE INDEX tax_documents_issued ON billing.tax_documents (issued_at, id);
CREATE INDEX tax_documents_customer ON billing.tax_documents (customer_id, issued_at);
CREATE INDEX tax_documents_invoice ON billing.tax_documents (invoice_id, id);

-- Invoices the billing run issued whose finalisation documents (the tax invoice under tax point
-- `issue`, the receipt for credit applied at issue) are still to be made: the run only queues
-- them (one multi-row insert per chunk), the scheduler's worker makes them after the run, and a
-- payment or credit note on a queued invoice makes them first. Whoever deletes the row makes
-- them, in the deleting transaction.
CREATE TABLE billing.tax_document_queue (
    invoice_id  uuid PRIMARY KEY REFERENCES billing.invoices(id),
    queued_at   timestamptz NOT NULL
);
