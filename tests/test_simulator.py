"""The simulator's files must be indistinguishable in layout from vendor files and internally
consistent (book vs trades, ids, time), because every later stage is tested on them."""

from __future__ import annotations

import gzip
import re
import zlib
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest

import ingest.simulator as simulator
from ingest.landing import snapshots_header
from ingest.simulator import (
    TRADES_HEADER,
    SimulatedDay,
    SymbolSpec,
    default_symbols,
    main,
    simulate_day,
    simulate_days,
)

DAY = date(2024, 3, 1)
DAY_START_US = int(datetime(2024, 3, 1, tzinfo=UTC).timestamp()) * 1_000_000
DAY_END_US = DAY_START_US + 86_400 * 1_000_000
DEPTH = 5
DECIMAL_RE = re.compile(r"^[0-9]+(\.[0-9]{1,8})?$")


def _read_lines(path: Path) -> list[str]:
    with gzip.open(path, "rt", newline="") as fh:
        return fh.read().split("\n")


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def _step(value: float) -> tuple[int, int]:
    """(units, decimals) of a tick or lot, computed independently of the simulator."""
    d = Decimal(repr(value)).normalize()
    decimals = max(0, -d.as_tuple().exponent)
    return int(d.scaleb(decimals)), decimals


def _units(text: pd.Series, decimals: int) -> np.ndarray:
    """Exact integer value of fixed-point strings in units of 10**-decimals (Arrow kernels: fast)."""
    arr = pa.array(text.to_numpy(), pa.string())
    point = pc.find_substring(arr, ".").to_numpy()
    if decimals == 0:
        assert (point == -1).all(), "integer lot must be printed without decimals"
    else:
        places = pc.utf8_length(arr).to_numpy() - point - 1
        assert (point > 0).all() and (places == decimals).all(), "decimals must follow the tick/lot size"
    return pc.cast(pc.replace_substring(arr, ".", ""), pa.int64()).to_numpy()


@pytest.fixture(scope="module")
def specs() -> list[SymbolSpec]:
    return default_symbols(3)


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory, specs: list[SymbolSpec]) -> SimulatedDay:
    """A 1 s-cadence day for the book/trade consistency checks (small universe keeps it fast)."""
    out = tmp_path_factory.mktemp("sim")
    return simulate_day(DAY, out, symbols=specs, trades_per_day=30_000, depth=DEPTH)


@pytest.fixture(scope="module")
def trades(sim: SimulatedDay) -> pd.DataFrame:
    return _read(sim.trades_path)


@pytest.fixture(scope="module")
def snaps(sim: SimulatedDay) -> pd.DataFrame:
    return _read(sim.snapshots_path)


@pytest.fixture(scope="module")
def book(snaps: pd.DataFrame, specs: list[SymbolSpec]) -> pd.DataFrame:
    """Snapshots with every level as integer ticks / lots."""
    frames = []
    for spec in specs:
        tick_units, tick_dec = _step(spec.tick_size)
        lot_units, lot_dec = _step(spec.lot_size)
        rows = snaps[snaps.symbol == spec.symbol]
        out = pd.DataFrame({"symbol": spec.symbol, "ts": rows.timestamp.astype(np.int64).to_numpy()})
        for i in range(DEPTH):
            for side in ("asks", "bids"):
                units = _units(rows[f"{side}[{i}].price"], tick_dec)
                assert (units % tick_units == 0).all()
                out[f"{side}{i}"] = units // tick_units
                lots = _units(rows[f"{side}[{i}].amount"], lot_dec)
                assert (lots % lot_units == 0).all()
                out[f"{side}{i}_lots"] = lots // lot_units
        frames.append(out)
    return pd.concat(frames, ignore_index=True)


def test_file_names_follow_the_tardis_layout(sim: SimulatedDay) -> None:
    assert sim.trades_path.name == "simex_trades_2024-03-01_ALL.csv.gz"
    assert sim.snapshots_path.name == "simex_book_snapshot_5_2024-03-01_ALL.csv.gz"
    assert sim.quotes_path is not None and sim.quotes_path.name == "simex_quotes_2024-03-01_ALL.csv.gz"
    assert sim.ticker_path is not None and sim.ticker_path.name == "simex_derivative_ticker_2024-03-01_ALL.csv.gz"
    assert sim.liquidations_path is not None
    assert sim.liquidations_path.name == "simex_liquidations_2024-03-01_ALL.csv.gz"
    assert sorted(p.name for p in sim.trades_path.parent.iterdir()) == sorted(
        [sim.trades_path.name, sim.snapshots_path.name, sim.quotes_path.name, sim.ticker_path.name,
         sim.liquidations_path.name]
    ), "no temporary files left behind"


