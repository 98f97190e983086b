-- Billing thresholds (SPEC §2.12): a subscription may set `billing_threshold` (minor units);
-- when its unbilled usage amount in the current period reaches it, the usage so far is invoiced
-- at once and not again at the period's end.
ALTER TABLE customers.subscriptions ADD COLUMN billing_threshold bigint
    CHECK (billing_threshold IS NULL OR billing_threshold > 0);

-- What a threshold invoice billed of a period's usage, per metric: the quantity counted so far
-- (cumulative over the period's threshold invoices is the SUM). The period's end invoice, and
-- the next threshold invoice, price the usage as a whole and take off what these rows already
-- billed, so the parts add up to the whole and nothing is billed twice. Written in the
-- transaction that issues the invoice, with the subscription row locked.
CREATE TABLE billing.usage_billed (
    invoice_id       uuid NOT NULL REFERENCES billing.invoices(id),
    subscription_id  uuid NOT NULL REFERENCES customers.subscriptions(id),
    period_start     date NOT NULL,
    metric           text NOT NULL,
    quantity         bigint NOT NULL CHECK (quantity >= 0),
    amount           bigint NOT NULL,
    created_at       timestamptz NOT NULL,
    PRIMARY KEY (invoice_id, metric)
);
CREATE INDEX usage_billed_period ON billing.usage_billed (subscription_id, period_start);
