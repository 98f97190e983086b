-- No statement reads outbox events by type: deliveries and mails find their event by id. The
-- index cost every event written an index entry (in a billing run, two events per invoice).
DROP INDEX outbox_events_type;
