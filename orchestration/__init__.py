"""The Dagster code location of the market-data warehouse."""

import warnings

# backfill_policy and pools are marked beta; they are the documented way to do single-run backfills.
# Matched by message, not by Dagster's BetaWarning/PreviewWarning classes: importing dagster here
# would make every `tickwh <command> --help` pay Dagster's ~2-4 s import.
warnings.filterwarnings("ignore", message=r".* is currently in (beta|preview)")
