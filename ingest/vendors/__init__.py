"""Real vendor formats (Tardis.dev, Binance public data) turned into the landing layout the loader reads.

Plain Python, no Dagster: `orchestration/defs/vendors/` wraps these in a resource, assets and a check.
See docs/vendors.md.
"""

from ingest.vendors._lines import VendorFormatError
from ingest.vendors.binance import (
    ChecksumError,
    NormalisedFile,
    normalise_trades,
    read_klines,
    read_trades,
    sniff,
    verify_checksum,
)
from ingest.vendors.reference import ReferenceComparison, compare_with_reference, load_klines_reference
from ingest.vendors.source import VendorFileMissingError, VendorSource, find_klines_files, stage_vendor_day
from ingest.vendors.tardis import check_tardis_header, snapshots_from_incremental_l2

__all__ = [
    "ChecksumError",
    "NormalisedFile",
    "ReferenceComparison",
    "VendorFileMissingError",
    "VendorFormatError",
    "check_tardis_header",
    "VendorSource",
    "compare_with_reference",
    "find_klines_files",
    "load_klines_reference",
    "normalise_trades",
    "read_klines",
    "read_trades",
    "snapshots_from_incremental_l2",
    "sniff",
    "stage_vendor_day",
    "verify_checksum",
]
