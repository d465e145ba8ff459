"""Great Expectations suites kept as JSON in `expectations/`, run on pandas frames.

Why JSON plus a little Python: the thresholds are data, reviewed like data, and must not hide in
code. Each `expectations/<dataset>.json` is one suite: GE expectation types with their kwargs,
and per expectation a `meta` block naming the rule, the severity (`error` blocks what depends on
the dataset, `warn` only reports) and the frame it applies to. Rules that GE has no built-in for
(spikes, id gaps, stale feeds, reconciliation) are computed as derived columns by
`ingest.quality.prep`; the threshold on those columns is still an expectation in the JSON.

Why frames: one dataset yields frames of different grain (one row per trade, one per symbol,
one per quarantine rule). GE validates one batch per suite, so each (suite, frame) pair becomes
its own GE suite named `<suite>.<frame>`; `SuiteResult` puts them back together.

Only GE's pandas path is used (see ../shared/STACK.md): an ephemeral context, a pandas data
source, a dataframe asset per frame, `ValidationDefinition.run(batch_parameters={"dataframe": df})`.
GE is imported lazily so that loading the Dagster code location does not pay its import cost.
That path now serves Data Docs and frames marked `"engine": "pandas"`: by default a frame's rules
are evaluated inside DuckDB with GE's semantics (`ingest.quality.sql_eval`), a big frame without
ever leaving it (its preparer hands over a `sql_eval.SqlFrame`).
"""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import json
import logging
import math
import os
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import duckdb
import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

Severity = Literal["error", "warn"]
SEVERITIES: tuple[str, ...] = ("error", "warn")

EXPECTATIONS_DIR = Path(__file__).resolve().parents[2] / "expectations"
EXAMPLES_PER_RULE = 5
DATASOURCE = "tickwh_frames"


class SuiteDefinitionError(ValueError):
    """A suite file is malformed: unknown frame, missing severity, duplicate rule name..."""


def expectations_dir() -> Path:
    """Where the suite JSON files live; `TICKWH_EXPECTATIONS_DIR` moves it (tests, experiments)."""
    return Path(os.environ.get("TICKWH_EXPECTATIONS_DIR", EXPECTATIONS_DIR))


@dataclass(frozen=True)
class ExpectationSpec:
    """One expectation of a suite file, as written there."""

    rule: str
    frame: str
    type: str
    kwargs: dict[str, Any]
    severity: Severity
    why: str

    @property
    def column(self) -> str | None:
        return self.kwargs.get("column")


@dataclass(frozen=True)
class SuiteSpec:
    """A parsed `expectations/<name>.json`."""

    name: str
    meta: dict[str, Any]
    expectations: tuple[ExpectationSpec, ...]
    digest: str

    @property
    def frames(self) -> dict[str, dict[str, Any]]:
        return self.meta.get("frames", {})

    @property
    def params(self) -> dict[str, Any]:
        return self.meta.get("params", {})

    def frame_expectations(self, frame: str) -> list[ExpectationSpec]:
        return [e for e in self.expectations if e.frame == frame]

    def id_columns(self, frame: str) -> list[str]:
        return list(self.frames.get(frame, {}).get("id_columns", []))

    def engine(self, frame: str) -> str:
        return engine_of(self.frames.get(frame))


