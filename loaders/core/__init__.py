"""Helpers every stage uses: the one guarded reader and atomic writer for Fixtrail's own files, rows of frames."""
