"""Line-preserving rewrites of vendor CSV files into landing files.

Vendor files are read as whole lines (one string column, no CSV parsing) so that every vendor
line, good or broken, produces exactly one landing line in the same order. The loader then
parses the landing file and quarantines what is broken, and the quarantine's line numbers
still point at the vendor's line (plus a fixed offset for the header, see each normaliser).

The rewrite itself is SQL over Arrow batches (DuckDB), batch by batch, so memory stays bounded
and nothing loops over rows in Python.
"""

from __future__ import annotations

import gzip
import io
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import IO

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv

from ingest.landing import replacing

# Arrow's CSV block size: about 60k trade lines a batch, a few MB of memory each.
BLOCK_BYTES = 4 << 20
# Landing files are re-read once by the loader; level 5 is ~2x faster than 9 for ~3% more bytes.
GZIP_LEVEL = 5
LINE_SCHEMA = pa.schema([("rn", pa.int64()), ("line", pa.string())])


class VendorFormatError(ValueError):
    """A vendor file whose layout is not what the vendor documents; the file names the culprit."""


@contextmanager
def open_vendor_file(path: Path) -> Iterator[IO[bytes]]:
    """The CSV bytes of a vendor file: `.zip` with exactly one `.csv` member, `.gz`, or plain.

    A corrupt or truncated archive, found when it is opened or while it is read (a bad CRC, a cut-off
    deflate stream), is a `VendorFormatError` naming the file, never a half-read file taken as whole.
    """
    path = Path(path)
    try:
        with _open_vendor_file(path) as fh:
            yield fh
    except (zipfile.BadZipFile, zlib.error, EOFError, gzip.BadGzipFile) as exc:
        raise VendorFormatError(f"{path}: corrupt or truncated archive: {exc}") from exc


@contextmanager
def _open_vendor_file(path: Path) -> Iterator[IO[bytes]]:
    if path.suffix == ".zip":
        try:
            zf = zipfile.ZipFile(path)
        except zipfile.BadZipFile as exc:
            raise VendorFormatError(f"{path}: not a zip archive: {exc}") from exc
        with zf:
            members = [m for m in zf.infolist() if not m.is_dir()]
            if len(members) != 1 or not members[0].filename.lower().endswith(".csv"):
                names = [m.filename for m in members]
                raise VendorFormatError(f"{path}: expected exactly one .csv inside the zip, found {names}")
            with zf.open(members[0]) as fh:
                yield fh
    elif path.suffix == ".gz":
        with gzip.open(path, "rb") as fh:
            yield fh
    else:
        with open(path, "rb") as fh:
            yield fh


def head_lines(path: Path, n: int = 1000) -> list[str]:
    """The first `n` lines (without line ends) for sniffing headers and timestamp units."""
    out: list[str] = []
    with open_vendor_file(path) as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8", newline="")
        for line in text:
            out.append(line.rstrip("\r\n"))
            if len(out) >= n:
                break
    return out


def line_batches(path: Path) -> Iterator[pa.RecordBatch]:
    """Batches of (rn, line): every physical line of the file, 1-based, blank lines included."""
    with open_vendor_file(path) as fh:
        reader = pcsv.open_csv(
            fh,
            read_options=pcsv.ReadOptions(column_names=["line"], block_size=BLOCK_BYTES),
            parse_options=pcsv.ParseOptions(
                delimiter="\x01", quote_char=False, escape_char=False, ignore_empty_lines=False
            ),
            convert_options=pcsv.ConvertOptions(column_types={"line": pa.string()}, strings_can_be_null=False),
        )
        offset = 0
        for batch in reader:
            n = batch.num_rows
            rn = pa.array(np.arange(offset + 1, offset + n + 1, dtype=np.int64))
            yield pa.record_batch([rn, batch.column(0)], schema=LINE_SCHEMA)
            offset += n


def _string_bytes(chunk: pa.Array) -> memoryview:
    """The concatenated UTF-8 bytes of a string array (its data buffer between first and last offset)."""
    if chunk.null_count:
        raise ValueError("rewritten lines must not be NULL")
    width = np.int64 if pa.types.is_large_string(chunk.type) else np.int32
    offsets = np.frombuffer(chunk.buffers()[1], dtype=width)[chunk.offset : chunk.offset + len(chunk) + 1]
    data = chunk.buffers()[2]
    if data is None:
        return memoryview(b"")
    return memoryview(data)[int(offsets[0]) : int(offsets[-1])]


def malformed_line_sql(line: str = "line") -> str:
    """SQL for a vendor line that cannot be mapped: one quoted CSV field holding the line.

    The loader sees one column instead of eight and quarantines it as `wrong_column_count`, with
    the vendor's text in `raw_line`; quoting keeps a stray `"` from swallowing the next lines.
    """
    return f"""'"' || replace({line}, '"', '""') || '"'"""


def rewrite_lines(src: Path, dest: Path, header: str, line_sql: str, skip_lines: int = 0) -> int:
    """Write `header` then one landing line per vendor line (after `skip_lines`) to gzip `dest`.

    `line_sql` is a DuckDB expression over `rn`, `line` (CR stripped) and `f` (the line split on
    commas) that yields the landing line; it must never be NULL. Written to a temporary name and
    renamed, so the loader never sees a half-written file. Returns the number of lines written
    (header excluded).
    """
    con = duckdb.connect()
    rows = 0
    with closing(con), replacing(Path(dest)) as tmp:
        con.execute("SET enable_progress_bar = false")
        with open(tmp, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=GZIP_LEVEL, mtime=0) as out:
            out.write(header.encode() + b"\n")
            for batch in line_batches(src):
                con.register("_batch", batch)
                table = con.execute(
                    f"""SELECT ({line_sql}) || chr(10) AS out
                    FROM (SELECT rn, line, string_split(line, ',') AS f
                          FROM (SELECT rn, rtrim(line, chr(13)) AS line FROM _batch WHERE rn > {int(skip_lines)}))
                    ORDER BY rn"""
                ).to_arrow_table()
                con.unregister("_batch")
                for chunk in table.column(0).chunks:
                    out.write(_string_bytes(chunk))
                rows += table.num_rows
    return rows
