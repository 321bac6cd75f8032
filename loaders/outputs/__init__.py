"""What leaves Fixtrail: the report, the AI context, the original's shapes, exports, eval sets."""
