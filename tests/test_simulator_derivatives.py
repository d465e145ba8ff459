"""The simulator's derivatives data set (issue 23): quotes, derivative ticker and liquidations.

The files must have Tardis.dev's exact headers, exact decimal text on the promised scales, funding on
the schedule (8 h; 4 h from the second day of a range on FUNDING_SWITCH_EXCHANGE), a funding rate that
is constant between funding times, the empty fields real exchanges send, liquidation bursts, and be a
pure function of the arguments. Values are checked against the trades file written in the same call
(independent reading, no simulator internals).
"""

from __future__ import annotations

import gzip
import re
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import ingest.simulator as simulator
from ingest.simulator import (
    FUNDING_SWITCH_EXCHANGE,
    NO_LIQUIDATION_IDS,
    SimulatedDay,
    default_symbols,
    funding_switch_day,
    main,
    simulate_day,
    simulate_days,
    wide_range_symbols,
)

DAY = date(2024, 3, 1)
US = 1_000_000
HOUR_US = 3600 * US
DAY_US = 86_400 * US
SMALL = {"trades_per_day": 20_000, "snapshot_interval_ms": 3_600_000}
QUOTES_HEADER = "exchange,symbol,timestamp,local_timestamp,ask_amount,ask_price,bid_price,bid_amount"
TICKER_HEADER = ("exchange,symbol,timestamp,local_timestamp,funding_timestamp,funding_rate,predicted_funding_rate,"
                 "open_interest,last_price,index_price,mark_price")
LIQUIDATIONS_HEADER = "exchange,symbol,timestamp,local_timestamp,id,side,price,amount"
PLAIN_DECIMAL = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?")


def _lines(path: Path) -> list[str]:
    return gzip.decompress(path.read_bytes()).decode().split("\n")


def _read(path: Path) -> pd.DataFrame:
    """Every field as its text; an empty field stays ''."""
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def _decimals(text: str) -> int:
    return len(text.split(".")[1]) if "." in text else 0


def _step(value: float) -> Decimal:
    """A tick or lot size as an exact decimal with its significant places (1.0 -> 1, 0.010 -> 0.01)."""
    return Decimal(repr(value)).normalize()


@pytest.fixture(scope="module")
def simex(tmp_path_factory: pytest.TempPathFactory) -> list[SimulatedDay]:
    """Two days of the switching exchange (8 h funding on the first, 4 h on the second)."""
    out = tmp_path_factory.mktemp("simex")
    return simulate_days(DAY, 2, out, symbols=default_symbols(3), **SMALL)


@pytest.fixture(scope="module")
def simdex(tmp_path_factory: pytest.TempPathFactory) -> list[SimulatedDay]:
    """Two days of the contract-edge instruments on the exchange without liquidation ids."""
    out = tmp_path_factory.mktemp("simdex")
    return simulate_days(DAY, 2, out, symbols=wide_range_symbols(), exchange="simdex", **SMALL)


def _all(days: list[SimulatedDay], attr: str) -> pd.DataFrame:
    return pd.concat([_read(getattr(d, attr)) for d in days], ignore_index=True)


# -- layout ----------------------------------------------------------------------------------------


def test_headers_and_names_are_exact(simex: list[SimulatedDay]) -> None:
    day = simex[0]
    assert day.quotes_path is not None and day.ticker_path is not None and day.liquidations_path is not None
    assert day.quotes_path.name == "simex_quotes_2024-03-01_ALL.csv.gz"
    assert day.ticker_path.name == "simex_derivative_ticker_2024-03-01_ALL.csv.gz"
    assert day.liquidations_path.name == "simex_liquidations_2024-03-01_ALL.csv.gz"
    assert _lines(day.quotes_path)[0] == QUOTES_HEADER
    assert _lines(day.ticker_path)[0] == TICKER_HEADER
    assert _lines(day.liquidations_path)[0] == LIQUIDATIONS_HEADER
    assert (simulator.QUOTES_HEADER, simulator.TICKER_HEADER, simulator.LIQUIDATIONS_HEADER) == (
        QUOTES_HEADER, TICKER_HEADER, LIQUIDATIONS_HEADER)


