"""Numbers in answers: one type policy for every answer, and one way to print a number.

Policy (`numeric=`, docs/history.md). Every answer of `HistoricalData` and of the research API
(trades, book snapshots, bars, daily stats, as-of joins, information bars, replays) gives every
column of one quantity the same type, so arithmetic across columns works in pandas and polars:

* ``"exact"`` (the default): prices, amounts, volumes, notionals and VWAPs are Arrow decimals
  (Python `Decimal` in pandas, `Decimal` columns in polars). Trades and bars already are (the
  numeric contract, `ingest/numeric.py`). The book is stored as DOUBLE (docs/contracts.md): each
  level becomes the shortest decimal that reads back as the stored double (the venue's text
  whenever it had at most 15 significant digits), as the contract's price or amount type. The VWAP
  becomes `quote_volume / volume` rounded half-even to `numeric.VWAP_SCALE` decimals.
* ``"float"``: every decimal column becomes float64 (the nearest double of each value), for speed;
  the book and VWAP stay the doubles they are.

Statistics without a unit (returns, volatility, spreads in bps, imbalance) are float64 in both modes.

Text (`number_text`, `text_array`): the shortest exact decimal, as a trader writes it: `9682`,
`150000000000`, `345808.16502`, `0.00000065774`, `0`, `-1.5`; never scientific notation, never a
value rounded for display. A float prints as the shortest decimal that reads back as it (`repr`).
Lists print as `[a, b, ...]` of such texts (valid JSON). Every command line prints through here.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from ingest import numeric
from ingest.errors import UserError

MODES = ("exact", "float")
DEFAULT = "exact"

PRICE_TYPE = pa.decimal128(22, numeric.SCALE)
AMOUNT_TYPE = pa.decimal128(28, numeric.SCALE)
VWAP_TYPE = pa.decimal128(38, numeric.VWAP_SCALE)

# The book's DOUBLE columns, by the quantity they hold (top of book and level lists).
BOOK_PRICES = ("bid_price", "ask_price", "bid_prices", "ask_prices")
BOOK_AMOUNTS = ("bid_amount", "ask_amount", "bid_amounts", "ask_amounts")
_VWAP_QUANTUM = Decimal(1).scaleb(-numeric.VWAP_SCALE)


def check_mode(numeric_mode: str) -> str:
    if numeric_mode not in MODES:
        raise UserError(f"unknown numeric {numeric_mode!r}: expected 'exact' (decimals) or 'float' (float64)")
    return numeric_mode


def _book_type(name: str) -> pa.DataType | None:
    if name in BOOK_PRICES:
        return PRICE_TYPE
    if name in BOOK_AMOUNTS:
        return AMOUNT_TYPE
    return None


def _is_float(t: pa.DataType) -> bool:
    return pa.types.is_floating(t) or (pa.types.is_list(t) and pa.types.is_floating(t.value_type))


def _is_decimal(t: pa.DataType) -> bool:
    return pa.types.is_decimal(t) or (pa.types.is_list(t) and pa.types.is_decimal(t.value_type))


def field_type(field: pa.Field, numeric_mode: str) -> pa.DataType:
    """The type column `field` has in an answer of `numeric_mode`."""
    t = field.type
    if numeric_mode == "float":
        if pa.types.is_decimal(t):
            return pa.float64()
        if pa.types.is_list(t) and pa.types.is_decimal(t.value_type):
            return pa.list_(pa.float64())
        return t
    if _is_float(t):
        if field.name == "vwap":
            return VWAP_TYPE
        book = _book_type(field.name)
        if book is not None:
            return pa.list_(book) if pa.types.is_list(t) else book
    return t


def conform_schema(schema: pa.Schema, numeric_mode: str) -> pa.Schema:
    return pa.schema([pa.field(f.name, field_type(f, numeric_mode), f.nullable) for f in schema])


def conform(data: pa.RecordBatch | pa.Table, numeric_mode: str) -> Any:
    """`data` (a batch or a table) with every column of a quantity in the type `numeric_mode` gives it."""
    schema = data.schema
    columns = []
    changed = False
    for i, field in enumerate(schema):
        target = field_type(field, numeric_mode)
        column = data.column(i)
        if target != field.type:
            changed = True
            if numeric_mode == "float":
                column = _float_from_decimal(column, target)
            elif field.name == "vwap" and "quote_volume" in schema.names and "volume" in schema.names:
                column = exact_vwap(data.column("quote_volume"), data.column("volume"))
            else:
                column = _exact_from_double(column, target, field.name)
        columns.append(column)
    if not changed:
        return data
    new_schema = conform_schema(schema, numeric_mode).with_metadata(schema.metadata)
    if isinstance(data, pa.RecordBatch):
        return pa.RecordBatch.from_arrays(columns, schema=new_schema)
    return pa.Table.from_arrays(columns, schema=new_schema)


def _float_from_decimal(column: Any, target: pa.DataType) -> Any:
    """Decimals as the nearest double: through their text, whose parse rounds correctly (Arrow's
    direct decimal -> double cast can miss by an ulp: 0.000000723949 became 7.239489999999999e-07)."""
    text_type = pa.list_(pa.string()) if pa.types.is_list(target) else pa.string()
    return pc.cast(pc.cast(column, text_type), target)


def _exact_from_double(column: Any, target: pa.DataType, name: str) -> Any:
    """Doubles as the shortest decimal that reads back as each, in the decimal `target` (exact whenever
    the double came from text of at most 15 significant digits, as the loader's book does).

    Fast path, vectorised: the double rounded to 15 significant digits (at most `numeric.SCALE`
    decimals) as a scaled integer, kept where it reads back as the same double; the rest (16-17
    digit values) go through Arrow's shortest float text."""
    if isinstance(column, pa.ChunkedArray):
        return pa.chunked_array([_exact_from_double(c, target, name) for c in column.chunks], target)
    if pa.types.is_list(target):
        values = _exact_from_double(column.flatten(), target.value_type, name)
        return pa.ListArray.from_arrays(column.offsets, values, type=target, mask=column.is_null())
    try:
        return _doubles_to_decimal(column, target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise UserError(f"column {name}: a stored double is not a decimal of {target} "
                        f"(more than {numeric.SCALE} decimals or out of range); ask numeric='float'") from exc


def _doubles_to_decimal(column: pa.Array, target: pa.DataType) -> pa.Array:
    import numpy as np

    x = column.fill_null(0.0).to_numpy(zero_copy_only=False).astype(np.float64)
    ax = np.abs(x)
    with np.errstate(divide="ignore", invalid="ignore"):
        exp = np.where(ax > 0, np.floor(np.log10(np.where(ax > 0, ax, 1.0))), 0).astype(np.int64)
    k = np.minimum(14 - exp, numeric.SCALE)  # decimals kept: 15 significant digits, at most the contract's
    k = np.maximum(k, 0)  # values of 1e15 and more are whole numbers at 15 digits (amounts < 1e16)
    pow10 = 10.0 ** k
    m = np.rint(x * pow10)
    ok = np.isfinite(m) & (np.abs(m) < 2.0**53) & (m / pow10 == x)
    out: list[tuple[np.ndarray, pa.Array]] = []
    mi = np.where(ok, m, 0).astype(np.int64)
    for scale in np.unique(k[ok]):
        idx = np.flatnonzero(ok & (k == scale))
        whole = pc.cast(pa.array(mi[idx], pa.int64()), pa.decimal128(38, 0))
        scaled = pa.Array.from_buffers(pa.decimal128(38, int(scale)), len(whole), whole.buffers())
        out.append((idx, pc.cast(scaled, target)))
    rest = np.flatnonzero(~ok)
    if len(rest):
        text = pc.cast(pa.array(x[rest], pa.float64()), pa.string())
        out.append((rest, pc.cast(text, target)))
    if not out:
        return pa.array([], target)
    if len(out) == 1:  # one magnitude, as a column of one symbol's prices mostly is: already in order
        result = out[0][1]
    else:
        indices = np.concatenate([i for i, _ in out])
        order = np.empty(len(indices), np.int64)
        order[indices] = np.arange(len(indices))
        result = pa.concat_arrays([v for _, v in out]).take(pa.array(order))
    if column.null_count:
        result = pc.if_else(column.is_null(), pa.scalar(None, target), result)
    return result


def exact_vwap(quote_volume: Any, volume: Any) -> pa.Array:
    """quote_volume / volume rounded half-even to VWAP_SCALE decimals (null when volume is 0 or null)."""
    out: list[Decimal | None] = []
    with localcontext(prec=80, rounding=ROUND_HALF_EVEN):
        for q, v in zip(quote_volume.to_pylist(), volume.to_pylist(), strict=True):
            out.append(None if q is None or not v else (q / v).quantize(_VWAP_QUANTUM))
    return pa.array(out, VWAP_TYPE)


# -- text ------------------------------------------------------------------------------------------


def _plain(text: str) -> str:
    """A plain decimal text without trailing zeros (and without a trailing point)."""
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _decimal_text(d: Decimal) -> str:
    if not d.is_finite():
        return str(d).lower()
    return _plain(format(d, "f"))


def _float_text(x: float) -> str:
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return _decimal_text(Decimal(repr(float(x))))


def number_text(value: Any) -> str:
    """One number as text: the shortest exact decimal (see the module doc). None -> ''."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, Decimal):
        return _decimal_text(value)
    if isinstance(value, float):
        return _float_text(value)
    if isinstance(value, int):
        return str(value)
    if hasattr(value, "item"):  # a numpy scalar
        return number_text(value.item())
    raise TypeError(f"not a number: {value!r}")


def list_text(values: Iterable[Any] | None) -> str | None:
    return None if values is None else "[" + ", ".join(number_text(v) for v in values) + "]"


def is_number(t: pa.DataType) -> bool:
    return pa.types.is_decimal(t) or pa.types.is_floating(t) or pa.types.is_integer(t)


def text_array(column: Any) -> pa.Array:
    """A numeric column (or a list of numbers) as text by `number_text`; other columns unchanged."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    t = column.type
    if pa.types.is_list(t) and is_number(t.value_type):
        return pa.array([list_text(v) for v in column.to_pylist()], pa.string())
    if pa.types.is_decimal(t):
        # Arrow writes decimals at full scale and small ones in scientific notation: the plain text
        # with zeros stripped, and the few scientific ones through `decimal`.
        text = pc.cast(column, pa.string())
        text = pc.replace_substring_regex(text, r"^(-?[0-9]+\.[0-9]*?)0+$", r"\1")
        text = pc.replace_substring_regex(text, r"\.$", "")
        sci = pc.match_substring(text, "E")
        if pc.any(sci).as_py():
            fixed = [number_text(d) if s else x for d, s, x in
                     zip(column.to_pylist(), sci.to_pylist(), text.to_pylist(), strict=True)]
            text = pa.array(fixed, pa.string())
        return pc.if_else(pc.equal(text, "-0"), "0", text)
    if pa.types.is_floating(t):
        return pa.array([None if v is None else _float_text(v) for v in column.to_pylist()], pa.string())
    if pa.types.is_integer(t):
        return pc.cast(column, pa.string())
    return column


def text_table(data: pa.Table | pa.RecordBatch) -> pa.Table:
    """Every number and list of numbers of `data` as its text; other columns as they are."""
    columns = [text_array(data.column(i)) for i in range(data.num_columns)]
    return pa.table(columns, names=data.schema.names)


def _cell_texts(column: Any) -> list[str | None]:
    texts = text_array(column)
    if not pa.types.is_string(texts.type):
        try:
            texts = pc.cast(texts, pa.string())  # timestamps, dates, booleans: Arrow's own text
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):  # nested values without a text cast
            return [None if v is None else str(v) for v in texts.to_pylist()]
    return texts.to_pylist()


def write_csv(batches: Iterable[pa.RecordBatch], schema: pa.Schema, stream: Any) -> int:
    """Rows as CSV (a header, then the texts above; quoted only where CSV needs it) to a text stream.
    Returns the number of rows."""
    import csv

    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(schema.names)
    rows = 0
    for batch in batches:
        columns = [_cell_texts(batch.column(i)) for i in range(batch.num_columns)]
        writer.writerows(zip(*columns, strict=True))
        rows += batch.num_rows
    return rows


def table_text(data: pa.Table) -> str:
    """A table for the terminal: numbers by `number_text`, right-aligned, pandas' layout."""
    import pandas as pd

    frame = pd.DataFrame({name: _cell_texts(data.column(name)) for name in data.schema.names}, dtype=object)
    frame = frame.fillna("")
    with pd.option_context("display.width", 250, "display.max_columns", 40):
        return frame.to_string()
