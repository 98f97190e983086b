-- PostgreSQL adds a search bucket to customers here (see migrations/postgres/0012). SQLite's
-- FTS5 trigram index is walked in rowid order and stops after a page by itself, so it needs
-- none. This migration keeps the two sets numbered alike.
SELECT 1;
