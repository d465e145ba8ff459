"""A test's own dbt target folder, seeded with the project's parse state as Dagster runs seed theirs
(orchestration/lib/dbt_in_process.py): dbt then re-parses only the files that changed or read an env var
whose value changed, not the whole project (measured: a `dbt run` in a fresh folder 9.6-11.1 s, seeded
7.6-9.5 s).
tests/conftest.py parses the project once per test session, so the state is the current code's."""

from __future__ import annotations

import shutil
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1] / "dbt_project"
PARTIAL_PARSE = "partial_parse.msgpack"


def seeded_target(target: Path) -> Path:
    """`target`, created, holding the project's partial parse file unless it has its own already."""
    target.mkdir(parents=True, exist_ok=True)
    source = PROJECT / "target" / PARTIAL_PARSE
    if source.exists() and not (target / PARTIAL_PARSE).exists():
        shutil.copy(source, target / PARTIAL_PARSE)
    return target
