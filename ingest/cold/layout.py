"""The cold tier's key layout, its tables and the per-partition manifest.

Layout (Hive-style, one partition per table and UTC day):

    <prefix>/<table>/date=YYYY-MM-DD/_manifest.json
    <prefix>/<table>/date=YYYY-MM-DD/run=<run_id>/part-0.parquet

Objects of one archive run live under their own `run=` key, and the manifest is written last:
a partial upload is never referenced by a manifest, and a reader that trusts only the objects
a manifest lists (with their sizes and sha256) can never see a half-written or mixed day.
Older runs' objects are deleted after the new manifest is published.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ingest.cold.store import ColdObjectError, ColdStore, sha256_of
from ingest.datasets import DATASETS
from ingest.marts import Mart, MartCatalogError, archived_marts

MANIFEST_NAME = "_manifest.json"
MANIFEST_FORMAT = "tickwh-cold-manifest"
MANIFEST_VERSION = 1
_DATE_DIR = re.compile(r"^date=(\d{4}-\d{2}-\d{2})\Z")
_PREFIX = re.compile(r"^[A-Za-z0-9._/=-]*\Z")
_MAX_PREFIX = 512

# What a manifest read back from the bucket may say. Whoever can write to the bucket must not be
# able to run SQL in a reader's DuckDB (types are pasted into CAST) or write outside its cache
# (sha256 names the cached file), so every field that reaches SQL or a path is checked here.
_SHA256 = re.compile(r"^[0-9a-f]{64}\Z")
_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}\Z")
_OBJECT_NAME = re.compile(r"^run=(?P<run>[A-Za-z0-9][A-Za-z0-9_-]{0,63})/part-\d{1,6}\.parquet\Z")
_COLUMN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}\Z")
_SCALAR_TYPES = frozenset({
    "BOOLEAN", "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER",
    "UBIGINT", "UHUGEINT", "FLOAT", "DOUBLE", "DATE", "TIME", "TIMESTAMP", "TIMESTAMP WITH TIME ZONE",
    "TIMESTAMP_S", "TIMESTAMP_MS", "TIMESTAMP_NS", "INTERVAL", "VARCHAR",
})
_DECIMAL = re.compile(r"^DECIMAL\((\d{1,2}),\s?(\d{1,2})\)\Z")
MAX_OBJECT_BYTES = 5 * 1024**4  # S3's largest object


def sql_type(text: object, where: str = "manifest") -> str:
    """A column type from the allow-list (scalars, DECIMAL(p,s), and lists of them), else an error.

    The only way a type from outside (a manifest) may reach `CAST(... AS <type>)`.
    """
    if not isinstance(text, str):
        raise ValueError(f"{where}: column type {text!r} is not a string")
    base = text[:-2] if text.endswith("[]") else text
    m = _DECIMAL.match(base)
    ok = base in _SCALAR_TYPES or (m is not None and 1 <= int(m[1]) <= 38 and int(m[2]) <= int(m[1]))
    if not ok:
        raise ValueError(f"{where}: column type {text[:80]!r} is not an allowed type")
    return text


@dataclass(frozen=True)
class ArchiveTable:
    """A warm relation archived per day: its cold name, date column, time column and sort order."""

    name: str
    source: str
    date_column: str
    time_column: str
    order_by: tuple[str, ...]


# Every raw dataset is archived per day, sorted by its declaration's order (ingest/datasets).
RAW_BY_DATASET: dict[str, ArchiveTable] = {
    d.name: ArchiveTable(d.asset, d.table, d.date_column, "ts", d.cold_order) for d in DATASETS
}
RAW_TRADES = RAW_BY_DATASET["trades"]
RAW_BOOK_SNAPSHOTS = RAW_BY_DATASET["book_snapshots"]
# Which marts are archived, and by which columns, is dbt's to say (meta.cold in the models).
_OHLCV = re.compile(r"^ohlcv_(\d+)([mhd])\Z")
_UNIT_MINUTES = {"m": 1, "h": 60, "d": 1440}


def _mart_table(m: Mart) -> ArchiveTable:
    time_column = m.cold_time_column
    assert m.window_column is not None and time_column is not None  # ingest.marts checks both
    return ArchiveTable(m.name, m.relation, m.window_column, time_column, ("symbol", time_column, "exchange"))


def _archive_order(name: str) -> tuple[int, int, str]:
    """OHLCV bars from the finest interval up, then the other marts by name."""
    m = _OHLCV.match(name)
    return (0, int(m[1]) * _UNIT_MINUTES[m[2]], name) if m else (1, 0, name)


MART_TABLES: tuple[ArchiveTable, ...] = tuple(
    sorted((_mart_table(m) for m in archived_marts()), key=lambda t: _archive_order(t.name))
)
OHLCV_TABLES = {t.name.removeprefix("ohlcv_"): t for t in MART_TABLES if _OHLCV.match(t.name)}
OHLCV_INTERVALS = tuple(OHLCV_TABLES)
_DAILY = [t for t in MART_TABLES if t.name == "daily_stats"]
if not _DAILY:
    raise MartCatalogError("the dbt manifest archives no daily_stats mart (meta.cold in models/marts/daily_stats.sql)")
DAILY_STATS = _DAILY[0]
RAW_TABLES: tuple[ArchiveTable, ...] = tuple(RAW_BY_DATASET.values())
ALL_TABLES: tuple[ArchiveTable, ...] = (*RAW_TABLES, *MART_TABLES)
TABLES_BY_NAME = {t.name: t for t in ALL_TABLES}


def new_run_id(now: dt.datetime | None = None) -> str:
    """Sortable and unique: UTC time to the second plus 8 random hex digits."""
    now = now or dt.datetime.now(dt.UTC)
    return now.strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:8]


@dataclass(frozen=True)
class ManifestObject:
    key: str
    size: int
    sha256: str
    etag: str | None
    rows: int


@dataclass(frozen=True)
class Manifest:
    """What one archive run of one (table, day) wrote. Readers trust these objects and no others."""

    table: str
    source: str
    date: dt.date
    run_id: str
    created_at: str
    row_count: int
    time_column: str
    min_time: str | None
    max_time: str | None
    sort_order: list[str]
    compression: str
    schema: list[dict[str, str]]
    objects: list[ManifestObject]
    symbols: dict[str, int] = field(default_factory=dict)
    # sum(hash(row)) over the file's rows (ingest.cold.content); None in archives made before it existed.
    content_hash: str | None = None

    @property
    def columns(self) -> list[str]:
        return [c["name"] for c in self.schema]

    @property
    def total_bytes(self) -> int:
        return sum(o.size for o in self.objects)

    def to_json(self) -> bytes:
        body = {"format": MANIFEST_FORMAT, "version": MANIFEST_VERSION, **asdict(self)}
        body["date"] = self.date.isoformat()
        return json.dumps(body, indent=2, sort_keys=False).encode()

    def validate(self, uri: str) -> Manifest:
        """Types, names, digests, sizes and run ids as the archiver writes them; else ColdObjectError."""
        try:
            if not _RUN_ID.match(self.run_id):
                raise ValueError(f"run_id {self.run_id[:80]!r} is not a run id")
            if not isinstance(self.row_count, int) or self.row_count < 0:
                raise ValueError(f"row_count {self.row_count!r} is not a count")
            if not isinstance(self.schema, list) or not self.schema:
                raise ValueError("schema is empty")
            for col in self.schema:
                if not isinstance(col, dict) or set(col) != {"name", "type"}:
                    raise ValueError(f"schema entry {str(col)[:80]!r} is not {{name, type}}")
                if not isinstance(col["name"], str) or not _COLUMN.match(col["name"]):
                    raise ValueError(f"column name {str(col['name'])[:80]!r} is not allowed")
                sql_type(col["type"], f"column {col['name']}")
            for obj in self.objects:
                if not isinstance(obj.sha256, str) or not _SHA256.match(obj.sha256):
                    raise ValueError(f"object {str(obj.key)[:200]!r}: sha256 {str(obj.sha256)[:80]!r} is not 64 "
                                     "lower-case hex digits")
                for name, value, cap in (("size", obj.size, MAX_OBJECT_BYTES), ("rows", obj.rows, None)):
                    if type(value) is not int or value < 0 or (cap is not None and value > cap):
                        raise ValueError(f"object {str(obj.key)[:200]!r}: {name} {str(value)[:40]!r} is not a "
                                         "plausible byte or row count")
                if obj.etag is not None and not isinstance(obj.etag, str):
                    raise ValueError(f"object {str(obj.key)[:200]!r}: etag {obj.etag!r} is not a string")
            if sum(o.rows for o in self.objects) != self.row_count:
                raise ValueError(f"objects hold {sum(o.rows for o in self.objects)} rows, row_count says "
                                 f"{self.row_count}")
        except ValueError as exc:
            raise ColdObjectError(uri, f"refused manifest: {exc}") from None
        return self

    @classmethod
    def from_json(cls, data: bytes, uri: str) -> Manifest:
        try:
            body: dict[str, Any] = json.loads(data)
            if body.get("format") != MANIFEST_FORMAT or int(body.get("version", 0)) > MANIFEST_VERSION:
                raise ValueError(f"unknown manifest format {body.get('format')!r} v{body.get('version')}")
            return cls(
                table=body["table"],
                source=body["source"],
                date=dt.date.fromisoformat(body["date"]),
                run_id=body["run_id"],
                created_at=body["created_at"],
                row_count=int(body["row_count"]),
                time_column=body["time_column"],
                min_time=body.get("min_time"),
                max_time=body.get("max_time"),
                sort_order=list(body["sort_order"]),
                compression=body["compression"],
                schema=list(body["schema"]),
                objects=[ManifestObject(**o) for o in body["objects"]],
                symbols=dict(body.get("symbols", {})),
                content_hash=_content_hash(body.get("content_hash")),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise ColdObjectError(uri, f"unreadable manifest: {str(exc)[:300]}") from exc


def _content_hash(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not re.fullmatch(r"-?\d{1,40}", value):
        raise ValueError(f"content_hash must be a decimal integer string, got {value!r:.60}")
    return value


@dataclass(frozen=True)
class ColdTier:
    """A store plus the key prefix the warehouse's archives live under."""

    store: ColdStore
    prefix: str = ""

    def __post_init__(self) -> None:
        prefix = self.prefix.strip("/")
        if not _PREFIX.match(prefix) or len(prefix) > _MAX_PREFIX or any(
            part in (".", "..", "") for part in prefix.split("/") if prefix
        ):
            raise ValueError(f"invalid cold prefix {self.prefix[:80]!r}")
        object.__setattr__(self, "prefix", prefix)

    def table_prefix(self, table: str) -> str:
        if table not in TABLES_BY_NAME:
            raise ValueError(f"unknown cold table {table!r}")
        return f"{self.prefix}/{table}" if self.prefix else table

    def partition_prefix(self, table: str, day: dt.date) -> str:
        return f"{self.table_prefix(table)}/date={day.isoformat()}/"

    def manifest_key(self, table: str, day: dt.date) -> str:
        return self.partition_prefix(table, day) + MANIFEST_NAME

    def object_key(self, table: str, day: dt.date, run_id: str, part: int = 0) -> str:
        return self.partition_prefix(table, day) + f"run={run_id}/part-{part}.parquet"

    def uri(self, key: str) -> str:
        return self.store.uri(key)

    def describe(self) -> str:
        return self.store.uri(self.prefix) if self.prefix else self.store.uri("")

    def archived_days(self, table: str) -> list[dt.date]:
        """Days with a partition folder (a manifest may still be missing if the first run failed)."""
        days = []
        for d in self.store.list_dirs(self.table_prefix(table)):
            m = _DATE_DIR.match(d.rsplit("/", 1)[-1])
            if m:
                days.append(dt.date.fromisoformat(m.group(1)))
        return sorted(days)

    def read_manifest(self, table: str, day: dt.date) -> Manifest | None:
        key = self.manifest_key(table, day)
        data = self.store.get_bytes(key)
        if data is None:
            return None
        manifest = Manifest.from_json(data, self.uri(key)).validate(self.uri(key))
        if manifest.table != table or manifest.date != day:
            raise ColdObjectError(self.uri(key), f"manifest is for {str(manifest.table)[:80]} {manifest.date}")
        self._check_keys(manifest, key)
        return manifest

    def _check_keys(self, manifest: Manifest, manifest_key: str) -> None:
        """Every object key is `<partition>/run=<id>/part-N.parquet` of this manifest's own partition."""
        partition = self.partition_prefix(manifest.table, manifest.date)
        for obj in manifest.objects:
            rest = obj.key[len(partition):] if isinstance(obj.key, str) and obj.key.startswith(partition) else None
            m = _OBJECT_NAME.match(rest) if rest is not None else None
            if m is None or ".." in obj.key:
                raise ColdObjectError(
                    self.uri(manifest_key),
                    f"refused manifest: object key {str(obj.key)[:200]!r} is not a part file under {partition}",
                )

    def check_objects(self, manifest: Manifest) -> None:
        """Every listed object exists with the listed size (and ETag where both sides have one)."""
        for obj in manifest.objects:
            info = self.store.head(obj.key)
            if info is None:
                raise ColdObjectError(self.uri(obj.key), "missing (listed in the manifest, not in the store)")
            if info.size != obj.size:
                raise ColdObjectError(
                    self.uri(obj.key), f"size mismatch: {info.size} bytes, manifest says {obj.size}"
                )
            if info.etag and obj.etag and info.etag != obj.etag:
                raise ColdObjectError(self.uri(obj.key), f"ETag mismatch: {info.etag}, manifest says {obj.etag}")

    def fetch_verified(self, manifest: Manifest, scratch_dir: Path, cache_dir: Path | None = None) -> list[Path]:
        """Local copies of the manifest's objects, each checked against its size and sha256.

        With a cache_dir, verified downloads are kept under their sha256 and reused while the
        store still reports the same object (HEAD size/ETag), so a replaced or corrupted object
        is downloaded again and caught rather than served from the cache.
        """
        self.check_objects(manifest)
        paths = []
        for obj in manifest.objects:
            cached = cache_dir / f"{obj.sha256}.parquet" if cache_dir else None
            if cached is not None and cached.exists() and sha256_of(cached) == obj.sha256:
                paths.append(cached)
                continue
            target_dir = cache_dir or scratch_dir
            local = self.store.fetch(obj.key, target_dir)
            downloaded = local.parent == target_dir  # False for a directory store: the file itself
            try:
                actual_size = local.stat().st_size
                if actual_size != obj.size:
                    raise ColdObjectError(
                        self.uri(obj.key), f"size mismatch: read {actual_size} bytes, manifest says {obj.size}"
                    )
                actual = sha256_of(local)
                if actual != obj.sha256:
                    raise ColdObjectError(
                        self.uri(obj.key), f"checksum mismatch: sha256 {actual}, manifest says {obj.sha256}"
                    )
            except BaseException:
                if downloaded:
                    local.unlink(missing_ok=True)
                raise
            if cached is not None and downloaded:
                os.replace(local, cached)
                local = cached
            paths.append(local)
        return paths
