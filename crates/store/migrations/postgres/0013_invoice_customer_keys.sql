-- How an invoice's customer is held by the database, without a lock on the customer's row for
-- every invoice issued.
--
-- A foreign key check locks the row it finds (`FOR KEY SHARE`), and a row lock is a write to
-- the row's page. With `invoices.customer_id REFERENCES customers` every invoice of a billing
-- run wrote to its customer's page: in a run over 100,000 subscriptions, 100,000 lock records
-- and some 18,000 full-page images of customer pages, about a sixth of the run's WAL (measured
-- with pg_waldump; BENCHMARKS.md, "Billing at scale").
--
-- Now:
-- * an invoice of a subscription references the pair (subscription, customer): its customer
--   must be the subscription's, which references the customer in turn. The check finds the
--   subscription row, which the billing run has already locked for update, so it writes
--   nothing. This is stronger than before: an invoice can no longer name one customer and
--   another customer's subscription. The key needs a unique index on the pair: the index on
--   (customer_id, id) that lists a customer's subscriptions becomes that index (it was unique
--   anyway, id being the primary key), so the subscriptions keep their number of indexes;
-- * an invoice without a subscription (one-off invoices) references its customer directly,
--   through `direct_customer_id`, a generated copy of `customer_id` that is NULL whenever the
--   invoice has a subscription (a NULL key is not checked).
CREATE UNIQUE INDEX subscriptions_customer_unique ON customers.subscriptions (customer_id, id);
DROP INDEX customers.subscriptions_customer;
ALTER INDEX customers.subscriptions_customer_unique RENAME TO subscriptions_customer;

ALTER TABLE billing.invoices
    DROP CONSTRAINT invoices_customer_id_fkey,
    DROP CONSTRAINT invoices_subscription_id_fkey,
    ADD COLUMN direct_customer_id uuid
        GENERATED ALWAYS AS (CASE WHEN subscription_id IS NULL THEN customer_id END) STORED;

ALTER TABLE billing.invoices
    ADD CONSTRAINT invoices_subscription_customer FOREIGN KEY (subscription_id, customer_id)
        REFERENCES customers.subscriptions (id, customer_id),
    ADD CONSTRAINT invoices_direct_customer FOREIGN KEY (direct_customer_id)
        REFERENCES customers.customers (id);
