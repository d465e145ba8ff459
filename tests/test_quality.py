"""Quality gates end to end: crafted bad days through Dagster, with the exact outcome asserted.

One clean day (D0) is built once through the whole daily pipeline (raw, dbt marts, every GE
check) plus the rollups; each bad-input test copies that warehouse, lands a corrupted next day
(D1) in Tardis layout and runs D1 through Dagster. Each test asserts which check failed and
which rules (by name), what the loader quarantined, whether the dbt marts of D1 ran, and that
D0 kept its rows. Tests about raw rules stop at the raw assets when the gate passes (a dbt
build costs ~10 s); where downstream behaviour is the point, dbt is in the run.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import shutil
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest
from dagster import AssetCheckSeverity, AssetSelection, ExecuteInProcessResult, materialize
from dagster_dbt import DbtCliResource

from ingest.quality import load_suite, run_suite, suite_names, validate
from ingest.simulator import simulate_day
from orchestration.assets.dbt import dbt_daily_marts, dbt_project, dbt_rollups
from orchestration.assets.raw import raw_book_snapshots, raw_trades
from orchestration.quality import DAILY_SUITES, TABLE_SUITES, checks_by_suite, quality_checks
from orchestration.resources import LandingZoneResource, WarehouseResource
from orchestration.settings import dbt_executable
from tests.conftest import REAL_DATA, write_gz

D0 = dt.date(2024, 3, 1)
D1 = dt.date(2024, 3, 2)
SEED = 23
TRADES_PER_DAY = 20_000
SNAPSHOT_MS = 60_000  # 1440 snapshots per symbol and day: fast, and enough to measure shares
DAILY_CHECKS = [checks_by_suite[s] for _, s in DAILY_SUITES]
RAW_CHECKS = [checks_by_suite["raw_trades"], checks_by_suite["raw_book_snapshots"]]
FULL = [raw_trades, raw_book_snapshots, dbt_daily_marts, *DAILY_CHECKS]
RAW_ONLY = [raw_trades, raw_book_snapshots, *RAW_CHECKS]


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def resources(home: Path) -> dict[str, Any]:
    return {
        "warehouse": WarehouseResource(path=str(home / "warehouse.duckdb")),
        "landing": LandingZoneResource(root=str(home / "landing")),
        "dbt": DbtCliResource(project_dir=dbt_project, dbt_executable=dbt_executable()),
    }


def simulate(landing: Path, day: dt.date, trades: int = TRADES_PER_DAY):
    return simulate_day(day, landing, trades_per_day=trades, seed=SEED, snapshot_interval_ms=SNAPSHOT_MS)


def read_rows(path: Path) -> tuple[str, list[list[str]]]:
    with gzip.open(path, "rt") as fh:
        lines = fh.read().splitlines()
    return lines[0], [line.split(",") for line in lines[1:]]


def write_rows(path: Path, header: str, rows: list[list[str]]) -> None:
    write_gz(path, [header] + [",".join(r) for r in rows])


def run_day(home: Path, day: dt.date, assets: list, **kw: Any) -> ExecuteInProcessResult:
    return materialize(assets, resources=resources(home), partition_key=day.isoformat(), raise_on_error=False, **kw)


def evaluations(result: ExecuteInProcessResult) -> dict[str, Any]:
    return {e.check_name: e for e in result.get_asset_check_evaluations() if e.check_name.startswith("ge_")}


def meta(evaluation: Any, key: str) -> Any:
    return evaluation.metadata[key].value


def started(result: ExecuteInProcessResult) -> set[str]:
    return {e.step_key for e in result.all_events if e.event_type_value == "STEP_START"}


def materialized(result: ExecuteInProcessResult) -> set[str]:
    return {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}


def quarantine(db: Path, day: dt.date) -> dict[str, int]:
    with duckdb.connect(str(db), read_only=True) as con:
        return dict(con.execute(
            "SELECT rule, count(*) FROM raw.quarantine WHERE partition_date = ? GROUP BY rule", [day]
        ).fetchall())


def day_counts(db: Path, day: dt.date) -> dict[str, int]:
    with duckdb.connect(str(db), read_only=True) as con:
        return {
            table: con.execute(f"SELECT count(*) FROM {table} WHERE {col} = ?", [day]).fetchone()[0]
            for table, col in [("raw.trades", "trade_date"), ("raw.book_snapshots", "snapshot_date"),
                               ("marts.ohlcv_1m", "bar_date"), ("marts.daily_stats", "bar_date")]
        }


def assert_blocked(result: ExecuteInProcessResult) -> None:
    """An ERROR-severity gate on the raw layer: the dbt marts of the day never started."""
    assert not result.success
    assert "dbt_daily_marts" not in started(result)
    assert not materialized(result) & {"ohlcv_1m", "ohlcv_1d", "daily_stats"}


@dataclass
class Baseline:
    home: Path
    daily: ExecuteInProcessResult
    rollups: ExecuteInProcessResult
    d0_counts: dict[str, int]


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> Baseline:
    """D0, clean, through raw -> checks -> dbt marts -> checks, then the rollups and their checks."""
    home = tmp_path_factory.mktemp("baseline")
    simulate(home / "landing", D0)
    daily = run_day(home, D0, FULL)
    rollups = materialize([dbt_rollups, *quality_checks], resources=resources(home), selection=[dbt_rollups],
                          raise_on_error=False)
    return Baseline(home, daily, rollups, day_counts(home / "warehouse.duckdb", D0))


@pytest.fixture
def case(baseline: Baseline, tmp_path: Path) -> Path:
    """A private copy of the baseline warehouse, and a landing folder holding a clean D1."""
    shutil.copy(baseline.home / "warehouse.duckdb", tmp_path / "warehouse.duckdb")
    simulate(tmp_path / "landing", D1)
    return tmp_path


def trades_file(home: Path, day: dt.date = D1) -> Path:
    return home / "landing" / f"simex_trades_{day}_ALL.csv.gz"


def book_file(home: Path, day: dt.date = D1) -> Path:
    return home / "landing" / f"simex_book_snapshot_5_{day}_ALL.csv.gz"


def assert_d0_untouched(baseline: Baseline, home: Path) -> None:
    assert day_counts(home / "warehouse.duckdb", D0) == baseline.d0_counts


# --------------------------------------------------------------------------------------------
# suites and wiring
# --------------------------------------------------------------------------------------------


def test_every_suite_file_is_valid_and_has_a_check():
    from great_expectations.expectations.registry import get_expectation_impl

    from ingest.quality.suites import default_runner

    names = suite_names()
    assert set(names) == {s for _, s in DAILY_SUITES + TABLE_SUITES}
    for name in names:
        suite = load_suite(name)
        for e in suite.expectations:
            get_expectation_impl(e.type)  # raises for a type GE does not have
            assert e.severity in ("error", "warn"), (name, e.rule)
        for frame in suite.frames:
            assert suite.frame_expectations(frame), (name, frame)
            # GE accepts every kwarg and keeps every expectation (none merged into another)
            definition = default_runner().definition(suite, frame)
            assert len(definition.suite.expectations) == len(suite.frame_expectations(frame))
    assert {c.check_key.name for c in quality_checks} == {f"ge_{n}" for n in names}
    assert all(spec.blocking for c in quality_checks for spec in c.check_specs)


def test_daily_and_rollup_jobs_run_the_checks(baseline):
    from orchestration.definitions import build_defs

    defs = build_defs(resources(baseline.home))
    daily = defs.resolve_job_def("daily_pipeline").asset_layer.asset_graph.asset_check_keys
    rollups = defs.resolve_job_def("rollups").asset_layer.asset_graph.asset_check_keys
    names = {k.name for k in daily} | {k.name for k in rollups}
    assert {f"ge_{s}" for _, s in DAILY_SUITES + TABLE_SUITES} <= names


# --------------------------------------------------------------------------------------------
# clean data
# --------------------------------------------------------------------------------------------


def test_clean_simulated_day_passes_every_suite(baseline):
    assert baseline.daily.success and baseline.rollups.success
    evals = {**evaluations(baseline.daily), **evaluations(baseline.rollups)}
    assert set(evals) == {f"ge_{s}" for s in suite_names()}
    for name, e in evals.items():
        assert e.passed, (name, e.description)
        assert meta(e, "failed_errors") == [] and meta(e, "failed_warnings") == [], name
    # Per-expectation metadata: success, observed value, unexpected count, examples.
    move = meta(evals["ge_raw_trades"], "max_move_between_trades")
    assert move["success"] is True and move["severity"] == "error"
    assert move["unexpected_count"] == 0 and move["examples"] == []
    assert 0 < move["observed_value"]["max"] < 20
    assert meta(evals["ge_ohlcv_1m"], "volume_reconciles")["observed_value"] == {"min": 0.0, "max": 0.0}
    assert evals["ge_raw_trades"].partition == D0.isoformat()
    assert baseline.d0_counts["marts.ohlcv_1m"] > 1000


def test_real_binance_trades_pass_every_rule_but_coverage_of_the_partial_day(tmp_path, real_trades_file):
    landing = tmp_path / "landing"
    landing.mkdir()
    shutil.copy(real_trades_file, landing / real_trades_file.name)
    day = dt.date(2020, 2, 22)
    checks = [checks_by_suite[s] for s in ("raw_trades", "ohlcv_1m", "ohlcv_5m", "ohlcv_1h", "ohlcv_1d", "daily_stats")]
    result = run_day(tmp_path, day, [raw_trades, dbt_daily_marts, *checks], selection=[raw_trades, dbt_daily_marts])
    assert result.success
    evals = evaluations(result)
    raw = evals.pop("ge_raw_trades")
    # The file stops at 02:05: that is reported as a partial day, not as a stale feed.
    assert (raw.passed, raw.severity) == (False, AssetCheckSeverity.WARN)
    assert meta(raw, "failed_errors") == [] and meta(raw, "failed_warnings") == ["feed_covers_day"]
    assert meta(raw, "trade_id_contiguous")["success"] is True
    assert meta(raw, "stale_feed")["observed_value"]["max"] < 100
    assert all(e.passed for e in evals.values()), {n: e.description for n, e in evals.items()}
    assert {"ohlcv_1m", "daily_stats"} <= materialized(result)


@pytest.mark.parametrize(
    ("source", "landed", "day", "suite"),
    [
        ("binance-futures_book_snapshot_25_BTCUSDT.csv", "binance-futures_book_snapshot_25_2020-09-01_BTCUSDT.csv",
         dt.date(2020, 9, 1), "raw_book_snapshots"),
        ("binance-futures_book_snapshot_5_BTCUSDT.csv", "binance-futures_book_snapshot_5_2020-09-01_BTCUSDT.csv",
         dt.date(2020, 9, 1), "raw_book_snapshots"),
        ("bitmex_trades_XBTUSD.csv", "bitmex_trades_2020-03-01_XBTUSD.csv", dt.date(2020, 3, 1), "raw_trades"),
    ],
)
def test_real_sample_files_pass_the_rules_that_apply(tmp_path, source, landed, day, suite):
    landing = tmp_path / "landing"
    landing.mkdir()
    shutil.copy(REAL_DATA / source, landing / landed)
    asset = raw_trades if suite == "raw_trades" else raw_book_snapshots
    result = run_day(tmp_path, day, [asset, checks_by_suite[suite]])
    assert result.success
    e = evaluations(result)[f"ge_{suite}"]
    # Ten rows from the first seconds of the day: only the day-coverage warning applies.
    assert meta(e, "failed_errors") == [] and meta(e, "failed_warnings") == ["feed_covers_day"]
    if suite == "raw_trades":  # UUID ids: no sequence to check, and nothing flagged
        assert meta(e, "trade_id_contiguous")["observed_value"] is None


# --------------------------------------------------------------------------------------------
# file-level failures: the load fails, nothing downstream runs, nothing is replaced
# --------------------------------------------------------------------------------------------


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


@pytest.mark.parametrize(
    ("corrupt", "message"),
    [
        (_truncate, "truncated gzip"),
        (lambda p: p.unlink(), "no trades files"),
        (lambda p: p.write_bytes(b""), "empty"),
    ],
    ids=["truncated_gzip", "missing_file", "zero_byte_file"],
)
def test_unreadable_trades_file_fails_the_load_and_blocks_the_day(baseline, case, corrupt, message):
    corrupt(trades_file(case))
    result = run_day(case, D1, FULL)
    failures = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert [e.step_key for e in failures] == ["raw_trades"]
    assert message in failures[0].event_specific_data.error.to_string()
    assert "ge_raw_trades" not in evaluations(result)  # the check of a failed load never runs
    assert evaluations(result)["ge_raw_book_snapshots"].passed  # the other dataset is fine...
    assert_blocked(result)  # ...but the marts need both
    assert day_counts(case / "warehouse.duckdb", D1)["raw.trades"] == 0
    assert_d0_untouched(baseline, case)


# --------------------------------------------------------------------------------------------
# row-level problems
# --------------------------------------------------------------------------------------------


def test_header_only_file_is_an_empty_day_and_blocks(baseline, case):
    header, _ = read_rows(trades_file(case))
    write_rows(trades_file(case), header, [])
    result = run_day(case, D1, FULL)
    e = evaluations(result)["ge_raw_trades"]
    assert (e.passed, e.severity) == (False, AssetCheckSeverity.ERROR)
    assert meta(e, "failed_errors") == ["not_empty"]
    assert meta(e, "not_empty")["observed_value"] == 0
    assert_blocked(result)
    assert_d0_untouched(baseline, case)


def test_wrong_day_rows_are_quarantined_and_too_many_block(baseline, case):
    header, rows = read_rows(trades_file(case))
    shifted = rows[::30]  # ~3% of the day's trades carry yesterday's timestamps
    for r in shifted:
        r[2] = str(int(r[2]) - 86_400_000_000)
    write_rows(trades_file(case), header, rows)
    result = run_day(case, D1, FULL)
    assert quarantine(case / "warehouse.duckdb", D1) == {"wrong_day": len(shifted)}
    e = evaluations(result)["ge_raw_trades"]
    assert (e.passed, e.severity) == (False, AssetCheckSeverity.ERROR)
    assert meta(e, "failed_errors") == ["quarantine_share"]
    assert meta(e, "failed_warnings") == ["no_quarantined_rows"]
    share = meta(e, "quarantine_share")
    assert share["unexpected_count"] == 1
    assert share["examples"][0]["rule"] == "wrong_day"
    assert share["examples"][0]["example"].startswith(f"simex_trades_{D1}_ALL.csv.gz:")
    assert meta(e, "trade_id_contiguous")["success"]  # quarantined ids are not "missing"
    assert_blocked(result)
    assert_d0_untouched(baseline, case)


def _nan_prices(rows: list[list[str]]) -> tuple[list[list[str]], dict[str, int]]:
    for r in rows[100:103]:
        r[6] = "NaN"
    return rows, {"non_finite_value": 3}


def _negative_prices(rows: list[list[str]]) -> tuple[list[list[str]], dict[str, int]]:
    for r in rows[200:202]:
        r[6] = "-" + r[6]
    return rows, {"non_positive_price": 2}


def _duplicate_ids(rows: list[list[str]]) -> tuple[list[list[str]], dict[str, int]]:
    return rows + [list(r) for r in rows[300:304]], {"duplicate_trade_id": 4}


@pytest.mark.parametrize("corrupt", [_nan_prices, _negative_prices, _duplicate_ids],
                         ids=["nan_price", "negative_price", "duplicate_ids"])
def test_a_few_bad_rows_are_quarantined_and_only_warn(baseline, case, corrupt):
    header, rows = read_rows(trades_file(case))
    rows, expected = corrupt(rows)
    write_rows(trades_file(case), header, rows)
    result = run_day(case, D1, RAW_ONLY)
    assert result.success  # a WARN does not fail the step
    assert quarantine(case / "warehouse.duckdb", D1) == expected
    e = evaluations(result)["ge_raw_trades"]
    assert (e.passed, e.severity) == (False, AssetCheckSeverity.WARN)
    assert meta(e, "failed_errors") == [] and meta(e, "failed_warnings") == ["no_quarantined_rows"]
    assert meta(e, "no_quarantined_rows")["examples"][0]["rule"] == next(iter(expected))
    assert_d0_untouched(baseline, case)


def test_missing_trade_ids_block_the_day(baseline, case):
    header, rows = read_rows(trades_file(case))
    btc = [i for i, r in enumerate(rows) if r[1] == "BTCUSDT"]
    cut = btc[len(btc) // 2: len(btc) // 2 + 10]  # ten consecutive BTCUSDT trades vanish
    first_after = rows[btc[len(btc) // 2 + 10]][4]
    rows = [r for i, r in enumerate(rows) if i not in set(cut)]
    write_rows(trades_file(case), header, rows)
    result = run_day(case, D1, FULL)
    assert quarantine(case / "warehouse.duckdb", D1) == {}
    e = evaluations(result)["ge_raw_trades"]
    assert (e.passed, e.severity) == (False, AssetCheckSeverity.ERROR)
    assert meta(e, "failed_errors") == ["trade_id_contiguous"] and meta(e, "failed_warnings") == []
    gap = meta(e, "trade_id_contiguous")
    assert gap["unexpected_count"] == 1
    assert gap["examples"] == [{
        "seq_gap": 10, "symbol": "BTCUSDT", "trade_id": first_after,
        "ts": gap["examples"][0]["ts"], "source_file": f"simex_trades_{D1}_ALL.csv.gz",
    }]
    assert_blocked(result)
    assert_d0_untouched(baseline, case)


def test_price_spike_blocks_the_day_and_thresholds_live_in_the_suite_file(baseline, case, tmp_path, monkeypatch):
    header, rows = read_rows(trades_file(case))
    btc = [r for r in rows if r[1] == "BTCUSDT"]
    spike = btc[len(btc) // 2]
    spike[6] = str(Decimal(spike[6]) * Decimal("1.5"))  # one print 50% above the market
    write_rows(trades_file(case), header, rows)
    result = run_day(case, D1, FULL)
    assert quarantine(case / "warehouse.duckdb", D1) == {}  # a spike is not the loader's business
    e = evaluations(result)["ge_raw_trades"]
    assert (e.passed, e.severity) == (False, AssetCheckSeverity.ERROR)
    assert meta(e, "failed_errors") == ["max_move_between_trades"]
    assert meta(e, "failed_warnings") == ["price_spike_mad"]
    move = meta(e, "max_move_between_trades")
    assert move["unexpected_count"] == 2  # up into the spike, and back down
    assert {x["trade_id"] for x in move["examples"]} >= {spike[4]}
    assert move["observed_value"]["max"] == pytest.approx(50.0, abs=1.0)
    spike_rule = meta(e, "price_spike_mad")
    assert spike_rule["unexpected_count"] == 1 and spike_rule["examples"][0]["trade_id"] == spike[4]
    assert spike_rule["examples"][0]["source_file"] == f"simex_trades_{D1}_ALL.csv.gz"
    assert_blocked(result)
    assert_d0_untouched(baseline, case)

    # The threshold is data: raise it in a copy of the suite file and the same day passes.
    suites = tmp_path / "suites"
    shutil.copytree(Path(__file__).resolve().parents[1] / "expectations", suites)
    doc = json.loads((suites / "raw_trades.json").read_text())
    for x in doc["expectations"]:
        if x["meta"]["rule"] == "max_move_between_trades":
            x["kwargs"]["max_value"] = 60
    (suites / "raw_trades.json").write_text(json.dumps(doc))
    monkeypatch.setenv("TICKWH_EXPECTATIONS_DIR", str(suites))
    with duckdb.connect(str(case / "warehouse.duckdb"), read_only=True) as con:
        relaxed = validate(con, "raw_trades", D1)
    assert relaxed.failed_errors == [] and relaxed.failed_warnings == ["price_spike_mad"]


def test_timestamps_out_of_id_order_block_the_day(baseline, case):
    header, rows = read_rows(trades_file(case))
    btc = [r for r in rows if r[1] == "BTCUSDT"]
    moved = btc[len(btc) // 4: 3 * len(btc) // 4: len(btc) // 40][:20]
    for r in moved:  # 20 trades stamped 30 s before their neighbours in id order
        r[2] = str(int(r[2]) - 30_000_000)
    write_rows(trades_file(case), header, rows)
    result = run_day(case, D1, FULL)
    e = evaluations(result)["ge_raw_trades"]
    assert meta(e, "failed_errors") == ["time_near_monotone"] and meta(e, "failed_warnings") == []
    ooo = meta(e, "time_near_monotone")
    assert ooo["examples"][0]["symbol"] == "BTCUSDT"
    assert ooo["observed_value"]["max"] == pytest.approx(20 / len(btc), rel=0.2)
    assert_blocked(result)
    assert_d0_untouched(baseline, case)


def test_stale_feed_blocks_the_day(baseline, case):
    simulate(case / "landing", D1, trades=60_000)
    header, rows = read_rows(trades_file(case))
    start = int(dt.datetime(2024, 3, 2, 6, tzinfo=dt.UTC).timestamp()) * 1_000_000
    end = start + 6 * 3600 * 1_000_000
    kept, removed = [], 0
    for r in rows:  # BTCUSDT goes silent 06:00-12:00; ids are renumbered so none is missing
        if r[1] == "BTCUSDT" and start <= int(r[2]) < end:
            removed += 1
            continue
        if r[1] == "BTCUSDT" and removed:
            r[4] = str(int(r[4]) - removed)
        kept.append(r)
    write_rows(trades_file(case), header, kept)
    result = run_day(case, D1, FULL)
    e = evaluations(result)["ge_raw_trades"]
    assert meta(e, "failed_errors") == ["stale_feed"] and meta(e, "failed_warnings") == ["stale_feed_warn"]
    stale = meta(e, "stale_feed")
    assert [x["symbol"] for x in stale["examples"]] == ["BTCUSDT"]
    assert stale["examples"][0]["max_gap_s"] >= 6 * 3600
    assert meta(e, "trade_id_contiguous")["success"]
    assert_blocked(result)
    assert_d0_untouched(baseline, case)


def test_extra_column_is_ignored_reported_and_passes(baseline, case):
    header, rows = read_rows(trades_file(case))
    write_rows(trades_file(case), header + ",venue_flag", [r + ["X"] for r in rows])
    result = run_day(case, D1, RAW_ONLY)
    assert result.success
    e = evaluations(result)["ge_raw_trades"]
    assert e.passed and meta(e, "schema_columns")["success"]
    load = next(m for m in result.get_asset_materialization_events() if m.asset_key.to_user_string() == "raw_trades")
    extra = load.materialization.metadata["ignored_extra_columns"].value
    assert extra == {f"simex_trades_{D1}_ALL.csv.gz": ["venue_flag"]}
    assert_d0_untouched(baseline, case)


def test_crossed_book_warns_and_does_not_block(baseline, case):
    header, rows = read_rows(book_file(case))
    eth = [r for r in rows if r[1] == "ETHUSDT"]
    for r in eth[500:510]:  # 10 of 1440 snapshots with the bid above the ask
        r[6] = f"{Decimal(r[4]) + Decimal('0.05'):.2f}"
    write_rows(book_file(case), header, rows)
    theader, trows = read_rows(trades_file(case))
    for r in trows[::50]:  # and some trades of unknown side: buy + sell < volume, reconciled
        r[5] = "unknown"
    write_rows(trades_file(case), theader, trows)

    result = run_day(case, D1, FULL)
    assert result.success
    evals = evaluations(result)
    book = evals.pop("ge_raw_book_snapshots")
    assert (book.passed, book.severity) == (False, AssetCheckSeverity.WARN)
    assert meta(book, "failed_errors") == [] and meta(book, "failed_warnings") == ["crossed_or_locked_book"]
    crossed = meta(book, "crossed_or_locked_book")
    assert crossed["examples"][0]["symbol"] == "ETHUSDT"
    assert crossed["observed_value"]["max"] == pytest.approx(10 / len(eth))
    assert all(e.passed for e in evals.values()), {n: e.description for n, e in evals.items()}
    assert {"ohlcv_1m", "ohlcv_1d", "daily_stats"} <= materialized(result)
    with duckdb.connect(str(case / "warehouse.duckdb"), read_only=True) as con:
        share, unsided = con.execute(
            """SELECT s.crossed_or_locked_share, (SELECT sum(volume - buy_volume - sell_volume) FROM marts.ohlcv_1m
                                                  WHERE bar_date = ?)
            FROM marts.daily_stats s WHERE bar_date = ? AND symbol = 'ETHUSDT'""", [D1, D1]).fetchone()
    assert share == pytest.approx(10 / len(eth)) and unsided > 0
    assert_d0_untouched(baseline, case)


def test_a_bad_day_in_a_ranged_backfill_blocks_the_window(baseline, case):
    d2 = D1 + dt.timedelta(days=1)
    simulate(case / "landing", d2)
    header, rows = read_rows(trades_file(case))
    rows[len(rows) // 2][6] = str(Decimal(rows[len(rows) // 2][6]) * 2)  # a 100% print on D1 only
    write_rows(trades_file(case), header, rows)
    result = materialize(FULL, resources=resources(case), raise_on_error=False, tags={
        "dagster/asset_partition_range_start": D1.isoformat(), "dagster/asset_partition_range_end": d2.isoformat()})
    e = evaluations(result)["ge_raw_trades"]
    assert (e.passed, e.severity) == (False, AssetCheckSeverity.ERROR)
    assert meta(e, "failed_errors") == {D1.isoformat(): ["max_move_between_trades"]}
    assert meta(e, "max_move_between_trades")["failed_days"] == [D1.isoformat()]
    assert "| 2024-03-03 | pass |" in meta(e, "per_day")
    assert evaluations(result)["ge_raw_book_snapshots"].passed
    # One dbt invocation builds the whole window, so one bad day holds back all of it.
    assert_blocked(result)
    assert day_counts(case / "warehouse.duckdb", d2)["raw.trades"] == TRADES_PER_DAY
    assert_d0_untouched(baseline, case)


# --------------------------------------------------------------------------------------------
# marts
# --------------------------------------------------------------------------------------------


def test_mart_check_catches_broken_bars_and_reconciliation(baseline, tmp_path, capfd):
    shutil.copy(baseline.home / "warehouse.duckdb", tmp_path / "warehouse.duckdb")
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as con:
        # One bar gets high = low (its open, close and vwap were above low), another bar that had
        # buys and sells disappears; neither held its symbol's high or low of the day.
        inside = """FROM marts.ohlcv_1m b
            JOIN (SELECT symbol, max(high) AS hi, min(low) AS lo FROM marts.ohlcv_1m GROUP BY symbol) d USING (symbol)
            WHERE b.high < d.hi AND b.low > d.lo"""
        broken = [
            con.execute(f"""SELECT b.symbol, b.bucket_start {inside} AND b.open > b.low AND b.close > b.low
                        AND b.vwap > CAST(b.low AS DOUBLE) * (1 + 1e-9) ORDER BY 1, 2 LIMIT 1""").fetchone(),
            con.execute(f"""SELECT b.symbol, b.bucket_start {inside} AND b.buy_volume > 0 AND b.sell_volume > 0
                        ORDER BY 1, 2 DESC LIMIT 1""").fetchone(),
        ]
        con.execute("UPDATE marts.ohlcv_1m SET high = low WHERE symbol = ? AND bucket_start = ?", list(broken[0]))
        con.execute("DELETE FROM marts.ohlcv_1m WHERE symbol = ? AND bucket_start = ?", list(broken[1]))
    check = checks_by_suite["ohlcv_1m"]
    # Only the check runs (the partition goes in as a tag: Dagster derives no partitions
    # definition from a selection without assets).
    result = materialize([dbt_daily_marts, check], resources=resources(tmp_path), raise_on_error=False,
                         selection=AssetSelection.checks(check), tags={"dagster/partition": D0.isoformat()})
    assert "dbt_daily_marts" not in started(result)  # only the check ran
    e = evaluations(result)["ge_ohlcv_1m"]
    assert (e.passed, e.severity) == (False, AssetCheckSeverity.ERROR)
    assert meta(e, "failed_errors") == [
        "high_ge_open", "high_ge_close", "vwap_inside_range", "trade_count_reconciles", "volume_reconciles",
        "buy_volume_reconciles", "sell_volume_reconciles",
    ]
    assert meta(e, "high_ge_open")["examples"][0]["bucket_start"].startswith(broken[0][1].isoformat())
    assert meta(e, "trade_count_reconciles")["examples"][0]["symbol"] == broken[1][0]
    # GE ran here in-process: none of its progress bars reached the terminal.
    assert "Calculating Metrics" not in capfd.readouterr().err


def test_run_suite_on_frames_directly():
    """The loader module works without a warehouse: frames in, per-expectation outcomes out."""
    import pandas as pd

    frames = {
        "head": pd.DataFrame(columns=["bar_date", "exchange"]),
        "columns": pd.DataFrame({"column_name": ["bar_date"], "column_type": ["DATE"],
                                 "column_def": ["bar_date DATE"]}),
        "rows": pd.DataFrame({"bar_date": [D0], "exchange": ["simex"], "symbols_traded": [2], "total_trades": [5],
                              "total_notional": [10.0], "top_symbol": ["BTCUSDT"], "breadth_diff": [1]}),
        "reconciliation": pd.DataFrame({"bar_date": [D0], "exchange": ["simex"], "total_trades_diff": [0],
                                        "symbols_traded_diff": [0], "total_notional_diff": [0.0]}),
    }
    result = run_suite("market_daily_summary", frames)
    assert result.failed_errors == ["schema_columns", "breadth_adds_up"]
    breadth = result.outcome("breadth_adds_up")
    assert (breadth.unexpected_count, breadth.examples) == (1, [{"breadth_diff": 1, "bar_date": D0.isoformat(),
                                                                 "exchange": "simex"}])


def test_ge_data_docs_site_beside_the_dbt_docs(baseline, tmp_path, monkeypatch):
    from orchestration.docs import build_ge_docs

    shutil.copy(baseline.home / "warehouse.duckdb", tmp_path / "warehouse.duckdb")
    monkeypatch.setenv("TICKWH_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TICKWH_DUCKDB_PATH", str(tmp_path / "warehouse.duckdb"))
    index = build_ge_docs(max_days=1)
    assert index == tmp_path / "home" / "docs" / "ge" / "index.html" and index.exists()
    pages = {p.relative_to(index.parent).as_posix() for p in index.parent.rglob("*.html")}
    for name in suite_names():
        assert f"expectations/{name}/rows.html" in pages, name
    assert any(p.startswith(f"validations/raw_trades/rows/{D0}/") for p in pages)
    assert any(p.startswith(f"validations/ohlcv_1m/reconciliation/{D0}/") for p in pages)
    assert any(p.startswith("validations/rollup_weekly/rows/whole_table/") for p in pages)
    assert "[error] trade_id_contiguous" in (index.parent / "expectations/raw_trades/rows.html").read_text()
    # GE's index needs CDN scripts; the plain overview works offline and links the same pages.
    overview = (index.parent / "overview.html").read_text()
    assert overview.count(">pass<") == len(suite_names()) and "FAIL" not in overview.split("</p>", 1)[1]
    assert 'href="overview.html"' in index.read_text()
