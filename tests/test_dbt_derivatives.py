"""The derivatives and quotes marts (funding_rates, perp_basis_1m, open_interest_1h, quotes_1m and the
daily_stats additions) built by dbt on a real DuckLake, against plain-Python references in Decimal.

The raw days are made here: a perpetual whose funding moves from every 8 h to every 4 h, ticker rows
with empty fields, a stale funding row, a two-hour hole in the ticker, a basis spike, quotes with
timestamp ties and empty minutes, liquidations of both sides, and an instrument with trades but no
derivatives data. `dbt build` runs over all days at once, and on a copy of the raw lake one day at
a time (in a shuffled order): both must give the same rows.
"""

from __future__ import annotations

import random
import subprocess
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from pathlib import Path

import duckdb
import pytest

from ingest.landing import trades_file_name
from ingest.quality import validate_window
from ingest.warehouse import ensure_raw_schema
from tests import lakes
from tests.test_dbt_models import _dbt, _query

D1, D2, D3, D4 = date(2024, 3, 1), date(2024, 3, 2), date(2024, 3, 3), date(2024, 3, 4)
DAYS = (D1, D2, D3)
EXCHANGE = "binance-futures"
BTC = (EXCHANGE, "BTCUSDT")
ETH = (EXCHANGE, "ETHUSDT")  # trades only: its daily_stats rows get no derivatives values
NEW_MARTS = ["funding_rates", "perp_basis_1m", "open_interest_1h", "quotes_1m"]
DERIVATIVES = ["funding_event_count", "funding_rate_sum", "open_interest_close", "buy_liquidation_count",
               "buy_liquidation_notional", "sell_liquidation_count", "sell_liquidation_notional"]
SELECT = ["--select", "stg_quotes stg_derivative_ticker stg_liquidations funding_rates perp_basis_1m "
          "open_interest_1h quotes_1m +daily_stats"]
MINUTE, HOUR = timedelta(minutes=1), timedelta(hours=1)

# As in the brief of issue 23 (ingest.warehouse.ensure_raw_schema creates them once the loader has them).
RAW_DDL = """
CREATE TABLE IF NOT EXISTS raw.quotes (
    quote_date DATE NOT NULL, exchange VARCHAR NOT NULL, symbol VARCHAR NOT NULL,
    ts TIMESTAMP NOT NULL, local_ts TIMESTAMP,
    bid_price DECIMAL(22, 12) NOT NULL, bid_amount DECIMAL(28, 12) NOT NULL,
    ask_price DECIMAL(22, 12) NOT NULL, ask_amount DECIMAL(28, 12) NOT NULL,
    source_file VARCHAR NOT NULL);
CREATE TABLE IF NOT EXISTS raw.derivative_ticker (
    ticker_date DATE NOT NULL, exchange VARCHAR NOT NULL, symbol VARCHAR NOT NULL,
    ts TIMESTAMP NOT NULL, local_ts TIMESTAMP,
    funding_ts TIMESTAMP,
    funding_rate DECIMAL(28, 24), predicted_funding_rate DECIMAL(28, 24),
    open_interest DECIMAL(28, 12),
    last_price DECIMAL(22, 12), index_price DECIMAL(22, 12), mark_price DECIMAL(22, 12),
    source_file VARCHAR NOT NULL);
CREATE TABLE IF NOT EXISTS raw.liquidations (
    liquidation_date DATE NOT NULL, exchange VARCHAR NOT NULL, symbol VARCHAR NOT NULL,
    ts TIMESTAMP NOT NULL, local_ts TIMESTAMP,
    liquidation_id VARCHAR, side VARCHAR NOT NULL,
    price DECIMAL(22, 12) NOT NULL, amount DECIMAL(28, 12) NOT NULL,
    source_file VARCHAR NOT NULL);
"""


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    ensure_raw_schema(con)
    con.execute(RAW_DDL)


# --------------------------------------------------------------------------------------------
# the raw days


