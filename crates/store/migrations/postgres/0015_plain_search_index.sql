-- Customer search is two statements (crates/store/src/customers.rs, `search_postgres`): a short
-- walk of the id order, then one statement that PostgreSQL plans for its term. The bucketed
-- index of 0012 goes back to a trigram index of the text alone, and the text keeps a larger
-- statistics sample, from which the planner estimates how common a term is and so whether to
-- walk on or ask the index.
DROP INDEX customers.customers_search;
ALTER TABLE customers.customers DROP COLUMN search_bucket;
CREATE INDEX customers_search_trgm ON customers.customers
    USING gin (search_text gin_trgm_ops);
ALTER TABLE customers.customers ALTER COLUMN search_text SET STATISTICS 1000;
ANALYZE customers.customers;
