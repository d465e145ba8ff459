"""Where the suites come from: every rule is declared in exactly one place, and read from there.

- `expectations/<name>.json`: a whole suite in GE's own shape. The raw data contracts
  (raw_trades, raw_book_snapshots) live here: no other layer checks raw data.
- `expectations/marts.yml`: the suites of the dbt marts, built from shapes. A shape holds the
  frames and the rules several suites share (the five bar intervals, the two rollup periods);
  a suite names its shape and the values that differ, which fill `{placeholders}`. What GE owns
  there: table contracts (column names and types, not empty), statistical warnings and the
  reconciliations across tables.
- the dbt schema files (`dbt_project/models/**/*.yml`): dbt tests own the row invariants of the
  marts (not null, unique keys, OHLC order, bucket alignment...). A dbt test lists, in its
  `config.meta.checks`, the rules it stands for in the form the quality check evaluates them, and
  a shape says where in its suites they go (`- dbt_tests`). So the check and Data Docs still
  report each invariant by its rule name, while the rule is written once, beside its dbt test.

A rule, in `marts.yml` and in dbt meta alike, is one mapping: `rule`, `expect` (the GE type
without its `expect_` prefix), `frame` (default `rows`), `severity` (default `error`), `why`,
and the expectation's kwargs. Nothing is generated on disk: suites are built when loaded.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from ingest.args import path_text, setting
from ingest.quality import sql_eval
from ingest.quality.spec import SEVERITIES, ExpectationSpec, SuiteDefinitionError, SuiteSpec, engine_of

ROOT = Path(__file__).resolve().parents[2]
EXPECTATIONS_DIR = ROOT / "expectations"
DBT_MODELS_DIR = ROOT / "dbt_project" / "models"
MARTS_SPEC = "marts.yml"
DBT_TESTS = "dbt_tests"  # in a shape's rule list: where the model's dbt-owned rules go
_RULE_KEYS = {"rule", "expect", "frame", "severity", "why"}
_PLACEHOLDER = re.compile(r"^\{(\w+)\}\Z")


def expectations_dir() -> Path:
    """Where the suite files live; `TICKWH_EXPECTATIONS_DIR` moves it (tests, experiments)."""
    return setting(os.environ, "TICKWH_EXPECTATIONS_DIR", path_text, EXPECTATIONS_DIR)


# --------------------------------------------------------------------------------------------
# Building suites from shapes and dbt tests
# --------------------------------------------------------------------------------------------


def fill(value: Any, values: Mapping[str, Any]) -> Any:
    """`value` with `{name}` placeholders replaced; a string that is one placeholder takes the
    value's own type (`"{interval_seconds}"` -> 60)."""
    if isinstance(value, str):
        whole = _PLACEHOLDER.match(value)
        if whole:
            return values[whole.group(1)]
        return value.format_map(values) if "{" in value else value
    if isinstance(value, Mapping):
        return {k: fill(v, values) for k, v in value.items()}
    if isinstance(value, list):
        return [fill(v, values) for v in value]
    return value


