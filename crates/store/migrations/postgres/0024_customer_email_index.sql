-- Imports (SPEC §2.14) recognise a customer they already hold by tax id (indexed since 0002) or
-- by e-mail, ignoring case: a re-run of a 100,000-row file asks for every row's e-mail, so the
-- lookup goes through an index instead of reading the whole table each time.
CREATE INDEX customers_email_lower ON customers.customers (lower(email));
