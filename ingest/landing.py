"""The landing folder's contract: file names, headers, columns, and the checks a reader runs first.

Landing files follow Tardis.dev's CSV layouts, one file per exchange, data type and UTC day:

    <landing_root>/<exchange>_<data_type>_<YYYY-MM-DD>_<symbols>.csv[.gz]

with `data_type` one of `trades`, `book_snapshot_<depth>`, `quotes`, `derivative_ticker`,
`liquidations` (ingest/datasets declares each; `incremental_book_L2` is turned into snapshots by
the vendor normalisers) and `symbols` a symbol or `ALL`. The simulator writes these
names, vendor staging writes them, the loader and the catch-up read them, and the tests build
them; all of them through this module, so one reader serves every source.
"""

from __future__ import annotations

import datetime as dt
import gzip
import os
import re
import uuid
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ingest.names import InvalidNameError, validate_data_type, validate_exchange, validate_symbol

TRADES_COLUMNS: tuple[str, ...] = (
    "exchange",
    "symbol",
    "timestamp",
    "local_timestamp",
    "id",
    "side",
    "price",
    "amount",
)
SNAPSHOT_KEY_COLUMNS: tuple[str, ...] = ("exchange", "symbol", "timestamp", "local_timestamp")
TRADES = "trades"
BOOK_SNAPSHOT = "book_snapshot"  # the family; a file's data type is book_snapshot_<depth>
ALL_SYMBOLS = "ALL"

# Header names reach SQL as quoted identifiers, so only this alphabet is accepted.
_HEADER_NAME = re.compile(r"^[A-Za-z0-9_.\[\]]{1,64}\Z")
_FILE_NAME = re.compile(
    r"^(?P<exchange>[a-z0-9-]+)_(?P<data_type>trades|book_snapshot_\d+|quotes|derivative_ticker|liquidations"
    r"|incremental_book_L2)_"
    r"(?P<date>\d{4}-\d{2}-\d{2})_(?P<symbols>[A-Za-z0-9._-]+)\.csv(\.gz)?\Z"
)


class LandingFileError(RuntimeError):
    """A landing file that cannot be read at all: the whole partition load stops, nothing changes."""


@dataclass(frozen=True)
class LandingFile:
    path: Path
    exchange: str
    data_type: str
    day: dt.date
    symbols: str

    @property
    def depth(self) -> int | None:
        m = re.fullmatch(r"book_snapshot_(\d+)", self.data_type)
        return int(m.group(1)) if m else None


def landing_file_name(
    exchange: str, data_type: str, day: dt.date, symbols: str = ALL_SYMBOLS, *, gzipped: bool = True
) -> str:
    """The landing name; every part is validated first, so the name is one path component."""
    validate_exchange(exchange)
    validate_symbol(symbols)
    return f"{exchange}_{validate_data_type(data_type)}_{day.isoformat()}_{symbols}.csv{'.gz' if gzipped else ''}"


def book_data_type(depth: int) -> str:
    return f"{BOOK_SNAPSHOT}_{depth}"


def trades_file_name(exchange: str, day: dt.date, symbols: str = ALL_SYMBOLS) -> str:
    return landing_file_name(exchange, TRADES, day, symbols)


def snapshots_file_name(exchange: str, day: dt.date, depth: int, symbols: str = ALL_SYMBOLS) -> str:
    return landing_file_name(exchange, book_data_type(depth), day, symbols)


def same_compression_name(name: str, like: str) -> str:
    """`name` (a .csv.gz landing name) with the compression of the file `like` it is copied from."""
    return name if like.endswith(".gz") else name.removesuffix(".gz")


def day_glob(family: str, day: dt.date) -> str:
    """A glob for the day's files of one family (`trades` or `book_snapshot`); parse what it finds."""
    return f"*_{family}*_{day.isoformat()}_*.csv*"


def book_glob(exchange: str) -> str:
    """A glob for every book snapshot file of `exchange`, any day."""
    return f"{exchange}_{BOOK_SNAPSHOT}_*.csv*"