@dataclass(frozen=True)
class Tick:
    ts: datetime
    local_ts: datetime | None
    funding_ts: datetime | None
    funding_rate: Decimal | None
    open_interest: Decimal | None
    index_price: Decimal | None
    mark_price: Decimal | None

    @property
    def order(self) -> tuple:
        return (self.ts, self.local_ts or self.ts)


def _at(day: date, hh: int = 0, mm: int = 0, ss: float = 0) -> datetime:
    return datetime.combine(day, time()) + timedelta(hours=hh, minutes=mm, seconds=ss)


SWITCH = _at(D2, 16)
RATE = Decimal("0.00004405208333333333")  # funding every 8 h up to here, every 4 h after


def next_funding(ts: datetime) -> datetime:
    """The first funding time after ts: 00/08/16 h until SWITCH, then every 4 h."""
    t = datetime.combine(ts.date(), time())
    while t <= ts:
        t += timedelta(hours=8 if t < SWITCH else 4)
    return t


def _ticks() -> list[Tick]:
    ticks = []
    start, end = _at(D1), _at(D3, 6)
    t, k = start, 0
    while t < end:
        if not (_at(D2, 3) <= t < _at(D2, 5)):  # a two-hour hole in the ticker
            index = Decimal("62000.123456789012") + Decimal(k) * Decimal("1.000000000007")
            mark = index + Decimal(k % 13 - 6) * Decimal("0.700000000003")
            ticks.append(Tick(
                ts=t,
                local_ts=None if k % 17 == 0 else t + timedelta(milliseconds=3),
                funding_ts=None if k % 6 == 5 else next_funding(t),
                funding_rate=None if k % 6 in (4, 5) else RATE + Decimal(k) * Decimal("1e-20"),
                open_interest=None if k % 4 == 3 else Decimal("81234.5") + Decimal(k % 23) * Decimal("10.000000000001"),
                index_price=None if k % 9 == 8 else index,
                mark_price=None if k % 11 == 10 else mark,
            ))
        k += 1
        t += timedelta(minutes=7, seconds=(k % 5) * 1.5)
    base = dict(funding_ts=None, funding_rate=None, open_interest=None)
    ticks += [
        # a stale row after 08:00 still announcing 08:00 with another rate: not an observation of it
        Tick(_at(D1, 8, 0, 20), None, _at(D1, 8), Decimal("0.0099"), None, None, None),
        # two rows in one microsecond: local_ts orders them, the later one wins
        Tick(_at(D1, 12, 30, 1), _at(D1, 12, 30, 2), **base, index_price=Decimal("62100"), mark_price=Decimal("62110")),
        Tick(_at(D1, 12, 30, 1), _at(D1, 12, 30, 1), **base, index_price=Decimal("62000"), mark_price=Decimal("62005")),
        # a basis spike of 6 %: warned, not refused
        Tick(_at(D2, 12, 0, 30), None, **base, index_price=Decimal("62500"), mark_price=Decimal("66250")),
    ]
    return ticks


TICKS = _ticks()

# quotes: (ts, local_ts, bid, bid_amount, ask, ask_amount)
Quote = tuple[datetime, datetime | None, Decimal, Decimal, Decimal, Decimal]


def _quotes() -> list[Quote]:
    rng = random.Random(23)
    quotes: list[Quote] = []
    mid = Decimal("62000.5")
    for day in (D1, D2):
        t = _at(day, 0, 0, 10.5)
        while t < _at(day, 1, 30):
            if not (_at(day, 0, 2) <= t < _at(day, 0, 5)):  # three minutes without a quote
                mid += Decimal(rng.randint(-300, 300)) * Decimal("0.000000000123")
                half = Decimal(rng.randint(0, 40)) * Decimal("0.050000000001")
                quotes.append((t, t + timedelta(microseconds=rng.randint(0, 900)), mid - half,
                               Decimal(rng.randint(1, 900)) / 1000, mid + half, Decimal(rng.randint(1, 900)) / 1000))
            t += timedelta(microseconds=rng.randint(1, 45_000_000))
    # a tie on ts: the order (ts, local_ts, ...) puts the second first, so the first is in force
    tie = _at(D1, 0, 0, 40)
    quotes += [(tie, _at(D1, 0, 0, 41), Decimal("62000"), Decimal("1"), Decimal("62001"), Decimal("2")),
               (tie, _at(D1, 0, 0, 40), Decimal("61990"), Decimal("1"), Decimal("62011"), Decimal("2"))]
    return quotes