def test_headers_are_exact(sim: SimulatedDay) -> None:
    assert _read_lines(sim.trades_path)[0] == "exchange,symbol,timestamp,local_timestamp,id,side,price,amount"
    expected = "exchange,symbol,timestamp,local_timestamp," + ",".join(
        f"asks[{i}].price,asks[{i}].amount,bids[{i}].price,bids[{i}].amount" for i in range(5)
    )
    assert _read_lines(sim.snapshots_path)[0] == expected
    assert _read_lines(sim.trades_path)[0] == TRADES_HEADER
    assert snapshots_header(5) == expected
    assert len(snapshots_header(25).split(",")) == 4 + 4 * 25


def test_every_row_has_the_right_number_of_plain_fields(sim: SimulatedDay) -> None:
    for path, width, rows in ((sim.trades_path, 8, sim.trades), (sim.snapshots_path, 4 + 4 * DEPTH, sim.snapshots)):
        lines = _read_lines(path)
        assert lines[-1] == "", "file ends with a newline"
        body = lines[1:-1]
        assert len(body) == rows
        assert all(line.count(",") == width - 1 for line in body)
        assert not any('"' in line or "\r" in line for line in body)


def test_counts_in_result_match_files(sim: SimulatedDay, trades: pd.DataFrame, snaps: pd.DataFrame) -> None:
    assert sim.trades == len(trades) == 30_000
    assert sim.snapshots == len(snaps) == 3 * 86_400
    assert sim.trades_per_symbol == trades.symbol.value_counts().to_dict()
    assert set(trades.exchange) == set(snaps.exchange) == {"simex"}


def test_trade_prices_and_amounts_are_clean_multiples_of_tick_and_lot(
    trades: pd.DataFrame, specs: list[SymbolSpec]
) -> None:
    assert trades.price.str.match(DECIMAL_RE).all()
    assert trades.amount.str.match(DECIMAL_RE).all()
    for spec in specs:
        rows = trades[trades.symbol == spec.symbol]
        assert len(rows) > 0
        tick_units, tick_dec = _step(spec.tick_size)
        lot_units, lot_dec = _step(spec.lot_size)
        price = _units(rows.price, tick_dec)
        amount = _units(rows.amount, lot_dec)
        assert (price > 0).all() and (price % tick_units == 0).all()
        assert (amount > 0).all() and (amount % lot_units == 0).all()
        # Near the configured level: the daily process keeps prices within a factor of ~2.
        level = price.astype(float) / 10**tick_dec / spec.start_price
        assert level.min() > 0.3 and level.max() < 3.0


def test_timestamps_lie_in_the_day_and_never_go_back(trades: pd.DataFrame, snaps: pd.DataFrame) -> None:
    for frame in (trades, snaps):
        ts = frame.timestamp.astype(np.int64).to_numpy()
        local = frame.local_timestamp.astype(np.int64).to_numpy()
        assert ts.min() >= DAY_START_US and ts.max() < DAY_END_US
        assert (np.diff(ts) >= 0).all()
        latency = local - ts
        assert (latency > 0).all() and (latency < 5_000_000).all()


def test_snapshots_come_at_a_fixed_cadence_for_every_symbol(snaps: pd.DataFrame, specs: list[SymbolSpec]) -> None:
    for spec in specs:
        ts = snaps.timestamp[snaps.symbol == spec.symbol].astype(np.int64).to_numpy()
        assert ts[0] == DAY_START_US
        assert (np.diff(ts) == 1_000_000).all()
    # Same instant for all symbols: the rows come in symbol order within each instant.
    assert list(snaps.symbol[:3]) == [s.symbol for s in specs]


def test_trade_ids_are_contiguous_per_symbol_and_follow_time(trades: pd.DataFrame) -> None:
    assert set(trades.side) <= {"buy", "sell"}
    for _, rows in trades.groupby("symbol", sort=False):
        ids = rows.id.astype(np.int64).to_numpy()
        assert (np.diff(ids) == 1).all()  # file order is time order, so ids increase with time
        assert ids[0] > 0


