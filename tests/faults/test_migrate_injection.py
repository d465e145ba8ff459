"""Defect 1 of issue 22: `tickwh lake migrate` must never paste a table name from the source file into SQL.

The source file holds a good table and one whose name is a statement (`x AS SELECT 1 AS a; COPY
(...) TO 'canary.csv'; --`). Before the fix the COPY ran (the canary file appeared in the working
folder) and the good table stayed committed in the lake. Now: one line naming the table, exit 2,
no canary anywhere, and the lake exactly as it was (same snapshot, same tables, same content).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from ingest import lake
from ingest.lake_admin import UnsafeTableNameError, fingerprints, migrate
from ingest.sql import UnsafeSqlTextError, is_plain_ident, plain_ident, qualified, quote_ident, sql_literal

REPO = Path(__file__).resolve().parents[2]
HOSTILE = "x AS SELECT 1 AS a; COPY (SELECT 'injected' AS v) TO 'canary.csv'; --"


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "src" / "warehouse.duckdb"
    path.parent.mkdir()
    con = duckdb.connect(str(path))
    con.execute("CREATE SCHEMA marts")
    con.execute("CREATE SCHEMA raw")
    con.execute("CREATE TABLE marts.aaa_good AS SELECT 42 AS answer")  # sorts first: copied before the bad one
    con.execute(f"CREATE TABLE raw.{quote_ident(HOSTILE)} (a INTEGER)")
    con.close()
    return path


def _lake_state(config: lake.LakeConfig) -> tuple[int, dict]:
    with lake.connect(config, read_only=True) as con:
        return lake.current_snapshot(con), fingerprints(con)


def test_hostile_table_name_is_refused_and_nothing_runs_or_commits(tmp_path: Path, source: Path) -> None:
    home = tmp_path / "home"
    config = lake.LakeConfig.embedded(home)
    with lake.connect(config) as con:  # a lake that already holds something of value
        con.execute("CREATE SCHEMA IF NOT EXISTS reference")
        con.execute("CREATE TABLE reference.kept AS SELECT 7 AS v")
    before = _lake_state(config)
    work = tmp_path / "cwd"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TICKWH_LAKE_")}
    env.update(TICKWH_HOME=str(home), DAGSTER_HOME=str(home / "dagster_home"))
    out = subprocess.run([sys.executable, "-m", "tickwh.cli", "lake", "migrate", "--from", str(source)],
                         cwd=work, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in out.stderr
    assert f"table raw.{HOSTILE!r} is not a plain identifier" in lines[0]
    assert not list(tmp_path.rglob("canary.csv")) and not (REPO / "canary.csv").exists()
    assert _lake_state(config) == before  # same snapshot id, same tables and content: nothing committed
    # In process: the same refusal is a user error of its own kind.
    with pytest.raises(UnsafeTableNameError, match="not a plain identifier"):
        migrate(source, config)
    assert _lake_state(config) == before


def test_identifier_helpers() -> None:
    assert quote_ident('a"b') == '"a""b"'
    assert qualified("lake", "raw", 'we"ird') == '"lake"."raw"."we""ird"'
    assert plain_ident("trades_1") == '"trades_1"'
    for bad in ("1x", "a b", "x;--", "BTCUSDT\n", "", "é"):
        assert not is_plain_ident(bad)
        with pytest.raises(UnsafeSqlTextError, match="not a plain identifier"):
            plain_ident(bad, "table")
    secret = "SuperSecretValue123\r"
    with pytest.raises(UnsafeSqlTextError) as err:
        sql_literal(secret)
    assert "SuperSecret" not in str(err.value)  # the text may be a secret: never repeated
