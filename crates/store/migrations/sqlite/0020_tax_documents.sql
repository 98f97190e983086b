-- Tax documents on SQLite: the same table as PostgreSQL (see there). UUIDs are 16-byte blobs,
-- times RFC 3339 text, JSON text.
CREATE TABLE tax_documents (
    id              BLOB PRIMARY KEY,
    doc_type        TEXT NOT NULL
        CHECK (doc_type IN ('tax_invoice', 'receipt_tax_invoice', 'receipt', 'credit_note')),
    type_code       TEXT NOT NULL CHECK (type_code IN ('388', 'T02', 'T03', 'T01', '81', '80')),
    number          TEXT NOT NULL UNIQUE,
    customer_id     BLOB NOT NULL REFERENCES customers(id),
    invoice_id      BLOB NOT NULL REFERENCES invoices(id),
    payment_id      BLOB REFERENCES payments(id),
    credit_note_id  BLOB REFERENCES credit_notes(id),
    references_id   BLOB REFERENCES tax_documents(id),
    reason          TEXT,
    currency        TEXT NOT NULL,
    customer_snapshot TEXT NOT NULL,
    seller_snapshot TEXT NOT NULL,
    vat_rate_bps    INTEGER NOT NULL,
    base_amount     INTEGER NOT NULL,
    vat_amount      INTEGER NOT NULL,
    total           INTEGER NOT NULL,
    issued_at       TEXT NOT NULL,
    signed          INTEGER NOT NULL DEFAULT 0,
    xml             TEXT
);
CREATE INDEX tax_documents_issued ON tax_documents (issued_at, id);
CREATE INDEX tax_documents_customer ON tax_documents (customer_id, issued_at);
CREATE INDEX tax_documents_invoice ON tax_documents (invoice_id, id);

CREATE TABLE tax_document_queue (
    invoice_id  BLOB PRIMARY KEY REFERENCES invoices(id),
    queued_at   TEXT NOT NULL
);
