"""Lake maintenance: a weekly asset that merges small files and expires old snapshots."""
