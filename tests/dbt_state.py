"""A test's own dbt target folder, seeded with the project's parse state as Dagster runs seed theirs
(orchestration/lib/dbt_parse_state.py): measured, a `dbt run` in a fresh folder took
9.6-11.1 s, seeded 7.6-9.5 s. tests/conftest.py parses the project once per test session, so the state
is the current code's."""

from __future__ import annotations

from pathlib import Path

from ingest.settings import DBT_PROJECT_DIR
from orchestration.lib.dbt_parse_state import seed_parse_state


def seeded_target(target: Path) -> Path:
    """`target`, created, holding the project's parse state unless it has its own already."""
    target.mkdir(parents=True, exist_ok=True)
    seed_parse_state(DBT_PROJECT_DIR / "target", target)
    return target
