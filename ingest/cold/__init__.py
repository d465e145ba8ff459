"""Cold tier: day partitions of warm tables as Parquet on S3 (or a directory), with manifests.

Plain Python on purpose (no Dagster): the archive, the retention rule and the readers are used
by the Dagster assets, the historical-data API, the CLI and the benchmark alike.
"""

from ingest.cold.archive import ColdArchiveError, TableArchive, archive_day, archive_days
from ingest.cold.config import ColdStoreConfig
from ingest.cold.layout import ALL_TABLES, RAW_TABLES, TABLES_BY_NAME, ArchiveTable, ColdTier, Manifest
from ingest.cold.retention import RetentionReport, enforce_retention
from ingest.cold.store import ColdObjectError, ColdStoreError, LocalColdStore, S3ColdStore

__all__ = [
    "ALL_TABLES",
    "RAW_TABLES",
    "TABLES_BY_NAME",
    "ArchiveTable",
    "ColdArchiveError",
    "ColdObjectError",
    "ColdStoreConfig",
    "ColdStoreError",
    "ColdTier",
    "LocalColdStore",
    "Manifest",
    "RetentionReport",
    "S3ColdStore",
    "TableArchive",
    "archive_day",
    "archive_days",
    "enforce_retention",
]