def test_counts_match_the_files_and_rows_are_time_ordered(simex: list[SimulatedDay]) -> None:
    for day in simex:
        start = (day.day - date(1970, 1, 1)).days * DAY_US
        for path, n, width in ((day.quotes_path, day.quotes, 8), (day.ticker_path, day.ticker_rows, 11),
                               (day.liquidations_path, day.liquidations, 8)):
            assert path is not None
            lines = _lines(path)
            assert lines[-1] == "" and len(lines) == n + 2
            assert all(line.count(",") == width - 1 for line in lines[1:-1])
            frame = _read(path)
            ts = frame.timestamp.astype(np.int64).to_numpy()
            assert (np.diff(ts) >= 0).all() and ts.min() >= start and ts.max() < start + DAY_US
            assert (frame.local_timestamp.astype(np.int64).to_numpy() > ts).all()
            assert set(frame.exchange) == {"simex"}
        assert day.quotes == 20_000  # one quote per trade by default
        assert day.ticker_rows == 3 * 1440  # three perpetuals, a row a minute
        assert 20 < day.liquidations < 1_000


# -- determinism -----------------------------------------------------------------------------------


def test_same_arguments_give_identical_bytes_and_the_inputs_matter(tmp_path: Path) -> None:
    kw = {"symbols": default_symbols(3), **SMALL}
    a, b = (simulate_days(DAY, 2, tmp_path / x, **kw) for x in "ab")
    for x, y in zip(a, b, strict=True):
        for attr in ("trades_path", "snapshots_path", "quotes_path", "ticker_path", "liquidations_path"):
            assert getattr(x, attr).read_bytes() == getattr(y, attr).read_bytes(), attr
    c = simulate_day(DAY, tmp_path / "c", seed=8, **kw)
    for attr in ("quotes_path", "ticker_path", "liquidations_path"):
        assert getattr(c, attr).read_bytes() != getattr(a[0], attr).read_bytes(), attr
    # The new types never change the trades or the books, and do not depend on each other's switches.
    off = simulate_day(DAY, tmp_path / "off", quotes=False, derivative_ticker=False, liquidations=False, **kw)
    assert off.trades_path.read_bytes() == a[0].trades_path.read_bytes()
    assert off.snapshots_path.read_bytes() == a[0].snapshots_path.read_bytes()
    # (The range's first day predicts the switch day's 04:00 funding: the same switch day is given.)
    only_ticker = simulate_day(DAY, tmp_path / "t", quotes=False, liquidations=False,
                               funding_4h_from=DAY + timedelta(days=1), **kw)
    assert only_ticker.ticker_path is not None and a[0].ticker_path is not None
    assert only_ticker.ticker_path.read_bytes() == a[0].ticker_path.read_bytes()
    # Without the switch only the prediction of the first funding after midnight differs.
    lone = _read(simulate_day(DAY, tmp_path / "lone", **kw).ticker_path)  # type: ignore[arg-type]
    ranged = _read(a[0].ticker_path)
    differs = (lone != ranged).any(axis=0)
    assert list(differs[differs].index) == ["predicted_funding_rate"]
    changed = lone[lone.predicted_funding_rate != ranged.predicted_funding_rate]
    assert (changed.funding_timestamp.astype(np.int64) % DAY_US == 0).all()


def test_each_new_type_can_be_turned_off(tmp_path: Path) -> None:
    kw = {"symbols": default_symbols(2), "trades_per_day": 500, "snapshot_interval_ms": 3_600_000}
    for flag, attr, count in (("quotes", "quotes_path", "quotes"), ("derivative_ticker", "ticker_path", "ticker_rows"),
                              ("liquidations", "liquidations_path", "liquidations")):
        out = tmp_path / flag
        result = simulate_day(DAY, out, **{flag: False}, **kw)
        assert getattr(result, attr) is None and getattr(result, count) == 0
        assert len(list(out.iterdir())) == 4, "the other four files are written"
    none = simulate_day(DAY, tmp_path / "none", quotes=False, derivative_ticker=False, liquidations=False, **kw)
    assert sorted(p.name for p in (tmp_path / "none").iterdir()) == sorted(
        [none.trades_path.name, none.snapshots_path.name])


# -- quotes ----------------------------------------------------------------------------------------


