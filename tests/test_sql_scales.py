"""No SQL in `ingest/` or `dbt_project/` narrows a price, amount or volume below the numeric contract.

The checker reads every .py file of `ingest/` (SQL lives in its strings) and every .sql file of
`dbt_project/` (models, macros, tests), and finds each cast (`CAST(x AS T)`, `x::T`), column
declaration (`name DECIMAL(p, s)`) and `round(x, n)` whose expression names a quantity (price,
amount, volume, notional, open/high/low/close, vwap, bid/ask...). A cast to DECIMAL with fewer
decimals than the contract keeps for that quantity (`ingest.numeric`: SCALE for prices, amounts
and volumes, NOTIONAL_SCALE for notionals and quote volumes), to a float (DOUBLE, FLOAT, REAL), or a
round() is a finding, unless `ALLOWED` below justifies it. `{numeric.X}` placeholders of f-strings
are read as the contract's own types; other placeholders cannot be judged and are skipped.
Ratios (a cast of an expression with a top-level `/`: vwap, returns, imbalance) are not stored
quantities and are not findings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from ingest import numeric

REPO = Path(__file__).resolve().parents[1]

# The one list of justified exceptions: (file, kind) -> why. kind is "float" (a cast to a float
# type or a round()) or "decimal" (a DECIMAL below the contract's scale).
ALLOWED: dict[tuple[str, str], str] = {
    ("ingest/quality/prep.py", "float"): "quality-check inputs: GE expectations over float columns with float "
    "tolerances (bps, relative), never stored nor answered",
    ("ingest/quality/series.py", "float"): "price spike scores computed in numpy (a check), never stored nor answered",
    ("ingest/datasets/book_snapshots.py", "float"): "raw.book_snapshots holds the book as DOUBLE by the contract "
    "(docs/contracts.md); exact answers turn each level into its decimal (ingest/numbers.py)",
    ("ingest/simulator.py", "float"): "the simulator's own float parameters (a lot size from the log of its "
    "start price), not data: prices and amounts are written as exact decimal text",
    ("dbt_project/models/marts/daily_stats.sql", "float"): "returns and realized volatility: unitless float "
    "statistics of the exact prices (docs/contracts.md)",
    ("dbt_project/macros/rollup_period.sql", "float"): "period_return: a unitless float statistic",
    ("dbt_project/macros/next_day_prev_close.sql", "float"): "daily_stats.return_cc refreshed on the next day, "
    "by the model's own expression: a unitless float statistic",
    ("dbt_project/tests/generic/ohlcv_bar_valid.sql", "float"): "a test comparing the float vwap with low/high",
    ("ingest/vendors/reference.py", "decimal"): "Binance klines publish at most 8 decimals: the reference table "
    "holds them at scale 8, and CAST(x AS DECIMAL(38, 8)) <> x detects a kline with more (it narrows nothing)",
}

_QUANTITY = re.compile(r"(?<![a-z])(prices?|amounts?|volumes?|notional|open|high|low|close|vwap)(?![a-z])", re.I)
_NOTIONAL_WORDS = re.compile(r"notional|quote", re.I)
_FLOAT_TYPES = re.compile(r"^\s*(DOUBLE|FLOAT(?:4|8|32|64)?|REAL)(\s*\[\])?\s*$", re.I)
_TYPES = r"DECIMAL\s*\(\s*\d+\s*,\s*\d+\s*\)|(?:DOUBLE|FLOAT(?:4|8|32|64)?|REAL)\b"
_DECIMAL_TYPE = re.compile(r"^\s*DECIMAL\s*\(\s*(\d+)\s*,\s*(\d+)\s*\)\s*$", re.I)


@dataclass(frozen=True)
class Finding:
    path: str
    line: int
    kind: str  # "float" or "decimal"
    text: str


def _resolve(text: str) -> str:
    """f-string placeholders naming the contract's types (`{numeric.VOLUME_SQL}`) read as those types."""
    return re.sub(r"\{numeric\.([A-Z_]+)\}", lambda m: str(getattr(numeric, m.group(1), m.group(0))), text)


def _close(text: str, i: int) -> int:
    """Index of the parenthesis closing the one opened at text[i - 1]."""
    depth = 1
    while i < len(text) and depth:
        depth += {"(": 1, ")": -1}.get(text[i], 0)
        i += 1
    return i - 1


def _required_scale(expr: str) -> int:
    return numeric.NOTIONAL_SCALE if _NOTIONAL_WORDS.search(expr) else numeric.SCALE


def _judge(expr: str, type_text: str) -> str | None:
    """The kind of narrowing a cast of `expr` to `type_text` is, or None."""
    if not _QUANTITY.search(expr):
        return None
    depth = 0
    for ch in expr:  # a ratio: vwap, a return, an imbalance
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if ch == "/" and depth == 0:
            return None
    if _FLOAT_TYPES.match(type_text):
        return "float"
    m = _DECIMAL_TYPE.match(type_text)
    if m and int(m.group(2)) < _required_scale(expr):
        return "decimal"
    return None


