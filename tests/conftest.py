"""Shared fixtures: real files on disk, real DuckDB, a parsed dbt project."""

from __future__ import annotations

import gzip
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from ingest.cold.seaweed import SeaweedServer
from ingest.landing import trades_header

REPO = Path(__file__).resolve().parents[1]
REAL_DATA = REPO.parent / "shared" / "data" / "real"
REAL_TRADES = REAL_DATA / "binance-futures_trades_2020-02-22_BTCUSDT_partial.csv"

TRADES_HEADER = trades_header()


def write_gz(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", newline="") as fh:
        fh.write("\n".join(lines) + ("\n" if lines else ""))
    return path


@pytest.fixture
def tickwh_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private TICKWH_HOME so nothing a test writes touches the developer's var/."""
    home = tmp_path / "var"
    home.mkdir()
    monkeypatch.setenv("TICKWH_HOME", str(home))
    # The lake follows TICKWH_HOME unless these point elsewhere; a developer's shell must not leak in.
    for var in ("TICKWH_LAKE_CATALOG", "TICKWH_LAKE_DATA", "TICKWH_LAKE_S3_ENDPOINT"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("TICKWH_LANDING_ROOT", str(home / "landing"))
    monkeypatch.setenv("DAGSTER_HOME", str(home / "dagster_home"))
    (home / "dagster_home").mkdir()
    yield home


@pytest.fixture(scope="session")
def real_trades_file() -> Path:
    if not REAL_TRADES.exists():
        pytest.fail(f"real sample file missing: {REAL_TRADES}")
    return REAL_TRADES


@pytest.fixture(scope="session", autouse=True)
def _quiet_env() -> None:
    os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "1")


def pytest_configure(config: pytest.Config) -> None:
    """Parse the dbt project before any test module imports the Dagster definitions.

    `@dbt_assets` reads the manifest at import, so a stale manifest would test stale models.
    Under pytest-xdist only the controller parses: workers start after it, and two parses at once
    would write the same target/ folder.
    """
    if hasattr(config, "workerinput"):
        return
    import subprocess
    import sys

    if os.environ.get("TICKWH_TEST_JAIL") == "1":  # tests/test_error_contract.py's jail: its parent parsed it
        return
    dbt = Path(sys.executable).parent / "dbt"
    project = REPO / "dbt_project"
    subprocess.run(
        [str(dbt), "parse", "--quiet", "--project-dir", str(project), "--profiles-dir", str(project)],
        check=True,
        cwd=project,
    )


# The longest files first: under `--dist loadfile` (make test) a long file started last keeps one
# worker busy while the others have nothing left. make test passes `--no-loadscope-reorder`: xdist would
# otherwise order the files by their number of tests, and test_distributed.py (11 tests, ~9 min) went late.
# Longest first (seconds summed over each file's tests in CI19, 3 workers on 2 cores), so that no long file starts
# last and holds the run open alone.
LONG_FIRST = ("test_distributed.py", "test_lake.py", "test_after_demo.py", "test_quality.py", "test_dbt_models.py",
              "test_pipeline.py", "test_catchup.py", "test_ranged_run_failure.py", "test_cold.py", "test_schedules.py",
              "test_cold_outages.py", "test_dbt_derivatives.py", "test_research.py", "test_quotes_days.py",
              "test_ui_browser.py", "test_lake_shared.py", "test_live.py", "test_retention_content.py",
              "test_trades_only.py", "test_not_evaluated.py", "test_run_cost.py", "test_monitoring.py",
              "test_bench_smoke.py")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(LONG_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(LONG_FIRST)))  # stable: files stay whole, in order


@pytest.fixture(scope="module")
def s3_credentials() -> Iterator[tuple[str, str]]:
    """A throwaway identity, handed to the server's -s3.config and to clients through the AWS_* variables."""
    saved = {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    key, secret = "test" + secrets.token_hex(6), secrets.token_urlsafe(24)
    os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"] = key, secret
    yield key, secret
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(scope="module")
def seaweed(tmp_path_factory: pytest.TempPathFactory, s3_credentials: tuple[str, str]) -> Iterator[SeaweedServer]:
    key, secret = s3_credentials
    server = SeaweedServer(tmp_path_factory.mktemp("seaweed"), access_key=key, secret_key=secret).start()
    try:
        yield server
    finally:
        server.stop(timeout=1.0)