QUOTES = _quotes()

# (ts, id, side, price, amount)
LIQUIDATIONS = [
    (_at(D1, 3, 15), "l1", "buy", Decimal("62050.5"), Decimal("0.125")),
    (_at(D1, 9, 0, 1), None, "buy", Decimal("61000.123456789"), Decimal("2.00000001")),
    (_at(D1, 23, 59, 59.999999), "l3", "sell", Decimal("60000"), Decimal("0.001")),
    (_at(D2, 0, 0), "l4", "sell", Decimal("60500.25"), Decimal("1.5")),
]

# (venue, ts, id, side, price, amount): one trade or two per day, enough for daily_stats rows
TRADES = [
    (BTC, _at(D1, 1), "1", "buy", Decimal("62000"), Decimal("0.5")),
    (BTC, _at(D1, 20), "2", "sell", Decimal("62100.5"), Decimal("0.25")),
    (BTC, _at(D2, 2), "3", "buy", Decimal("62300"), Decimal("1")),
    (BTC, _at(D3, 5), "4", "sell", Decimal("62400"), Decimal("2")),
    (ETH, _at(D1, 4), "5", "buy", Decimal("3400.25"), Decimal("3")),
    (ETH, _at(D1, 6), "6", "sell", Decimal("3410"), Decimal("1")),
    (ETH, _at(D2, 4), "7", "buy", Decimal("3390"), Decimal("2")),
]


def _load_raw(home: Path) -> None:
    with lakes.connect(home) as con:
        ensure_schema(con)
        con.execute("begin transaction")
        con.executemany("insert into raw.trades values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", [
            (ts.date(), *venue, ts, ts, trade_id, int(trade_id), side, price, amount,
             trades_file_name(venue[0], ts.date()))
            for venue, ts, trade_id, side, price, amount in TRADES
        ])
        con.executemany("insert into raw.derivative_ticker values (?, ?, ?, ?, ?, ?, ?, NULL, ?, NULL, ?, ?, ?)", [
            (t.ts.date(), *BTC, t.ts, t.local_ts, t.funding_ts, t.funding_rate, t.open_interest, t.index_price,
             t.mark_price, f"{EXCHANGE}_derivative_ticker_{t.ts.date()}_BTCUSDT.csv.gz")
            for t in TICKS
        ])
        con.executemany("insert into raw.quotes values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", [
            (q[0].date(), *BTC, q[0], q[1], q[2], q[3], q[4], q[5], f"{EXCHANGE}_quotes_{q[0].date()}_BTCUSDT.csv.gz")
            for q in QUOTES
        ])
        con.executemany("insert into raw.liquidations values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", [
            (ts.date(), *BTC, ts, ts, liq_id, side, price, amount,
             f"{EXCHANGE}_liquidations_{ts.date()}_BTCUSDT.csv.gz")
            for ts, liq_id, side, price, amount in LIQUIDATIONS
        ])
        con.execute("commit")