def test_quotes_are_never_crossed_and_sit_on_the_tick_and_lot_grid(simex: list[SimulatedDay],
                                                                   simdex: list[SimulatedDay]) -> None:
    for days, specs in ((simex, default_symbols(3)), (simdex, wide_range_symbols())):
        quotes = _all(days, "quotes_path")
        for spec in specs:
            rows = quotes[quotes.symbol == spec.symbol]
            assert len(rows) > 0
            tick, lot = _step(spec.tick_size), _step(spec.lot_size)
            for column, step in (("bid_price", tick), ("ask_price", tick), ("bid_amount", lot), ("ask_amount", lot)):
                values = [Decimal(v) for v in rows[column]]
                assert all(PLAIN_DECIMAL.fullmatch(v) for v in rows[column])
                assert all(v > 0 and v % step == 0 for v in values), (spec.symbol, column)
                assert {_decimals(v) for v in rows[column]} == {max(0, -step.as_tuple().exponent)}
            bids, asks = (np.array([Decimal(v) for v in rows[c]]) for c in ("bid_price", "ask_price"))
            assert (bids < asks).all(), "never crossed, never locked"


def test_quotes_follow_the_trades_price_path(simex: list[SimulatedDay]) -> None:
    """The trades of a second sit at that second's touch: the quote in force when a trade prints has a mid
    within a few spreads of the trade (the touch moves only with the path in between)."""
    day = simex[0]
    trades, quotes = _read(day.trades_path), _read(day.quotes_path)
    for spec in default_symbols(3):
        t = trades[trades.symbol == spec.symbol].assign(ts=lambda f: f.timestamp.astype(np.int64))
        q = quotes[quotes.symbol == spec.symbol].assign(ts=lambda f: f.timestamp.astype(np.int64))
        q = q.assign(mid=(q.bid_price.astype(float) + q.ask_price.astype(float)) / 2)
        joined = pd.merge_asof(t[["ts", "price"]], q[["ts", "mid"]], on="ts").dropna()
        gap_bps = (joined.price.astype(float) / joined.mid - 1).abs() * 1e4
        assert gap_bps.median() < 5 and gap_bps.quantile(0.99) < 60, spec.symbol


# -- derivative ticker -----------------------------------------------------------------------------


def _funding_rows(ticker: pd.DataFrame) -> pd.DataFrame:
    rows = ticker[ticker.funding_timestamp != ""]
    return rows.assign(ts=rows.timestamp.astype(np.int64), fts=rows.funding_timestamp.astype(np.int64))


def test_funding_times_follow_the_schedule_8h_then_4h(simex: list[SimulatedDay],
                                                      simdex: list[SimulatedDay]) -> None:
    assert FUNDING_SWITCH_EXCHANGE == "simex"
    assert funding_switch_day("simex", DAY, 2) == DAY + timedelta(days=1)
    assert funding_switch_day("simex", DAY, 1) is None and funding_switch_day("simdex", DAY, 2) is None
    midnight = (DAY - date(1970, 1, 1)).days * DAY_US
    cases = (
        (simex[0], 8, [8, 16, 24]),  # first day of the range: every 8 h
        (simex[1], 4, [28, 32, 36, 40, 44, 48]),  # the switch day and after: every 4 h
        (simdex[0], 8, [8, 16, 24]),
        (simdex[1], 8, [32, 40, 48]),  # the other exchange keeps 8 h
    )
    for day, hours, expected in cases:
        rows = _funding_rows(_read(day.ticker_path))
        assert sorted(set(rows.fts)) == [midnight + h * HOUR_US for h in expected], day.ticker_path
        # A row's funding time is the first funding time strictly after it, so the wait is (0, hours].
        wait = rows.fts - rows.ts
        assert (wait > 0).all() and (wait <= hours * HOUR_US).all()
        assert ((rows.fts - midnight) % (hours * HOUR_US) == 0).all()


