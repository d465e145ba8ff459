"""Running suites: each frame in DuckDB (`sql_eval`), or through GE's pandas engine.

A suite (see `catalog` for where its rules are declared) lists GE expectation types with their
kwargs, and per expectation a `meta` block naming the rule, the severity (`error` blocks what
depends on the dataset, `warn` only reports) and the frame it applies to. Rules that GE has no
built-in for (spikes, id gaps, stale feeds, reconciliation) are computed as derived columns by
`ingest.quality.prep`; the threshold on those columns is still an expectation.

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
import logging
import os
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from ingest.quality.catalog import load_suite
from ingest.quality.spec import (
    EXAMPLES_PER_RULE,
    ExpectationOutcome,
    ExpectationSpec,
    SuiteDefinitionError,
    SuiteResult,
    SuiteSpec,
    jsonable,
)
from ingest.quality.sql_eval import SqlFrame, evaluate_slices, frame_of

log = logging.getLogger(__name__)

DATASOURCE = "tickwh_frames"


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
            # A changed suite gets fresh objects; the name carries the content digest so
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
    """Validate frames against suite `name` and collect per-expectation outcomes.

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