def test_books_are_never_crossed_and_levels_are_strictly_ordered(book: pd.DataFrame) -> None:
    asks = book[[f"asks{i}" for i in range(DEPTH)]].to_numpy()
    bids = book[[f"bids{i}" for i in range(DEPTH)]].to_numpy()
    assert (bids[:, 0] < asks[:, 0]).all()
    assert (np.diff(asks, axis=1) > 0).all()
    assert (np.diff(bids, axis=1) < 0).all()
    assert (bids > 0).all()
    lots = book[[c for c in book.columns if c.endswith("_lots")]].to_numpy()
    assert (lots > 0).all()
    spread = asks[:, 0] - bids[:, 0]
    assert (spread == 1).mean() > 0.5, "liquid books sit at a one-tick spread most of the time"


def test_trades_print_at_the_contemporaneous_touch(
    trades: pd.DataFrame, book: pd.DataFrame, specs: list[SymbolSpec]
) -> None:
    """A trade between two snapshots lies within their touches, give or take a few levels
    (fills that walk the book, and the spread changing between the two snapshots)."""
    for spec in specs:
        tick_units, tick_dec = _step(spec.tick_size)
        rows = trades[trades.symbol == spec.symbol]
        t = pd.DataFrame(
            {
                "ts": rows.timestamp.astype(np.int64).to_numpy(),
                "price": _units(rows.price, tick_dec) // tick_units,
                "buy": (rows.side == "buy").to_numpy(),
            }
        )
        b = book[book.symbol == spec.symbol][["ts", "asks0", "bids0"]]
        before = pd.merge_asof(t, b, on="ts", direction="backward")
        after = pd.merge_asof(t, b, on="ts", direction="forward").fillna(before)
        low = np.minimum(before.bids0, after.bids0)
        high = np.maximum(before.asks0, after.asks0)
        slack = DEPTH + np.maximum(before.asks0 - before.bids0, after.asks0 - after.bids0)
        assert (t.price >= low - slack).all() and (t.price <= high + slack).all(), spec.symbol
        # Buys lift the ask and sells hit the bid: relative to the last snapshot's mid,
        # buys print higher than sells on average.
        mid = (before.asks0 + before.bids0) / 2
        dev = t.price - mid
        assert dev[t.buy].mean() > dev[~t.buy].mean()


def test_taker_side_leans_with_the_price_move(trades: pd.DataFrame, book: pd.DataFrame) -> None:
    rows = trades[trades.symbol == "BTCUSDT"]
    b = book[book.symbol == "BTCUSDT"]
    mid = ((b.asks0 + b.bids0) / 2).to_numpy()
    move = np.sign(np.diff(mid))  # move over second s, from the snapshot at s to s+1
    sec = (rows.timestamp.astype(np.int64).to_numpy() - DAY_START_US) // 1_000_000
    ok = sec < move.size
    buy = (rows.side == "buy").to_numpy()[ok]
    up = move[sec[ok]] > 0
    down = move[sec[ok]] < 0
    assert buy[up].mean() > buy[down].mean() + 0.1


def test_stylised_facts(trades: pd.DataFrame, book: pd.DataFrame) -> None:
    """Volatility clusters, sizes are heavy tailed, taker orders split into fills."""
    b = book[book.symbol == "BTCUSDT"]
    mid = np.log(((b.asks0 + b.bids0) / 2).to_numpy())
    minute = np.abs(np.diff(mid[::60]))
    autocorr = np.corrcoef(minute[:-1], minute[1:])[0, 1]
    assert autocorr > 0.1
    rows = trades[trades.symbol == "BTCUSDT"]
    amount = rows.amount.astype(float)
    assert amount.max() / amount.median() > 50
    same_ts = (rows.timestamp.astype(np.int64).diff() == 0).mean()
    assert 0.2 < same_ts < 0.6


def test_activity_follows_weights(tmp_path: Path) -> None:
    specs = default_symbols(20)
    result = simulate_day(DAY, tmp_path, symbols=specs, trades_per_day=20_000, snapshot_interval_ms=3_600_000)
    counts = _read(result.trades_path).symbol.value_counts()
    total_weight = sum(s.weight for s in specs)
    for spec in specs:
        expected = 20_000 * spec.weight / total_weight
        assert abs(counts.get(spec.symbol, 0) - expected) <= 1
    assert counts["BTCUSDT"] > 5 * counts["ADAUSDT"] > 0