def _parse_suite(name: str, doc: Mapping[str, Any], digest: str) -> SuiteSpec:
    if doc.get("name") != name:
        raise SuiteDefinitionError(f"{name}.json: 'name' must be {name!r}, got {doc.get('name')!r}")
    meta = dict(doc.get("meta") or {})
    frames = meta.get("frames")
    if not isinstance(frames, dict) or not frames:
        raise SuiteDefinitionError(f"{name}.json: meta.frames must name the frames the expectations apply to")
    specs: list[ExpectationSpec] = []
    seen: set[str] = set()
    for i, raw in enumerate(doc.get("expectations") or []):
        emeta = raw.get("meta") or {}
        rule, frame, severity = emeta.get("rule"), emeta.get("frame"), emeta.get("severity")
        where = f"{name}.json expectation {i} ({rule or raw.get('type')})"
        if not rule or rule in seen:
            raise SuiteDefinitionError(f"{where}: meta.rule must be present and unique")
        if frame not in frames:
            raise SuiteDefinitionError(f"{where}: meta.frame {frame!r} is not one of {sorted(frames)}")
        if severity not in SEVERITIES:
            raise SuiteDefinitionError(f"{where}: meta.severity must be 'error' or 'warn', got {severity!r}")
        if not str(raw.get("type", "")).startswith("expect_"):
            raise SuiteDefinitionError(f"{where}: 'type' must be a GE expectation type")
        seen.add(rule)
        specs.append(
            ExpectationSpec(
                rule=rule,
                frame=frame,
                type=raw["type"],
                kwargs=dict(raw.get("kwargs") or {}),
                severity=severity,
                why=str(emeta.get("why", "")),
            )
        )
    if not specs:
        raise SuiteDefinitionError(f"{name}.json has no expectations")
    _check_engines(name, frames, specs)
    return SuiteSpec(name=name, meta=meta, expectations=tuple(specs), digest=digest)


def engine_of(frame_meta: Mapping[str, Any] | None) -> str:
    """`duckdb` (the default): the frame's rules run inside DuckDB (`sql_eval`); `pandas`: GE."""
    return str((frame_meta or {}).get("engine", "duckdb"))


def _check_engines(name: str, frames: Mapping[str, Any], specs: Sequence[ExpectationSpec]) -> None:
    """A duckdb frame must only hold rules `sql_eval` evaluates exactly like GE: refuse the file now,
    not at the first validation."""
    from ingest.quality import sql_eval  # sql_eval imports this module

    for frame, fmeta in frames.items():
        engine = engine_of(fmeta)
        if engine not in sql_eval.ENGINES:
            raise SuiteDefinitionError(f"{name}.json frame {frame}: engine must be one of {sql_eval.ENGINES}, "
                                       f"got {engine!r}")
        if engine == "duckdb":
            sql_eval.check_frame(name, frame, fmeta, [e for e in specs if e.frame == frame])


@lru_cache(maxsize=64)
def _load_suite_cached(path: str, mtime_ns: int, name: str) -> SuiteSpec:
    text = Path(path).read_text()
    return _parse_suite(name, json.loads(text), hashlib.sha256(text.encode()).hexdigest()[:12])


def load_suite(name: str) -> SuiteSpec:
    """Read `expectations/<name>.json` (re-read when the file changes)."""
    path = expectations_dir() / f"{name}.json"
    if not path.exists():
        raise SuiteDefinitionError(f"no suite file {path}")
    return _load_suite_cached(str(path), path.stat().st_mtime_ns, name)


def suite_names() -> list[str]:
    return sorted(p.stem for p in expectations_dir().glob("*.json"))


# --------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExpectationOutcome:
    """What one expectation found: enough to act on without opening GE's raw result."""

    rule: str
    frame: str
    expectation_type: str
    column: str | None
    severity: Severity
    success: bool
    observed_value: Any
    unexpected_count: int | None
    unexpected_percent: float | None
    element_count: int | None
    examples: list[Any]
    kwargs: dict[str, Any]
    exception: str | None = None

    @classmethod
    def of(cls, spec: ExpectationSpec, **found: Any) -> ExpectationOutcome:
        """The outcome of `spec`: its identity from the suite file, `found` from an engine."""
        return cls(rule=spec.rule, frame=spec.frame, expectation_type=spec.type, column=spec.column,
                   severity=spec.severity, kwargs=jsonable(spec.kwargs), **found)

    def to_json(self) -> dict[str, Any]:
        out = {
            "success": self.success,
            "severity": self.severity,
            "expectation": self.expectation_type,
            "frame": self.frame,
            "observed_value": self.observed_value,
            "unexpected_count": self.unexpected_count,
            "unexpected_percent": self.unexpected_percent,
            "element_count": self.element_count,
            "examples": self.examples,
            "kwargs": self.kwargs,
        }
        if self.exception:
            out["exception"] = self.exception
        return jsonable(out)


