-- Analytics read the recurring invoices still running after a date (`period_end > $earlier`):
-- an index led by period_end bounds that to the current periods whatever the history, and it
-- carries every column the MRR statement reads, so the wide invoice rows are not visited.
CREATE INDEX invoices_recurring_end
    ON invoices (period_end, period_start, subscription_id, customer_id, mrr, status)
    WHERE mrr > 0;
