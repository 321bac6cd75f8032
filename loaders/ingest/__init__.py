"""From a tree or a source to rows: the tree on disk, records, parsing (in workers), change scans, sources."""