def expectation(rule: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """A compact rule mapping as a GE expectation (type, kwargs, meta)."""
    rule = fill(dict(rule), values)
    return {
        "type": f"expect_{rule['expect']}",
        "kwargs": {k: v for k, v in rule.items() if k not in _RULE_KEYS},
        "meta": {"rule": rule["rule"], "frame": rule.get("frame", "rows"), "severity": rule.get("severity", "error"),
                 "why": rule.get("why", "")},
    }


def _dbt_tests(model: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
    """(test name, its declaration) of a dbt model: model-level tests, then column-level ones."""
    for entry in [*model.get("data_tests", []),
                  *(t for c in model.get("columns", []) for t in c.get("data_tests", []))]:
        yield (entry, {}) if isinstance(entry, str) else next(iter(entry.items()))


def _load_yaml(path: str) -> Any:
    """`yaml.safe_load` through libyaml where it is built in: the dbt schema files are read at every
    code-location load (each launched run), and the pure-Python loader took about 1 s of it."""
    return yaml.load(Path(path).read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


@lru_cache(maxsize=4)
def _dbt_checks_cached(stamp: tuple[tuple[str, int], ...]) -> dict[str, list[tuple[str, dict[str, Any]]]]:
    found: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for path, _ in stamp:
        for model in (_load_yaml(path) or {}).get("models", []):
            for test, spec in _dbt_tests(model):
                for rule in ((spec or {}).get("config") or {}).get("meta", {}).get("checks", []):
                    found.setdefault(model["name"], []).append((test, rule))
    return found


def dbt_checks() -> dict[str, list[tuple[str, dict[str, Any]]]]:
    """Model -> (dbt test, rule) for every rule a dbt test declares it stands for."""
    files = sorted(DBT_MODELS_DIR.rglob("*.yml"))
    return _dbt_checks_cached(tuple((str(p), p.stat().st_mtime_ns) for p in files))


def build_suite(name: str, entry: Mapping[str, Any], shapes: Mapping[str, Any]) -> dict[str, Any]:
    """The GE-shaped suite document of one `marts.yml` entry."""
    if entry.get("shape") not in shapes:
        raise SuiteDefinitionError(f"{MARTS_SPEC} suite {name}: shape {entry.get('shape')!r} is not defined")
    shape = shapes[entry["shape"]]
    values = {"name": name, "model": name, **entry}
    owned = dbt_checks().get(values["model"], [])
    expectations = []
    for rule in shape["rules"]:
        if rule == DBT_TESTS:
            for test, owned_rule in owned:
                e = expectation(owned_rule, values)
                e["meta"]["why"] = f"{e['meta']['why']} (dbt test {test} on {values['model']})".lstrip()
                expectations.append(e)
        else:
            expectations.append(expectation(rule, values))
    return {"name": name, "meta": fill(shape["meta"], values), "expectations": expectations}


@lru_cache(maxsize=8)
def _marts_spec(path: str, mtime_ns: int) -> dict[str, Any]:
    return _load_yaml(path) or {}


def _mart_entries() -> tuple[dict[str, Any], dict[str, Any]]:
    path = expectations_dir() / MARTS_SPEC
    if not path.exists():
        return {}, {}
    spec = _marts_spec(str(path), path.stat().st_mtime_ns)
    return spec.get("suites", {}), spec.get("shapes", {})


# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------


def _parse_suite(name: str, doc: Mapping[str, Any], digest: str) -> SuiteSpec:
    if doc.get("name") != name:
        raise SuiteDefinitionError(f"suite {name}: 'name' must be {name!r}, got {doc.get('name')!r}")
    meta = dict(doc.get("meta") or {})
    frames = meta.get("frames")
    if not isinstance(frames, dict) or not frames:
        raise SuiteDefinitionError(f"suite {name}: meta.frames must name the frames the expectations apply to")
    specs: list[ExpectationSpec] = []
    seen: set[str] = set()
    for i, raw in enumerate(doc.get("expectations") or []):
        emeta = raw.get("meta") or {}
        rule, frame, severity = emeta.get("rule"), emeta.get("frame"), emeta.get("severity")
        where = f"suite {name} expectation {i} ({rule or raw.get('type')})"
        if not rule or rule in seen:
            raise SuiteDefinitionError(f"{where}: meta.rule must be present and unique")
        if frame not in frames:
            raise SuiteDefinitionError(f"{where}: meta.frame {frame!r} is not one of {sorted(frames)}")
        if severity not in SEVERITIES:
            raise SuiteDefinitionError(f"{where}: meta.severity must be 'error' or 'warn', got {severity!r}")
        if not str(raw.get("type", "")).startswith("expect_"):
            raise SuiteDefinitionError(f"{where}: 'type' must be a GE expectation type")
        seen.add(rule)
        specs.append(ExpectationSpec(rule=rule, frame=frame, type=raw["type"], kwargs=dict(raw.get("kwargs") or {}),
                                     severity=severity, why=str(emeta.get("why", ""))))
    if not specs:
        raise SuiteDefinitionError(f"suite {name} has no expectations")
    _check_engines(name, frames, specs)
    return SuiteSpec(name=name, meta=meta, expectations=tuple(specs), digest=digest)


def _check_engines(name: str, frames: Mapping[str, Any], specs: Sequence[ExpectationSpec]) -> None:
    """A duckdb frame must only hold rules `sql_eval` evaluates exactly like GE: refuse the suite
    now, not at the first validation."""
    for frame, fmeta in frames.items():
        engine = engine_of(fmeta)
        if engine not in sql_eval.ENGINES:
            raise SuiteDefinitionError(f"{name}.json frame {frame}: engine must be one of {sql_eval.ENGINES}, "
                                       f"got {engine!r}")
        if engine == "duckdb":
            sql_eval.check_frame(name, frame, fmeta, [e for e in specs if e.frame == frame])


@lru_cache(maxsize=64)
def _parsed(name: str, text: str) -> SuiteSpec:
    return _parse_suite(name, json.loads(text), hashlib.sha256(text.encode()).hexdigest()[:12])


def suite_document(name: str) -> dict[str, Any]:
    """The GE-shaped document of suite `name`: its JSON file, or built from `marts.yml`."""
    path = expectations_dir() / f"{name}.json"
    if path.exists():
        return json.loads(path.read_text())
    suites, shapes = _mart_entries()
    if name not in suites:
        raise SuiteDefinitionError(f"no suite {name}: neither {path} nor an entry in {MARTS_SPEC}")
    return build_suite(name, suites[name], shapes)


def suite_source(name: str) -> str:
    """Where suite `name` is declared, relative to the repository: what a reader opens to change it."""
    if (expectations_dir() / f"{name}.json").exists():
        return f"expectations/{name}.json"
    return f"expectations/{MARTS_SPEC} (shape) + dbt_project/models/marts (row rules in the dbt tests' meta)"


def load_suite(name: str) -> SuiteSpec:
    """Suite `name`, parsed and checked (rebuilt when a source changes: the digest follows content)."""
    return _parsed(name, json.dumps(suite_document(name), sort_keys=True))


def suite_names() -> list[str]:
    return sorted({p.stem for p in expectations_dir().glob("*.json")} | set(_mart_entries()[0]))


def describe_rules(names: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Every rule of every suite with its severity and threshold (for docs and reviews)."""
    rows = []
    for name in names or suite_names():
        for e in load_suite(name).expectations:
            rows.append({"suite": name, "rule": e.rule, "severity": e.severity, "frame": e.frame,
                         "expectation": e.type, "kwargs": e.kwargs, "why": e.why})
    return rows
