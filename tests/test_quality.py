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
import logging
import shutil
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest
from dagster import AssetCheckSeverity, AssetSelection, DagsterInstance, ExecuteInProcessResult, materialize

from ingest.quality import load_suite, run_suite, suite_names, validate
from ingest.simulator import simulate_day
from orchestration.defs.marts.assets import dbt_daily_marts, dbt_rollups
from orchestration.defs.marts.project import dbt_resource
from orchestration.defs.quality.checks import DAILY_SUITES, TABLE_SUITES, checks_by_suite, quality_checks
from orchestration.defs.raw.assets import RAW_ASSETS, raw_book_snapshots, raw_trades
from orchestration.lib.resources import LandingZoneResource, WarehouseResource
from tests import lakes
from tests.conftest import REAL_DATA, write_gz

D0 = dt.date(2024, 3, 1)
D1 = dt.date(2024, 3, 2)
SEED = 23
TRADES_PER_DAY = 20_000
SNAPSHOT_MS = 60_000  # 1440 snapshots per symbol and day: fast, and enough to measure shares
DAILY_CHECKS = [checks_by_suite[s] for _, s in DAILY_SUITES]
RAW_CHECKS = [checks_by_suite["raw_trades"], checks_by_suite["raw_book_snapshots"]]
FULL = [*RAW_ASSETS, dbt_daily_marts, *DAILY_CHECKS]
RAW_ONLY = [raw_trades, raw_book_snapshots, *RAW_CHECKS]


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def resources(home: Path) -> dict[str, Any]:
    return {
        "warehouse": WarehouseResource.at(home),
        "landing": LandingZoneResource(root=str(home / "landing")),
        "dbt": dbt_resource(),
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


def quarantine(home: Path, day: dt.date) -> dict[str, int]:
    with lakes.connect(home, read_only=True) as con:
        return dict(con.execute(
            "SELECT rule, count(*) FROM raw.quarantine WHERE partition_date = ? GROUP BY rule", [day]
        ).fetchall())


def day_counts(home: Path, day: dt.date) -> dict[str, int]:
    with lakes.connect(home, read_only=True) as con:
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
    return Baseline(home, daily, rollups, day_counts(home, D0))


@pytest.fixture
def case(baseline: Baseline, tmp_path: Path) -> Path:
    """A private copy of the baseline warehouse, and a landing folder holding a clean D1."""
    lakes.copy_home_lake(baseline.home, tmp_path)
    simulate(tmp_path / "landing", D1)
    return tmp_path


def trades_file(home: Path, day: dt.date = D1) -> Path:
    return home / "landing" / f"simex_trades_{day}_ALL.csv.gz"


def book_file(home: Path, day: dt.date = D1) -> Path:
    return home / "landing" / f"simex_book_snapshot_5_{day}_ALL.csv.gz"


def assert_d0_untouched(baseline: Baseline, home: Path) -> None:
    assert day_counts(home, D0) == baseline.d0_counts


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


def test_each_mart_rule_is_declared_once_and_bar_intervals_share_one_shape():
    """Row invariants of a mart come from its dbt tests' meta, the rest from expectations/marts.yml;
    the five bar suites are one shape that differs only in the interval."""
    from ingest.quality import catalog

    owned = catalog.dbt_checks()
    _, shapes = catalog._mart_entries()
    in_shapes = {r["rule"] for shape in shapes.values() for r in shape["rules"]
                 if isinstance(r, dict) and r.get("frame", "rows") == "rows"}
    for name in ("ohlcv_1m", "ohlcv_1d", "daily_stats", "rollup_weekly", "rollup_monthly", "market_daily_summary"):
        from_dbt = {r["rule"] for _, r in owned[name]}
        assert "key_unique" in from_dbt or "bar_key_unique" in from_dbt, name
        assert from_dbt <= {e.rule for e in load_suite(name).expectations} and not from_dbt & in_shapes, name
    seconds = {"ohlcv_1m": 60, "ohlcv_5m": 300, "ohlcv_15m": 900, "ohlcv_1h": 3600, "ohlcv_1d": 86400}
    first = load_suite("ohlcv_1m")
    for name, interval in seconds.items():
        suite = load_suite(name)
        assert [(e.rule, e.type, e.severity, e.frame) for e in suite.expectations] == \
            [(e.rule, e.type, e.severity, e.frame) for e in first.expectations]
        kwargs = {e.rule: e.kwargs for e in suite.expectations}
        assert suite.params["interval_seconds"] == interval
        assert kwargs["bucket_width"] == {"column": "bucket_width_s", "min_value": interval, "max_value": interval}
        differs = {e.rule for e, f in zip(suite.expectations, first.expectations, strict=True) if e.kwargs != f.kwargs}
        assert differs <= {"bucket_width", "first_trade_inside_bucket", "last_trade_inside_bucket"}, name


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
    assert day_counts(case, D1)["raw.trades"] == 0
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
    assert quarantine(case, D1) == {"wrong_day": len(shifted)}
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
    assert quarantine(case, D1) == expected
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
    assert quarantine(case, D1) == {}
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
    assert quarantine(case, D1) == {}  # a spike is not the loader's business
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
    with lakes.connect(case, read_only=True) as con:
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
    with lakes.connect(case, read_only=True) as con:
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
    # One evaluation per day, each recorded against its own partition: the bad day fails, the other passes.
    by_day = {(e.check_name, e.partition): e for e in result.get_asset_check_evaluations()
              if e.check_name in ("ge_raw_trades", "ge_raw_book_snapshots")}
    assert sorted(by_day) == [(c, d.isoformat()) for c in ("ge_raw_book_snapshots", "ge_raw_trades") for d in (D1, d2)]
    bad, good = by_day["ge_raw_trades", D1.isoformat()], by_day["ge_raw_trades", d2.isoformat()]
    assert (bad.passed, bad.severity, bad.blocking) == (False, AssetCheckSeverity.ERROR, True)
    assert meta(bad, "failed_errors") == ["max_move_between_trades"]
    assert meta(bad, "max_move_between_trades")["success"] is False
    assert (good.passed, meta(good, "failed_errors")) == (True, [])
    assert all(by_day["ge_raw_book_snapshots", d.isoformat()].passed for d in (D1, d2))
    # One dbt invocation builds the whole window, so one bad day holds back all of it.
    assert_blocked(result)
    assert day_counts(case, d2)["raw.trades"] == TRADES_PER_DAY
    assert_d0_untouched(baseline, case)


def _copy_day(con: duckdb.DuckDBPyConnection, src: dt.date, dst: dt.date) -> None:
    """Every day-keyed row of `src` again on `dst`: dates and timestamps moved, all else equal."""
    shift = (dst - src).days
    tables = con.execute("""SELECT table_schema || '.' || table_name, list(column_name), list(data_type)
                            FROM information_schema.columns WHERE table_catalog = 'lake'
                            AND table_schema IN ('raw', 'marts')
                            GROUP BY ALL""").fetchall()
    for table, names, types in tables:
        day_col = next((c for c in ("trade_date", "snapshot_date", "bar_date", "partition_date") if c in names), None)
        if day_col is None or table == "marts.market_daily_summary":
            continue
        moved = [f"{c} + {shift}" if t == "DATE" else f"{c} + INTERVAL {shift} DAY"
                 for c, t in zip(names, types, strict=True) if t in ("DATE", "TIMESTAMP")]
        replace = ", ".join(f"{m} AS {m.split()[0]}" for m in moved)
        con.execute(f"INSERT INTO {table} SELECT * REPLACE ({replace}) FROM {table} WHERE {day_col} = ?", [src])


@pytest.mark.parametrize("window_rows", [20_000_000, TRADES_PER_DAY + 10])
def test_a_window_is_validated_in_one_pass_like_each_day_alone(baseline, tmp_path, monkeypatch, window_rows):
    """validate_window over four days (empty, clean, planted, empty) gives, day for day, what
    validating each day alone gives: counts, observed values and examples included. Also when a
    row budget splits the window into chunks (the raw suites: one day of trades per chunk)."""
    import ingest.quality
    from ingest.quality import validate_window

    monkeypatch.setattr(ingest.quality, "WINDOW_ROWS", window_rows)

    lakes.copy_home_lake(baseline.home, tmp_path)
    with lakes.connect(tmp_path) as con:
        _copy_day(con, D0, D1)
        # D1 only: a 100% print, a duplicated trade id, and a 1m bar whose high drops to its low
        con.execute("""UPDATE raw.trades SET price = price * 2 WHERE trade_date = ? AND rowid =
                       (SELECT min(rowid) + 5000 FROM raw.trades WHERE trade_date = ?)""", [D1, D1])
        con.execute("""INSERT INTO raw.trades SELECT * FROM raw.trades WHERE trade_date = ? AND rowid =
                       (SELECT min(rowid) + 7000 FROM raw.trades WHERE trade_date = ?)""", [D1, D1])
        con.execute("""UPDATE marts.ohlcv_1m SET high = low WHERE bar_date = ? AND high > low AND bucket_start =
                       (SELECT min(bucket_start) + INTERVAL 600 SECOND FROM marts.ohlcv_1m WHERE bar_date = ?)""",
                    [D1, D1])
    days = [D0 - dt.timedelta(days=1), D0, D1, D1 + dt.timedelta(days=1)]
    now = dt.datetime(2024, 6, 1, tzinfo=dt.UTC)
    with lakes.connect(tmp_path, read_only=True) as con:
        chunks = ingest.quality._chunks(con, load_suite("raw_trades"), days)
        assert chunks == ([days] if window_rows > TRADES_PER_DAY * 2 else [days[:2], days[2:]])
        for _, suite in DAILY_SUITES:
            window = validate_window(con, suite, days, now=now)
            alone = [validate(con, suite, day, now=now) for day in days]
            assert [r.partition for r in window] == [d.isoformat() for d in days]
            for w, a in zip(window, alone, strict=True):
                assert w.rows_by_frame == a.rows_by_frame, (suite, w.partition)
                assert [o.to_json() for o in w.outcomes] == [o.to_json() for o in a.outcomes], (suite, w.partition)
            by_day = {r.partition: r for r in window}
            if suite == "raw_trades":
                assert by_day[D0.isoformat()].success and by_day[D1.isoformat()].blocking
                assert {"max_move_between_trades", "trade_id_unique"} <= set(by_day[D1.isoformat()].failed_errors)
                assert by_day[D1.isoformat()].outcome("trade_id_unique").unexpected_count == 2
                assert by_day[D1.isoformat()].rows_by_frame["rows"] == TRADES_PER_DAY + 1
            if suite == "ohlcv_1m":
                assert by_day[D1.isoformat()].failed_errors and not by_day[D0.isoformat()].failed_errors
            empty = by_day[days[0].isoformat()]
            assert empty.rows_by_frame["rows"] == 0, suite
            # a calm market has no liquidations, a quotes-only day no perp_basis_1m rows: not gaps
            if suite not in ("raw_liquidations", "perp_basis_1m"):
                assert empty.outcome("not_empty").success is False, suite


# --------------------------------------------------------------------------------------------
# marts
# --------------------------------------------------------------------------------------------


def test_mart_check_catches_broken_bars_and_reconciliation(baseline, tmp_path, capfd):
    lakes.copy_home_lake(baseline.home, tmp_path)
    with lakes.connect(tmp_path) as con:
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
    for use_ge, shown_date in [(False, f"{D0.isoformat()}T00:00:00"), (True, D0.isoformat())]:
        result = run_suite("market_daily_summary", frames, use_ge=use_ge)
        assert result.failed_errors == ["schema_columns", "breadth_adds_up"]
        breadth = result.outcome("breadth_adds_up")
        # A python `date` in a hand-made frame: DuckDB reads it as DATE and hands it back as a
        # midnight timestamp, as frames read from the warehouse always are; GE echoes the object.
        assert (breadth.unexpected_count, breadth.examples) == (1, [{"breadth_diff": 1, "bar_date": shown_date,
                                                                     "exchange": "simex"}])


def test_ge_data_docs_site_beside_the_dbt_docs(baseline, tmp_path, monkeypatch):
    from tickwh.docs import build_ge_docs

    copy = lakes.copy_home_lake(baseline.home, tmp_path)
    monkeypatch.setenv("TICKWH_HOME", str(tmp_path / "home"))
    for var, value in copy.env().items():  # the lake stays outside TICKWH_HOME, as the file did
        monkeypatch.setenv(var, value)
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


# --------------------------------------------------------------------------------------------
# DuckDB evaluator (ingest.quality.sql_eval) against GE's pandas engine
# --------------------------------------------------------------------------------------------

# Seven rows planting every edge the supported types meet: NULL and NaN (both missing), +/-inf,
# values on strict and non-strict bounds, values outside a set, duplicate compound keys with and
# without NULLs, a key that is all NULL (skipped by default), a column with no finite value.
PLANTED = """SELECT * FROM (VALUES
    (1, 'a', 'x', 1.0, 0::BIGINT, 'a', TIMESTAMP '2024-01-01 00:00:01', 1::BIGINT, 1.5::DECIMAL(18, 8), 'inf'::DOUBLE),
    (2, 'a', 'x', 0.0, NULL, 'b', TIMESTAMP '2024-01-01 00:00:02.5', 2, 2.25, NULL),
    (3, 'b', NULL, 10.0, 1, 'c', NULL, 3, NULL, 'NaN'::DOUBLE),
    (4, 'b', NULL, 'NaN'::DOUBLE, 0, NULL, TIMESTAMP '2024-01-01 00:00:04', 4, 0, '-inf'::DOUBLE),
    (5, NULL, NULL, NULL, 0, 'a', TIMESTAMP '2024-01-01 00:00:05', 5, -1, NULL),
    (6, NULL, NULL, 'inf'::DOUBLE, 0, 'zz', TIMESTAMP '2024-01-01 00:00:06', 6, 3, NULL),
    (7, 'c', 'y', 7.5, 0, 'b', TIMESTAMP '2024-01-01 00:00:07', 7, 1e6, NULL)
) t(seq, k1, k2, x, n, s, ts, i, d, z)"""

PLANTED_RULES: list[tuple[str, dict[str, Any]]] = [
    ("expect_table_row_count_to_be_between", {"min_value": 1}),
    ("expect_table_row_count_to_be_between", {"min_value": 1, "max_value": 3}),
    ("expect_table_row_count_to_be_between", {"max_value": 7, "strict_max": True}),
    ("expect_column_values_to_not_be_null", {"column": "x"}),  # a NULL and a NaN
    ("expect_column_values_to_not_be_null", {"column": "n"}),  # an integer NULL (pandas <NA>)
    ("expect_column_values_to_not_be_null", {"column": "s"}),
    ("expect_column_values_to_not_be_null", {"column": "ts"}),
    ("expect_column_values_to_not_be_null", {"column": "i"}),
    ("expect_column_values_to_not_be_null", {"column": "x", "mostly": 0.7}),
    ("expect_column_values_to_be_between", {"column": "x", "min_value": 0, "strict_min": True, "max_value": 10}),
    ("expect_column_values_to_be_between", {"column": "x", "min_value": 0, "max_value": 10, "strict_max": True}),
    ("expect_column_values_to_be_between", {"column": "x", "max_value": 10}),
    ("expect_column_values_to_be_between", {"column": "x", "min_value": 0}),
    ("expect_column_values_to_be_between", {"column": "x", "max_value": 7.5, "mostly": 0.6}),  # passes
    ("expect_column_values_to_be_between", {"column": "x", "max_value": 7.5, "mostly": 0.9}),  # fails
    ("expect_column_values_to_be_between", {"column": "n", "min_value": 0, "max_value": 0}),
    ("expect_column_values_to_be_between", {"column": "i", "min_value": 2, "max_value": 6}),
    ("expect_column_values_to_be_between", {"column": "d", "min_value": 0, "strict_min": True}),
    ("expect_column_values_to_be_between", {"column": "z", "min_value": 0}),  # no finite value
    ("expect_column_values_to_be_between", {"column": "ts", "min_value": "2024-01-01 00:00:02",
                                            "max_value": "2024-01-01 00:00:06"}),
    ("expect_column_values_to_be_in_set", {"column": "s", "value_set": ["a", "b"]}),
    ("expect_column_values_to_be_in_set", {"column": "s", "value_set": ["a", "b"], "mostly": 0.6}),  # passes
    ("expect_column_values_to_be_in_set", {"column": "s", "value_set": ["a", "b", "c", "zz"]}),
    ("expect_column_values_to_be_in_set", {"column": "i", "value_set": [1, 2, 3]}),
    ("expect_compound_columns_to_be_unique", {"column_list": ["k1", "k2"]}),
    ("expect_compound_columns_to_be_unique", {"column_list": ["k1", "k2"], "mostly": 0.1}),
    ("expect_compound_columns_to_be_unique", {"column_list": ["k1", "k2"], "ignore_row_if": "any_value_is_missing"}),
    ("expect_compound_columns_to_be_unique", {"column_list": ["k1", "k2"], "ignore_row_if": "never"}),
    ("expect_compound_columns_to_be_unique", {"column_list": ["seq", "k1"]}),
    # pairs: equal values, one side missing (NULL or NaN), both missing, +/-inf
    ("expect_column_pair_values_a_to_be_greater_than_b", {"column_A": "x", "column_B": "z"}),
    ("expect_column_pair_values_a_to_be_greater_than_b", {"column_A": "x", "column_B": "i", "or_equal": True}),
    ("expect_column_pair_values_a_to_be_greater_than_b", {"column_A": "i", "column_B": "x"}),
    ("expect_column_pair_values_a_to_be_greater_than_b", {"column_A": "x", "column_B": "z",
                                                          "ignore_row_if": "either_value_is_missing"}),
    ("expect_column_pair_values_a_to_be_greater_than_b", {"column_A": "seq", "column_B": "x", "mostly": 0.5}),
    ("expect_column_pair_values_a_to_be_greater_than_b", {"column_A": "seq", "column_B": "i", "or_equal": True}),
    ("expect_table_columns_to_match_set", {"column_set": ["seq", "k1", "k2", "x", "n", "s", "ts", "i", "d", "z"],
                                           "exact_match": True}),
    ("expect_table_columns_to_match_set", {"column_set": ["seq", "k1"], "exact_match": True}),
    ("expect_table_columns_to_match_set", {"column_set": ["seq", "k1"], "exact_match": False}),
    ("expect_table_columns_to_match_set", {"column_set": ["seq", "nope"], "exact_match": False}),
]


def write_suite(folder: Path, name: str, rules: list[tuple[str, dict[str, Any]]], frame: dict[str, Any]) -> None:
    doc = {"name": name, "meta": {"frames": {"rows": frame}}, "expectations": [
        {"type": t, "kwargs": k, "meta": {"rule": f"r{i:02d}", "frame": "rows", "severity": "error"}}
        for i, (t, k) in enumerate(rules)]}
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.json").write_text(json.dumps(doc))


@pytest.mark.parametrize("id_columns", [["k1", "ts", "i"], []], ids=["id_columns", "no_id_columns"])
@pytest.mark.parametrize("where", ["", "WHERE false"], ids=["planted", "empty"])
@pytest.mark.parametrize("split", [False, True], ids=["one_query", "parts"])
def test_duckdb_evaluator_matches_ge_pandas(tmp_path, monkeypatch, id_columns, where, split):
    """The same frame through GE's pandas engine and through sql_eval: every field agrees."""
    from ingest.quality.sql_eval import SqlFrame

    write_suite(tmp_path, "planted", PLANTED_RULES, {"engine": "duckdb", "id_columns": id_columns})
    monkeypatch.setenv("TICKWH_EXPECTATIONS_DIR", str(tmp_path))
    con = duckdb.connect()
    sql = f"SELECT * FROM ({PLANTED}) {where}"
    parts = (f"SELECT k1, k2, x FROM ({sql})", f"SELECT n, s, ts, i, d, z, seq FROM ({sql})") if split else ()
    rel = SqlFrame(con, sql, order_by=("seq",), parts=parts)
    ge = run_suite("planted", {"rows": rel}, use_ge=True)  # the frame read into pandas, through GE
    pushed = run_suite("planted", {"rows": rel})
    scanned = run_suite("planted", {"rows": rel.to_df()})  # a pandas frame, scanned by DuckDB in place
    assert [(o.rule, o.success, o.unexpected_count, o.examples, o.observed_value) for o in scanned.outcomes] == \
        [(o.rule, o.success, o.unexpected_count, o.examples, o.observed_value) for o in pushed.outcomes]
    assert pushed.rows_by_frame == ge.rows_by_frame == {"rows": 0 if where else 7}
    assert [o.rule for o in pushed.outcomes] == [o.rule for o in ge.outcomes]
    for a, b in zip(ge.outcomes, pushed.outcomes, strict=True):
        assert b.exception is None and a.exception is None, (a.rule, a.exception, b.exception)
        assert (b.success, b.unexpected_count, b.element_count) == (a.success, a.unexpected_count, a.element_count), \
            (a.rule, a.kwargs)
        assert b.unexpected_percent == pytest.approx(a.unexpected_percent), (a.rule, a.kwargs)
        assert b.examples == a.examples, (a.rule, a.kwargs)
        assert b.observed_value == a.observed_value, (a.rule, a.kwargs)
    if not where:  # the planted frame exercises both outcomes, and mostly both ways
        assert {o.success for o in ge.outcomes} == {True, False}
        assert [o.success for o in ge.outcomes if o.kwargs.get("mostly")] == [True, True, False, True, True, False]


def test_unsupported_rule_in_a_duckdb_frame_is_refused_at_load(tmp_path, monkeypatch):
    from ingest.quality import SuiteDefinitionError
    from ingest.quality.sql_eval import SUPPORTED_TYPES

    monkeypatch.setenv("TICKWH_EXPECTATIONS_DIR", str(tmp_path))
    frame = {"engine": "duckdb", "id_columns": ["k1"]}
    regex = ("expect_column_values_to_match_regex", {"column": "s", "regex": "^a"})
    write_suite(tmp_path, "bad", [PLANTED_RULES[0], regex], frame)
    with pytest.raises(SuiteDefinitionError, match="rule r01 .*expect_column_values_to_match_regex") as err:
        load_suite("bad")
    assert all(t in str(err.value) for t in SUPPORTED_TYPES)
    # the same rule in a frame marked for GE's pandas engine is GE's business, and fine
    write_suite(tmp_path, "bad", [PLANTED_RULES[0], regex], {"engine": "pandas", "id_columns": ["k1"]})
    assert load_suite("bad").engine("rows") == "pandas"
    # frames are evaluated in DuckDB unless marked otherwise
    write_suite(tmp_path, "bad", [PLANTED_RULES[0], regex], {"id_columns": ["k1"]})
    with pytest.raises(SuiteDefinitionError, match="expect_column_values_to_match_regex"):
        load_suite("bad")
    # identifiers reach SQL text only when plain; kwargs the evaluator does not know are refused
    for rule, problem in [
        (("expect_column_values_to_not_be_null", {"column": 'x" OR 1=1 --'}), "plain identifiers"),
        (("expect_column_values_to_not_be_null", {"column": "x", "row_condition": "x > 1"}), "row_condition"),
        (("expect_column_values_to_be_between", {"column": "x"}), "both be None"),
        (("expect_column_values_to_be_in_set", {"column": "s", "value_set": [["a"]]}), "plain values"),
    ]:
        write_suite(tmp_path, "bad", [rule], frame)
        with pytest.raises(SuiteDefinitionError, match=problem):
            load_suite("bad")
    write_suite(tmp_path, "bad", [PLANTED_RULES[0]], {"engine": "duckdb", "id_columns": ["k1; DROP"]})
    with pytest.raises(SuiteDefinitionError, match="id column"):
        load_suite("bad")
    write_suite(tmp_path, "bad", [PLANTED_RULES[0]], {"engine": "spark"})
    with pytest.raises(SuiteDefinitionError, match="engine must be one of"):
        load_suite("bad")


def test_raw_rows_frames_are_evaluated_in_duckdb(baseline):
    """The big frames never leave DuckDB, and no shipped suite needs GE's pandas engine at run time
    (small frames are scanned in place by the same evaluator)."""
    from ingest.quality import prepare
    from ingest.quality.sql_eval import SqlFrame

    assert {load_suite(n).engine(f) for n in suite_names() for f in load_suite(n).frames} == {"duckdb"}
    with lakes.connect(baseline.home, read_only=True) as con:
        for name in ("raw_trades", "raw_book_snapshots"):
            frames = prepare(con, load_suite(name), D0)
            assert isinstance(frames["rows"], SqlFrame), name
        result = validate(con, "raw_trades", D0)
    assert result.rows_by_frame["rows"] == TRADES_PER_DAY
    assert result.outcome("side_valid").observed_value == {"distinct_sample": ["buy", "sell"]}


# The SQL and pandas the trades frames were built with before `ingest.quality.series`: the
# definition the numpy version is held to.
REFERENCE_TRADE_ROWS = """
    WITH t AS (SELECT * FROM raw.trades WHERE trade_date = $day),
    q AS (
        SELECT DISTINCT split_part(raw_line, ',', 1) AS exchange, split_part(raw_line, ',', 2) AS symbol,
               TRY_CAST(split_part(raw_line, ',', 5) AS BIGINT) AS seq
        FROM raw.quarantine
        WHERE dataset = 'trades' AND partition_date = $day AND rule <> 'duplicate_trade_id'),
    k AS (
        SELECT exchange, symbol, trade_seq AS seq, trade_id, 0 AS quarantined FROM t WHERE trade_seq IS NOT NULL
        UNION ALL
        SELECT exchange, symbol, seq, NULL, 1 FROM q WHERE seq IS NOT NULL),
    g AS (
        SELECT exchange, symbol, trade_id, quarantined,
               seq - lag(seq) OVER (PARTITION BY exchange, symbol ORDER BY seq, quarantined) - 1 AS seq_gap
        FROM k)
    SELECT t.exchange, t.symbol, t.ts, t.trade_id, t.trade_seq, t.side,
           CAST(t.price AS DOUBLE) AS price, CAST(t.amount AS DOUBLE) AS amount, t.source_file,
           (epoch_us(t.ts) - $start) / 1e6 AS day_offset_s,
           (epoch_us(t.ts) - $now) / 1e6 AS seconds_ahead_of_now,
           g.seq_gap,
           abs(CAST(t.price AS DOUBLE) / lag(CAST(t.price AS DOUBLE)) OVER (
               PARTITION BY t.exchange, t.symbol ORDER BY t.ts, t.trade_seq, t.trade_id) - 1) * 100 AS abs_move_pct
    FROM t LEFT JOIN g ON g.quarantined = 0 AND g.exchange = t.exchange AND g.symbol = t.symbol
                      AND g.trade_id = t.trade_id
    ORDER BY t.exchange, t.symbol, t.ts, t.trade_seq, t.trade_id"""

REFERENCE_TRADE_SYMBOLS = """
    WITH t AS (SELECT exchange, symbol, ts, local_ts, trade_seq, trade_id FROM raw.trades WHERE trade_date = $day),
    o AS (
        SELECT exchange, symbol, ts,
               CAST(ts < lag(ts) OVER (PARTITION BY exchange, symbol
                    ORDER BY coalesce(trade_seq, epoch_us(local_ts)), trade_id) AS INTEGER) AS back,
               epoch_us(ts) - epoch_us(lag(ts) OVER (PARTITION BY exchange, symbol ORDER BY ts)) AS gap_us
        FROM t),
    a AS (
        SELECT exchange, symbol, count(*) AS trades, min(ts) AS first_ts, max(ts) AS last_ts,
               sum(back) / count(*) AS out_of_order_share,
               coalesce(max(gap_us), 0) / 1e6 AS max_gap_s,
               CASE WHEN count(*) > 1 AND max(ts) > min(ts)
                    THEN (epoch_us(max(ts)) - epoch_us(min(ts))) / 1e6 / (count(*) - 1) END AS mean_gap_s,
               greatest(epoch_us(min(ts)) - $start, least($end, $now) - epoch_us(max(ts)), 0) / 1e6 AS edge_gap_s
        FROM o GROUP BY exchange, symbol)
    SELECT *, max_gap_s / mean_gap_s AS stale_ratio, edge_gap_s / mean_gap_s AS edge_ratio
    FROM a ORDER BY exchange, symbol"""


def reference_spike_scores(df, window: int, floor_bps: float):
    import numpy as np

    keys = [df["exchange"], df["symbol"]]
    price = df["price"].astype("float64")

    def rolling_median(s):
        return s.rolling(window, center=True, min_periods=1).median()

    med = price.groupby(keys, sort=False).transform(rolling_median)
    dev = (price - med).abs()
    scale = dev.groupby(keys, sort=False).transform(rolling_median)
    return dev / np.maximum(scale, price * floor_bps / 1e4)


def planted_trades_day(con: duckdb.DuckDBPyConnection, day: dt.date) -> None:
    """A day that exercises every ordering rule: shuffled rows, equal timestamps broken by id,
    non-integer ids (ties broken by trade_id, local_ts missing), timestamps against id order,
    id gaps with quarantined ids filling some, a spike, a flat stretch and tiny symbols."""
    import random

    from ingest.warehouse import ensure_raw_schema

    ensure_raw_schema(con)
    rnd = random.Random(5)
    t0 = int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp()) * 1_000_000
    rows: list[tuple] = []

    def add(exchange: str, symbol: str, ts: int, trade_id: str, price: float, local: int | None = 0) -> None:
        seq = int(trade_id) if trade_id.isdigit() else None
        rows.append((day, exchange, symbol, dt.datetime.fromtimestamp(ts / 1e6, dt.UTC).replace(tzinfo=None),
                     None if local is None else dt.datetime.fromtimestamp((ts + local) / 1e6, dt.UTC)
                     .replace(tzinfo=None), trade_id, seq, rnd.choice(["buy", "sell"]), round(price, 8),
                     round(rnd.uniform(0.001, 2), 8), f"{exchange}_trades_{day}.csv.gz"))

    price, ts = 100.0, t0
    for i in range(2500):  # long enough for the fast rolling median; ties in ts every 7th trade
        ts += 0 if i % 7 == 3 else rnd.randint(1, 2_000_000)
        price = 100.0 if 1200 <= i < 1400 else price * (1 + rnd.gauss(0, 4e-4))  # a flat stretch
        if i in (400, 401, 402, 900):  # ids vanish (some quarantined below)
            continue
        add("simex", "BIGUSDT", ts, str(10_000 + i), price * (1.3 if i == 2000 else 1), local=rnd.randint(0, 9))
    price, ts = 50.0, t0
    for i in range(1500):  # same symbol at another venue: timestamps out of id order
        ts += rnd.randint(1, 3_000_000)
        price *= 1 + rnd.gauss(0, 5e-4)
        jitter = -rnd.randint(1, 9_000_000) if i % 97 == 5 else 0
        add("otherx", "BIGUSDT", ts + jitter, str(500 + i), price)
    ts = t0
    for i in range(60):  # non-integer ids, many equal timestamps, some without local_ts
        ts += rnd.choice([0, 0, 1_000_000])
        add("simex", "STRIDUSDT", ts, rnd.choice("abcdefgh") + f"{i:03d}"[::-1], 10 + rnd.random(),
            local=None if i % 4 == 0 else rnd.randint(0, 3))
    for i, n in enumerate([1, 2, 30]):  # tiny symbols
        for j in range(n):
            add("simex", f"TINY{i}USDT", t0 + j * 1_000_000 + i, str(j + 1), 5 + j % 3)
    rnd.shuffle(rows)  # scan order says nothing
    con.execute("BEGIN TRANSACTION")  # one lake snapshot for the planted day
    con.executemany("INSERT INTO raw.trades VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    for rule, line in [("non_positive_price", "simex,BIGUSDT,0,0,10400,buy,-1,1"),
                       ("non_positive_price", "simex,BIGUSDT,0,0,10401,buy,-1,1"),
                       ("duplicate_trade_id", "simex,BIGUSDT,0,0,10900,buy,1,1"),  # not a delivered id
                       ("unparseable_value", "simex,BIGUSDT,0,0,10500,buy,x,1"),  # equal to a trade's id
                       ("unparseable_value", "otherx,BIGUSDT,0,0,not-an-id,buy,x,1")]:
        con.execute("INSERT INTO raw.quarantine (dataset, partition_date, source_file, source_line, rule, reason, "
                    "raw_line) VALUES ('trades', ?, 'f', 1, ?, 'r', ?)", [day, rule, line])
    con.execute("COMMIT")


