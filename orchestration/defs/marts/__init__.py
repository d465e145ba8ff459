"""dbt marts: the dbt project and manifest, the day-partitioned marts and the rollups, the daily pipeline."""
