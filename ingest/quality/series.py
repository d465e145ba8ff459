"""Order-dependent columns of a trades day, computed per symbol in numpy from a few narrow columns.

Why not SQL windows: each order (time, trade id, id-or-receive) is a DuckDB window sort of the
whole day, and the spike score needs two rolling medians on top. On a 10M-trade day with two
cores that was ~8 s for `seq_gap` + `abs_move_pct`, 7 s for the `symbols` frame and 12 s for the
rolling median / MAD; the pandas version it replaces held the whole day (~9 GB). Here DuckDB
streams four numeric columns out, grouped by symbol (Arrow, ~1.7 s); a day's
trades are already almost in time and id order per symbol, so checking the order is cheap and a
sort is rarely needed; rolling medians of odd windows use scipy's median filter (scipy comes with
Great Expectations). The derived columns go back into DuckDB as an Arrow table keyed by the
table's row id (`ingest.quality.prep`). Memory: a few numeric arrays of the day (~1 GB peak for
10M trades).

The semantics are exactly those of the SQL (and pandas) they replace, per (exchange, symbol):

- time order: `ts, trade_seq, trade_id` (NULLs last, strings by byte order, as DuckDB sorts);
  `abs_move_pct = |price / previous price - 1| * 100`; `spike_score = |price - m| / max(s, price *
  floor_bps / 1e4)` with `m` the centred rolling median of `window` trades (`min_periods=1`) and
  `s` the same rolling median of `|price - m|`; `max_gap_us`, the longest step between timestamps.
- id order: `trade_seq` merged with the ids the loader quarantined that day, quarantined last on
  equal ids; `seq_gap = id - previous id - 1` (NULL for the first id and non-integer ids).
- id-or-receive order: `coalesce(trade_seq, epoch_us(local_ts)), trade_id`; `back_sum` counts
  trades stamped before the previous one in that order.

`tests/test_quality.py` compares these with the SQL window definitions on a day planted with
ties, non-integer ids, quarantined ids and out-of-order timestamps.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

# Groups this small go through pandas directly: the fast path's setup is not worth it.
_SMALL_GROUP = 1_000
Keys = Callable[[slice], list[np.ndarray]]


@dataclass
class _Day:
    """The narrow columns of one trades day, one element per trade, grouped by symbol."""

    row_id: np.ndarray
    gid: np.ndarray  # dense (exchange, symbol) id, an index into `keys`
    keys: list[tuple[str, str]]
    ts: np.ndarray  # epoch microseconds
    local: np.ndarray  # epoch microseconds, 0 where `local_null`; only read where seq is NULL
    local_null: np.ndarray
    seq: np.ndarray  # 0 where `seq_null`
    seq_null: np.ndarray
    price: np.ndarray



@dataclass
class TradeSeries:
    """Derived columns by row id, and per-symbol order statistics for the `symbols` frame."""

    derived: pa.Table  # row_id, seq_gap, abs_move_pct, spike_score
    symbols: pa.Table  # exchange, symbol, trades, first_us, last_us, back_sum, max_gap_us


def _arrow(con: duckdb.DuckDBPyConnection, sql: str, params: list) -> pa.Table:
    result = con.execute(sql, params).arrow()
    return result.read_all() if isinstance(result, pa.RecordBatchReader) else result


def _numpy(column: pa.ChunkedArray, fill: float = 0) -> tuple[np.ndarray, np.ndarray]:
    """Values (`fill` where NULL) and the NULL mask; no fill pass when there is no NULL."""
    array = column.combine_chunks()
    if array.null_count == 0:
        return array.to_numpy(), np.zeros(len(array), dtype=bool)
    return array.fill_null(fill).to_numpy(), array.is_null().to_numpy(zero_copy_only=False)


def _fetch(con: duckdb.DuckDBPyConnection, day: dt.date, *, by_hash: bool = True) -> tuple[_Day, list[slice]]:
    """The day's narrow columns with each symbol one contiguous slice (row id order within it),
    and those slices. DuckDB sorts by a 64-bit hash of the symbol three times faster than by the
    strings, and faster than numpy regroups the arrays; the derived table is keyed by row id, so
    nothing needs to go back to scan order."""
    where = "FROM raw.trades WHERE trade_date = ?"
    keys = con.execute(f"SELECT hash(exchange, symbol) AS h, exchange, symbol, count(*), count(*) - count(trade_seq) "
                       f"{where} GROUP BY exchange, symbol ORDER BY h", [day]).fetchall()
    # Two symbols sharing a hash would merge: then the position in the list of symbols sorts.
    by_hash = by_hash and len({k[0] for k in keys}) == len(keys)
    group_sql = "hash(exchange, symbol)" if by_hash else "list_position(?, [exchange, symbol])"
    any_null_seq = any(k[4] for k in keys)  # only then does the id order need local_ts
    table = _arrow(
        con,
        f"""SELECT rowid AS row_id, epoch_us(ts) AS ts, trade_seq AS seq, CAST(price AS DOUBLE) AS price
                   {", epoch_us(local_ts) AS local" if any_null_seq else ""}
            {where} ORDER BY {group_sql}, rowid""",
        [day] + ([] if by_hash else [[list(k[1:3]) for k in keys]]),
    )
    counts = np.array([k[3] for k in keys], dtype=np.int64)
    assert counts.sum() == table.num_rows, "rows changed under the check"
    seq, seq_null = _numpy(table.column("seq"))
    local, local_null = _numpy(table.column("local")) if any_null_seq else (seq, seq_null)
    day_ = _Day(table.column("row_id").to_numpy(), np.repeat(np.arange(len(keys)), counts),
                [tuple(k[1:3]) for k in keys], table.column("ts").to_numpy(), local, local_null, seq, seq_null,
                _numpy(table.column("price"), np.nan)[0])
    bounds = np.r_[0, np.cumsum(counts)]
    return day_, [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


def _quarantined_ids(con: duckdb.DuckDBPyConnection, day: dt.date,
                     keys: list[tuple[str, str]]) -> dict[int, np.ndarray]:
    """Integer ids the loader quarantined, per group: the vendor delivered them (the quarantine
    rules report them), so they are not gaps. raw_line keeps the id as its 5th field (parsed
    fields or the CSV line)."""
    rows = con.execute(
        """SELECT DISTINCT split_part(raw_line, ',', 1), split_part(raw_line, ',', 2),
                  TRY_CAST(split_part(raw_line, ',', 5) AS BIGINT) AS seq
        FROM raw.quarantine
        WHERE dataset = 'trades' AND partition_date = ? AND rule <> 'duplicate_trade_id' AND seq IS NOT NULL""",
        [day],
    ).fetchall()
    index = {k: i for i, k in enumerate(keys)}
    found: dict[int, list[int]] = {}
    for exchange, symbol, seq in rows:
        if (exchange, symbol) in index:
            found.setdefault(index[(exchange, symbol)], []).append(seq)
    return {g: np.array(v, dtype=np.int64) for g, v in found.items()}


# --------------------------------------------------------------------------------------------
# Orders: per group, None when the group is already in order (the usual case), else the
# positions within the group in order.
# --------------------------------------------------------------------------------------------


def _steps(keys: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """For consecutive elements: (in order, tied) under lexicographic `keys`, most significant first."""
    n = max(len(keys[0]) - 1, 0)
    before, tied = np.zeros(n, dtype=bool), np.ones(n, dtype=bool)
    for k in keys:
        before |= tied & (k[:-1] < k[1:])
        tied &= k[:-1] == k[1:]
    return before | tied, tied


def _sorted(keys: list[np.ndarray]) -> tuple[np.ndarray | None, np.ndarray]:
    """The stable order of one group under `keys`, and the positions (in that order) of every
    element tied with its predecessor: those are ordered by trade id afterwards."""
    in_order, tied = _steps(keys)
    order = None
    if not np.all(in_order):
        order = np.lexsort(keys[::-1])
        _, tied = _steps([k[order] for k in keys])
    return order, np.flatnonzero(tied) + 1


def _trade_ids(con: duckdb.DuckDBPyConnection, row_ids: np.ndarray) -> pa.Array:
    """trade_id of each of `row_ids` (sorted, unique), in that order."""
    name = f"tickwh_rowids_{id(row_ids)}"
    con.register(name, pa.table({"row_id": row_ids}))
    try:
        found = _arrow(con, f"SELECT rowid AS row_id, trade_id FROM raw.trades WHERE rowid IN "
                            f"(SELECT row_id FROM {name}) ORDER BY row_id", [])
    finally:
        con.unregister(name)
    assert len(found) == len(row_ids), "rows changed under the check"
    return found.column("trade_id").combine_chunks()


def _break_ties(con: duckdb.DuckDBPyConnection, day: _Day, groups: list[slice], orders: list[np.ndarray | None],
                ties: list[np.ndarray]) -> None:
    """Order each run of tied rows by trade_id, bytewise as DuckDB sorts strings (in place)."""
    spans = []
    for g, tied in enumerate(ties):
        if len(tied):
            if orders[g] is None:
                orders[g] = np.arange(groups[g].stop - groups[g].start)
            pos = np.union1d(tied - 1, tied)  # tied elements and their predecessors
            starts = ~np.isin(pos, tied)  # a run starts where the key changes, even right after a run
            spans.append((g, pos, np.cumsum(starts)))
    if not spans:
        return
    row_ids = [day.row_id[groups[g]][orders[g][pos]] for g, pos, _ in spans]
    wanted = np.unique(np.concatenate(row_ids))
    ids = _trade_ids(con, wanted)
    for (g, pos, run), rows in zip(spans, row_ids, strict=True):
        tid = ids.take(pa.array(np.searchsorted(wanted, rows)))
        order = pc.sort_indices(pa.table({"run": run, "tid": tid}),
                                sort_keys=[("run", "ascending"), ("tid", "ascending")])
        orders[g][pos] = orders[g][pos][order.to_numpy()]


def _orders(con: duckdb.DuckDBPyConnection, day: _Day, groups: list[slice], keys: Keys) -> list[np.ndarray | None]:
    orders, ties = [], []
    for s in groups:
        o, t = _sorted(keys(s))
        orders.append(o)
        ties.append(t)
    _break_ties(con, day, groups, orders, ties)
    return orders


def _in_order(x: np.ndarray, order: np.ndarray | None) -> np.ndarray:
    return x if order is None else x[order]


# --------------------------------------------------------------------------------------------
# Values
# --------------------------------------------------------------------------------------------


def _edge_medians(x: np.ndarray, h: int) -> np.ndarray:
    """Medians of x[:h+1], x[:h+2], ..., x[:2h]: a centred window cut short by the group's start,
    with pandas' arithmetic for an even count ((lower + upper) / 2)."""
    m = np.full((h, 2 * h), np.nan)
    for i in range(h):
        m[i, : i + h + 1] = x[: i + h + 1]
    s = np.sort(m, axis=1)  # NaN padding sorts last
    k = np.arange(h + 1, 2 * h + 1)
    rows = np.arange(h)
    upper = s[rows, k // 2]
    lower = s[rows, (k - 1) // 2]
    return np.where(k % 2 == 1, upper, (lower + upper) / 2)


def rolling_median(x: np.ndarray, window: int) -> np.ndarray:
    """`pd.Series(x).rolling(window, center=True, min_periods=1).median()`, fast for odd windows.

    scipy's median filter is exact (it selects, never averages) for an odd window wholly inside
    the series; the first and last window // 2 values see shortened windows and are computed
    here. Even windows, NaN and short series take pandas itself.
    """
    h = window // 2
    if window % 2 == 0 or len(x) < max(_SMALL_GROUP, 2 * window) or np.isnan(x).any():
        return pd.Series(x).rolling(window, center=True, min_periods=1).median().to_numpy()
    from scipy.ndimage import median_filter

    out = median_filter(x, size=window, mode="nearest")
    if h:
        out[:h] = _edge_medians(x[: 2 * h], h)
        out[-h:] = _edge_medians(x[::-1][: 2 * h], h)[::-1]
    return out


def spike_scores(price: np.ndarray, window: int, floor_bps: float) -> np.ndarray:
    """|price - rolling median| / max(rolling MAD, price * floor_bps / 1e4), one symbol in time order.

    The floor keeps a flat tape (MAD zero) from making any tick look infinite.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        med = rolling_median(price, window)
        dev = np.abs(price - med)
        scale = np.maximum(rolling_median(dev, window), price * floor_bps / 1e4)
        return dev / scale


def _seq_gaps(seq: np.ndarray, nulls: np.ndarray, quarantined: np.ndarray | None, out: np.ndarray,
              out_null: np.ndarray) -> None:
    """seq_gap of one group's trades with an integer id, written into the group's `out` view."""
    rows = np.flatnonzero(~nulls) if nulls.any() else None
    ids = _in_order(seq, rows)
    if quarantined is None and np.all(ids[1:] >= ids[:-1]):  # the usual day: nothing to merge or sort
        if rows is None:
            out[1:] = np.diff(ids) - 1
            out_null[1:] = False
        else:
            out[rows[1:]] = np.diff(ids) - 1
            out_null[rows[1:]] = False
        return
    rows = np.arange(len(seq)) if rows is None else rows
    if quarantined is not None:
        ids = np.concatenate([ids, quarantined])
    # a stable sort keeps trades ahead of quarantined copies of their id (concatenated after them)
    order = np.argsort(ids, kind="stable")
    later = order[1:]
    mine = later < len(rows)
    out[rows[later[mine]]] = (np.diff(ids[order]) - 1)[mine]
    out_null[rows[later[mine]]] = False


def _put(out: np.ndarray, order: np.ndarray | None, values: np.ndarray, start: int = 0) -> None:
    """Write `values` (in `order`, from its `start`-th element on) into the group's `out` view."""
    if order is None:
        out[start:] = values
    else:
        out[order[start:]] = values


def trade_series(con: duckdb.DuckDBPyConnection, day: dt.date, window: int, floor_bps: float) -> TradeSeries:
    """The order-dependent columns of `day`'s trades (see the module docstring)."""
    d, groups = _fetch(con, day)
    quarantined = _quarantined_ids(con, day, d.keys)
    if d.seq_null.any():
        by_time = _orders(con, d, groups, lambda s: [d.ts[s], d.seq_null[s], d.seq[s]])
        id_key = np.where(d.seq_null, d.local, d.seq)
        id_null = d.seq_null & d.local_null
        by_id = _orders(con, d, groups, lambda s: [id_null[s], id_key[s]])
    else:  # integer ids throughout (the usual day): fewer keys to compare
        by_time = _orders(con, d, groups, lambda s: [d.ts[s], d.seq[s]])
        by_id = _orders(con, d, groups, lambda s: [d.seq[s]])

    n = len(d.row_id)
    move, move_null = np.full(n, np.nan), np.ones(n, dtype=bool)
    spike = np.empty(n)
    seq_gap, seq_gap_null = np.zeros(n, dtype=np.int64), np.ones(n, dtype=bool)
    stats: dict[str, list] = {"trades": [], "first_us": [], "last_us": [], "back_sum": [], "max_gap_us": []}
    with np.errstate(divide="ignore", invalid="ignore"):
        for g, s in enumerate(groups):
            t = by_time[g]
            p = _in_order(d.price[s], t)
            _put(move[s], t, np.abs(p[1:] / p[:-1] - 1) * 100, start=1)
            _put(move_null[s], t, False, start=1)
            _put(spike[s], t, spike_scores(p, window, floor_bps))
            _seq_gaps(d.seq[s], d.seq_null[s], quarantined.get(g), seq_gap[s], seq_gap_null[s])
            ts = _in_order(d.ts[s], t)
            back = _in_order(d.ts[s], by_id[g])
            stats["trades"].append(len(ts))
            stats["first_us"].append(int(ts[0]))
            stats["last_us"].append(int(ts[-1]))
            stats["max_gap_us"].append(int(np.diff(ts).max()) if len(ts) > 1 else None)
            stats["back_sum"].append(int(np.sum(back[1:] < back[:-1])) if len(ts) > 1 else None)
    derived = pa.table({
        "row_id": d.row_id,
        "seq_gap": pa.array(seq_gap, mask=seq_gap_null),
        "abs_move_pct": pa.array(move, mask=move_null),
        "spike_score": spike,
    })
    symbols = pa.table({"exchange": [k[0] for k in d.keys], "symbol": [k[1] for k in d.keys],
                        **{k: pa.array(v, type=pa.int64()) for k, v in stats.items()}})
    return TradeSeries(derived, symbols)