def test_trade_series_match_the_window_definitions(tmp_path):
    """seq_gap, abs_move_pct, spike_score and the symbols frame, computed per symbol in numpy, equal
    the SQL windows and pandas rolling medians they replaced, on a day built to trip every order."""
    import pandas as pd

    from ingest.quality import prepare

    day, now = D0, dt.datetime(2024, 3, 1, 12, tzinfo=dt.UTC)
    with lakes.connect(tmp_path) as con:
        planted_trades_day(con, day)
        suite = load_suite("raw_trades")
        frames = prepare(con, suite, day, now)
        start = int(dt.datetime(2024, 3, 1, tzinfo=dt.UTC).timestamp()) * 1_000_000
        params = {"day": day, "start": start, "end": start + 86_400_000_000, "now": int(now.timestamp() * 1e6)}
        rows = con.execute(REFERENCE_TRADE_ROWS, {k: params[k] for k in ("day", "start", "now")}).df()
        symbols = con.execute(REFERENCE_TRADE_SYMBOLS, params).df()
        mine = frames["rows"].to_df()
        mine_symbols = frames["symbols"].to_df() if hasattr(frames["symbols"], "to_df") else frames["symbols"]
    rows["spike_score"] = reference_spike_scores(rows, suite.params["spike_window_trades"],
                                                 suite.params["spike_floor_bps"])
    assert len(mine) == len(rows) > 4000
    # 10402 and 10900 are missing (10400-10401 were quarantined, so delivered); the spike stands out
    assert list(rows.loc[rows["seq_gap"].fillna(0) > 0, "trade_seq"]) == [10403, 10901]
    assert rows["spike_score"].max() > 40 and rows["seq_gap"].isna().sum() > 60
    pd.testing.assert_frame_equal(mine, rows, check_exact=False, rtol=1e-12, atol=0)
    pd.testing.assert_frame_equal(mine_symbols, symbols, check_exact=False, rtol=1e-12, atol=0)
    assert symbols["out_of_order_share"].max() > 0


