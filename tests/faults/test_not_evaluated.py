"""Row 8: a check that compared nothing is "not evaluated", never green.

`ohlcv_1m_matches_exchange_klines` on real Binance-futures trades (2020-02-22) with klines built
from them, and `hot_tier_matches_warm`, each in the situations where there is nothing to
compare: no reference configured (skipped: Dagster records no evaluation), reference configured
but no klines for the day (WARN, `evaluated: false`, the reason, the symbols without
reference), a day older than the hot retention (WARN, `evaluated: false`), and the default
set-up with the live path off (skipped, the hot tier is not even opened).
"""

from __future__ import annotations

import datetime as dt
import gzip
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from dagster import (
    AssetCheckKey,
    AssetCheckSeverity,
    AssetKey,
    AssetSelection,
    DagsterInstance,
    materialize,
)
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus
from dagster._core.storage.dagster_run import DagsterRun

from orchestration.defs.live.checks import hot_tier_matches_warm
from orchestration.defs.live.resources import HotTierResource
from orchestration.defs.marts.assets import dbt_daily_marts
from orchestration.defs.marts.project import dbt_resource
from orchestration.defs.raw.assets import raw_trades
from orchestration.defs.vendors.assets import binance_klines_reference
from orchestration.defs.vendors.checks import CHECK_NAME, ohlcv_1m_matches_exchange_klines
from orchestration.defs.vendors.resources import VendorSourceResource
from orchestration.lib.resources import LandingZoneResource, WarehouseResource
from tests.conftest import REAL_TRADES, TRADES_HEADER
from tests.test_vendors import binance_klines_from_tardis_trades, write_klines_zip

D1 = dt.date(2020, 2, 22)  # real BTCUSDT trades + their klines; ETHUSDT trades without klines
D2 = dt.date(2020, 2, 23)  # BTCUSDT trades, no klines loaded
KLINES_KEY = AssetCheckKey(AssetKey("ohlcv_1m"), CHECK_NAME)
HOT_KEY = AssetCheckKey(AssetKey("raw_trades"), "hot_tier_matches_warm")


@dataclass
class Home:
    root: Path
    landing: Path
    warehouse: Path
    reference: Path

    def resources(self, **extra: Any) -> dict[str, Any]:
        return {"warehouse": WarehouseResource.at(self.root),
                "landing": LandingZoneResource(root=str(self.landing)), "dbt": dbt_resource(), **extra}

    def configured(self) -> VendorSourceResource:
        return VendorSourceResource(vendor="binance", market="usdm", path=str(self.reference), symbols=["BTCUSDT"])


def _small_day(path: Path, symbol: str, day: dt.date, n: int) -> None:
    t0 = int(dt.datetime.combine(day, dt.time(), dt.UTC).timestamp()) * 1_000_000
    with gzip.open(path, "wt") as fh:
        fh.write(TRADES_HEADER + "\n" + "".join(
            f"binance-futures,{symbol},{t0 + i * 7_000_000},{t0 + i * 7_000_000 + 5},{i},buy,{100 + i},1\n"
            for i in range(1, n + 1)))


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Home]:
    root = tmp_path_factory.mktemp("not_evaluated")
    h = Home(root, root / "landing", root / "lake", root / "binance")
    h.landing.mkdir()
    shutil.copy(REAL_TRADES, h.landing / REAL_TRADES.name)
    _small_day(h.landing / f"binance-futures_trades_{D1}_ETHUSDT.csv.gz", "ETHUSDT", D1, 20)
    _small_day(h.landing / f"binance-futures_trades_{D2}_BTCUSDT.csv.gz", "BTCUSDT", D2, 30)
    write_klines_zip(h.reference / "data" / "futures" / "um" / "daily" / "klines" / "BTCUSDT" / "1m",
                     binance_klines_from_tardis_trades(REAL_TRADES))
    resources = h.resources(binance_reference=h.configured())
    assert materialize([raw_trades, dbt_daily_marts, binance_klines_reference], resources=resources,
                       partition_key=D1.isoformat()).success
    assert materialize([raw_trades, dbt_daily_marts], resources=resources, partition_key=D2.isoformat()).success
    yield h


