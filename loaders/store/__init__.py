"""The DuckDB index: its lifecycle, the refresh, the in-memory copy, connection settings, facts, stored results."""
