"""The run report (.local/demo/report.html): sources read from the lake and PostgreSQL, numbers computed as pure
functions, one self-contained HTML page."""
