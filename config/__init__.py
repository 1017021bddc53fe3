"""Settings shared by the producer, the Spark jobs, the Postgres loader and the DAGs."""

from config.settings import ConfigError, Settings, load_settings

__all__ = ["ConfigError", "Settings", "load_settings"]