@dataclass
class SuiteResult:
    """All expectations of one suite over one slice (a day, or a whole table)."""

    suite: str
    partition: str | None
    outcomes: list[ExpectationOutcome]
    rows_by_frame: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def success(self) -> bool:
        return all(o.success for o in self.outcomes)

    def failed(self, severity: Severity | None = None) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if not o.success and (severity is None or o.severity == severity)]

    @property
    def failed_errors(self) -> list[str]:
        return [o.rule for o in self.failed("error")]

    @property
    def failed_warnings(self) -> list[str]:
        return [o.rule for o in self.failed("warn")]

    @property
    def blocking(self) -> bool:
        """True when an error-severity expectation failed: what depends on the slice must not run."""
        return bool(self.failed_errors)

    def outcome(self, rule: str) -> ExpectationOutcome:
        for o in self.outcomes:
            if o.rule == rule:
                return o
        raise KeyError(rule)

    def summary_rows(self) -> list[list[Any]]:
        rows = []
        for o in sorted(self.outcomes, key=lambda o: (o.success, o.severity != "error", o.rule)):
            rows.append([
                "pass" if o.success else ("FAIL" if o.severity == "error" else "warn"),
                o.rule,
                o.severity,
                o.frame,
                _short(o.observed_value),
                "" if o.unexpected_count is None else o.unexpected_count,
            ])
        return rows


def _short(value: Any, limit: int = 80) -> str:
    text = json.dumps(jsonable(value), default=str) if not isinstance(value, str) else value
    return text if len(text) <= limit else text[: limit - 1] + "…"


def jsonable(value: Any) -> Any:
    """Plain JSON types for GE/numpy/pandas values, so results fit Dagster metadata and files."""
    if value is None or isinstance(value, (bool, str, int)):
        return value
    if isinstance(value, float):  # np.float64 too: it subclasses float
        return float(value) if math.isfinite(value) else str(value)
    if isinstance(value, np.generic):
        return jsonable(value.item())
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, (dt.datetime, dt.date, pd.Timestamp)):
        return value.isoformat()
    if isinstance(value, (pd.Timedelta, dt.timedelta)):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, np.ndarray)):
        return [jsonable(v) for v in value]
    if value is pd.NaT:
        return None
    return str(value)


# --------------------------------------------------------------------------------------------
# Running
# --------------------------------------------------------------------------------------------