def test_the_rate_in_force_is_constant_between_funding_times(simex: list[SimulatedDay], simdex: list[SimulatedDay],
                                                             tmp_path: Path) -> None:
    """Definition: for an (exchange, symbol), every row whose funding_timestamp is T carries the same
    funding_rate: the rate settled at T, in force for every row from the previous funding time up to T.
    It is a function of T alone, so a day simulated on its own agrees with the same day in a range."""
    for days in (simex, simdex):
        rows = _funding_rows(_all(days, "ticker_path"))
        per_event = rows.groupby(["symbol", "fts"]).funding_rate.nunique()
        assert (per_event == 1).all()
        assert len(per_event) >= 2 * 3  # several funding times per symbol
        # Between two consecutive funding times the rate column does not change, row by row.
        for _, group in rows.sort_values("ts").groupby("symbol"):
            changes = (group.funding_rate != group.funding_rate.shift()).to_numpy()[1:]
            moved = (group.fts != group.fts.shift()).to_numpy()[1:]
            assert not (changes & ~moved).any()
    alone = simulate_day(DAY + timedelta(days=1), tmp_path, symbols=wide_range_symbols(), exchange="simdex", **SMALL)
    assert alone.ticker_path is not None and simdex[1].ticker_path is not None
    assert alone.ticker_path.read_bytes() == simdex[1].ticker_path.read_bytes()


def test_rates_are_exact_and_the_4h_rates_are_per_interval(simex: list[SimulatedDay]) -> None:
    rows = _funding_rows(_all(simex, "ticker_path"))
    texts = set(rows.funding_rate) | set(rows.predicted_funding_rate)
    assert all(PLAIN_DECIMAL.fullmatch(t) for t in texts)
    values = [Decimal(t) for t in texts]
    assert all(abs(v) < 10_000 and -v.as_tuple().exponent <= 24 for v in values), "DECIMAL(28, 24)"
    assert all(t == "0" or not t.endswith("0") for t in texts), "shortest text"
    assert {_decimals(t) for t in rows.funding_rate} & {20}, "some averaged rates with 20 decimals"
    assert all(_decimals(t) <= 8 for t in rows.predicted_funding_rate)
    # The scale of a rate follows its interval: 8 h rates are around 1e-4, 4 h ones around half.
    rate = rows.funding_rate.map(Decimal).astype(float)
    first = rows.fts <= rows.ts.min() + 24 * HOUR_US
    assert 3e-5 < rate[first].abs().median() < 3e-4
    assert rate[~first & ((rows.fts % DAY_US) != 0)].abs().median() < 0.75 * rate[first].abs().median()


def test_the_prediction_converges_on_the_next_settled_rate(simex: list[SimulatedDay]) -> None:
    rows = _funding_rows(_all(simex, "ticker_path"))
    for symbol, group in rows.groupby("symbol"):
        settled = group.groupby("fts").funding_rate.first().map(Decimal)
        last_before = group.sort_values("ts").groupby("fts").last()
        for fts, row in last_before.iterrows():
            later = settled.index[settled.index > fts]
            if len(later) == 0:
                continue
            assert abs(Decimal(row.predicted_funding_rate) - settled[later[0]]) <= Decimal("0.0000002"), (symbol, fts)


def test_empty_fields_where_exchanges_leave_them_empty(simex: list[SimulatedDay], simdex: list[SimulatedDay]) -> None:
    for days in (simex, simdex):
        ticker = _all(days, "ticker_path")
        funding = ticker[["funding_timestamp", "funding_rate", "predicted_funding_rate"]] == ""
        assert (funding.all(axis=1) | ~funding.any(axis=1)).all(), "the funding fields are empty together"
        assert 0.005 < funding.funding_rate.mean() < 0.1
        assert 0.005 < (ticker.open_interest == "").mean() < 0.1
        assert (ticker.index_price != "").all() and (ticker.mark_price != "").all()
        assert (ticker.last_price == "").any()


def test_last_price_is_the_last_trade_at_or_before_the_row(simex: list[SimulatedDay]) -> None:
    for day in simex:
        trades, ticker = _read(day.trades_path), _read(day.ticker_path)
        for spec in default_symbols(3):
            t = trades[trades.symbol == spec.symbol]
            trade_ts = t.timestamp.astype(np.int64).to_numpy()
            rows = ticker[ticker.symbol == spec.symbol]
            i = np.searchsorted(trade_ts, rows.timestamp.astype(np.int64).to_numpy(), side="right") - 1
            expected = np.where(i >= 0, t.price.to_numpy()[np.maximum(i, 0)], "")
            assert (rows.last_price.to_numpy() == expected).all(), spec.symbol
            assert (i < 0).sum() == (rows.last_price == "").sum() < 10


