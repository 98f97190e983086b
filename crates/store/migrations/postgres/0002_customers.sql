-- Customer search, contacts.
-- Search: one lower-cased text of the searchable fields, indexed by trigrams, so a substring of
-- any of them (Thai included) is found through the index: `search_text LIKE '%term%'`.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

ALTER TABLE customers.customers ADD COLUMN search_text text GENERATED ALWAYS AS (
    lower(name || ' ' || coalesce(legal_name, '') || ' ' || coalesce(email, '') || ' '
          || coalesce(billing_email, '') || ' ' || coalesce(tax_id, ''))
) STORED;
CREATE INDEX customers_search_trgm ON customers.customers USING gin (search_text gin_trgm_ops);
CREATE INDEX customers_status_id ON customers.customers (status, id);
CREATE INDEX customers_tax_id ON customers.customers (tax_id);

CREATE TABLE customers.contacts (
    id           uuid PRIMARY KEY,
    customer_id  uuid NOT NULL REFERENCES customers.customers(id),
    name         text NOT NULL,
    email        text,
    phone        text,
    role         text NOT NULL,
    is_primary   boolean NOT NULL DEFAULT false,
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    version      bigint NOT NULL DEFAULT 1
);
CREATE INDEX contacts_customer ON customers.contacts (customer_id, id);
-- At most one primary contact per role and customer.
CREATE UNIQUE INDEX contacts_one_primary ON customers.contacts (customer_id, role) WHERE is_primary;
