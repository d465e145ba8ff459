"""`tickwh`, the console script pyproject declares, run as a real subprocess the way a user types it."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from tickwh.cli import COMMANDS

TICKWH = Path(sys.executable).parent / "tickwh"
HELP_BUDGET_S = 15.0  # "fast": no Dagster/dbt import behind --help (a few seconds at most on a busy 2-core box)


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(TICKWH), *args], capture_output=True, text=True, timeout=120)


def test_tickwh_help_lists_every_command() -> None:
    assert TICKWH.exists(), "run `make install`: the console script is missing"
    result = run("--help")
    assert result.returncode == 0, result.stderr
    for name, command in COMMANDS.items():
        assert f"  {name} " in result.stdout, name
        assert command.help in result.stdout
    assert result.stderr == ""


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_each_command_has_a_fast_help(name: str) -> None:
    t0 = time.monotonic()
    result = run(*name.split(), "--help")
    elapsed = time.monotonic() - t0
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: tickwh {name}"), result.stdout[:200]
    assert "Traceback" not in result.stderr
    assert elapsed < HELP_BUDGET_S, f"{name} --help took {elapsed:.1f}s"
    # A help that imports the pipeline would print Dagster's or dbt's log lines.
    assert "dagster" not in result.stderr.lower()


def test_group_and_unknown_command() -> None:
    cold = run("cold", "--help")
    assert cold.returncode == 0
    assert [line.split()[0:2] for line in cold.stdout.splitlines() if line.startswith("  cold ")] == [
        ["cold", "down"], ["cold", "env"], ["cold", "run"], ["cold", "status"], ["cold", "up"]]
    unknown = run("frobnicate")
    assert unknown.returncode == 2
    assert "unknown command 'frobnicate'" in unknown.stderr


def test_help_does_not_import_the_pipeline() -> None:
    code = ("import sys; from tickwh.cli import main; main(['--help']);"
            "print(sorted(m for m in ('dagster', 'dbt', 'duckdb', 'orchestration') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"


def test_history_with_nothing_found_says_where_it_looked(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "TICKWH_HOME": str(tmp_path), "HOME": str(tmp_path)}
    result = subprocess.run([str(TICKWH), "history", "ohlcv", "BTCUSDT", "--start", "2024-01-01", "--end",
                             "2024-01-04", "--no-warm"], capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""  # no empty frame
    # Which tiers were searched and what they hold, in words: no config repr, no unrelated hint.
    assert result.stderr.splitlines() == [
        "no rows for BTCUSDT 2024-01-01..2024-01-04; cold tier holds none (warm lake not searched)",
    ]
