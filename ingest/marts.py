"""The marts as dbt declares them, read from dbt's manifest instead of listed by hand.

`dbt parse` writes `dbt_project/target/manifest.json`; every model in schema `marts` is a mart.
What ingest needs to know of one comes from its config there: the UTC-day partition column
(`meta.window_column`, None for whole-table rebuilds) and whether the cold tier archives it
(`meta.cold.time_column`, the column a day's rows are sorted and bounded by). The manifest is
read from `TICKWH_DBT_MANIFEST` when set, else from the project in this repository; a missing
default manifest, or one older than a file of the project, is made again with `dbt parse`.
"""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from ingest.args import path_text, setting

log = logging.getLogger(__name__)

ENV_MANIFEST = "TICKWH_DBT_MANIFEST"
PROJECT_DIR = Path(__file__).resolve().parents[1] / "dbt_project"
DEFAULT_MANIFEST = PROJECT_DIR / "target" / "manifest.json"
MARTS_SCHEMA = "marts"
# Names reach SQL unquoted (`marts.ohlcv_1m`) and become cold-tier keys: only this alphabet passes.
_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}\Z")
_MANIFEST_SCHEMA = re.compile(r"^https://schemas\.getdbt\.com/dbt/manifest/v\d+\.json\Z")


class MartCatalogError(RuntimeError):
    """The dbt manifest is missing, unreadable or says something ingest cannot use."""


@dataclass(frozen=True)
class Mart:
    name: str
    schema: str
    materialized: str
    window_column: str | None  # the UTC-day partition column; None: rebuilt whole
    cold_time_column: str | None  # set when the cold tier archives the mart per day
    tags: tuple[str, ...]

    @property
    def relation(self) -> str:
        return f"{self.schema}.{self.name}"


def manifest_path() -> Path:
    return setting(os.environ, ENV_MANIFEST, path_text, DEFAULT_MANIFEST)


def marts(path: Path | None = None) -> tuple[Mart, ...]:
    """Every mart of the manifest, sorted by name."""
    path = Path(path) if path is not None else manifest_path()
    if path.resolve() == DEFAULT_MANIFEST.resolve():
        _ensure_current()
    elif not path.exists():
        raise MartCatalogError(f"dbt manifest {path} ({ENV_MANIFEST}) does not exist: run `dbt parse` first")
    return _read(path.resolve(), path.stat().st_mtime_ns)


def mart(name: str, path: Path | None = None) -> Mart:
    """One mart by name; an error naming the manifest when dbt has no such mart."""
    found = {m.name: m for m in marts(path)}
    if name not in found:
        raise MartCatalogError(f"the dbt manifest has no mart {name!r} (marts: {', '.join(sorted(found))})")
    return found[name]


def archived_marts(path: Path | None = None) -> tuple[Mart, ...]:
    """The marts the cold tier archives per day."""
    return tuple(m for m in marts(path) if m.cold_time_column is not None)


def is_stale(path: Path = DEFAULT_MANIFEST, project: Path = PROJECT_DIR) -> bool:
    """Missing, or older than a file of the project it describes (models, macros, tests, settings):
    after a pull that changed a model, an old manifest would describe the old marts."""
    if not path.exists():
        return True
    built = path.stat().st_mtime_ns
    sources = [project / "dbt_project.yml", *(f for d in ("models", "macros", "tests")
                                              for f in (project / d).rglob("*") if f.is_file())]
    return any(f.stat().st_mtime_ns > built for f in sources if f.exists())


@lru_cache(maxsize=1)
def _ensure_current() -> None:
    # Once per process: the project's files do not change under a running process, and walking
    # them on every call would repeat the same I/O for each caller at start-up.
    if is_stale(DEFAULT_MANIFEST):
        _parse_project()


def _parse_project() -> None:
    dbt = Path(sys.executable).parent / "dbt"
    cmd = [str(dbt), "parse", "--quiet", "--project-dir", str(PROJECT_DIR), "--profiles-dir", str(PROJECT_DIR)]
    log.info("no current dbt manifest at %s: running dbt parse once", DEFAULT_MANIFEST)
    try:
        done = subprocess.run(cmd, cwd=PROJECT_DIR, capture_output=True, text=True, timeout=300, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise MartCatalogError(f"no dbt manifest at {DEFAULT_MANIFEST} and `dbt parse` could not run: {exc}") from exc
    if done.returncode != 0 or not DEFAULT_MANIFEST.exists():
        tail = (done.stdout + done.stderr).strip()[-1500:]
        raise MartCatalogError(f"no dbt manifest at {DEFAULT_MANIFEST} and `dbt parse` failed: {tail}")


@lru_cache(maxsize=4)
def _read(path: Path, _mtime_ns: int) -> tuple[Mart, ...]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MartCatalogError(f"{path}: cannot read the dbt manifest ({exc}); run `dbt parse` again") from exc
    schema_url = _get(doc, dict, path, "metadata").get("dbt_schema_version")
    if not isinstance(schema_url, str) or not _MANIFEST_SCHEMA.match(schema_url):
        raise MartCatalogError(f"{path}: not a dbt manifest (dbt_schema_version {schema_url!r})")
    found = []
    for node in _get(doc, dict, path, "nodes").values():
        if not isinstance(node, dict) or node.get("resource_type") != "model" or node.get("schema") != MARTS_SCHEMA:
            continue
        found.append(_mart(node, path))
    if not found:
        raise MartCatalogError(f"{path}: the dbt manifest has no model in schema {MARTS_SCHEMA!r}")
    return tuple(sorted(found, key=lambda m: m.name))


def _mart(node: dict[str, Any], path: Path) -> Mart:
    name = _name(node.get("name"), path, "model name")
    config = node.get("config") if isinstance(node.get("config"), dict) else {}
    meta = config.get("meta") if isinstance(config.get("meta"), dict) else {}
    cold = meta.get("cold")
    if cold is not None and not isinstance(cold, dict):
        raise MartCatalogError(f"{path}: {name}: meta.cold must be a mapping, got {cold!r}")
    window = meta.get("window_column")
    cold_time = (cold or {}).get("time_column")
    tags = node.get("tags") or []
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise MartCatalogError(f"{path}: {name}: tags must be a list of strings")
    if cold_time is not None and window is None:
        raise MartCatalogError(f"{path}: {name}: archived per day (meta.cold) but has no window_column")
    return Mart(
        name=name,
        schema=MARTS_SCHEMA,
        materialized=str(config.get("materialized", "")),
        window_column=None if window is None else _name(window, path, f"{name} window_column"),
        cold_time_column=None if cold_time is None else _name(cold_time, path, f"{name} meta.cold.time_column"),
        tags=tuple(tags),
    )


def _get(doc: object, kind: type, path: Path, key: str) -> Any:
    value = doc.get(key) if isinstance(doc, dict) else None
    if not isinstance(value, kind):
        raise MartCatalogError(f"{path}: the dbt manifest has no {key!r} {kind.__name__}")
    return value


def _name(value: object, path: Path, what: str) -> str:
    if not isinstance(value, str) or not _NAME.match(value):
        raise MartCatalogError(f"{path}: {what} {value!r} is not a plain lower-case SQL name")
    return value
