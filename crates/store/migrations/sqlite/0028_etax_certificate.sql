-- The seller's uploaded e-Tax signing certificate (see the PostgreSQL migration).
CREATE TABLE etax_certificates (
    id               INTEGER PRIMARY KEY CHECK (id = 1),
    p12_sealed       BLOB NOT NULL,
    password_sealed  BLOB NOT NULL,
    subject          TEXT NOT NULL,
    issuer           TEXT NOT NULL,
    serial           TEXT NOT NULL,
    not_before       TEXT NOT NULL,
    not_after        TEXT NOT NULL,
    uploaded_by      BLOB,
    uploaded_at      TEXT NOT NULL
);
