"""Reading a day of trades (Tardis `trades` CSV, plain or gzip) as canonical chunks.

The same files feed the warm warehouse, so replaying one through the live path gives two
independent routes to the same bars: that is how the hot tier is tested against dbt. Arrow's
streaming CSV reader keeps memory bounded (a 10M-trade day never sits in memory at once) and
parses off the GIL, so the feed handler can publish while the next block is read.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv

from ingest.feed.canonical import normalise
from ingest.landing import TRADES_COLUMNS, LandingFileError, read_header

log = logging.getLogger(__name__)

DEFAULT_BLOCK_BYTES = 4 << 20  # ~50k trades a block: fine-grained pacing, cheap per-block overhead


class TradeFile:
    """One trades file; iterate it for canonical chunks. `rejected` counts dropped rows by rule."""

    def __init__(self, path: Path | str, block_bytes: int = DEFAULT_BLOCK_BYTES) -> None:
        self.path = Path(path)
        self.block_bytes = block_bytes
        self.rows_read = 0
        self.rejected: Counter[str] = Counter()

    @property
    def name(self) -> str:
        return self.path.name

    def __iter__(self) -> Iterator[pa.Table]:
        header = read_header(self.path)
        missing = [c for c in TRADES_COLUMNS if c not in header]
        if missing:
            raise LandingFileError(f"{self.path}: missing required columns {missing}")
        read = pacsv.ReadOptions(block_size=self.block_bytes)
        # Everything as text: numbers are checked and converted by `normalise` (exact decimals,
        # rejects counted) instead of failing the whole file on one bad row.
        convert = pacsv.ConvertOptions(
            column_types={c: pa.string() for c in header},
            include_columns=list(TRADES_COLUMNS),
            strings_can_be_null=True,
            null_values=[""],
        )
        stream = pa.input_stream(str(self.path), compression="detect")
        with pacsv.open_csv(stream, read_options=read, convert_options=convert) as reader:
            for batch in reader:
                if batch.num_rows == 0:
                    continue
                table, rejected = normalise(pa.Table.from_batches([batch]), first_row=self.rows_read)
                self.rows_read += batch.num_rows
                if rejected:
                    log.warning("%s: rejected %s", self.name, dict(rejected))
                    self.rejected.update(rejected)
                yield table
