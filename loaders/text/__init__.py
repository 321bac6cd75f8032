"""Pure functions over one record's text: error lines, fingerprints and masking, code imports and sketches,
domain rules. No I/O, but for the domain file (FIXTRAIL_DOMAIN), read once through loaders.core.files."""
