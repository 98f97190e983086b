-- Exports (SPEC §2.14) page through each kind of record by its date and id, within a date range:
-- with these a page is an index range scan instead of a sort of the whole table. The
-- withholding report (payments by `paid_at`) uses the payments' index too.
CREATE INDEX customers_created ON customers.customers (created_at, id);
CREATE INDEX invoices_issued ON billing.invoices (issued_at, id);
CREATE INDEX payments_paid ON billing.payments (paid_at, id);
CREATE INDEX credit_notes_issued ON billing.credit_notes (issued_at, id);