def test_same_inputs_give_identical_bytes_and_inputs_matter(tmp_path: Path) -> None:
    kw = {"symbols": default_symbols(4), "trades_per_day": 5_000, "snapshot_interval_ms": 10_000}
    a = simulate_day(DAY, tmp_path / "a", **kw)
    b = simulate_day(DAY, tmp_path / "b", **kw)
    assert a.trades_path.read_bytes() == b.trades_path.read_bytes()
    assert a.snapshots_path.read_bytes() == b.snapshots_path.read_bytes()
    c = simulate_day(DAY, tmp_path / "c", seed=8, **kw)
    assert c.trades_path.read_bytes() != a.trades_path.read_bytes()
    d = simulate_day(DAY + timedelta(days=1), tmp_path / "d", **kw)
    assert _read_lines(d.trades_path)[1:] != _read_lines(a.trades_path)[1:]
    # The trade tape does not depend on how often the book is sampled.
    e = simulate_day(DAY, tmp_path / "e", **{**kw, "snapshot_interval_ms": 60_000})
    assert e.trades_path.read_bytes() == a.trades_path.read_bytes()


def test_consecutive_days_join_up(tmp_path: Path) -> None:
    specs = default_symbols(3)
    days = simulate_days(DAY, 2, tmp_path, symbols=specs, trades_per_day=3_000, snapshot_interval_ms=60_000)
    assert [d.day for d in days] == [DAY, DAY + timedelta(days=1)]
    first, second = (_read(d.trades_path) for d in days)
    s1, s2 = (_read(d.snapshots_path) for d in days)
    for spec in specs:
        ids1 = first.id[first.symbol == spec.symbol].astype(np.int64)
        ids2 = second.id[second.symbol == spec.symbol].astype(np.int64)
        assert ids2.iloc[0] == ids1.iloc[-1] + 1, "ids run on across days"
        close = float(s1.loc[s1.symbol == spec.symbol, "asks[0].price"].iloc[-1])
        open_ = float(s2.loc[s2.symbol == spec.symbol, "asks[0].price"].iloc[0])
        assert abs(open_ / close - 1) < 0.01, "day N+1 opens where day N closed"


def test_zero_trades_gives_a_header_only_file(tmp_path: Path) -> None:
    result = simulate_day(DAY, tmp_path, trades_per_day=0, snapshot_interval_ms=3_600_000)
    assert _read_lines(result.trades_path) == [TRADES_HEADER, ""]
    assert result.trades == 0 and set(result.trades_per_symbol.values()) == {0}
    assert result.snapshots == 24 * len(default_symbols())
    assert len(_read_lines(result.snapshots_path)) == result.snapshots + 2


def test_one_trade_gives_exactly_one_row(tmp_path: Path) -> None:
    result = simulate_day(DAY, tmp_path, trades_per_day=1, snapshot_interval_ms=3_600_000)
    lines = _read_lines(result.trades_path)
    assert len(lines) == 3 and lines[-1] == ""
    fields = lines[1].split(",")
    assert fields[:2] == ["simex", "BTCUSDT"] and fields[5] in {"buy", "sell"}
    assert result.trades == 1 and result.trades_per_symbol["BTCUSDT"] == 1


def test_default_universe(tmp_path: Path) -> None:
    twenty = default_symbols(20)
    names = [s.symbol for s in twenty]
    assert len(set(names)) == 20
    assert names[:3] == ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
    assert "SYM07USDT" in names and "DOGEUSDT" in names
    assert default_symbols(10) == twenty[:10]  # universes nest
    assert default_symbols(0) == []
    assert len({s.start_price for s in twenty}) == 20
    assert len({s.first_trade_id for s in twenty}) == 20
    for spec in twenty:
        assert _step(spec.tick_size)[1] <= 8 and _step(spec.lot_size)[1] <= 8
        assert spec.start_price / spec.tick_size >= 1_000


def test_extreme_price_levels_stay_exact(tmp_path: Path) -> None:
    specs = [
        SymbolSpec("PEPEUSDT", 0.0000123, 0.00000001, 1000.0, 0.08, 1.0),
        SymbolSpec("BIGUSDT", 987_654.3, 0.5, 0.0001, 0.02, 1.0),
    ]
    result = simulate_day(DAY, tmp_path, symbols=specs, trades_per_day=2_000, snapshot_interval_ms=600_000)
    trades = _read(result.trades_path)
    pepe = trades[trades.symbol == "PEPEUSDT"]
    assert pepe.price.str.fullmatch(r"0\.0000[0-9]{4}").all()
    assert pepe.amount.str.fullmatch(r"[0-9]+000").all()
    big = trades[trades.symbol == "BIGUSDT"]
    assert big.price.str.fullmatch(r"[0-9]{6,7}\.[05]").all()
    assert big.amount.str.fullmatch(r"[0-9]+\.[0-9]{4}").all()


