"""Spark Structured Streaming jobs and pure transforms for the bronze, silver and gold layers."""
