"""The Dagster code location of the market-data warehouse."""
