"""The queries that pages, commands and routes ask: metrics, errors, sessions, fixes, compare, alerts, filters."""
