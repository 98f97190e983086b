-- Imports recognise a customer they already hold by e-mail, ignoring case (see the PostgreSQL
-- migration). SQLite's lower() folds ASCII only; the import compares e-mails the same way.
CREATE INDEX customers_email_lower ON customers (lower(email));