def _quiet_ge() -> None:
    """GE logs at INFO/WARNING and draws progress bars; neither belongs in run logs or test output."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    for name in ("great_expectations", "great_expectations.core", "great_expectations.data_context"):
        logging.getLogger(name).setLevel(logging.ERROR)


class GXRunner:
    """Holds a GE context and the (suite, frame) validation definitions registered in it.

    The default runner wraps an ephemeral context: nothing touches the disk. `ingest.quality.docs`
    builds one over a file-backed context instead, so results land in its stores for Data Docs.
    """

    def __init__(self, context: Any) -> None:
        self.context = context
        self._lock = threading.RLock()  # GE contexts are not thread-safe: one validation at a time
        self._definitions: dict[tuple[str, str, str], Any] = {}
        try:
            self._datasource = context.data_sources.get(DATASOURCE)
        except (KeyError, ValueError, LookupError):
            self._datasource = context.data_sources.add_pandas(DATASOURCE)

    @classmethod
    def ephemeral(cls) -> GXRunner:
        _quiet_ge()
        import great_expectations as gx
        from great_expectations.data_context.types.base import (
            DataContextConfig,
            InMemoryStoreBackendDefaults,
            ProgressBarsConfig,
        )

        config = DataContextConfig(
            store_backend_defaults=InMemoryStoreBackendDefaults(),
            analytics_enabled=False,
            progress_bars=ProgressBarsConfig(globally=False, metric_calculations=False),
        )
        return cls(gx.get_context(mode="ephemeral", project_config=config))

    def gx_suite_name(self, suite: SuiteSpec, frame: str) -> str:
        return f"{suite.name}.{frame}"

    def definition(self, suite: SuiteSpec, frame: str) -> Any:
        import great_expectations as gx
        from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

        key = (suite.name, frame, suite.digest)
        with self._lock:
            if key in self._definitions:
                return self._definitions[key]
            # A changed suite file gets fresh objects; the name carries the content digest so
            # the old definitions never collide with the new ones in a long-lived process.
            base = self.gx_suite_name(suite, frame)
            name = base if not any(k[:2] == key[:2] for k in self._definitions) else f"{base}.{suite.digest}"
            asset = self._datasource.add_dataframe_asset(name)
            batch = asset.add_batch_definition_whole_dataframe("whole_frame")
            gx_suite = gx.ExpectationSuite(
                name=name,
                meta={"dataset": suite.name, "frame": frame},
                notes=f"{suite.meta.get('description', '')} "
                f"Frame `{frame}`: {suite.frames[frame].get('description', '')}",
            )
            for e in suite.frame_expectations(frame):
                gx_suite.add_expectation_configuration(
                    ExpectationConfiguration(
                        type=e.type,
                        kwargs=e.kwargs,
                        meta={"rule": e.rule, "severity": e.severity, "frame": frame},
                        notes=f"[{e.severity}] {e.rule}: {e.why}",
                        severity=_GX_SEVERITY[e.severity],
                    ),
                    # GE's default upserts by domain (type + column): a warn and an error threshold
                    # on the same column would collapse into one. Match on every kwarg instead.
                    match_type="runtime",
                    overwrite_existing=False,
                )
            if len(gx_suite.expectations) != len(suite.frame_expectations(frame)):
                raise SuiteDefinitionError(f"{suite.name}.{frame}: GE merged expectations; make their kwargs differ")
            gx_suite = self.context.suites.add(gx_suite)
            definition = self.context.validation_definitions.add(
                gx.ValidationDefinition(name=name, data=batch, suite=gx_suite)
            )
            self._definitions[key] = definition
            return definition

    def run_frame(
        self, suite: SuiteSpec, frame: str, df: pd.DataFrame, run_name: str | None = None
    ) -> list[ExpectationOutcome]:
        import great_expectations as gx

        definition = self.definition(suite, frame)
        id_columns = [c for c in suite.id_columns(frame) if c in df.columns]
        result_format: dict[str, Any] = {
            "result_format": "SUMMARY",
            "partial_unexpected_count": EXAMPLES_PER_RULE,
        }
        if id_columns:
            result_format["unexpected_index_column_names"] = id_columns
        kwargs: dict[str, Any] = {"batch_parameters": {"dataframe": df}, "result_format": result_format}
        if run_name:
            kwargs["run_id"] = gx.RunIdentifier(run_name=run_name)
        with self._lock:
            validation = definition.run(**kwargs)
        by_rule = {e.rule: e for e in suite.frame_expectations(frame)}
        outcomes = []
        for r in validation.results:
            spec = by_rule[r.expectation_config.meta["rule"]]
            outcomes.append(_outcome(spec, r, df))
        return outcomes


_DEFAULT_RUNNER: GXRunner | None = None
_GX_SEVERITY = {"error": "critical", "warn": "warning"}  # GE's own FailureSeverity values
_DEFAULT_LOCK = threading.Lock()


def default_runner() -> GXRunner:
    """One ephemeral GE context per process: building a context and its suites costs more than a run."""
    global _DEFAULT_RUNNER
    with _DEFAULT_LOCK:
        if _DEFAULT_RUNNER is None:
            _DEFAULT_RUNNER = GXRunner.ephemeral()
        return _DEFAULT_RUNNER


def _observed(spec: ExpectationSpec, df: pd.DataFrame, result: Mapping[str, Any]) -> Any:
    """GE reports an observed value only for aggregate expectations; for column rules the useful
    observation is the column's range (or its distinct values), so compute that here."""
    if "observed_value" in result:
        return result["observed_value"]
    column = spec.column
    if column is None or column not in df.columns or df.empty:
        return None
    values = df[column]
    if spec.type == "expect_column_values_to_not_be_null":
        return {"nulls": int(values.isna().sum())}
    if values.isna().all():
        return None
    if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_datetime64_any_dtype(values):
        finite = values.replace([np.inf, -np.inf], np.nan) if pd.api.types.is_numeric_dtype(values) else values
        return {"min": finite.min(), "max": finite.max()}
    distinct = values.dropna().unique()[:10]
    return {"distinct_sample": sorted(str(v) for v in distinct)}