def test_mark_index_and_open_interest_are_plausible_and_exact(simex: list[SimulatedDay],
                                                             simdex: list[SimulatedDay]) -> None:
    for days in (simex, simdex):
        ticker = _all(days, "ticker_path")
        quotes = _all(days, "quotes_path")
        for symbol, rows in ticker.groupby("symbol"):
            spec = next(s for s in [*default_symbols(3), *wide_range_symbols()] if s.symbol == symbol)
            assert spec.perpetual
            price_decimals = min(12, -_step(spec.tick_size).as_tuple().exponent + 2)
            for column in ("index_price", "mark_price"):
                assert all(PLAIN_DECIMAL.fullmatch(v) and _decimals(v) == price_decimals for v in rows[column])
                assert all(0 < Decimal(v) < Decimal("1e10") for v in rows[column])
            index, mark = rows.index_price.astype(float), rows.mark_price.astype(float)
            basis_bps = (mark / index - 1) * 1e4
            assert basis_bps.abs().max() < 15 and 0.3 < basis_bps.abs().mean() < 8, symbol
            q = quotes[quotes.symbol == symbol].assign(ts=lambda f: f.timestamp.astype(np.int64))
            q = q.assign(mid=(q.bid_price.astype(float) + q.ask_price.astype(float)) / 2)
            joined = pd.merge_asof(rows.assign(ts=rows.timestamp.astype(np.int64), idx=index)[["ts", "idx"]],
                                   q[["ts", "mid"]], on="ts").dropna()
            assert ((joined.idx / joined.mid - 1).abs() * 1e4).median() < 10, "index follows the path"
            oi = rows.open_interest[rows.open_interest != ""]
            lot = _step(spec.lot_size)
            assert all(Decimal(v) >= 0 and Decimal(v) % lot == 0 and Decimal(v) < Decimal("1e16") for v in oi)
            assert len(set(oi)) > len(oi) // 2, "open interest drifts"
        # Spot instruments have no ticker and no liquidations.
        perps = {s.symbol for s in [*default_symbols(3), *wide_range_symbols()] if s.perpetual}
        assert set(ticker.symbol) <= perps and set(_all(days, "liquidations_path").symbol) <= perps
    assert set(_all(simdex, "ticker_path").symbol) == {"MEMEUSDT", "BTCUSD-PERP"}


def test_duckdb_reads_the_ticker_with_the_raw_types(simex: list[SimulatedDay]) -> None:
    duckdb = pytest.importorskip("duckdb")
    path = simex[1].ticker_path
    n, rates, empty_oi = duckdb.sql(
        f"""SELECT count(*), count(funding_rate), count(*) - count(open_interest) FROM read_csv('{path}',
            header = true, columns = {{'exchange': 'VARCHAR', 'symbol': 'VARCHAR', 'timestamp': 'BIGINT',
            'local_timestamp': 'BIGINT', 'funding_timestamp': 'BIGINT', 'funding_rate': 'DECIMAL(28,24)',
            'predicted_funding_rate': 'DECIMAL(28,24)', 'open_interest': 'DECIMAL(28,12)',
            'last_price': 'DECIMAL(22,12)', 'index_price': 'DECIMAL(22,12)', 'mark_price': 'DECIMAL(22,12)'}})"""
    ).fetchone()
    assert n == simex[1].ticker_rows and 0 < n - rates < n // 10 and empty_oi > 0


# -- liquidations ----------------------------------------------------------------------------------


