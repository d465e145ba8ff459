"""Cold tier: the day archive to S3 (or a local folder) and warm retention, chained after the daily run."""
