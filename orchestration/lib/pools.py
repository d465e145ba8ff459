"""Names that cap concurrency across runs; dagster.yaml sets their limits."""

# Steps that write the lake; dagster.yaml caps how many run at once (a setting: the lake allows several).
WAREHOUSE_POOL = "lake_writers"
# Embedded chdb admits one process per directory: hot-tier writers never overlap across runs
# (dagster.yaml gives every pool a default limit).
HOT_TIER_POOL = "clickhouse_hot"
# Runs that write the lake carry this tag, so an operator can cap concurrent writers in dagster.yaml
# (tag_concurrency_limits). The lake itself needs no cap: runs of different days commit side by side.
WRITER_TAGS = {"tickwh/writer": "lake"}
