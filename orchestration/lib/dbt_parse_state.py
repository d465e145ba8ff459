"""dbt's parse state (`partial_parse.msgpack`) carried into a fresh target folder.

Kept apart from dbt_in_process.py, and on the standard library only, so a process that starts dbt without
Dagster (the tests' own dbt subprocesses) seeds its folder without importing dagster-dbt.
"""

from __future__ import annotations

import shutil
from pathlib import Path

PARTIAL_PARSE = "partial_parse.msgpack"


def seed_parse_state(seed_dir: Path, target_path: Path) -> None:
    """Give a fresh target folder the parse state in `seed_dir`: dbt then re-parses only the files that
    changed or read an env var whose value changed, not the whole project."""
    source, destination = seed_dir / PARTIAL_PARSE, target_path / PARTIAL_PARSE
    if source.exists() and not destination.exists():
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, destination)