def narrowings(text: str, path: str = "<text>") -> list[Finding]:
    """Every narrowing of a quantity in `text` (a .py or .sql file's content)."""
    text = _resolve(text)
    found: list[tuple[int, str, str]] = []
    for m in re.finditer(r"\b(try_)?cast\s*\(", text, re.I):
        end = _close(text, m.end())
        inner = text[m.end():end]
        parts = list(re.finditer(r"\s+as\s+", inner, re.I))
        depth_ok = [p for p in parts if inner[:p.start()].count("(") == inner[:p.start()].count(")")]
        if depth_ok:
            last = depth_ok[-1]
            kind = _judge(inner[:last.start()], inner[last.end():])
            if kind:
                found.append((m.start(), kind, text[m.start():end + 1]))
    for m in re.finditer(rf"([\w.\]\)]+)\s*::\s*({_TYPES})", text, re.I):
        kind = _judge(m.group(1), m.group(2))
        if kind:
            found.append((m.start(), kind, m.group(0)))
    for m in re.finditer(rf"(?<![\w.])(\w+)\s+({_TYPES})", text, re.I):
        if m.group(1).lower() in ("as", "cast"):  # the casts above
            continue
        kind = _judge(m.group(1), m.group(2))
        if kind:
            found.append((m.start(), kind, m.group(0)))
    for m in re.finditer(r"\bround\s*\(", text, re.I):
        end = _close(text, m.end())
        if _QUANTITY.search(text[m.end():end]):
            found.append((m.start(), "float", text[m.start():end + 1]))
    return [Finding(path, text.count("\n", 0, pos) + 1, kind, " ".join(snippet.split()))
            for pos, kind, snippet in sorted(found)]


def sql_files() -> list[Path]:
    files = sorted((REPO / "ingest").rglob("*.py"))
    for folder in ("models", "macros", "tests", "analyses", "snapshots"):
        files += sorted((REPO / "dbt_project" / folder).rglob("*.sql"))
    return files


def test_no_sql_narrows_a_quantity_below_the_contract():
    findings = []
    for path in sql_files():
        rel = path.relative_to(REPO).as_posix()
        findings += [f for f in narrowings(path.read_text(), rel) if (f.path, f.kind) not in ALLOWED]
    assert not findings, "narrowing below the numeric contract:\n" + "\n".join(
        f"{f.path}:{f.line}: {f.kind}: {f.text}" for f in findings)


def test_every_allowed_exception_is_still_needed():
    """An exception nobody needs any more is removed, so the list stays the true one."""
    used = {(path.relative_to(REPO).as_posix(), f.kind) for path in sql_files() for f in narrowings(path.read_text())}
    assert set(ALLOWED) <= used, set(ALLOWED) - used


@pytest.mark.parametrize(("sql", "kinds"), [
    # the bug of issue 27: research bars cast price and amount to scale 8 before multiplying
    ("f\"CAST(price AS DECIMAL(38, 8)) * CAST(amount AS DECIMAL(38, 8)) AS quote_amount\"", ["decimal", "decimal"]),
    ("CAST(sum(amount) AS DECIMAL(38, 8)) AS volume", ["decimal"]),
    ("CAST(sum(quote_amount) AS DECIMAL(38, 16)) AS quote_volume", ["decimal"]),  # notionals need 20
    ("coalesce(sell_volume, CAST(0 AS DECIMAL(38, 8))) AS sell_volume", []),  # a constant: nothing to narrow
    ("SELECT bid_price::DOUBLE, t.amount::DECIMAL(18, 8) FROM t", ["float", "decimal"]),
    ("cast(close as double) AS c", ["float"]),
    ("round(price, 4)", ["float"]),
    ("CREATE TABLE x (price DECIMAL(18, 8), note VARCHAR)", ["decimal"]),
    # within the contract, or not a quantity, or a ratio
    ("CAST(sum(amount) AS DECIMAL(38, 12)) AS volume, CAST(sum(quote_amount) AS DECIMAL(38, 20)) AS q", []),
    ("f\"CAST(sum(volume) AS {numeric.VOLUME_SQL}) AS volume, CAST(price * amount AS {numeric.NOTIONAL_SQL})\"", []),
    ("CAST(sum(quote_volume) / nullif(sum(volume), 0) AS DOUBLE) AS vwap", []),
    ("CAST(count(*) AS BIGINT), CAST(spread_bps AS DOUBLE), CAST(x AS DECIMAL(18, 4))", []),
])
def test_the_checker_finds_planted_offenders(sql, kinds):
    assert [f.kind for f in narrowings(sql)] == kinds


def test_the_checker_would_have_caught_the_research_bars_bug():
    """The research bars' SQL before issue 27, planted in a copy of today's file: found."""
    bars = (REPO / "ingest/research/bars.py").read_text()
    assert narrowings(bars) == []
    planted = bars.replace("{numeric.notional_sql()}", "CAST(price AS DECIMAL(38, 8)) * CAST(amount AS DECIMAL(38, 8))")
    planted = planted.replace("CAST(sum(amount) AS {numeric.VOLUME_SQL})", "CAST(sum(amount) AS DECIMAL(38, 8))")
    found = narrowings(planted, "bars.py")
    assert [f.kind for f in found] == ["decimal"] * 3, found
