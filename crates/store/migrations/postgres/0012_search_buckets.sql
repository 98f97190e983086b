-- Customer search a bucket of the id order at a time (crates/store/src/customers.rs,
-- `search_by_buckets`). The trigram index answers `search_text LIKE '%term%'` with every matching
-- row in no order, and a page is the first fifty by id: a term shared by a few thousand
-- customers meant a few thousand heap pages read to keep fifty. `search_bucket` is the first 16
-- bits of the id — for the UUIDv7 ids Satang makes, the top of the creation time, about 50 days
-- a bucket — so it grows with the id, and the index on (search_bucket, search_text) finds the
-- matches of one bucket alone. `btree_gin` lets a GIN index hold the integer column.
CREATE EXTENSION IF NOT EXISTS btree_gin;

ALTER TABLE customers.customers ADD COLUMN search_bucket integer GENERATED ALWAYS AS (
    (get_byte(uuid_send(id), 0) << 8) | get_byte(uuid_send(id), 1)
) STORED;

DROP INDEX customers.customers_search_trgm;
CREATE INDEX customers_search ON customers.customers
    USING gin (search_bucket, search_text gin_trgm_ops);