def _run(assets: list[Any], resources: dict[str, Any], day: dt.date) -> tuple[Any, DagsterInstance]:
    """raw_trades (cheap to reload) plus the check: a checks-only run cannot take a partition key."""
    instance = DagsterInstance.ephemeral()
    selection = AssetSelection.assets(raw_trades) | AssetSelection.checks(assets[-1])
    result = materialize(assets, resources=resources, partition_key=day.isoformat(), instance=instance,
                         selection=selection)
    assert result.success  # not-evaluated is never a failed run
    return result, instance


def _skipped(result: Any, instance: DagsterInstance, key: AssetCheckKey, reason: str) -> None:
    """No evaluation at all: the check was planned, the run finished, no result (the UI says Skipped)."""
    assert [e for e in result.get_asset_check_evaluations() if e.check_name == key.name] == []
    record = instance.event_log_storage.get_latest_asset_check_execution_by_key([key])[key]
    assert record.status == AssetCheckExecutionRecordStatus.PLANNED and record.run_id == result.run_id
    messages = [r.user_message for r in instance.all_logs(result.run_id)]
    assert any(f"{key.name} not evaluated: " in m and reason in m for m in messages), messages


def _evaluation(result: Any, name: str) -> Any:
    [evaluation] = [e for e in result.get_asset_check_evaluations() if e.check_name == name]
    return evaluation


def test_klines_check_compares_and_lists_symbols_missing_from_the_reference(home: Home) -> None:
    result, _ = _run([raw_trades, ohlcv_1m_matches_exchange_klines],
                     home.resources(binance_reference=home.configured()), D1)
    ev = _evaluation(result, CHECK_NAME)
    meta = {k: v.value for k, v in ev.metadata.items()}
    assert ev.passed and meta["evaluated"] is True
    assert (meta["minutes_compared"], meta["hours_compared"]) == (126, 3)
    assert meta["symbols_missing_from_reference"] == [f"binance-futures:ETHUSDT {D1}"]
    assert f"not compared (no reference klines): binance-futures:ETHUSDT {D1}" in ev.description


def test_klines_check_with_reference_configured_but_none_for_the_day_is_a_warning(home: Home) -> None:
    result, _ = _run([raw_trades, ohlcv_1m_matches_exchange_klines],
                     home.resources(binance_reference=home.configured()), D2)
    ev = _evaluation(result, CHECK_NAME)
    meta = {k: v.value for k, v in ev.metadata.items()}
    assert not ev.passed and ev.severity == AssetCheckSeverity.WARN
    assert meta["evaluated"] is False
    assert meta["reason"] == f"no reference klines for [{D2}, {D2 + dt.timedelta(days=1)}): nothing to compare"
    assert ev.description == f"not evaluated: {meta['reason']}"
    assert meta["symbols_missing_from_reference"] == [f"binance-futures:BTCUSDT {D2}"]


def test_klines_check_without_a_reference_does_not_evaluate(home: Home, tmp_path: Path) -> None:
    unconfigured = VendorSourceResource(path="")
    # The day has no klines and nothing is configured: the default set-up.
    result, instance = _run([raw_trades, ohlcv_1m_matches_exchange_klines],
                            home.resources(binance_reference=unconfigured), D2)
    _skipped(result, instance, KLINES_KEY, "binance_reference is not configured")
    # A warehouse that never saw a reference table at all.
    fresh = Home(tmp_path, home.landing, tmp_path / "fresh.duckdb", tmp_path / "none")
    result, instance = _run([raw_trades, ohlcv_1m_matches_exchange_klines],
                            fresh.resources(binance_reference=unconfigured), D2)
    _skipped(result, instance, KLINES_KEY, "no reference klines loaded")