def test_trade_series_group_ids_without_hashing(tmp_path):
    """Two symbols whose hashes collide would be merged: the fallback path names groups exactly."""
    from ingest.quality import series

    with lakes.connect(tmp_path) as con:
        planted_trades_day(con, D0)
        (fast, _), (exact, _) = series._fetch(con, D0), series._fetch(con, D0, by_hash=False)
        assert len(fast.keys) == len(exact.keys) == 6
        named = {int(r): fast.keys[g] for r, g in zip(fast.row_id, fast.gid, strict=True)}
        assert named == {int(r): exact.keys[g] for r, g in zip(exact.row_id, exact.gid, strict=True)}
        assert len(set(named.values())) == 6


@pytest.mark.parametrize("window", [1, 2, 7, 100, 101])
def test_rolling_median_is_pandas_rolling_median(window):
    import numpy as np
    import pandas as pd

    from ingest.quality.series import rolling_median

    rnd = np.random.default_rng(window)
    for n in (0, 1, 5, 150, 1200, 5000):
        x = np.round(rnd.normal(100, 1, n), 1)  # rounded: many equal values
        expected = pd.Series(x).rolling(window, center=True, min_periods=1).median().to_numpy()
        np.testing.assert_array_equal(rolling_median(x, window), expected)
    x[17] = np.nan
    expected = pd.Series(x).rolling(window, center=True, min_periods=1).median().to_numpy()
    np.testing.assert_array_equal(rolling_median(x, window), expected)


