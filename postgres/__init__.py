"""PostgreSQL serving: SQL migrations and the gold Delta -> serving loader."""