def _outcome(spec: ExpectationSpec, r: Any, df: pd.DataFrame) -> ExpectationOutcome:
    result = dict(r.result or {})
    examples = result.get("partial_unexpected_index_list") or result.get("partial_unexpected_list") or []
    if examples and not isinstance(examples[0], Mapping):
        examples = result.get("partial_unexpected_list") or examples
    exception = None
    info = r.exception_info or {}
    if info.get("raised_exception"):
        exception = str(info.get("exception_message"))
    else:  # GE nests exception info per metric in some versions
        for value in info.values() if isinstance(info, Mapping) else []:
            if isinstance(value, Mapping) and value.get("raised_exception"):
                exception = str(value.get("exception_message"))
                break
    return ExpectationOutcome.of(
        spec,
        success=bool(r.success),
        observed_value=jsonable(_observed(spec, df, result)),
        unexpected_count=None if result.get("unexpected_count") is None else int(result["unexpected_count"]),
        unexpected_percent=None if result.get("unexpected_percent") is None else float(result["unexpected_percent"]),
        element_count=None if result.get("element_count") is None else int(result["element_count"]),
        examples=jsonable(list(examples)[:EXAMPLES_PER_RULE]),
        exception=exception,
    )


def run_suite(
    name: str,
    frames: Mapping[str, Any] | pd.DataFrame,
    *,
    partition: str | None = None,
    runner: GXRunner | None = None,
    use_ge: bool = False,
) -> SuiteResult:
    """Validate frames against `expectations/<name>.json` and collect per-expectation outcomes.

    `frames` maps frame names to DataFrames or `sql_eval.SqlFrame`s; a bare DataFrame is accepted
    for a suite with one frame. Each frame is evaluated by its suite's engine: inside DuckDB
    (`sql_eval`, the default; a DataFrame is scanned in place) or by GE's pandas engine for a
    frame marked `"engine": "pandas"`. `use_ge` sends every frame through GE (`runner`): Data
    Docs, and the conformance tests. Every frame the suite names must be given: a missing frame
    is a bug in the caller, not a passing check.
    """
    suite = load_suite(name)
    if isinstance(frames, pd.DataFrame):
        if len(suite.frames) != 1:
            raise ValueError(f"suite {name} has frames {sorted(suite.frames)}; pass a mapping")
        frames = {next(iter(suite.frames)): frames}
    return _run(suite, frames, [None], [partition], runner=runner, use_ge=use_ge)[0]


def run_window(name: str, frames: Mapping[str, Any], days: Sequence[dt.date], *,
               runner: GXRunner | None = None) -> list[SuiteResult]:
    """One `SuiteResult` per day of a window, as `run_suite` on each day's frames would give.

    `frames` are a window's frames (`ingest.quality.prep.prepare_window`): a sliced `SqlFrame`
    (`by` names the day) is evaluated once for every day, grouped by day; a frame the same for
    every day (a table's schema) is evaluated once and its outcomes reported for each day.
    """
    return _run(load_suite(name), frames, list(days), [d.isoformat() for d in days], runner=runner)


