"""Helpers every stage uses: the one guarded reader and atomic writer for Fixtrail's own files, rows of
frames, the one way to open DuckDB, and an overall deadline for network calls."""
