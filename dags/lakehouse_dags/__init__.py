"""Helpers the DAG files wire together: config, runners, serving tasks, checks and alerts."""