def _run(suite: SuiteSpec, frames: Mapping[str, Any], keys: list[Any], labels: list[str | None], *,
         runner: GXRunner | None = None, use_ge: bool = False) -> list[SuiteResult]:
    missing = [f for f in suite.frames if suite.frame_expectations(f) and f not in frames]
    if missing:
        raise ValueError(f"suite {suite.name}: frames {missing} were not given")
    started = time.perf_counter()
    outcomes: dict[Any, list[ExpectationOutcome]] = {k: [] for k in keys}
    rows: dict[Any, dict[str, int]] = {k: {} for k in keys}
    scan = _ScanConnection()
    try:
        for frame, data in frames.items():
            found = _evaluate_frame(suite, frame, data, keys, labels, scan, runner, use_ge)
            for k in keys:
                outcomes[k] += found[k][0]
                rows[k][frame] = found[k][1]
    finally:
        scan.close()
    order = {e.rule: i for i, e in enumerate(suite.expectations)}
    seconds = (time.perf_counter() - started) / len(keys)  # the window's time, shared evenly
    return [SuiteResult(suite=suite.name, partition=label, outcomes=sorted(outcomes[k], key=lambda o: order[o.rule]),
                        rows_by_frame=rows[k], seconds=seconds)
            for k, label in zip(keys, labels, strict=True)]


class _ScanConnection:
    """One in-memory DuckDB for the DataFrames a run scans (~10 ms a connection: not one per frame)."""

    def __init__(self) -> None:
        self.con: duckdb.DuckDBPyConnection | None = None

    def __call__(self) -> duckdb.DuckDBPyConnection:
        self.con = self.con or duckdb.connect()
        return self.con

    def close(self) -> None:
        if self.con is not None:
            self.con.close()


def _evaluate_frame(suite: SuiteSpec, frame: str, data: Any, keys: list[Any], labels: list[str | None],
                    scan: _ScanConnection, runner: GXRunner | None,
                    use_ge: bool) -> dict[Any, tuple[list[ExpectationOutcome], int]]:
    """Outcomes and row count of one frame for each slice key. A sliced `SqlFrame` holds every
    key's rows; any other frame is the same for every key and is evaluated once."""
    from ingest.quality.sql_eval import SqlFrame, evaluate_slices, frame_of

    sliced = isinstance(data, SqlFrame) and data.by is not None
    in_duckdb = not use_ge and suite.engine(frame) == "duckdb"
    if in_duckdb and isinstance(data, pd.DataFrame):
        data = frame_of(data, scan())
    if in_duckdb and isinstance(data, SqlFrame):  # a frame without rules: just its row counts
        found = evaluate_slices(suite, frame, data, keys if sliced else [None])
        return {k: found[k if sliced else None] for k in keys}
    out = {}  # GE's pandas engine: one DataFrame per key of a sliced frame, else one for all
    for k, label in zip(keys, labels, strict=True) if sliced else [(keys[0], labels[0])]:
        df = (data.slice(k) if sliced else data).to_df() if isinstance(data, SqlFrame) else data
        found = []
        if frame in suite.frames and suite.frame_expectations(frame):
            runner = runner or default_runner()
            found = runner.run_frame(suite, frame, df, run_name=label)
        out[k] = (found, int(len(df)))
    return out if sliced else dict.fromkeys(keys, out[keys[0]])


def describe_rules(names: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Every rule of every suite with its severity and threshold (for docs and reviews)."""
    rows = []
    for name in names or suite_names():
        suite = load_suite(name)
        for e in suite.expectations:
            rows.append({"suite": name, "rule": e.rule, "severity": e.severity, "frame": e.frame,
                         "expectation": e.type, "kwargs": e.kwargs, "why": e.why})
    return rows
