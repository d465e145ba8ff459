"""`tickwh research asof|bars|infobars|replay SYMBOL [SYMBOL...] --start ... --end ...` and
`tickwh research funding SYMBOL --start ... --end ... --position N`
(also `python -m ingest.research ...`). Numbers print as ingest/numbers.py writes them; a bad
argument is one line and exit 2 (ingest/errors.py)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import pyarrow as pa

from ingest import args as rules
from ingest import numbers
from ingest.args import Parser
from ingest.errors import run
from ingest.history import (
    MAX_SHOWN,
    add_store_arguments,
    no_rows_message,
    reader_from_args,
    store_errors,
    stores_from_args,
)
from ingest.research import asof_join, funding_payments, get_bars, info_bars, replay
from ingest.research.asof import MAX_LEVELS, RIGHTS
from ingest.research.bars import Interval
from ingest.research.common import Result, check_tz, duration, positive_decimal
from ingest.research.funding import DEFAULT_TOLERANCE, signed_amount


def _common(one_symbol: bool = False) -> argparse.ArgumentParser:
    """The arguments every research command shares: symbols, range, output, stores."""
    common = Parser(add_help=False)
    if one_symbol:
        common.add_argument("symbol", help="one symbol")
    else:
        common.add_argument("symbols", nargs="+", help="one or more symbols")
    # Checked here, kept as typed: a naive time means the wall clock of --tz (bars), an offset an instant.
    time = rules.arg(_time_text)
    common.add_argument("--start", required=True, type=time,
                        help="start, inclusive (YYYY-MM-DD or ISO time; UTC unless --tz)")
    common.add_argument("--end", required=True, type=time, help="end, exclusive")
    common.add_argument("--exchange")
    common.add_argument("--csv", action="store_true", help="write every row as CSV to stdout")
    common.add_argument("--limit", type=rules.arg(rules.bounded_int(1, MAX_SHOWN)), default=20,
                        help=f"rows shown without --csv (1 to {MAX_SHOWN})")
    common.add_argument("--numeric", choices=numbers.MODES, default=numbers.DEFAULT,
                        help="exact: prices, amounts, volumes as exact decimals (default); float: float64")
    add_store_arguments(common)
    return common


def _parser(prog: str = "python -m ingest.research") -> argparse.ArgumentParser:
    common = _common()
    parser = Parser(prog=prog, description="As-of joins, bars of any interval, information bars, replay, "
                    "funding payments.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("asof", parents=[common], help="trades with the book, quote or ticker in force at their time")
    p.add_argument("--right", choices=RIGHTS, default="book",
                   help="book (default): snapshots; quotes: best bid/ask; ticker: mark, index, last price, open "
                   "interest, funding rate and time, each its last non-null value")
    p.add_argument("--tolerance", type=rules.arg(lambda t: duration(t, "tolerance")),
                   help="oldest book, quote or ticker value accepted, e.g. 500ms, 2s, 1m (default: any age)")
    p.add_argument("--levels", type=rules.arg(rules.bounded_int(0, MAX_LEVELS)), default=0,
                   help=f"also the first N levels of each side (0 to {MAX_LEVELS}; book only)")
    p = sub.add_parser("bars", parents=[common], help="OHLCV bars of any interval")
    p.add_argument("--interval", required=True, type=rules.arg(_interval), help="e.g. 30s, 5m, 2h, 4h, 1d")
    p.add_argument("--tz", default="UTC", type=rules.arg(_tz), help="IANA time zone the buckets follow (default UTC)")
    p.add_argument("--fill", choices=["prev"], help="prev: empty buckets carry the previous close")
    p = sub.add_parser("infobars", parents=[common], help="tick, volume or dollar bars")
    p.add_argument("--kind", required=True, choices=["tick", "volume", "dollar"])
    p.add_argument("--threshold", required=True, type=rules.arg(lambda t: positive_decimal(t, "threshold")),
                   help="trades, base units or quote units per bar")
    p = sub.add_parser("replay", parents=[common], help="trades and book snapshots in exchange-time order")
    p.add_argument("--no-trades", action="store_true")
    p.add_argument("--no-book", action="store_true")
    p = sub.add_parser("funding", parents=[_common(one_symbol=True)],
                       help="funding paid or received by a position at each settled funding event")
    p.add_argument("--position", required=True, type=rules.arg(signed_amount),
                   help="signed amount held over the range: positive long, negative short (e.g. 0.5, -2)")
    p.add_argument("--tolerance", default=DEFAULT_TOLERANCE, type=rules.arg(lambda t: duration(t, "tolerance")),
                   help=f"oldest rate and mark accepted for an event (default {DEFAULT_TOLERANCE})")
    return parser


def _time_text(text: str) -> str:
    rules.instant(text)  # refused here with the rule's message; the research API reads the text itself
    return text


def _interval(text: str) -> str:
    return Interval.parse(text).text


def _tz(text: str) -> str:
    return check_tz(text).key


def asof(argv: Sequence[str]) -> int:
    """`tickwh research asof ...` (tickwh/cli.py's registry)."""
    return main(["asof", *argv], prog="tickwh research")


def bars(argv: Sequence[str]) -> int:
    return main(["bars", *argv], prog="tickwh research")


def infobars(argv: Sequence[str]) -> int:
    return main(["infobars", *argv], prog="tickwh research")


def replay_events(argv: Sequence[str]) -> int:
    return main(["replay", *argv], prog="tickwh research")


def funding(argv: Sequence[str]) -> int:
    return main(["funding", *argv], prog="tickwh research")


def main(argv: Sequence[str] | None = None, prog: str = "python -m ingest.research") -> int:
    """The research commands: one-line errors, exit 2 (ingest/errors.py)."""
    return run(lambda: _main(argv, prog))


def _main(argv: Sequence[str] | None, prog: str) -> int:
    args = _parser(prog).parse_args(argv)
    with store_errors(None):
        warehouse, cold = stores_from_args(args)
    with store_errors(cold):
        hist = reader_from_args(args, warehouse, cold)
        result: Result
        if args.command == "funding":
            args.symbols = [args.symbol]
            result = funding_payments(hist, args.symbol, args.start, args.end, args.position,
                                      exchange=args.exchange, tolerance=args.tolerance)
        elif args.command == "asof":
            result = asof_join(hist, args.symbols, args.start, args.end, exchange=args.exchange,
                               tolerance=args.tolerance, levels=args.levels, right=args.right)
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
        if rows == 0:
            dataset = ("book_snapshots" if args.command == "replay" and args.no_trades
                       else "derivative_ticker" if args.command == "funding" else "trades")
            held = {s: hist.held_days(dataset, s, args.exchange) for s in dict.fromkeys(args.symbols)}
            skipped = [s for s, off in (("warm lake", args.no_warm), ("cold tier", args.no_cold)) if off]
            print(no_rows_message(list(held), args.start, args.end, held, skipped), file=sys.stderr)
            return 0
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
    if not rows:  # no empty frame: the caller says where it looked
        return 0
    print(numbers.table_text(pa.Table.from_batches(shown, schema=result.schema).slice(0, limit)))
    return rows
