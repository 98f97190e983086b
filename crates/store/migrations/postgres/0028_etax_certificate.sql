-- The seller's e-Tax signing certificate uploaded in Settings (SPEC §4.2): the PKCS#12 file and
-- its password, each sealed with the server's encryption key (AES-256-GCM, `nonce || sealed`),
-- beside the certificate's public fields so the settings page can name it without opening
-- anything. One row at most: an upload replaces it, a removal deletes it. `uploaded_at` tells
-- the other processes on this database that it changed (they reload it).
CREATE TABLE billing.etax_certificates (
    id               smallint PRIMARY KEY CHECK (id = 1),
    p12_sealed       bytea NOT NULL,
    password_sealed  bytea NOT NULL,
    subject          text NOT NULL,
    issuer           text NOT NULL,
    serial           text NOT NULL,
    not_before       timestamptz NOT NULL,
    not_after        timestamptz NOT NULL,
    uploaded_by      uuid,
    uploaded_at      timestamptz NOT NULL
);
