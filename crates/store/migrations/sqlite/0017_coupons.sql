-- Coupons, discounts and negotiated prices on SQLite: the same tables as PostgreSQL (see
-- there). UUIDs are 16-byte blobs, times RFC 3339 text, JSON text, booleans integers.
CREATE TABLE coupons (
    id                   BLOB PRIMARY KEY,
    code                 TEXT NOT NULL UNIQUE,
    name_th              TEXT NOT NULL,
    name_en              TEXT NOT NULL,
    percent_off_bps      INTEGER CHECK (percent_off_bps BETWEEN 1 AND 10000),
    amount_off           INTEGER CHECK (amount_off > 0),
    currency             TEXT,
    duration             TEXT NOT NULL CHECK (duration IN ('once', 'repeating', 'forever')),
    duration_in_periods  INTEGER,
    applies_to_plans     TEXT,
    max_redemptions      INTEGER,
    redeem_by            TEXT,
    active               INTEGER NOT NULL DEFAULT 1,
    times_redeemed       INTEGER NOT NULL DEFAULT 0 CHECK (times_redeemed >= 0),
    created_at           TEXT NOT NULL,
    updated_at           TEXT NOT NULL,
    archived_at          TEXT,
    CHECK ((percent_off_bps IS NULL) <> (amount_off IS NULL)),
    CHECK ((amount_off IS NULL) = (currency IS NULL))
);

CREATE TABLE discounts (
    id                 BLOB PRIMARY KEY,
    subscription_id    BLOB NOT NULL REFERENCES subscriptions(id),
    customer_id        BLOB NOT NULL REFERENCES customers(id),
    coupon_id          BLOB NOT NULL REFERENCES coupons(id),
    coupon_code        TEXT NOT NULL,
    percent_off_bps    INTEGER,
    amount_off         INTEGER,
    currency           TEXT,
    duration           TEXT NOT NULL,
    periods_remaining  INTEGER,
    starts_at          TEXT NOT NULL,
    ended_at           TEXT,
    created_at         TEXT NOT NULL
);
CREATE UNIQUE INDEX discounts_running ON discounts (subscription_id) WHERE ended_at IS NULL;
CREATE INDEX discounts_coupon ON discounts (coupon_id, id);

ALTER TABLE invoices ADD COLUMN discounts TEXT;

ALTER TABLE subscriptions ADD COLUMN unit_price INTEGER;
ALTER TABLE subscriptions ADD COLUMN pending_unit_price INTEGER;
