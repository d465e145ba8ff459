"""Shared by every feature of the code location: partitions, pools, resources, metadata helpers, dbt glue."""
