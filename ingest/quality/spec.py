"""What a suite is and what validating it found: plain types shared by every module of the package.

Why a module of its own: the loader (`catalog`), the DuckDB evaluator (`sql_eval`), the GE runner
(`suites`) and the preparers (`prep`) all speak in these types; kept apart from all of them, no
two of those modules need each other's import (they used to import each other in a cycle).
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

Severity = Literal["error", "warn"]
SEVERITIES: tuple[str, ...] = ("error", "warn")
EXAMPLES_PER_RULE = 5


class SuiteDefinitionError(ValueError):
    """A suite is malformed: unknown frame, missing severity, duplicate rule name..."""


@dataclass(frozen=True)
class ExpectationSpec:
    """One expectation of a suite, as its source declares it."""

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
    """A suite: its meta (table, frames, params) and its expectations, as `catalog` built them."""

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


def engine_of(frame_meta: Mapping[str, Any] | None) -> str:
    """`duckdb` (the default): the frame's rules run inside DuckDB (`sql_eval`); `pandas`: GE."""
    return str((frame_meta or {}).get("engine", "duckdb"))



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
    note: str | None = None  # why the severity differs from the suite's (a quotes-only day's not_empty)

    @classmethod
    def of(cls, spec: ExpectationSpec, **found: Any) -> ExpectationOutcome:
        """The outcome of `spec`: its identity from the suite, `found` from an engine."""
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
        if self.note:
            out["note"] = self.note
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