def test_duckdb_reads_the_files_as_decimal(sim: SimulatedDay) -> None:
    duckdb = pytest.importorskip("duckdb")
    n, min_price, max_amount = duckdb.sql(
        f"""SELECT count(*), min(price), max(amount) FROM read_csv('{sim.trades_path}', header = true,
            columns = {{'exchange': 'VARCHAR', 'symbol': 'VARCHAR', 'timestamp': 'BIGINT',
                       'local_timestamp': 'BIGINT', 'id': 'BIGINT', 'side': 'VARCHAR',
                       'price': 'DECIMAL(18,8)', 'amount': 'DECIMAL(18,8)'}})"""
    ).fetchone()
    assert n == sim.trades and min_price > 0 and max_amount > 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"depth": 4}, "depth"),
        ({"trades_per_day": -1}, "trades_per_day"),
        ({"exchange": "Sim_Ex"}, "exchange"),
        ({"snapshot_interval_ms": 0}, "snapshot_interval_ms"),
        ({"symbols": []}, "symbol"),
    ],
)
def test_bad_arguments_are_rejected(tmp_path: Path, kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        simulate_day(DAY, tmp_path, **kwargs)  # type: ignore[arg-type]


def test_bad_symbol_specs_are_rejected() -> None:
    with pytest.raises(ValueError, match="decimals"):
        SymbolSpec("XUSDT", 1.0, 1e-13, 1.0, 0.05, 1.0)  # the warehouse keeps 12 decimals
    with pytest.raises(ValueError, match="exceed 20"):
        SymbolSpec("XUSDT", 1.0, 1e-12, 1e-12, 0.05, 1.0)  # price x amount would need 24 decimals
    with pytest.raises(ValueError, match="1000 ticks"):
        SymbolSpec("XUSDT", 1.0, 0.01, 1.0, 0.05, 1.0)
    with pytest.raises(ValueError, match="upper case"):
        SymbolSpec("btc,usdt", 100.0, 0.01, 1.0, 0.05, 1.0)


def test_cli_writes_one_file_pair_per_day(tickwh_env: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO", logger="ingest.simulator")
    out = tickwh_env / "landing"
    argv = ["--start", "2024-01-01", "--days", "2", "--out", str(out), "--trades-per-day", "500"]
    assert main([*argv, "--symbols", "3", "--snapshot-interval-ms", "60000"]) == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(
        f"simex_{kind}_{day}_ALL.csv.gz"
        for kind in ("book_snapshot_5", "trades", "quotes", "derivative_ticker", "liquidations")
        for day in ("2024-01-01", "2024-01-02")
    )
    wrote = [r.getMessage() for r in caplog.records if r.getMessage().startswith("wrote")]
    assert len(wrote) == 10 and any("500 trades" in m for m in wrote) and any("500 quotes" in m for m in wrote)


def test_chunked_gzip_is_one_valid_member(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Big files are deflated in parallel chunks; the result must still be a single, ordinary
    gzip member with the same text as a one-chunk file."""

    kw = {"symbols": default_symbols(2), "trades_per_day": 5_000, "snapshot_interval_ms": 10_000}
    whole = simulate_day(DAY, tmp_path / "whole", **kw)
    monkeypatch.setattr(simulator, "_CSV_BATCH_ROWS", 700)
    chunked = simulate_day(DAY, tmp_path / "chunked", **kw)
    for a, b in ((whole.trades_path, chunked.trades_path), (whole.snapshots_path, chunked.snapshots_path)):
        data = b.read_bytes()
        member = zlib.decompressobj(wbits=31)
        text = member.decompress(data)
        assert member.eof and member.unused_data == b""
        assert text == gzip.decompress(a.read_bytes())
    duckdb = pytest.importorskip("duckdb")
    assert duckdb.sql(f"SELECT count(*) FROM read_csv('{chunked.trades_path}')").fetchone() == (5_000,)
