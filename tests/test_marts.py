"""The mart list ingest uses comes from dbt's manifest, checked before use."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ingest.cold.layout import ALL_TABLES, MART_TABLES
from ingest.marts import DEFAULT_MANIFEST, ENV_MANIFEST, MartCatalogError, archived_marts, mart, marts

ARCHIVED = ["ohlcv_1m", "ohlcv_5m", "ohlcv_15m", "ohlcv_1h", "ohlcv_1d", "daily_stats", "funding_rates",
            "open_interest_1h", "perp_basis_1m", "quotes_1m"]


def test_the_manifest_names_every_mart_and_the_archived_ones() -> None:
    assert {m.name for m in marts()} == {
        *ARCHIVED, "ohlcv_1m_filled", "rollup_weekly", "rollup_monthly", "market_daily_summary",
    }
    assert {m.name for m in archived_marts()} == set(ARCHIVED)
    assert [t.name for t in MART_TABLES] == ARCHIVED
    assert [t.name for t in ALL_TABLES] == ["raw_trades", "raw_book_snapshots", "raw_quotes", "raw_derivative_ticker",
                                           "raw_liquidations", *ARCHIVED]
    assert {m.name: m.window_column for m in marts()}["rollup_weekly"] is None
    assert mart("ohlcv_1h").relation == "marts.ohlcv_1h"
    assert mart("daily_stats").cold_time_column == "bar_date"
    with pytest.raises(MartCatalogError, match="no mart 'ohlcv_2m'"):
        mart("ohlcv_2m")


def test_a_missing_manifest_names_dbt_parse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_MANIFEST, str(tmp_path / "manifest.json"))
    with pytest.raises(MartCatalogError, match="run `dbt parse`"):
        marts()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda doc: "{not json", "cannot read the dbt manifest"),
        (lambda doc: {**doc, "metadata": {"dbt_schema_version": "x"}}, "not a dbt manifest"),
        (lambda doc: _renamed(doc, "ohlcv_1m", "ohlcv_1m; DROP TABLE raw.trades"), "not a plain lower-case SQL name"),
        (lambda doc: _cold(doc, "ohlcv_1m", "bucket_start, 1"), "not a plain lower-case SQL name"),
        (lambda doc: {**doc, "nodes": {}}, "no model in schema 'marts'"),
    ],
)
def test_a_manifest_that_says_something_unusable_is_refused(tmp_path: Path, change, message: str) -> None:
    doc = json.loads(DEFAULT_MANIFEST.read_text())
    changed = change(doc)
    path = tmp_path / "manifest.json"
    path.write_text(changed if isinstance(changed, str) else json.dumps(changed))
    with pytest.raises(MartCatalogError, match=message):
        marts(path)


def _node(doc: dict, name: str) -> dict:
    return doc["nodes"][f"model.tickwarehouse.{name}"]


def _renamed(doc: dict, name: str, new: str) -> dict:
    _node(doc, name)["name"] = new
    return doc


def _cold(doc: dict, name: str, time_column: str) -> dict:
    _node(doc, name)["config"]["meta"]["cold"] = {"time_column": time_column}
    return doc


def test_a_manifest_older_than_a_model_is_stale(tmp_path):
    """After a pull that changed a model, the old manifest would list the old marts: it is parsed again."""
    import os

    from ingest.marts import is_stale

    project, manifest = tmp_path / "project", tmp_path / "project" / "target" / "manifest.json"
    (project / "models" / "marts").mkdir(parents=True)
    model = project / "models" / "marts" / "daily_stats.sql"
    model.write_text("select 1")
    (project / "dbt_project.yml").write_text("name: x")
    assert is_stale(manifest, project)  # missing
    manifest.parent.mkdir()
    manifest.write_text("{}")
    for f in (model, project / "dbt_project.yml"):
        os.utime(f, ns=(1_000_000_000_000, 1_000_000_000_000))
    os.utime(manifest, ns=(2_000_000_000_000, 2_000_000_000_000))
    assert not is_stale(manifest, project)
    os.utime(model, ns=(3_000_000_000_000, 3_000_000_000_000))
    assert is_stale(manifest, project)
