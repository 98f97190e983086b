-- Satang foundation: auth, customers (identity and membership), and cross-cutting tables.
CREATE SCHEMA IF NOT EXISTS auth;
CREATE SCHEMA IF NOT EXISTS customers;
CREATE SCHEMA IF NOT EXISTS billing;
CREATE SCHEMA IF NOT EXISTS satang;

CREATE TABLE auth.users (
    id             uuid PRIMARY KEY,
    email          text NOT NULL,
    email_lower    text NOT NULL UNIQUE,
    name           text NOT NULL,
    password_hash  text,
    roles          jsonb NOT NULL DEFAULT '[]',
    disabled       boolean NOT NULL DEFAULT false,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL,
    version        bigint NOT NULL DEFAULT 1
);

-- Refresh tokens are stored only as SHA-256 hashes. A family is one login: every rotation
-- stays in the family, and presenting a spent token revokes the whole family.
CREATE TABLE auth.refresh_tokens (
    id           uuid PRIMARY KEY,
    user_id      uuid NOT NULL REFERENCES auth.users(id),
    family_id    uuid NOT NULL,
    token_hash   bytea NOT NULL UNIQUE,
    issued_at    timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,
    used_at      timestamptz,
    revoked_at   timestamptz
);
CREATE INDEX refresh_tokens_family ON auth.refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user ON auth.refresh_tokens (user_id);

-- An invitation lets a person set their own password (staff created without one) or join a
-- customer as a member once they sign up with the invited email.
CREATE TABLE auth.invitations (
    id           uuid PRIMARY KEY,
    email_lower  text NOT NULL,
    user_id      uuid REFERENCES auth.users(id),
    customer_id  uuid,
    member_role  text,
    token_hash   bytea NOT NULL UNIQUE,
    created_by   uuid,
    created_at   timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,
    accepted_at  timestamptz
);
CREATE INDEX invitations_email ON auth.invitations (email_lower);

CREATE TABLE customers.customers (
    id                  uuid PRIMARY KEY,
    name                text NOT NULL,
    legal_name          text,
    tax_id              text,
    branch_code         text,
    email               text,
    phone               text,
    billing_email       text,
    address             jsonb,
    currency            text NOT NULL DEFAULT 'THB',
    locale              text NOT NULL DEFAULT 'th',
    payment_terms_days  bigint NOT NULL DEFAULT 30,
    metadata            jsonb NOT NULL DEFAULT '{}',
    status              text NOT NULL DEFAULT 'active',
    balance             bigint NOT NULL DEFAULT 0,
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL,
    deleted_at          timestamptz,
    version             bigint NOT NULL DEFAULT 1
);

CREATE TABLE customers.customer_users (
    customer_id  uuid NOT NULL REFERENCES customers.customers(id),
    user_id      uuid NOT NULL REFERENCES auth.users(id),
    role         text NOT NULL,
    created_at   timestamptz NOT NULL,
    PRIMARY KEY (customer_id, user_id)
);
CREATE INDEX customer_users_user ON customers.customer_users (user_id);

-- Append-only: nothing in Satang updates or deletes an audit event.
CREATE TABLE satang.audit_events (
    id           uuid PRIMARY KEY,
    occurred_at  timestamptz NOT NULL,
    actor_id     uuid,
    action       text NOT NULL,
    entity_type  text NOT NULL,
    entity_id    text NOT NULL,
    before       jsonb,
    after        jsonb,
    request_id   text,
    ip           text
);
CREATE INDEX audit_events_entity ON satang.audit_events (entity_type, entity_id, id);

-- Responses of POST requests that carried an Idempotency-Key, encrypted at rest.
CREATE TABLE satang.idempotency_keys (
    scope         text NOT NULL,
    key           text NOT NULL,
    request_hash  bytea NOT NULL,
    status_code   bigint,
    response      bytea,
    created_at    timestamptz NOT NULL,
    PRIMARY KEY (scope, key)
);
CREATE INDEX idempotency_keys_created ON satang.idempotency_keys (created_at);

CREATE TABLE satang.kv (
    key    text PRIMARY KEY,
    value  text NOT NULL
);