def test_liquidations_are_sparse_with_bursts(simex: list[SimulatedDay], simdex: list[SimulatedDay]) -> None:
    for days, specs in ((simex, default_symbols(3)), (simdex, [s for s in wide_range_symbols() if s.perpetual])):
        for day in days:
            liq = _read(day.liquidations_path)
            assert set(liq.side) == {"buy", "sell"}
            bursts = 0
            for spec in specs:
                rows = liq[liq.symbol == spec.symbol]
                ts = rows.timestamp.astype(np.int64).to_numpy()
                # A burst: at least 5 liquidations of the symbol within 10 s.
                within = np.searchsorted(ts, ts + 10 * US, side="right") - np.arange(ts.size)
                bursts += int((within >= 5).any())
                tick, lot = _step(spec.tick_size), _step(spec.lot_size)
                assert all(Decimal(v) > 0 and Decimal(v) % tick == 0 for v in rows.price)
                assert all(Decimal(v) > 0 and Decimal(v) % lot == 0 for v in rows.amount)
                assert all(_decimals(v) <= 12 for v in [*rows.price, *rows.amount])
                # Sparse: most of the day's minutes have none.
                assert np.unique(ts // (60 * US)).size < 200
            assert bursts == len(specs), "every perpetual has a burst each day"


def test_liquidation_prices_are_near_the_path(simex: list[SimulatedDay]) -> None:
    day = simex[0]
    liq, quotes = _read(day.liquidations_path), _read(day.quotes_path)
    for spec in default_symbols(3):
        rows = liq[liq.symbol == spec.symbol].assign(ts=lambda f: f.timestamp.astype(np.int64))
        q = quotes[quotes.symbol == spec.symbol].assign(ts=lambda f: f.timestamp.astype(np.int64))
        q = q.assign(mid=(q.bid_price.astype(float) + q.ask_price.astype(float)) / 2)
        joined = pd.merge_asof(rows[["ts", "price"]], q[["ts", "mid"]], on="ts").dropna()
        assert ((joined.price.astype(float) / joined.mid - 1).abs() * 1e4).median() < 20


def test_ids_are_strings_on_one_exchange_and_empty_on_the_other(simex: list[SimulatedDay],
                                                                simdex: list[SimulatedDay]) -> None:
    assert {"simdex"} == NO_LIQUIDATION_IDS
    ids = _all(simex, "liquidations_path").id
    assert ids.str.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}").all()
    assert ids.is_unique
    assert (_all(simdex, "liquidations_path").id == "").all()


# -- arguments -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"quotes_per_day": -1}, "quotes_per_day"),
        ({"ticker_interval_s": 0}, "ticker_interval_s"),
        ({"ticker_interval_s": 86_401}, "ticker_interval_s"),
        ({"funding_4h_from": "2024-03-02"}, "funding_4h_from"),
    ],
)
def test_bad_arguments_are_rejected(tmp_path: Path, kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        simulate_day(DAY, tmp_path, **kwargs)  # type: ignore[arg-type]


def test_quote_rate_and_ticker_interval_are_settable(tmp_path: Path) -> None:
    result = simulate_day(DAY, tmp_path, symbols=default_symbols(2), trades_per_day=1_000, quotes_per_day=3_001,
                          ticker_interval_s=600, snapshot_interval_ms=3_600_000)
    assert result.quotes == 3_001 and result.ticker_rows == 2 * 144
    ts = _read(result.ticker_path).timestamp.astype(np.int64).to_numpy() if result.ticker_path else None
    assert ts is not None and set(np.unique((ts % DAY_US) // (600 * US))) == set(range(144))


def test_cli_flags_turn_types_off_and_bad_values_are_one_line(
    tickwh_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tickwh_env / "landing"
    argv = ["--start", "2024-01-01", "--out", str(out), "--trades-per-day", "300", "--symbols", "2",
            "--snapshot-interval-ms", "3600000"]
    assert main([*argv, "--no-quotes", "--no-liquidations"]) == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "simex_book_snapshot_5_2024-01-01_ALL.csv.gz", "simex_derivative_ticker_2024-01-01_ALL.csv.gz",
        "simex_trades_2024-01-01_ALL.csv.gz"]
    assert main([*argv, "--days", "2", "--no-derivative-ticker", "--quotes-per-day", "50"]) == 0
    second = out / "simex_quotes_2024-01-02_ALL.csv.gz"
    assert len(_lines(second)) == 52
    assert not (out / "simex_derivative_ticker_2024-01-02_ALL.csv.gz").exists()
    capsys.readouterr()
    for bad, option in ((["--ticker-interval-s", "0"], "--ticker-interval-s"),
                        (["--quotes-per-day", "-5"], "--quotes-per-day")):
        with pytest.raises(SystemExit) as exit_:
            main([*argv, *bad])
        err = capsys.readouterr().err
        assert exit_.value.code == 2 and err.count("\n") == 1 and err.startswith("error: tickwh simulate: ")
        assert f"argument {option}: " in err
