"""`tickwh research asof|bars|infobars|replay SYMBOL [SYMBOL...] --start ... --end ...`
(also `python -m ingest.research ...`). Numbers print as ingest/numbers.py writes them."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import pyarrow as pa

from ingest import numbers
from ingest.cold.store import ColdObjectError
from ingest.history import HistoricalData, HistoryError, add_store_arguments, stores_from_args
from ingest.lake import LakeError
from ingest.names import InvalidNameError
from ingest.research import asof_join, get_bars, info_bars, replay
from ingest.research.common import Result


def _parser(prog: str = "python -m ingest.research") -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("symbols", nargs="+", help="one or more symbols")
    common.add_argument("--start", required=True, help="start, inclusive (YYYY-MM-DD or ISO time; UTC unless --tz)")
    common.add_argument("--end", required=True, help="end, exclusive")
    common.add_argument("--exchange")
    common.add_argument("--csv", action="store_true", help="write every row as CSV to stdout")
    common.add_argument("--limit", type=int, default=20, help="rows shown without --csv")
    common.add_argument("--numeric", choices=numbers.MODES, default=numbers.DEFAULT,
                        help="exact: prices, amounts, volumes as exact decimals (default); float: float64")
    add_store_arguments(common)

    parser = argparse.ArgumentParser(prog=prog,
                                     description="As-of joins, bars of any interval, information bars, replay.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("asof", parents=[common], help="trades with the book in force at their time")
    p.add_argument("--tolerance", help="oldest book accepted, e.g. 500ms, 2s, 1m (default: any age)")
    p.add_argument("--levels", type=int, default=0, help="also the first N levels of each side")
    p = sub.add_parser("bars", parents=[common], help="OHLCV bars of any interval")
    p.add_argument("--interval", required=True, help="e.g. 30s, 5m, 2h, 4h, 1d")
    p.add_argument("--tz", default="UTC", help="IANA time zone the buckets follow (default UTC)")
    p.add_argument("--fill", choices=["prev"], help="prev: empty buckets carry the previous close")
    p = sub.add_parser("infobars", parents=[common], help="tick, volume or dollar bars")
    p.add_argument("--kind", required=True, choices=["tick", "volume", "dollar"])
    p.add_argument("--threshold", required=True, help="trades, base units or quote units per bar")
    p = sub.add_parser("replay", parents=[common], help="trades and book snapshots in exchange-time order")
    p.add_argument("--no-trades", action="store_true")
    p.add_argument("--no-book", action="store_true")
    return parser


def _history(args: argparse.Namespace) -> HistoricalData:
    warehouse, cold = stores_from_args(args)
    return HistoricalData(warehouse, cold, cache_dir=args.cache_dir, as_of=args.as_of, numeric=args.numeric)


def asof(argv: Sequence[str]) -> int:
    """`tickwh research asof ...` (tickwh/cli.py's registry)."""
    return main(["asof", *argv], prog="tickwh research")


def bars(argv: Sequence[str]) -> int:
    return main(["bars", *argv], prog="tickwh research")


def infobars(argv: Sequence[str]) -> int:
    return main(["infobars", *argv], prog="tickwh research")


def replay_events(argv: Sequence[str]) -> int:
    return main(["replay", *argv], prog="tickwh research")


def main(argv: Sequence[str] | None = None, prog: str = "python -m ingest.research") -> int:
    args = _parser(prog).parse_args(argv)
    try:
        hist = _history(args)
        result: Result
        if args.command == "asof":
            result = asof_join(hist, args.symbols, args.start, args.end, exchange=args.exchange,
                               tolerance=args.tolerance, levels=args.levels)
        elif args.command == "bars":
            result = get_bars(hist, args.symbols, args.interval, args.start, args.end, tz=args.tz, fill=args.fill,
                              exchange=args.exchange)
        elif args.command == "infobars":
            result = info_bars(hist, args.symbols, args.kind, args.threshold, args.start, args.end,
                               exchange=args.exchange)
        else:
            result = replay(hist, args.symbols, args.start, args.end, exchange=args.exchange,
                            trades=not args.no_trades, book=not args.no_book)
        rows = _write(result, args.csv, args.limit)
    except (HistoryError, InvalidNameError, ColdObjectError, LakeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{rows} rows", file=sys.stderr)
    return 0


def _write(result: Result, csv: bool, limit: int) -> int:
    """All rows as CSV, streamed batch by batch; or the first `limit` rows as a table. Numbers as
    `ingest.numbers` writes them (shortest exact decimal), book levels as `[a, b, ...]`."""
    if csv:
        return numbers.write_csv(result.batches(), result.schema, sys.stdout)
    rows = 0
    shown: list[pa.RecordBatch] = []
    for batch in result.batches():
        if sum(b.num_rows for b in shown) < limit:
            shown.append(batch)
        rows += batch.num_rows
    print(numbers.table_text(pa.Table.from_batches(shown, schema=result.schema).slice(0, limit)))
    return rows
