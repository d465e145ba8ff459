"""A quotes-only day and a trades+quotes day through the real `daily_pipeline`, green (issue 23).

Before quotes had their own table, a vendor's quotes were rewritten into one-level book files and a
quotes-only day failed the book suite (depth 1 < 5), skipping every mart. Here the simulator's quotes
file goes through the whole job (raw loads, their suites, dbt, every check) with no book file: alone
(the quotes-only day: no trades file either), and beside the day's trades. A crossed
quote planted in the file is quarantined and counted; `quotes_1m` equals a plain-Python computation
from the file itself.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
import shutil
from collections import defaultdict
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from pathlib import Path
from typing import Any

import pytest
from dagster import AssetCheckSeverity, DagsterInstance

from ingest.landing import trades_file_name
from ingest.simulator import simulate_day
from orchestration.definitions import build_defs
from orchestration.defs.marts.project import dbt_resource
from orchestration.lib.resources import LandingZoneResource, WarehouseResource
from tests import lakes

DAY = dt.date(2024, 4, 2)
EPOCH = dt.datetime(1970, 1, 1)
MINUTE_US = 60_000_000
CROSSED = "simex,BTCUSDT,{ts},{ts},1.5,60000.1,60000.2,2.5"  # bid 60000.2 above ask 60000.1


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("quotes_src")
    simulate_day(DAY, root, trades_per_day=3_000, quotes_per_day=3_000, snapshot_interval_ms=60_000, seed=11,
                 derivative_ticker=False, liquidations=False)
    [quotes] = root.glob("simex_quotes_*.csv.gz")
    lines = gzip.decompress(quotes.read_bytes()).decode().splitlines()
    noon = int((dt.datetime.combine(DAY, dt.time(12)) - EPOCH).total_seconds()) * 1_000_000
    lines.append(CROSSED.format(ts=noon))
    quotes.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    return root


def _landing(home: Path, source: Path, *, trades: bool) -> Path:
    landing = home / "landing"
    landing.mkdir(parents=True)
    for f in source.glob("simex_quotes_*"):
        shutil.copy(f, landing / f.name)
    if trades:
        name = trades_file_name("simex", DAY)
        shutil.copy(source / name, landing / name)
    return landing


def _run(home: Path, landing: Path) -> Any:
    defs = build_defs({
        "warehouse": WarehouseResource.at(home),
        "landing": LandingZoneResource(root=str(landing)),
        "dbt": dbt_resource(),
    })
    return defs.resolve_job_def("daily_pipeline").execute_in_process(
        instance=DagsterInstance.ephemeral(), partition_key=DAY.isoformat(), raise_on_error=False)


@pytest.fixture(scope="module")
def quotes_only(source: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    home = tmp_path_factory.mktemp("quotes_only")
    return home, _run(home, _landing(home, source, trades=False))


@pytest.fixture(scope="module")
def trades_and_quotes(source: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    home = tmp_path_factory.mktemp("trades_and_quotes")
    return home, _run(home, _landing(home, source, trades=True))


def _file_quotes(source: Path) -> list[dict]:
    [path] = source.glob("simex_quotes_*.csv.gz")
    rows = list(csv.DictReader(io.StringIO(gzip.decompress(path.read_bytes()).decode())))
    out = []
    for r in rows:
        bid, ask = Decimal(r["bid_price"]), Decimal(r["ask_price"])
        if bid > ask:
            continue  # quarantined, as the loader must
        ts = int(r["timestamp"])
        local = int(r["local_timestamp"]) if r["local_timestamp"] else ts
        out.append({"symbol": r["symbol"], "ts": ts, "bid": bid, "ask": ask, "bid_amount": Decimal(r["bid_amount"]),
                    "ask_amount": Decimal(r["ask_amount"]),
                    "order": (ts, local, bid, ask, Decimal(r["bid_amount"]), Decimal(r["ask_amount"]))})
    return out


def _round24(value: Decimal) -> Decimal:
    with localcontext(prec=120, rounding=ROUND_HALF_EVEN):
        return value.quantize(Decimal(1).scaleb(-24))


def reference_quotes_1m(quotes: list[dict]) -> dict[tuple[str, dt.datetime], tuple]:
    """Each quote in force from its ts to the next quote's (or the minute's end); a minute's start is
    covered by the quote in force then (from an earlier minute of the day), none before the first."""
    by_symbol: dict[str, list[dict]] = defaultdict(list)
    for q in quotes:
        by_symbol[q["symbol"]].append(q)
    out = {}
    with localcontext(prec=120):
        for symbol, qs in by_symbol.items():
            qs.sort(key=lambda q: q["order"])
            minutes: dict[int, list[int]] = defaultdict(list)
            for i, q in enumerate(qs):
                minutes[q["ts"] // MINUTE_US].append(i)
            for m, idx in minutes.items():
                start, end = m * MINUTE_US, (m + 1) * MINUTE_US
                pieces = []
                if idx[0] > 0:  # the quote in force at the minute's start
                    pieces.append((qs[idx[0] - 1], qs[idx[0]]["ts"] - start))
                for i in idx:
                    nxt = qs[i + 1]["ts"] if i + 1 < len(qs) else end
                    pieces.append((qs[i], min(nxt, end) - qs[i]["ts"]))
                covered = sum(us for _, us in pieces)
                mid = sum(((q["bid"] + q["ask"]) / 2 * us for q, us in pieces), Decimal(0))
                spread = sum(((q["ask"] - q["bid"]) * us for q, us in pieces), Decimal(0))
                last = qs[idx[-1]]
                minute = EPOCH + dt.timedelta(microseconds=start)
                out[(symbol, minute)] = (_round24(mid / covered), _round24(spread / covered), covered, len(idx),
                                         last["bid"], last["ask"])
    return out


def _quotes_1m(home: Path) -> dict[tuple[str, dt.datetime], tuple]:
    with lakes.connect(home, read_only=True) as con:
        rows = con.execute("""SELECT symbol, bucket_start, mean_mid, mean_spread, covered_us, quote_count,
                                     last_bid_price, last_ask_price
                              FROM marts.quotes_1m WHERE bar_date = ?""", [DAY]).fetchall()
    return {(r[0], r[1]): tuple(r[2:]) for r in rows}


def _failures(result: Any) -> list[str]:
    return [e.message for e in result.all_events if e.event_type_value == "STEP_FAILURE"]


@pytest.mark.parametrize("day", ["quotes_only", "trades_and_quotes"])
def test_quotes_day_runs_green_and_quotes_1m_equals_the_file(day: str, source: Path,
                                                            request: pytest.FixtureRequest) -> None:
    home, result = request.getfixturevalue(day)
    assert result.success, _failures(result)
    quotes = _file_quotes(source)
    assert len(quotes) == 3_000
    with lakes.connect(home, read_only=True) as con:
        assert con.execute("SELECT count(*) FROM raw.quotes WHERE quote_date = ?", [DAY]).fetchone()[0] == 3_000
        quarantined = con.execute("SELECT rule, count(*) FROM raw.quarantine WHERE partition_date = ? GROUP BY rule",
                                  [DAY]).fetchall()
    assert quarantined == [("crossed_quote", 1)]
    # the crossed quote's count is shown on the asset, by rule
    [mat] = result.asset_materializations_for_node("raw_quotes")
    assert mat.metadata["dagster/row_count"].value == 3_000
    assert mat.metadata["quarantine_by_rule"].value == {"crossed_quote": 1}
    # the quotes' blocking gate has no error, and warns of the crossed quote; no book file never blocks
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    quotes_gate = checks["ge_raw_quotes"]
    assert (quotes_gate.passed, quotes_gate.severity) == (False, AssetCheckSeverity.WARN)
    assert quotes_gate.metadata["failed_warnings"].value == ["no_quarantined_rows"]
    assert checks["ge_raw_book_snapshots"].passed or checks["ge_raw_book_snapshots"].severity == AssetCheckSeverity.WARN
    expected = reference_quotes_1m(quotes)
    actual = _quotes_1m(home)
    assert len(expected) > 1000 and actual.keys() == expected.keys()
    for key, want in expected.items():
        assert actual[key] == want, key


def test_quotes_only_day_has_no_bars_and_the_trades_day_has_them(quotes_only: tuple[Path, Any],
                                                                  trades_and_quotes: tuple[Path, Any]) -> None:
    counts = {}
    for name, (home, _) in {"quotes_only": quotes_only, "trades_and_quotes": trades_and_quotes}.items():
        with lakes.connect(home, read_only=True) as con:
            counts[name] = con.execute("""SELECT (SELECT count(*) FROM raw.trades),
                (SELECT count(*) FROM marts.ohlcv_1m), (SELECT count(*) FROM raw.book_snapshots),
                (SELECT count(*) FROM marts.daily_stats WHERE snapshot_count = 0 AND mean_spread_bps IS NULL)
                """).fetchone()
    assert counts["quotes_only"][:3] == (0, 0, 0)
    trades, bars, books, stats_without_books = counts["trades_and_quotes"]
    assert trades == 3_000 and bars > 0 and books == 0 and stats_without_books > 0


def test_a_day_without_a_trades_file_beside_quotes_warns_and_says_why(quotes_only: tuple[Path, Any]) -> None:
    """No trades file beside a quotes file is a quotes-only day: loaded empty, shown on the asset, and the
    trades suite's not_empty warns (a header-only trades file still blocks: tests/test_quality.py)."""
    _, result = quotes_only
    [trades] = result.asset_materializations_for_node("raw_trades")
    assert trades.metadata["absent_beside"].value == {DAY.isoformat(): ["quotes"]}
    assert trades.metadata["dagster/row_count"].value == 0
    [books] = result.asset_materializations_for_node("raw_book_snapshots")
    assert books.metadata["absent_beside"].value == {DAY.isoformat(): ["quotes"]}
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    e = checks["ge_raw_trades"]
    assert (e.passed, e.severity) == (False, AssetCheckSeverity.WARN)
    assert e.metadata["failed_errors"].value == [] and e.metadata["failed_warnings"].value == ["not_empty"]
    assert e.metadata["not_empty"].value["note"] == "no file of the dataset; the day has quotes (loaded without it)"


def test_a_day_with_no_file_at_all_is_not_delivered(tmp_path: Path) -> None:
    (tmp_path / "landing").mkdir()
    result = _run(tmp_path, tmp_path / "landing")
    assert not result.success
    assert any("no trades files for " + DAY.isoformat() in m for m in _failures(result) + [
        str(e.event_specific_data.error.cause.message) for e in result.all_events
        if e.event_type_value == "STEP_FAILURE" and e.event_specific_data.error.cause])


def test_catch_up_finds_a_quotes_only_day_and_not_a_lone_book_file(tmp_path: Path) -> None:
    from ingest.availability import scan_landing

    for name in ("simex_quotes_2024-01-02_ALL.csv.gz", "simex_derivative_ticker_2024-01-02_ALL.csv.gz",
                 "simex_trades_2024-01-03_ALL.csv.gz", "simex_book_snapshot_5_2024-01-03_ALL.csv.gz",
                 "simex_book_snapshot_5_2024-01-04_ALL.csv.gz", "simex_quotes_2024-01-04_ALL.csv.gz"):
        (tmp_path / name).write_bytes(b"")
    assert sorted(scan_landing(tmp_path).days) == [dt.date(2024, 1, 2), dt.date(2024, 1, 3)]