def test_pairwise_level_order_check_equals_sort_and_distinct():
    """raw_book_snapshots' bad_levels tests order pairwise; the old form sorted and deduplicated."""
    from ingest.quality.prep import LEVELS_OUT_OF_ORDER

    old = """CASE WHEN b = list_sort(b, 'DESC') AND a = list_sort(a, 'ASC')
                  AND len(list_distinct(b)) = len(b) AND len(list_distinct(a)) = len(a) THEN 0 ELSE 1 END"""
    new = LEVELS_OUT_OF_ORDER.format(bids="b", asks="a")
    lists = ["[]", "[1.0]", "[3.0, 2.0, 1.0]", "[3.0, 3.0, 1.0]", "[1.0, 2.0]", "[NULL, 1.0]", "[2.0, NULL]",
             "['nan'::DOUBLE, 2.0]", "[2.0, 'nan'::DOUBLE]", "['nan'::DOUBLE, 'nan'::DOUBLE]", "['inf'::DOUBLE, 1.0]",
             "[1.0, '-inf'::DOUBLE]", "[0.0, -0.0]", "[2.0, 1.0, 1.5]", "['nan'::DOUBLE, 'nan'::DOUBLE, 1.0]"]
    asks = [s.replace("3.0, 2.0, 1.0", "1.0, 2.0, 3.0") for s in lists]
    pairs = ", ".join(f"({b}::DOUBLE[], {a}::DOUBLE[])" for b in lists for a in asks)
    with duckdb.connect() as con:
        got = con.execute(f"SELECT {old} AS old, {new} AS new FROM (VALUES {pairs}) t(b, a)").fetchall()
    assert len(got) == len(lists) ** 2 and {o for o, _ in got} == {0, 1}
    assert all(o == n for o, n in got)


