"""Row 4: crafted cold-tier manifests, written into a real SeaweedFS bucket, are refused.

A reader trusts only what a manifest lists, so the manifest is the attack surface: SQL in a
column type, a sha256 that is a path, keys outside the partition, sizes that lie. Each crafted
manifest must be refused with an error naming the manifest or object, with no SQL executed
(a canary file a successful injection would create stays absent) and nothing written outside
the reader's cache directory.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest

from ingest.cold.archive import archive_days
from ingest.cold.layout import RAW_TRADES, ColdTier
from ingest.cold.seaweed import SeaweedServer
from ingest.cold.store import ColdObjectError, S3ColdStore
from ingest.history import HistoricalData
from ingest.warehouse import ensure_raw_schema
from tests.faults.conftest import files_under

DAY = dt.date(2024, 3, 4)
BUCKET = "tickwh-manifests"
PREFIX = "warehouse"


@pytest.fixture(scope="module")
def tier(seaweed: SeaweedServer) -> Iterator[ColdTier]:
    """Three trades of one day archived for real: the manifest every test starts from."""
    tier = ColdTier(S3ColdStore(seaweed.client(), BUCKET), PREFIX)
    with duckdb.connect() as con:
        ensure_raw_schema(con)
        con.execute(
            """INSERT INTO raw.trades VALUES
               (?, 'simex', 'BTCUSDT', ?, NULL, '1', 1, 'buy', 100.5, 0.1, 'f.csv.gz'),
               (?, 'simex', 'BTCUSDT', ?, NULL, '2', 2, 'sell', 100.6, 0.2, 'f.csv.gz'),
               (?, 'simex', 'ETHUSDT', ?, NULL, '3', 3, 'buy', 3000, 1, 'f.csv.gz')""",
            [DAY, dt.datetime(2024, 3, 4, 0, 0, 1), DAY, dt.datetime(2024, 3, 4, 0, 0, 2),
             DAY, dt.datetime(2024, 3, 4, 0, 0, 3)],
        )
        archive_days(con, tier, [DAY], [RAW_TRADES])
    yield tier


@pytest.fixture
def original(tier: ColdTier) -> Iterator[dict[str, Any]]:
    key = tier.manifest_key(RAW_TRADES.name, DAY)
    body = json.loads(tier.store.get_bytes(key) or b"{}")
    yield body
    tier.store.put_bytes(key, json.dumps(body).encode())  # restore for the next case


def _set_type(m: dict[str, Any], text: str) -> None:
    m["schema"][3]["type"] = text  # ts


def _obj(field: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(m: dict[str, Any]) -> None:
        m["objects"][0][field] = value
    return edit


CANARY = "/tmp/tickwh-manifest-canary.csv"
# (case id, edit, what the error must say)
CRAFTED: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    ("sql_in_type_copy", lambda m: _set_type(
        m, f"TIMESTAMP) AS ts FROM range(1); COPY (SELECT 42) TO '{CANARY}'; SELECT CAST(NULL AS INT"),
     "not an allowed type"),
    ("sql_in_type_subquery", lambda m: _set_type(m, "VARCHAR) || (SELECT current_setting('home_directory')"),
     "not an allowed type"),
    ("type_function", lambda m: _set_type(m, "read_text('/etc/passwd')"), "not an allowed type"),
    ("type_decimal_too_wide", lambda m: _set_type(m, "DECIMAL(99,2)"), "not an allowed type"),
    ("type_not_a_string", lambda m: _set_type(m, {"a": 1}), "not a string"),
    ("column_name_injection", lambda m: m["schema"][0].update(name='x" FROM read_text(\'/etc/passwd\') --'),
     "column name"),
    ("schema_extra_field", lambda m: m["schema"][0].update(default="1; DROP TABLE raw.trades"), "schema entry"),
    ("sha256_traversal", _obj("sha256", "../../../../tmp/tickwh-escape"), "sha256"),
    ("sha256_absolute", _obj("sha256", "/tmp/tickwh-escape"), "sha256"),
    ("sha256_upper_hex", lambda m: m["objects"][0].update(sha256=m["objects"][0]["sha256"].upper()), "sha256"),
    ("sha256_short", _obj("sha256", "abc123"), "sha256"),
    ("sha256_non_hex", _obj("sha256", "z" * 64), "sha256"),
    ("sha256_nul", _obj("sha256", "a" * 63 + "\x00"), "sha256"),
    ("key_traversal", lambda m: m["objects"][0].update(
        key=f"{PREFIX}/raw_trades/date={DAY}/run=x/../../../../secret/part-0.parquet"), "object key"),
    ("key_other_partition", lambda m: m["objects"][0].update(
        key=m["objects"][0]["key"].replace(f"date={DAY}", "date=2024-03-05")), "object key"),
    ("key_other_table", lambda m: m["objects"][0].update(
        key=m["objects"][0]["key"].replace("raw_trades", "ohlcv_1m")), "object key"),
    ("key_outside_prefix", _obj("key", "secrets/part-0.parquet"), "object key"),
    ("key_absolute", _obj("key", "/etc/passwd"), "object key"),
    ("key_not_a_part_file", lambda m: m["objects"][0].update(
        key=m["objects"][0]["key"].replace("part-0.parquet", "_manifest.json")), "object key"),
    ("size_negative", _obj("size", -1), "size"),
    ("size_string", _obj("size", "123"), "size"),
    ("size_bool", _obj("size", True), "size"),
    ("size_huge", _obj("size", 10**20), "size"),
    ("size_wrong", lambda m: m["objects"][0].update(size=m["objects"][0]["size"] + 1), "size mismatch"),
    ("rows_wrong", lambda m: m.update(row_count=m["row_count"] + 1), "rows"),
    ("rows_negative", _obj("rows", -3), "rows"),
    ("run_id_traversal", lambda m: m.update(run_id="../../x"), "run_id"),
    ("table_mismatch", lambda m: m.update(table="raw_book_snapshots"), "manifest is for"),
    ("not_json", lambda m: m.clear(), "unreadable manifest"),
]


@pytest.mark.parametrize(("case", "edit", "expected"), CRAFTED, ids=[c[0] for c in CRAFTED])
def test_crafted_manifest_is_refused_naming_it(
    case: str, edit: Callable[[dict[str, Any]], None], expected: str, tier: ColdTier, original: dict[str, Any],
    tmp_path: Path,
) -> None:
    Path(CANARY).unlink(missing_ok=True)
    crafted = copy.deepcopy(original)
    edit(crafted)
    key = tier.manifest_key(RAW_TRADES.name, DAY)
    tier.store.put_bytes(key, json.dumps(crafted).encode() if crafted else b"{not json")
    cache = tmp_path / "work" / "cache"
    before = files_under(tmp_path)
    api = HistoricalData(None, tier, cache_dir=cache)
    with pytest.raises(ColdObjectError) as err:
        api.get_trades("BTCUSDT", DAY, DAY + dt.timedelta(days=1))
    message = str(err.value)
    assert message.startswith(f"s3://{BUCKET}/{PREFIX}/raw_trades/date={DAY}/"), message  # names the object
    assert expected in message, message
    assert not Path(CANARY).exists()  # nothing executed
    assert not Path("/tmp/tickwh-escape").exists() and not Path("/tmp/tickwh-escape.parquet").exists()
    assert {f for f in files_under(tmp_path) - before if not f.startswith("work/cache/")} == set()


def test_the_untouched_manifest_still_reads_every_row(tier: ColdTier, original: dict[str, Any], tmp_path: Path) -> None:
    """The control: after all the crafted cases, the genuine manifest reads back exactly."""
    api = HistoricalData(None, tier, cache_dir=tmp_path / "cache")
    rows = api.get_trades("BTCUSDT", DAY, DAY + dt.timedelta(days=1), columns=["trade_id", "price"]).to_pylist()
    assert [(r["trade_id"], r["price"]) for r in rows] == [("1", Decimal("100.5")), ("2", Decimal("100.6"))]
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [f"{original['objects'][0]['sha256']}.parquet"]
