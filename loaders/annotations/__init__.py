"""What people add to a tree: change markers (and the team's triage decisions)."""
