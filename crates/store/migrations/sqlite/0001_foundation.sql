-- Satang foundation on SQLite: the same tables as PostgreSQL, without schemas (one file, so a
-- change and its audit event commit atomically). UUIDs are 16-byte blobs, times RFC 3339 text,
-- JSON text.
CREATE TABLE users (
    id             BLOB PRIMARY KEY,
    email          TEXT NOT NULL,
    email_lower    TEXT NOT NULL UNIQUE,
    name           TEXT NOT NULL,
    password_hash  TEXT,
    roles          TEXT NOT NULL DEFAULT '[]',
    disabled       INTEGER NOT NULL DEFAULT 0,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL,
    version        INTEGER NOT NULL DEFAULT 1
);

CREATE TABLE refresh_tokens (
    id           BLOB PRIMARY KEY,
    user_id      BLOB NOT NULL REFERENCES users(id),
    family_id    BLOB NOT NULL,
    token_hash   BLOB NOT NULL UNIQUE,
    issued_at    TEXT NOT NULL,
    expires_at   TEXT NOT NULL,
    used_at      TEXT,
    revoked_at   TEXT
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id);

CREATE TABLE invitations (
    id           BLOB PRIMARY KEY,
    email_lower  TEXT NOT NULL,
    user_id      BLOB REFERENCES users(id),
    customer_id  BLOB,
    member_role  TEXT,
    token_hash   BLOB NOT NULL UNIQUE,
    created_by   BLOB,
    created_at   TEXT NOT NULL,
    expires_at   TEXT NOT NULL,
    accepted_at  TEXT
);
CREATE INDEX invitations_email ON invitations (email_lower);

CREATE TABLE customers (
    id                  BLOB PRIMARY KEY,
    name                TEXT NOT NULL,
    legal_name          TEXT,
    tax_id              TEXT,
    branch_code         TEXT,
    email               TEXT,
    phone               TEXT,
    billing_email       TEXT,
    address             TEXT,
    currency            TEXT NOT NULL DEFAULT 'THB',
    locale              TEXT NOT NULL DEFAULT 'th',
    payment_terms_days  INTEGER NOT NULL DEFAULT 30,
    metadata            TEXT NOT NULL DEFAULT '{}',
    status              TEXT NOT NULL DEFAULT 'active',
    balance             INTEGER NOT NULL DEFAULT 0,
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL,
    deleted_at          TEXT,
    version             INTEGER NOT NULL DEFAULT 1
);

CREATE TABLE customer_users (
    customer_id  BLOB NOT NULL REFERENCES customers(id),
    user_id      BLOB NOT NULL REFERENCES users(id),
    role         TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    PRIMARY KEY (customer_id, user_id)
);
CREATE INDEX customer_users_user ON customer_users (user_id);

CREATE TABLE audit_events (
    id           BLOB PRIMARY KEY,
    occurred_at  TEXT NOT NULL,
    actor_id     BLOB,
    action       TEXT NOT NULL,
    entity_type  TEXT NOT NULL,
    entity_id    TEXT NOT NULL,
    before       TEXT,
    after        TEXT,
    request_id   TEXT,
    ip           TEXT
);
CREATE INDEX audit_events_entity ON audit_events (entity_type, entity_id, id);

CREATE TABLE idempotency_keys (
    scope         TEXT NOT NULL,
    key           TEXT NOT NULL,
    request_hash  BLOB NOT NULL,
    status_code   INTEGER,
    response      BLOB,
    created_at    TEXT NOT NULL,
    PRIMARY KEY (scope, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

CREATE TABLE kv (
    key    TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);
