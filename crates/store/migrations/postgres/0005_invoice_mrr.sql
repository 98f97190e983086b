-- What a subscription invoice adds to monthly recurring revenue: its recurring fee spread over
-- the months of its period (a yearly fee ÷ 12), fixed when the invoice is made. Analytics sum it
-- over the invoices whose period covers a date.
ALTER TABLE billing.invoices ADD COLUMN mrr bigint NOT NULL DEFAULT 0;
CREATE INDEX invoices_recurring_period ON billing.invoices (period_start, period_end)
    WHERE mrr > 0;
