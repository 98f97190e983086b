-- The signing worker's claim on unsigned documents (see the PostgreSQL migration).
ALTER TABLE tax_documents ADD COLUMN sign_claimed_until TEXT;
CREATE INDEX tax_documents_unsigned ON tax_documents (id) WHERE xml IS NULL;
