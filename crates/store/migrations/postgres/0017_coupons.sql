-- Coupons, the discounts they give subscriptions, and negotiated prices (SPEC §2.11).
--
-- A coupon takes a percentage (basis points) or a fixed amount in one currency off the invoices
-- of a subscription. Its code is stored upper-case, so it is unique and found
-- case-insensitively. `times_redeemed` is only ever raised by one conditional UPDATE that also
-- checks `max_redemptions`, in the transaction that applies the discount: two redemptions of
-- the last one cannot both succeed.
CREATE TABLE billing.coupons (
    id                   uuid PRIMARY KEY,
    code                 text NOT NULL UNIQUE,
    name_th              text NOT NULL,
    name_en              text NOT NULL,
    percent_off_bps      bigint CHECK (percent_off_bps BETWEEN 1 AND 10000),
    amount_off           bigint CHECK (amount_off > 0),
    currency             text,
    duration             text NOT NULL CHECK (duration IN ('once', 'repeating', 'forever')),
    duration_in_periods  bigint,
    -- Plan codes; NULL: every plan.
    applies_to_plans     jsonb,
    max_redemptions      bigint,
    redeem_by            timestamptz,
    active               boolean NOT NULL DEFAULT true,
    times_redeemed       bigint NOT NULL DEFAULT 0 CHECK (times_redeemed >= 0),
    created_at           timestamptz NOT NULL,
    updated_at           timestamptz NOT NULL,
    archived_at          timestamptz,
    CHECK ((percent_off_bps IS NULL) <> (amount_off IS NULL)),
    CHECK ((amount_off IS NULL) = (currency IS NULL))
);

-- A coupon redeemed on a subscription. The coupon's terms are copied, so the discount reads
-- alone; `periods_remaining` counts the period invoices it still covers (NULL: for ever) and is
-- lowered by the billing run with each. A discount that ran out or was removed keeps its row
-- with `ended_at` (the coupon's redemption history); a subscription has at most one running.
CREATE TABLE billing.discounts (
    id                 uuid PRIMARY KEY,
    subscription_id    uuid NOT NULL REFERENCES customers.subscriptions(id),
    customer_id        uuid NOT NULL REFERENCES customers.customers(id),
    coupon_id          uuid NOT NULL REFERENCES billing.coupons(id),
    coupon_code        text NOT NULL,
    percent_off_bps    bigint,
    amount_off         bigint,
    currency           text,
    duration           text NOT NULL,
    periods_remaining  bigint,
    starts_at          timestamptz NOT NULL,
    ended_at           timestamptz,
    created_at         timestamptz NOT NULL
);
CREATE UNIQUE INDEX discounts_running ON billing.discounts (subscription_id)
    WHERE ended_at IS NULL;
CREATE INDEX discounts_coupon ON billing.discounts (coupon_id, id);

-- What the discounts took off an invoice: [{coupon_code, amount}]; NULL for none.
ALTER TABLE billing.invoices ADD COLUMN discounts jsonb;

-- A negotiated price per period (per seat on per-seat plans) instead of the plan's; the
-- pending one goes with a pending downgrade.
ALTER TABLE customers.subscriptions ADD COLUMN unit_price bigint;
ALTER TABLE customers.subscriptions ADD COLUMN pending_unit_price bigint;
