-- Bank reconciliation on SQLite: the same tables as PostgreSQL (see there). UUIDs are 16-byte
-- blobs, times RFC 3339 text, dates YYYY-MM-DD text. `invoice_id`, `customer_id` and
-- `payment_id` carry no foreign key here: SQLite changes a table by rebuilding it, and a
-- reference would stop a later migration from rebuilding payments or invoices.
CREATE TABLE bank_statements (
    id                  BLOB PRIMARY KEY,
    date_column         TEXT NOT NULL,
    amount_column       TEXT NOT NULL,
    description_column  TEXT NOT NULL,
    date_format         TEXT NOT NULL,
    line_count          INTEGER NOT NULL,
    duplicate_count     INTEGER NOT NULL,
    uploaded_by         BLOB,
    created_at          TEXT NOT NULL
);

CREATE TABLE bank_statement_lines (
    id               BLOB PRIMARY KEY,
    statement_id     BLOB NOT NULL REFERENCES bank_statements(id),
    line_no          INTEGER NOT NULL,
    booked_on        TEXT NOT NULL,
    amount           INTEGER NOT NULL,
    currency         TEXT NOT NULL,
    description      TEXT NOT NULL,
    fingerprint      TEXT NOT NULL UNIQUE,
    status           TEXT NOT NULL CHECK (status IN ('unmatched', 'matched', 'ignored')),
    invoice_id       BLOB,
    customer_id      BLOB,
    payment_id       BLOB,
    withholding_tax  INTEGER NOT NULL DEFAULT 0,
    matched_at       TEXT,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    CHECK ((status = 'matched') = (payment_id IS NOT NULL))
);
CREATE INDEX bank_statement_lines_statement ON bank_statement_lines (statement_id, id);
CREATE INDEX bank_statement_lines_unmatched ON bank_statement_lines (statement_id)
    WHERE status = 'unmatched';
