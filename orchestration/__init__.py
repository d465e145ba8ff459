"""The Dagster code location of the market-data warehouse."""

import warnings

from dagster import BetaWarning, PreviewWarning

# backfill_policy and pools are marked beta; they are the documented way to do single-run backfills.
warnings.filterwarnings("ignore", category=BetaWarning)
warnings.filterwarnings("ignore", category=PreviewWarning)