def parse_landing_name(path: Path) -> LandingFile | None:
    """The parts of a landing (or Tardis download) name; None if it is not one.

    A name with the layout's shape but a hostile exchange or symbol part (`..`, 300 characters)
    is an error naming the file, not a file quietly skipped.
    """
    m = _FILE_NAME.match(path.name)
    if not m:
        return None
    try:
        validate_exchange(m["exchange"])
        validate_symbol(m["symbols"])
    except InvalidNameError as exc:
        raise LandingFileError(f"{path}: refused landing file name: {exc}") from exc
    return LandingFile(
        path=path,
        exchange=m["exchange"],
        data_type=m["data_type"],
        day=dt.date.fromisoformat(m["date"]),
        symbols=m["symbols"],
    )


def find_landing_files(root: Path, family: str, day: dt.date) -> list[LandingFile]:
    """The day's files of one family (`trades`, `book_snapshot` for any depth, `quotes`...), sorted by name."""
    found = []
    for path in sorted(Path(root).glob(day_glob(family, day))):
        lf = parse_landing_name(path)
        if lf is None or lf.day != day:
            continue
        if lf.data_type != family and not (family == BOOK_SNAPSHOT and lf.depth is not None):
            continue
        found.append(lf)
    return found


@contextmanager
def replacing(dest: Path) -> Iterator[Path]:
    """A temporary name beside `dest` to write (or link) into: it replaces `dest` atomically when the
    block ends without error, and is gone afterwards on every path, so a reader of the landing folder
    never sees half a file and a rerun leaves no stray `.partial` behind.

    Why the unlink after a successful rename too: renaming one hard link onto another of the same file
    succeeds and does nothing (POSIX rename(2)), which is what re-staging a linked vendor file does.
    The name is unique per call, so two writers of the same file never share a temporary.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex[:12]}.partial")
    try:
        yield tmp
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


def snapshot_columns(depth: int) -> list[str]:
    cols = list(SNAPSHOT_KEY_COLUMNS)
    for i in range(depth):
        cols += [f"asks[{i}].price", f"asks[{i}].amount", f"bids[{i}].price", f"bids[{i}].amount"]
    return cols


def trades_header() -> str:
    return ",".join(TRADES_COLUMNS)


def snapshots_header(depth: int) -> str:
    return ",".join(snapshot_columns(depth))


def snapshot_depth(header: list[str]) -> int:
    """Levels present in a book snapshot header (`asks[i].price` for i = 0..N-1)."""
    depth = 0
    names = set(header)
    while f"asks[{depth}].price" in names:
        depth += 1
    return depth


def read_header(path: Path) -> list[str]:
    """The header row of a (gzipped) CSV, checked so it is safe to name columns from it."""
    if not path.exists():
        raise LandingFileError(f"{path}: file is missing")
    if path.stat().st_size == 0:
        raise LandingFileError(f"{path}: file is empty (no header row)")
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8", newline="") as fh:
            first = fh.readline()
    except (OSError, EOFError, zlib.error, UnicodeDecodeError) as exc:
        raise LandingFileError(f"{path}: cannot read header: {exc}") from exc
    names = first.rstrip("\r\n").split(",")
    if not first.strip():
        raise LandingFileError(f"{path}: file is empty (no header row)")
    bad = [n for n in names if not _HEADER_NAME.match(n)]
    if bad:
        raise LandingFileError(f"{path}: unexpected header names {bad[:5]}")
    if len(set(names)) != len(names):
        raise LandingFileError(f"{path}: duplicate header names")
    return names


def check_gzip_complete(path: Path, chunk: int = 1 << 20) -> None:
    """Inflate the whole member and check its CRC trailer.

    DuckDB's CSV reader stops quietly at the end of a truncated gzip stream, so a cut-off
    download would otherwise load as a short day.
    """
    if path.suffix != ".gz":
        return
    inflater = zlib.decompressobj(wbits=31)
    try:
        with open(path, "rb") as fh:
            while block := fh.read(chunk):
                inflater.decompress(block)
                while inflater.eof and inflater.unused_data:
                    # Concatenated gzip members are valid gzip; keep checking each.
                    rest = inflater.unused_data
                    inflater = zlib.decompressobj(wbits=31)
                    inflater.decompress(rest)
    except zlib.error as exc:
        raise LandingFileError(f"{path}: corrupt gzip stream: {exc}") from exc
    if not inflater.eof:
        raise LandingFileError(f"{path}: truncated gzip file (stream ends before its trailer)")