def _build(home: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    proc = _dbt("build", home, home, *args, env=env)
    assert proc.returncode == 0, f"dbt build failed:\n{proc.stdout[-6000:]}\n{proc.stderr}"
    return proc


def _marts(home: Path) -> dict[str, list[tuple]]:
    """The new marts, and daily_stats without prev_close / return_cc: those read the previous day's
    ohlcv_1d, which a build of days out of calendar order has not made yet (as before issue 23)."""
    with lakes.connect(home, read_only=True) as con:
        found = {m: con.execute(f"select * from marts.{m} order by all").fetchall() for m in NEW_MARTS}
        found["daily_stats"] = con.execute(
            "select * exclude (prev_close, return_cc) from marts.daily_stats order by all").fetchall()
        return found


@pytest.fixture(scope="module")
def homes(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """(all days built in one run, the same raw days built one day at a time, the ranged build's output)."""
    ranged = tmp_path_factory.mktemp("derivatives_ranged")
    _load_raw(ranged)
    daily = tmp_path_factory.mktemp("derivatives_daily")
    lakes.copy_home_lake(ranged, daily)
    out = _build(ranged).stdout
    for day in (D2, D3, D1):  # not in calendar order: no day depends on another's build
        _build(daily, *SELECT, env={"TICKWH_DBT_MIN_DATE": str(day), "TICKWH_DBT_MAX_DATE": str(day + timedelta(1))})
    return ranged, daily, out


@pytest.fixture()
def con(homes):
    with lakes.connect(homes[0], read_only=True) as connection:
        yield connection


# --------------------------------------------------------------------------------------------
# references in plain Python (Decimal)


def _round(value: Decimal, scale: int) -> Decimal:
    with localcontext(prec=120, rounding=ROUND_HALF_EVEN):
        return value.quantize(Decimal(1).scaleb(-scale))


def ref_funding() -> dict[datetime, dict]:
    last_ts = defaultdict(lambda: datetime.min)
    for t in TICKS:
        last_ts[t.ts.date()] = max(last_ts[t.ts.date()], t.ts)
    observed = defaultdict(list)
    for t in TICKS:
        if t.funding_ts and t.funding_rate is not None and t.ts <= t.funding_ts \
                and t.ts.date() >= t.funding_ts.date() - timedelta(1):
            observed[t.funding_ts].append(t)
    announced = {(t.ts.date(), t.funding_ts) for t in TICKS if t.funding_ts and t.ts <= t.funding_ts}
    events = {}
    for when, obs in observed.items():
        if last_ts[when.date()] < when:
            continue  # not settled: the ticker has not reached it
        last = max(obs, key=lambda t: (*t.order, t.funding_rate))
        earlier = [f for d, f in announced if f < when and when.date() - timedelta(2) <= d <= when.date()]
        previous = max(earlier, default=None)
        events[when] = {
            "exchange": EXCHANGE, "symbol": "BTCUSDT", "bar_date": when.date(), "funding_time": when,
            "funding_rate": last.funding_rate, "previous_funding_time": previous,
            "interval_hours": None if previous is None else (when - previous) / HOUR,
            "observation_count": len(obs), "last_observed_ts": last.ts,
        }
    return events


def _last(ticks: list[Tick], field: str) -> Decimal | None:
    """The field's last non-NULL value: ticker order, then the larger value."""
    having = [t for t in ticks if getattr(t, field) is not None]
    return getattr(max(having, key=lambda t: (*t.order, getattr(t, field))), field) if having else None


def ref_basis() -> dict[datetime, dict]:
    rows = {}
    for day in DAYS:
        ticks = [t for t in TICKS if t.ts.date() == day and (t.mark_price is not None or t.index_price is not None)]
        by_minute = defaultdict(list)
        for t in ticks:
            by_minute[t.ts.replace(second=0, microsecond=0)].append(t)
        minute, mark, index = min(by_minute), None, None
        while minute <= max(by_minute):
            here = by_minute.get(minute, [])
            mark = _last(here, "mark_price") if _last(here, "mark_price") is not None else mark
            index = _last(here, "index_price") if _last(here, "index_price") is not None else index
            basis = None
            if mark is not None and index is not None:
                with localcontext(prec=120):
                    basis = _round((mark / index - 1) * 10000, 12)
            rows[minute] = {
                "exchange": EXCHANGE, "symbol": "BTCUSDT", "bar_date": day, "bucket_start": minute,
                "bucket_end": minute + MINUTE, "mark_price": mark, "index_price": index, "basis_bps": basis,
                "ticker_count": len(here), "is_filled": not here,
            }
            minute += MINUTE
    return rows


def ref_open_interest() -> dict[datetime, dict]:
    hours = defaultdict(list)
    for t in TICKS:
        if t.open_interest is not None:
            hours[t.ts.replace(minute=0, second=0, microsecond=0)].append(t)
    return {
        hour: {
            "exchange": EXCHANGE, "symbol": "BTCUSDT", "bar_date": hour.date(), "bucket_start": hour,
            "bucket_end": hour + HOUR,
            "open": min(ts, key=lambda t: (*t.order, -t.open_interest)).open_interest,
            "high": max(t.open_interest for t in ts), "low": min(t.open_interest for t in ts),
            "close": max(ts, key=lambda t: (*t.order, t.open_interest)).open_interest,
            "observation_count": len(ts), "first_ts": min(t.ts for t in ts), "last_ts": max(t.ts for t in ts),
        }
        for hour, ts in hours.items()
    }


def ref_quotes() -> dict[datetime, dict]:
    """Each minute cut at every quote's ts; each piece weighted by the quote in force at its start."""
    rows = {}
    with localcontext(prec=120):
        for day in (D1, D2):
            rows.update(_ref_quotes_of(day))
    return rows


def _ref_quotes_of(day: date) -> dict[datetime, dict]:
    rows = {}
    day_quotes = sorted((q for q in QUOTES if q[0].date() == day),
                        key=lambda q: (q[0], q[1] or q[0], q[2], q[4], q[3], q[5]))

    def in_force(at: datetime, quotes: list[Quote] = day_quotes) -> Quote | None:
        before = [q for q in quotes if q[0] <= at]
        return before[-1] if before else None

    for minute in sorted({q[0].replace(second=0, microsecond=0) for q in day_quotes}):
        end = minute + MINUTE
        inside = [q for q in day_quotes if minute <= q[0] < end]
        cuts = sorted({minute, *(q[0] for q in inside), end})
        spread_sum = mid_sum = Decimal(0)
        covered = 0
        for a, b in zip(cuts, cuts[1:], strict=False):
            q = in_force(a)
            if q is None:
                continue  # before the day's first quote
            us = (b - a) // timedelta(microseconds=1)
            covered += us
            spread_sum += (q[4] - q[2]) * us
            mid_sum += (q[4] + q[2]) / 2 * us
        last = inside[-1]
        rows[minute] = {
            "exchange": EXCHANGE, "symbol": "BTCUSDT", "bar_date": day, "bucket_start": minute,
            "bucket_end": end, "mean_mid": _round(mid_sum / covered, 24),
            "mean_spread": _round(spread_sum / covered, 24), "covered_us": covered,
            "quote_count": len(inside), "last_bid_price": last[2], "last_bid_amount": last[3],
            "last_ask_price": last[4], "last_ask_amount": last[5],
            "first_quote_ts": inside[0][0], "last_quote_ts": last[0],
        }
    return rows


def ref_daily_derivatives(venue: tuple[str, str], day: date) -> dict:
    if venue != BTC:
        return dict.fromkeys(DERIVATIVES, 0) | {"funding_rate_sum": None, "open_interest_close": None}
    events = [e for e in ref_funding().values() if e["bar_date"] == day]
    oi = [t for t in TICKS if t.ts.date() == day and t.open_interest is not None]
    liq = [x for x in LIQUIDATIONS if x[0].date() == day]
    return {
        "funding_event_count": len(events),
        "funding_rate_sum": sum((e["funding_rate"] for e in events), Decimal(0)) if events else None,
        "open_interest_close": max(oi, key=lambda t: (*t.order, t.open_interest)).open_interest if oi else None,
        "buy_liquidation_count": sum(1 for x in liq if x[2] == "buy"),
        "buy_liquidation_notional": sum((x[3] * x[4] for x in liq if x[2] == "buy"), Decimal(0)),
        "sell_liquidation_count": sum(1 for x in liq if x[2] == "sell"),
        "sell_liquidation_notional": sum((x[3] * x[4] for x in liq if x[2] == "sell"), Decimal(0)),
    }


def _rows(con: duckdb.DuckDBPyConnection, model: str, key: str) -> dict:
    return {r[key]: r for r in _query(con, f"select * from marts.{model}")}


# --------------------------------------------------------------------------------------------
# the marts


def test_funding_rates_equal_the_reference_through_the_schedule_change(con):
    actual = _rows(con, "funding_rates", "funding_time")
    expected = ref_funding()
    assert actual == expected
    # by hand: 00:00 of D1 was never announced (no ticker before it), 08:00 of D3 not reached yet
    assert [(t, e["interval_hours"]) for t, e in sorted(actual.items())] == [
        (_at(D1, 8), None), (_at(D1, 16), 8), (_at(D2, 0), 8), (_at(D2, 8), 8), (_at(D2, 16), 8),
        (_at(D2, 20), 4), (_at(D3, 0), 4), (_at(D3, 4), 4),
    ]
    # the 00:00 events are observed on the previous day only; the stale row after 08:00 is ignored
    assert all(e["last_observed_ts"].date() == D1 for t, e in actual.items() if t == _at(D2, 0))
    assert actual[_at(D1, 8)]["funding_rate"] != Decimal("0.0099")
    assert actual[_at(D1, 8)]["last_observed_ts"] < _at(D1, 8)


def test_perp_basis_1m_is_gap_filled_and_exact(con):
    actual = _rows(con, "perp_basis_1m", "bucket_start")
    expected = ref_basis()
    assert actual.keys() == expected.keys()
    for minute, want in expected.items():
        assert actual[minute] == want, minute
    # the two-hour hole of D2 is filled with the values of 02:5x, carried forward
    hole = [r for m, r in actual.items() if _at(D2, 3) <= m < _at(D2, 5)]
    assert len(hole) == 120 and all(r["is_filled"] for r in hole)
    assert len({(r["mark_price"], r["index_price"]) for r in hole}) == 1
    # local_ts broke the tie in one microsecond: the row received later wins
    assert actual[_at(D1, 12, 30)]["mark_price"] == Decimal("62110")
    assert actual[_at(D2, 12)]["basis_bps"] == Decimal("600")
    basis_type = con.execute("select typeof(basis_bps) from marts.perp_basis_1m limit 1").fetchone()[0]
    assert basis_type == "DECIMAL(38,12)"


def test_open_interest_1h_equals_the_reference(con):
    assert _rows(con, "open_interest_1h", "bucket_start") == ref_open_interest()


def test_quotes_1m_time_weighted_means_equal_the_reference(con):
    actual = _rows(con, "quotes_1m", "bucket_start")
    expected = ref_quotes()
    assert actual.keys() == expected.keys()
    for minute, want in expected.items():
        assert actual[minute] == want, minute
    # the day's first minute starts at its first quote; the next one carries the quote in force
    first = actual[_at(D1)]
    assert first["covered_us"] == 49_500_000
    assert actual[_at(D1, 0, 1)]["covered_us"] == 60_000_000
    assert _at(D1, 0, 2) not in actual and _at(D1, 0, 5) in actual
    assert actual[_at(D2)]["covered_us"] == 49_500_000  # nothing carried over from D1


def test_daily_stats_derivatives_columns(con):
    rows = {(r["exchange"], r["symbol"], r["bar_date"]): r for r in _query(con, "select * from marts.daily_stats")}
    assert set(rows) == {(*BTC, D1), (*BTC, D2), (*BTC, D3), (*ETH, D1), (*ETH, D2)}
    for (exchange, symbol, day), row in rows.items():
        want = ref_daily_derivatives((exchange, symbol), day)
        assert {c: row[c] for c in DERIVATIVES} == want, (symbol, day)
    assert rows[(*BTC, D1)]["buy_liquidation_count"] == 2 and rows[(*BTC, D3)]["funding_event_count"] == 2
    assert rows[(*BTC, D1)]["buy_liquidation_notional"] == Decimal("7756.3125") + Decimal("122000.24752357923456789")


def test_a_day_without_derivatives_keeps_its_trade_statistics(con):
    """ETH has trades only: its rows are the trades' statistics, with 0 / NULL derivatives columns."""
    for day in (D1, D2):
        row = _query(con, "select * from marts.daily_stats where symbol = 'ETHUSDT' and bar_date = ?", [day])[0]
        trades = [t for t in TRADES if t[0] == ETH and t[1].date() == day]
        assert (row["open"], row["close"]) == (trades[0][4], trades[-1][4])
        assert row["volume"] == sum(t[5] for t in trades) and row["trade_count"] == len(trades)
        assert row["quote_volume"] == sum(t[4] * t[5] for t in trades)
        assert row["funding_event_count"] == 0 and row["funding_rate_sum"] is None
        assert row["open_interest_close"] is None
        assert row["buy_liquidation_notional"] == row["sell_liquidation_notional"] == 0


def test_one_day_at_a_time_equals_the_ranged_build(homes):
    ranged, daily, _ = homes
    a, b = _marts(ranged), _marts(daily)
    for model in [*NEW_MARTS, "daily_stats"]:
        assert a[model], model
        assert b[model] == a[model], model


def test_the_basis_spike_is_a_warning_and_every_other_test_passes(homes):
    out = homes[2]
    assert "WARN=1" in out and "ERROR=0" in out, out[-3000:]
    assert "Warning in test basis_within_threshold" in out, out[-3000:]


def test_every_new_mart_column_is_documented_and_typed_exactly(homes, con):
    import json

    manifest = json.loads((homes[0] / "target" / "manifest.json").read_text())
    for model in [*NEW_MARTS, "daily_stats"]:
        node = manifest["nodes"][f"model.tickwarehouse.{model}"]
        actual = [r[0] for r in con.execute(
            "select column_name from information_schema.columns where table_catalog = 'lake' "
            "and table_schema = 'marts' and table_name = ? order by ordinal_position", [model]).fetchall()]
        assert list(node["columns"]) == actual, model
    types = dict(con.execute(
        "select table_name || '.' || column_name, data_type from information_schema.columns "
        "where table_catalog = 'lake' and table_schema = 'marts'").fetchall())
    assert types["funding_rates.funding_rate"] == "DECIMAL(28,24)"
    assert types["quotes_1m.mean_mid"] == types["quotes_1m.mean_spread"] == "DECIMAL(38,24)"
    assert types["open_interest_1h.close"] == "DECIMAL(28,12)"
    assert types["daily_stats.funding_rate_sum"] == "DECIMAL(38,24)"
    assert types["daily_stats.buy_liquidation_notional"] == "DECIMAL(38,20)"


def test_the_basis_suite_warns_with_example_minutes(con):
    """The quality suite of perp_basis_1m (expectations/marts.yml + the dbt tests' meta): the 6 % spike
    of D2 is a warning (not blocking) that names its minutes; the other days pass."""
    results = {r.partition: r for r in validate_window(con, "perp_basis_1m", list(DAYS))}
    assert [str(d) for d in DAYS] == sorted(results)
    assert results[str(D1)].success and results[str(D3)].success
    d2 = results[str(D2)]
    assert d2.failed_errors == [] and d2.failed_warnings == ["basis_within_threshold"] and not d2.blocking
    outcome = next(o for o in d2.outcomes if o.rule == "basis_within_threshold")
    assert outcome.unexpected_count == 11  # the spike's minute and the ten carried after it
    first = outcome.examples[0]
    assert first["bucket_start"] == _at(D2, 12).isoformat() and first["basis_bps"] == 600
