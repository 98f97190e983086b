-- Exports page through each kind of record by its date and id (see the PostgreSQL migration).
CREATE INDEX customers_created ON customers (created_at, id);
CREATE INDEX invoices_issued ON invoices (issued_at, id);
CREATE INDEX payments_paid ON payments (paid_at, id);
CREATE INDEX credit_notes_issued ON credit_notes (issued_at, id);
