-- Customer search, contacts.
-- Search: an external-content FTS5 table with the trigram tokenizer over a generated column of
-- the searchable fields, kept in step by triggers; a substring of three or more characters (Thai
-- included) is found through it. The FTS rows point at customers' rowids: after a VACUUM run
-- `INSERT INTO customers_fts (customers_fts) VALUES ('rebuild')`.
ALTER TABLE customers ADD COLUMN search_text TEXT GENERATED ALWAYS AS (
    name || ' ' || coalesce(legal_name, '') || ' ' || coalesce(email, '') || ' '
    || coalesce(billing_email, '') || ' ' || coalesce(tax_id, '')
) VIRTUAL;

CREATE VIRTUAL TABLE customers_fts USING fts5(
    search_text, content = 'customers', content_rowid = 'rowid', tokenize = 'trigram'
);

CREATE TRIGGER customers_fts_insert AFTER INSERT ON customers BEGIN
    INSERT INTO customers_fts (rowid, search_text) VALUES (new.rowid, new.search_text);
END;
CREATE TRIGGER customers_fts_update AFTER UPDATE OF name, legal_name, email, billing_email, tax_id
ON customers BEGIN
    INSERT INTO customers_fts (customers_fts, rowid, search_text)
        VALUES ('delete', old.rowid, old.search_text);
    INSERT INTO customers_fts (rowid, search_text) VALUES (new.rowid, new.search_text);
END;
CREATE TRIGGER customers_fts_delete AFTER DELETE ON customers BEGIN
    INSERT INTO customers_fts (customers_fts, rowid, search_text)
        VALUES ('delete', old.rowid, old.search_text);
END;

CREATE INDEX customers_status_id ON customers (status, id);
CREATE INDEX customers_tax_id ON customers (tax_id);

CREATE TABLE contacts (
    id           BLOB PRIMARY KEY,
    customer_id  BLOB NOT NULL REFERENCES customers(id),
    name         TEXT NOT NULL,
    email        TEXT,
    phone        TEXT,
    role         TEXT NOT NULL,
    is_primary   INTEGER NOT NULL DEFAULT 0,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    version      INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX contacts_customer ON contacts (customer_id, id);
CREATE UNIQUE INDEX contacts_one_primary ON contacts (customer_id, role) WHERE is_primary;