def test_a_failed_dbt_test_is_reported_in_full_once_and_recorded_for_its_day(baseline, tmp_path, capfd):
    """Without -v a dbt build logs one summary line; when a dbt test fails, that line is an ERROR that
    carries dbt's own failure report; dbt's per-node lines stay out; the failed test's check is
    recorded against the run's day."""
    lakes.copy_home_lake(baseline.home, tmp_path)
    with lakes.connect(tmp_path) as con:  # a side the staging test does not accept, past the loader
        con.execute("UPDATE raw.trades SET side = 'sideways' WHERE trade_date = ? AND trade_seq = "
                    "(SELECT min(trade_seq) FROM raw.trades WHERE trade_date = ?)", [D0, D0])
    instance = DagsterInstance.ephemeral()
    result = materialize([dbt_daily_marts], resources=resources(tmp_path), partition_key=D0.isoformat(),
                         instance=instance, raise_on_error=False)
    assert not result.success
    failed = [e for e in result.get_asset_check_evaluations() if e.check_name.startswith("accepted_values_stg_trades")]
    assert [(e.partition, e.passed) for e in failed] == [(D0.isoformat(), False)]
    logs = [e for e in instance.all_logs(result.run_id) if e.user_message.startswith("dbt build of ")]
    assert len(logs) == 1, [e.user_message for e in logs]
    message = logs[0].user_message
    assert logs[0].level == logging.ERROR
    assert message.startswith(f"dbt build of dbt_daily_marts for {D0}..{D0}: ")
    assert ", 1 error, " in message.splitlines()[0]
    assert "Completed with 1 error" in message
    assert "Failure in test accepted_values_stg_trades_side" in message and "Got 1 result" in message
    out = capfd.readouterr().out
    assert not [line for line in out.splitlines() if " START " in line or " PASS " in line], out[-2000:]