def test_hot_check_in_the_default_set_up_does_not_evaluate_or_open_the_hot_tier(
    home: Home, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TICKWH_LIVE", raising=False)
    monkeypatch.delenv("TICKWH_CLICKHOUSE_URL", raising=False)
    hot = HotTierResource(path=str(tmp_path / "chdb"))
    assert hot.live is None
    result, instance = _run([raw_trades, hot_tier_matches_warm], home.resources(hot=hot), D1)
    _skipped(result, instance, HOT_KEY, "no hot_load run on this instance")
    assert not (tmp_path / "chdb").exists()
    monkeypatch.setenv("TICKWH_LIVE", "0")
    result, instance = _run([raw_trades, hot_tier_matches_warm],
                            home.resources(hot=HotTierResource(path=str(tmp_path / "chdb"))), D1)
    _skipped(result, instance, HOT_KEY, "TICKWH_LIVE is off")
    assert not (tmp_path / "chdb").exists()


def test_hot_check_for_a_day_older_than_the_retention_is_not_evaluated(home: Home, tmp_path: Path) -> None:
    hot = HotTierResource(path=str(tmp_path / "chdb"), ttl_hours=24, ttl_basis="event", live=True)
    result, _ = _run([raw_trades, hot_tier_matches_warm], home.resources(hot=hot), D1)
    ev = _evaluation(result, "hot_tier_matches_warm")
    meta = {k: v.value for k, v in ev.metadata.items()}
    assert not ev.passed and ev.severity == AssetCheckSeverity.WARN and meta["evaluated"] is False
    assert meta["days_not_evaluated"] == [str(D1)]
    assert f"{D1} lie wholly before the hot tier's retention horizon" in meta["reason"]
    assert "0 minutes compared" in meta["reason"]
    assert not (tmp_path / "chdb").exists()  # nothing to ask the hot tier


def test_hot_check_evaluates_once_hot_load_has_run(home: Home, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Auto mode: a hot_load run on the instance means the live path runs; an empty hot tier then warns."""
    monkeypatch.delenv("TICKWH_LIVE", raising=False)
    instance = DagsterInstance.ephemeral()
    instance.add_run(DagsterRun(job_name="hot_load", run_id="0" * 8 + "-0000-0000-0000-" + "0" * 12))
    hot = HotTierResource(path=str(tmp_path / "chdb"), ttl_hours=0)
    result = materialize([raw_trades, hot_tier_matches_warm], resources=home.resources(hot=hot),
                         partition_key=D2.isoformat(), instance=instance)
    assert result.success
    ev = _evaluation(result, "hot_tier_matches_warm")
    meta = {k: v.value for k, v in ev.metadata.items()}
    assert meta["evaluated"] is True and not ev.passed
    assert (meta["trades_warm"], meta["trades_hot"], meta["minutes_only_warm"]) == (30, 0, 4)


def test_a_ranged_run_records_the_klines_result_for_each_day_it_covered(home: Home) -> None:
    """One run over D1..D2 (a backfill as one run): the comparison's result is recorded against each
    day, so neither day is left planned (the UI would say Skipped although the check ran)."""
    instance = DagsterInstance.ephemeral()
    selection = AssetSelection.assets(raw_trades) | AssetSelection.checks(ohlcv_1m_matches_exchange_klines)
    result = materialize([raw_trades, ohlcv_1m_matches_exchange_klines],
                         resources=home.resources(binance_reference=home.configured()), instance=instance,
                         selection=selection, tags={"dagster/asset_partition_range_start": D1.isoformat(),
                                                    "dagster/asset_partition_range_end": D2.isoformat()})
    assert result.success
    evaluations = [e for e in result.get_asset_check_evaluations() if e.check_name == CHECK_NAME]
    assert [e.partition for e in evaluations] == [D1.isoformat(), D2.isoformat()]
    assert len({(e.passed, e.severity, e.description) for e in evaluations}) == 1  # one comparison, both days
    assert all(e.metadata["window"].value == f"{D1}..{D2}" for e in evaluations)
    records = instance.event_log_storage.get_asset_check_execution_history(KLINES_KEY, limit=10)
    statuses = {r.partition: r.status for r in records if r.run_id == result.run_id}
    assert set(statuses) == {D1.isoformat(), D2.isoformat()}
    assert AssetCheckExecutionRecordStatus.PLANNED not in statuses.values(), statuses
