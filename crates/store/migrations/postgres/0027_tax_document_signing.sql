-- The signing worker (SPEC §4.2): documents whose signed XML is still to be made are claimed in
-- batches by pushing `sign_claimed_until` ahead (one short transaction, `FOR UPDATE SKIP
-- LOCKED`), signed outside any transaction and stored each with `xml IS NULL` as its guard. A
-- worker that dies leaves its claim to run out; another process then takes the rows.
ALTER TABLE billing.tax_documents ADD COLUMN sign_claimed_until timestamptz;
-- Only the unsigned documents, so finding the next batch does not walk the signed ones.
CREATE INDEX tax_documents_unsigned ON billing.tax_documents (id) WHERE xml IS NULL;
