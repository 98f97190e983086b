-- PostgreSQL changes how invoices reference their customer here (see migrations/postgres/0013):
-- there a foreign key check writes a lock to the referenced row's page. SQLite's checks take no
-- row locks (one writer), so its invoices keep their plain keys to customers and subscriptions.
-- This migration keeps the two sets numbered alike.
SELECT 1;
