-- API keys for the seller's own software (SPEC §2.12): a secret `sk_…` shown once, stored only
-- as its SHA-256 (the secret is 32 random bytes, so a slow hash adds nothing), a short prefix to
-- tell keys apart in lists, and the scopes it was given. A revoked key keeps its row: audit
-- entries made with it still name it.
CREATE TABLE auth.api_keys (
    id            uuid PRIMARY KEY,
    name          text NOT NULL,
    prefix        text NOT NULL,
    secret_hash   bytea NOT NULL UNIQUE,
    scopes        jsonb NOT NULL,
    created_by    uuid REFERENCES auth.users(id),
    created_at    timestamptz NOT NULL,
    last_used_at  timestamptz,
    revoked_at    timestamptz
);

-- An audit entry made with an API key names the key; `actor_id` stays the user's column.
ALTER TABLE satang.audit_events ADD COLUMN actor_api_key_id uuid;
