"""Row 11: a day with trades and no book file builds every bar; a missing *expected* book file fails.

The same simulated day runs through the real `daily_pipeline` job (raw loads, dbt, every check)
twice: with its book file, and with the book file deleted. Bars and trade statistics must be
identical, book statistics NULL, and the missing file reported as a warning. Whether an
exchange is expected to have books is configuration (TICKWH_BOOK_EXCHANGES, ingest/books.py).
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
from dagster import AssetCheckSeverity, DagsterInstance

from ingest.books import BookExpectation, MissingBookFileError
from ingest.landing import BOOK_SNAPSHOT, find_landing_files, trades_file_name
from ingest.loader import load_book_snapshots, load_trades
from ingest.simulator import simulate_days
from orchestration.definitions import build_defs
from orchestration.defs.marts.project import dbt_resource
from orchestration.lib.resources import LandingZoneResource, WarehouseResource
from tests import lakes

D1 = dt.date(2024, 3, 1)
D2 = dt.date(2024, 3, 2)
BARS = ["ohlcv_1m", "ohlcv_5m", "ohlcv_15m", "ohlcv_1h", "ohlcv_1d"]
TRADE_STATS = ("exchange, symbol, bar_date, open, high, low, close, volume, quote_volume, trade_count, vwap, "
               "buy_volume, sell_volume, buy_sell_imbalance, return_oc, minutes_with_trades, realized_vol, "
               "max_trade_gap_seconds")
BOOK_STATS = "snapshot_count, mean_spread_bps, median_spread_bps, mean_top_imbalance, crossed_or_locked_share"


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("sim") / "landing"
    simulate_days(D1, 2, root, trades_per_day=5_000, seed=7, snapshot_interval_ms=60_000)
    return root


def book_file(root: Path, day: dt.date) -> Path:
    [book] = [lf for lf in find_landing_files(root, BOOK_SNAPSHOT, day) if lf.exchange == "simex"]
    return book.path


def trades_file(root: Path, day: dt.date) -> Path:
    return root / trades_file_name("simex", day)


def landing_with(root: Path, source: Path, files: list[Path]) -> Path:
    root.mkdir(parents=True)
    for f in files:
        shutil.copy(f, root / f.name)
    return root


def run_daily(home: Path, landing: Path, day: dt.date, **landing_kw: Any) -> tuple[Any, DagsterInstance]:
    defs = build_defs({
        "warehouse": WarehouseResource.at(home),
        "landing": LandingZoneResource(root=str(landing), **landing_kw),
        "dbt": dbt_resource(),
    })
    instance = DagsterInstance.ephemeral()
    result = defs.resolve_job_def("daily_pipeline").execute_in_process(
        instance=instance, partition_key=day.isoformat(), raise_on_error=False)
    return result, instance


def marts(home: Path) -> dict[str, list[tuple]]:
    with lakes.connect(home, read_only=True) as con:
        out = {m: con.execute(f"SELECT * FROM marts.{m} ORDER BY ALL").fetchall() for m in BARS}
        out["trade_stats"] = con.execute(f"SELECT {TRADE_STATS} FROM marts.daily_stats ORDER BY ALL").fetchall()
        out["book_stats"] = con.execute(f"SELECT {BOOK_STATS} FROM marts.daily_stats ORDER BY ALL").fetchall()
        out["book_rows"] = con.execute("SELECT count(*) FROM raw.book_snapshots").fetchall()
    return out


@pytest.fixture(scope="module")
def with_books(source: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, list[tuple]]]:
    home = tmp_path_factory.mktemp("with_books")
    landing = landing_with(home / "landing", source, [trades_file(source, D2), book_file(source, D2)])
    result, _ = run_daily(home, landing, D2)
    assert result.success
    yield marts(home)


def test_trades_only_day_builds_every_bar_and_trade_stat(
    source: Path, with_books: dict[str, list[tuple]], tmp_path: Path
) -> None:
    landing = landing_with(tmp_path / "landing", source, [trades_file(source, D2)])
    result, instance = run_daily(tmp_path, landing, D2)
    assert result.success, [e.message for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    got = marts(tmp_path)
    for mart in BARS:
        assert len(got[mart]) > 0 and got[mart] == with_books[mart], mart  # every bar, value for value
    assert got["trade_stats"] == with_books["trade_stats"]
    n = len(got["trade_stats"])
    assert n == len(with_books["trade_stats"]) and got["book_rows"] == [(0,)]
    assert got["book_stats"] == [(0, None, None, None, None)] * n
    assert all(row[0] > 0 and row[1] is not None for row in with_books["book_stats"])  # the control had books

    # The book asset says so, as a warning in the run log and in its metadata.
    [mat] = [m for m in result.asset_materializations_for_node("raw_book_snapshots")]
    assert mat.metadata["missing_book_files"].value == [f"{D2}: simex"]
    assert mat.metadata["dagster/row_count"].value == 0
    warnings = [r.user_message for r in instance.all_logs(result.run_id)
                if r.level == 30 and "no book file (trades-only" in r.user_message]
    assert warnings == [f"no book file (trades-only, book statistics NULL): {D2}: simex"]
    # ... and the book suite warns (empty day) without blocking the bars.
    [book_check] = [e for e in result.get_asset_check_evaluations() if e.check_name == "ge_raw_book_snapshots"]
    assert not book_check.passed and book_check.severity == AssetCheckSeverity.WARN
    assert "not_empty" in book_check.description


def test_missing_expected_book_file_fails_the_run_and_builds_nothing(source: Path, tmp_path: Path) -> None:
    """Auto: simex delivered a book file on D1, so D2 without one is an outage, not a trades-only day."""
    landing = landing_with(tmp_path / "landing", source,
                           [trades_file(source, D2), book_file(source, D1)])
    result, _ = run_daily(tmp_path, landing, D2)
    assert not result.success
    [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert failure.step_key == "raw_book_snapshots"
    cause = failure.step_failure_data.error.cause
    assert cause.cls_name == "MissingBookFileError"
    assert f"no book_snapshot file for simex on {D2}" in cause.message
    assert "TICKWH_BOOK_EXCHANGES=auto" in cause.message
    with lakes.connect(tmp_path, read_only=True) as con:
        marts_exist = con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'marts'").fetchone()[0]
    assert marts_exist == 0  # dbt never ran for the day


@pytest.mark.parametrize(
    ("setting", "has_d1_book", "outcome"),
    [
        ("auto", False, "trades-only"),
        ("auto", True, "fails"),
        ("none", True, "trades-only"),
        ("all", False, "fails"),
        ("simex", False, "fails"),
        ("other-exchange", True, "trades-only"),
    ],
)
def test_book_expectation_setting(
    setting: str, has_d1_book: bool, outcome: str, source: Path, tmp_path: Path
) -> None:
    files = [trades_file(source, D2), book_file(source, D2)] + ([book_file(source, D1)] if has_d1_book else [])
    landing = landing_with(tmp_path / "landing", source, files)
    books = BookExpectation.parse(setting)
    with duckdb.connect() as con:
        load_trades(con, landing, D2)
        before = load_book_snapshots(con, landing, D2, books=books).rows_loaded
        assert before > 0
        book_file(landing, D2).unlink()
        if outcome == "fails":
            with pytest.raises(MissingBookFileError, match=f"simex on {D2}"):
                load_book_snapshots(con, landing, D2, books=books)
            # The previous state of the day is intact.
            assert con.execute("SELECT count(*) FROM raw.book_snapshots").fetchone()[0] == before
        else:
            report = load_book_snapshots(con, landing, D2, books=books)
            assert (report.rows_loaded, report.rows_replaced, report.missing_book_files) == (0, before, ["simex"])
            assert con.execute("SELECT count(*) FROM raw.book_snapshots").fetchone()[0] == 0


def test_one_exchange_with_books_and_one_without(source: Path, tmp_path: Path) -> None:
    landing = landing_with(tmp_path / "landing", source, [trades_file(source, D2), book_file(source, D2)])
    other = landing / trades_file_name("tradesonly", D2)
    shutil.copy(trades_file(source, D2), other)
    with duckdb.connect() as con:
        report = load_book_snapshots(con, landing, D2, books=BookExpectation.parse("auto"))
    assert report.missing_book_files == ["tradesonly"] and report.rows_loaded > 0
    with pytest.raises(MissingBookFileError, match="tradesonly"), duckdb.connect() as con:
        load_book_snapshots(con, landing, D2, books=BookExpectation.parse("all"))
