-- Payment providers (SPEC §2.13): PromptPay payments started through Opn Payments or Stripe,
-- and the once-guards that make every provider event and every provider charge count once.
--
-- `payment_intents`: one per PromptPay (or card) payment a person started for an invoice; the
-- provider's reference is unique per provider, so a webhook finds its intent.
CREATE TABLE billing.payment_intents (
    id            uuid PRIMARY KEY,
    invoice_id    uuid NOT NULL REFERENCES billing.invoices(id),
    customer_id   uuid NOT NULL,
    provider      text NOT NULL CHECK (provider IN ('opn', 'stripe')),
    method        text NOT NULL CHECK (method IN ('promptpay', 'card')),
    provider_ref  text NOT NULL,
    status        text NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed', 'expired')),
    amount        bigint NOT NULL,
    currency      text NOT NULL,
    qr_svg        text,
    expires_at    timestamptz,
    payment_id    uuid,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    UNIQUE (provider, provider_ref)
);
CREATE INDEX payment_intents_invoice ON billing.payment_intents (invoice_id, id);

-- A provider's charge that recorded a payment. The primary key is the guard: the webhook, a
-- replay of it, a second delivery at the same moment and the synchronous answer of the charge
-- all insert here first with ON CONFLICT DO NOTHING, and only the one that inserted records the
-- payment (the others wait on the key until it commits, then find it taken).
CREATE TABLE billing.provider_charges (
    provider    text NOT NULL,
    charge_id   text NOT NULL,
    invoice_id  uuid NOT NULL,
    payment_id  uuid,
    applied_at  timestamptz NOT NULL,
    PRIMARY KEY (provider, charge_id)
);

-- Provider events already handled (a replayed event id changes nothing).
CREATE TABLE billing.provider_events (
    provider     text NOT NULL,
    event_id     text NOT NULL,
    event_type   text NOT NULL,
    received_at  timestamptz NOT NULL,
    PRIMARY KEY (provider, event_id)
);
