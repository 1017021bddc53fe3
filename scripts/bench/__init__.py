"""The make bench-* commands, the reference they are measured against (DuckDB), and the generators and
helpers they share with the tests (generated silver, the Scala job's submit)."""
