-- API keys (see the PostgreSQL migration for the why).
CREATE TABLE api_keys (
    id            BLOB PRIMARY KEY,
    name          TEXT NOT NULL,
    prefix        TEXT NOT NULL,
    secret_hash   BLOB NOT NULL UNIQUE,
    scopes        TEXT NOT NULL,
    created_by    BLOB REFERENCES users(id),
    created_at    TEXT NOT NULL,
    last_used_at  TEXT,
    revoked_at    TEXT
);

ALTER TABLE audit_events ADD COLUMN actor_api_key_id BLOB;
