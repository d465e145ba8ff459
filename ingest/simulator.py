"""Deterministic market simulator that writes Tardis.dev-layout landing files.

The warehouse must be exercised at realistic volume (millions of trades a day) without a
vendor subscription, and every run must be reproducible so that a failing load or test can
be replayed byte for byte. So this module fabricates one UTC day of trades and order-book
snapshots per call, seeded from ``(seed, exchange, day)``, in exactly the file layout that
``docs/contracts.md`` specifies for vendor deliveries: downstream code cannot tell the
difference and needs no simulator-specific path.

Model, in short (all vectorised; the only Python loops run over minutes, bursts or symbols):

* Mid price: log random walk on a 1 s grid whose volatility is a product of a market-wide and
  an idiosyncratic stochastic-volatility regime (Ornstein-Uhlenbeck log-vol, minute grid),
  24 h crypto seasonality, and decaying "news" bursts that start with a jump. Shocks are
  correlated across symbols through a market factor. The day is a Brownian bridge between a
  daily open and close drawn from a mean-reverting daily log-price process, so consecutive
  days join up (day N's close is day N+1's open) and prices never wander off.
* Trades: the day's per-symbol count is fixed (largest-remainder split of ``trades_per_day``
  by weight) so trade ids are contiguous across days; arrivals within the day follow a
  nonhomogeneous Poisson law (multinomial over seconds, intensity proportional to the
  instantaneous variance, the empirical volume/volatility relation). Taker orders are split
  into several fills sharing a timestamp, walking the book now and then. Taker side leans
  towards the direction of that second's price move. Sizes are lognormal with a Pareto tail
  and some round-lot clustering.
* Book: top ``depth`` levels per side at a fixed cadence, derived from the same mid and
  spread as the trades, so trades sit at the contemporaneous best bid/ask.

All prices and amounts are integer multiples of tick and lot, formatted from integers (never
from floats), so the text is exact and fits the warehouse's numeric contract (ingest/numeric.py).
``wide_range_symbols()`` adds instruments at the contract's edges (a meme coin with 12-decimal
prices and 1e11-unit trades, BTC quoted in IDR near 1e9, a contract-count future, a token with
12-decimal amounts); they are opt-in so the default universe's files stay byte-identical.
"""

from __future__ import annotations

import logging
import math
import os
import re
import struct
import time
import zlib
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from ingest import args as rules
from ingest.args import Parser
from ingest.landing import snapshots_file_name, snapshots_header, trades_file_name, trades_header

log = logging.getLogger(__name__)

SECONDS_PER_DAY = 86_400
US_PER_SECOND = 1_000_000
US_PER_DAY = SECONDS_PER_DAY * US_PER_SECOND
EPOCH = date(1970, 1, 1)
MAX_DECIMALS = 12  # the warehouse keeps 12 decimals (ingest/numeric.py)
MAX_PRICE = 1e10  # prices are < 1e10
MAX_AMOUNT = 1e15  # amounts are < 1e16; 1e15 leaves room below it
MAX_NOTIONAL = 1e14  # price x amount of one trade is < 1e14

TRADES_HEADER = trades_header()

# Stream ids mixed into the RNG seed. Separate streams keep the parts independent: changing
# the snapshot cadence must not change the trades, adding a symbol must not change the others.
_STREAM_MARKET = 1
_STREAM_PATH = 2
_STREAM_TRADES = 3
_STREAM_BOOK = 4
_STREAM_DAILY = 5

# Volatility model.
_NU_MARKET = 0.35  # stationary sd of the market log-vol regime
_NU_IDIO = 0.25  # stationary sd of the idiosyncratic log-vol regime
_REGIME_MINUTES = 90.0  # mean-reversion time of the log-vol regimes
_MARKET_BURSTS_PER_DAY = 0.7
_IDIO_BURSTS_PER_DAY = 0.4
_WEEKEND_VOL = 0.75  # crypto trades 24/7 but weekends are calmer
_DAILY_PHI = 0.993  # daily log-price mean reversion (half-life ~100 days)

# Microstructure.
_MAX_EXTRA_SPREAD = 40  # ticks; bounds the spread so the price floor below is always valid
_FILL_SPLIT_P = 0.4  # share of trades that continue the previous taker order (real Binance tape: ~0.43)
_WALK_P = 0.3  # probability that such a fill is one level deeper than the previous one
_SIDE_LEAN = 0.3  # P(buy) = 0.5 + lean * tanh(standardised move of that second)
_TRADE_SIZE_SIGMA = 1.6
_TAIL_P = 0.02
_TAIL_ALPHA = 1.3
_ROUND_LOT_P = 0.1
_BOOK_SIZE_SIGMA = 0.9
_BOOK_GAP_P = 0.1  # probability that the next level is 2-3 ticks away rather than 1
_LATENCY_MEDIAN_US = 20_000.0
_LATENCY_SIGMA = 0.5
_LATENCY_MIN_US = 1_000
_LATENCY_MAX_US = 2 * US_PER_SECOND

_CSV_BATCH_ROWS = 262_144  # rows per chunk handed to a worker
# Arrow renders a chunk in slices of this many rows; small slices reuse the allocator's
# cached blocks instead of faulting in fresh zeroed pages for every chunk (~2 s of kernel time
# saved on a 10M-trade day).
_CSV_WRITER_ROWS = 8_192
_PENDING_CHUNKS = 6  # per file: bounds memory (~25 MB a chunk) while keeping the workers busy
_GZIP_LEVEL = 1  # on this text level 1 is ~3.5x faster than the default 6 for ~25% more bytes

_EXCHANGE_RE = re.compile(r"[a-z0-9][a-z0-9-]*")  # fullmatch: `$` would let a trailing newline through
_SYMBOL_RE = re.compile(r"^[A-Z0-9][A-Z0-9.-]*\Z")


def _decimal_step(value: float, what: str) -> tuple[int, int]:
    """Split a tick or lot size into (integer units, decimals), e.g. 0.05 -> (5, 2).

    Everything is then done on integer counts of 10**-decimals, which is what makes the
    output text exact: no float ever reaches the formatter.
    """
    d = Decimal(repr(float(value))).normalize()
    if d <= 0:
        raise ValueError(f"{what} must be > 0, got {value!r}")
    decimals = max(0, -d.as_tuple().exponent)
    if decimals > MAX_DECIMALS:
        raise ValueError(f"{what} {value!r} needs {decimals} decimals, the warehouse keeps {MAX_DECIMALS}")
    return int(d.scaleb(decimals)), decimals


@dataclass(frozen=True)
class SymbolSpec:
    """One simulated instrument.

    ``weight`` is relative trade activity; ``daily_vol`` the standard deviation of the daily
    log return. ``first_trade_id`` anchors the id sequence (default: derived from the symbol so
    that ids of different symbols never look alike, which catches joins on id alone).
    """

    symbol: str
    start_price: float
    tick_size: float
    lot_size: float
    daily_vol: float
    weight: float
    first_trade_id: int | None = None
    median_notional: float = 250.0  # typical taker order, in quote currency
    spread_extra_ticks: float = 0.3  # mean extra spread beyond one tick, in calm conditions
    market_corr: float = 0.7  # correlation of the 1 s shocks with the market factor

    def __post_init__(self) -> None:
        if not _SYMBOL_RE.match(self.symbol):
            raise ValueError(f"symbol must be upper case letters, digits, '.' or '-': {self.symbol!r}")
        _decimal_step(self.tick_size, "tick_size")
        _decimal_step(self.lot_size, "lot_size")
        if not self.start_price > 0:
            raise ValueError(f"{self.symbol}: start_price must be > 0")
        # The book needs room below the touch for `depth` bid levels at any price reached.
        if self.start_price / self.tick_size < 1_000:
            raise ValueError(f"{self.symbol}: start_price must be at least 1000 ticks")
        if self.start_price * 4 >= MAX_PRICE:  # x4: room for the daily drift
            raise ValueError(f"{self.symbol}: start_price too large for prices < 1e10")
        tick_decimals = _decimal_step(self.tick_size, "tick_size")[1]
        lot_decimals = _decimal_step(self.lot_size, "lot_size")[1]
        if tick_decimals + lot_decimals > 20:
            raise ValueError(f"{self.symbol}: tick and lot decimals together exceed 20 (price x amount scale)")
        if not 0 <= self.daily_vol <= 0.25 or not self.weight >= 0 or not self.median_notional > 0:
            raise ValueError(f"{self.symbol}: need 0 <= daily_vol <= 0.25, weight >= 0, median_notional > 0")
        if not 0 <= self.spread_extra_ticks <= 20 or not 0 <= self.market_corr <= 1:
            raise ValueError(f"{self.symbol}: spread_extra_ticks in [0, 20], market_corr in [0, 1]")
        if self.first_trade_id is None:
            object.__setattr__(self, "first_trade_id", 100_000_000 + zlib.crc32(self.symbol.encode()) % 900_000_000)
        elif self.first_trade_id < 0:
            raise ValueError(f"{self.symbol}: first_trade_id must be >= 0")


_NAMED_SYMBOLS: tuple[SymbolSpec, ...] = (
    SymbolSpec("BTCUSDT", 60_000.0, 0.1, 0.001, 0.030, 1.00, median_notional=2_000.0),
    SymbolSpec("ETHUSDT", 3_000.0, 0.01, 0.001, 0.035, 0.60, median_notional=1_000.0),
    SymbolSpec("SOLUSDT", 150.0, 0.001, 0.01, 0.050, 0.35, median_notional=500.0),
    SymbolSpec("BNBUSDT", 550.0, 0.01, 0.01, 0.030, 0.15, median_notional=400.0),
    SymbolSpec("XRPUSDT", 0.6, 0.0001, 0.1, 0.045, 0.25, median_notional=300.0),
    SymbolSpec("DOGEUSDT", 0.15, 0.00001, 1.0, 0.055, 0.30, median_notional=250.0),
    SymbolSpec("ADAUSDT", 0.45, 0.0001, 1.0, 0.045, 0.12, median_notional=200.0),
)
DEFAULT_UNIVERSE_SIZE = len(_NAMED_SYMBOLS)

# Instruments at the numeric contract's edges (docs/contracts.md, "Numeric contract").
_WIDE_RANGE_SYMBOLS: tuple[SymbolSpec, ...] = (
    # PEPE-like: prices around 1e-6 with 12 decimals, integer amounts, whales of 1e11 units and more.
    SymbolSpec("MEMEUSDT", 0.0000012345, 0.000000000001, 1.0, 0.080, 1.00, median_notional=2_000.0),
    # BTC quoted in rupiah: prices near 1.5e9 (the top of the range), satoshi lots.
    SymbolSpec("BTCIDR", 1_550_000_000.0, 1.0, 0.00000001, 0.030, 0.50, median_notional=5_000_000.0),
    # A contract-count future: integer contracts, half-dollar ticks.
    SymbolSpec("BTCUSD-PERP", 95_000.0, 0.5, 1.0, 0.030, 0.50, median_notional=9_500_000.0),
    # A token with 12-decimal amounts and 8-decimal prices: 20 decimals of notional, the limit.
    SymbolSpec("WETHUSDC", 3_000.0, 0.00000001, 0.000000000001, 0.035, 0.40, median_notional=1_000.0),
)


def wide_range_symbols() -> list[SymbolSpec]:
    """The instruments at the edges of the numeric contract (not in the default universe)."""
    return list(_WIDE_RANGE_SYMBOLS)


def _synthetic_symbol(index: int) -> SymbolSpec:
    """A made-up altcoin for slot ``index``; depends on the index only, so universes nest."""
    rng = np.random.default_rng([0x5EED, index])
    price = float(f"{10 ** rng.uniform(-2.0, 3.5):.4g}")
    tick = 10.0 ** (math.floor(math.log10(price)) - 4)  # 10^4..10^5 ticks: 1-10 bp tick
    lot = 10.0 ** min(3, max(-3, round(math.log10(5.0 / price))))  # about 5 USDT a lot
    return SymbolSpec(
        symbol=f"SYM{index:02d}USDT",
        start_price=price,
        tick_size=float(f"{tick:.0e}"),
        lot_size=float(f"{lot:.0e}"),
        daily_vol=round(float(rng.uniform(0.035, 0.08)), 4),
        weight=round(float(rng.uniform(0.02, 0.15)), 4),
        median_notional=round(float(rng.uniform(100.0, 400.0)), 2),
        spread_extra_ticks=round(float(rng.uniform(0.2, 1.5)), 3),
        market_corr=round(float(rng.uniform(0.4, 0.7)), 3),
    )


def default_symbols(n: int = DEFAULT_UNIVERSE_SIZE) -> list[SymbolSpec]:
    """The first ``n`` symbols: real-looking majors first, then ``SYMnnUSDT`` fillers.

    The fillers are a pure function of their slot so benchmark universes of any size agree
    with each other on the symbols they share.
    """
    if n < 0:
        raise ValueError("n must be >= 0")
    named = list(_NAMED_SYMBOLS[:n])
    return named + [_synthetic_symbol(i) for i in range(len(named), n)]


@dataclass(frozen=True)
class SimulatedDay:
    """What one ``simulate_day`` call wrote; counts exclude header rows."""

    day: date
    exchange: str
    trades_path: Path
    snapshots_path: Path
    trades: int
    snapshots: int
    trades_per_symbol: dict[str, int] = field(hash=False)


# --------------------------------------------------------------------------------------------
# Random processes
# --------------------------------------------------------------------------------------------


def _rng(seed: int, *keys: int) -> np.random.Generator:
    return np.random.default_rng([seed, *keys])


def _key(text: str) -> int:
    return zlib.crc32(text.encode())


@lru_cache(maxsize=1)
def _seasonality() -> np.ndarray:
    """Mean-one activity profile over the UTC day's seconds.

    Crypto has no session close, but activity peaks with the US/EU overlap, troughs in the
    Asian late night, jumps at the top of every hour (candle closes, scheduled algos) and
    around the 00/08/16 UTC funding times of perpetual swaps.
    """
    s = np.arange(SECONDS_PER_DAY, dtype=np.float64) + 0.5
    phase = 2.0 * np.pi * (s / 3600.0 - 15.0) / 24.0
    season = 1.0 + 0.35 * np.cos(phase) + 0.10 * np.cos(2.0 * phase)
    season += 0.5 * np.exp(-(s % 3600.0) / 120.0)
    for hour in (0, 8, 16):
        dist = np.abs((s - hour * 3600.0 + SECONDS_PER_DAY / 2) % SECONDS_PER_DAY - SECONDS_PER_DAY / 2)
        season += 0.8 * np.exp(-dist / 600.0)
    season /= season.mean()
    season.setflags(write=False)
    return season


def _log_vol_regime(rng: np.random.Generator, nu: float) -> np.ndarray:
    """Stationary OU log-volatility (sd ``nu``) on a minute grid, interpolated to seconds.

    Slow regimes give the volatility clustering seen in real data; a minute grid keeps the
    unavoidable recursion to 1441 steps.
    """
    minutes = SECONDS_PER_DAY // 60
    phi = math.exp(-1.0 / _REGIME_MINUTES)
    innov = rng.standard_normal(minutes + 1) * math.sqrt(1.0 - phi * phi)
    x = np.empty(minutes + 1)
    prev = float(rng.standard_normal())
    for i, e in enumerate(innov.tolist()):
        prev = phi * prev + e
        x[i] = prev
    grid = np.arange(minutes + 1, dtype=np.float64) * 60.0
    return nu * np.interp(np.arange(SECONDS_PER_DAY, dtype=np.float64), grid, x)


def _bursts(rng: np.random.Generator, rate: float) -> tuple[np.ndarray, np.ndarray]:
    """News-like events: a jump (in daily-vol units) followed by decaying excess volatility."""
    k = int(rng.poisson(rate))
    starts = rng.integers(0, SECONDS_PER_DAY, k)
    amps = 1.0 + rng.exponential(1.5, k)
    taus = rng.uniform(300.0, 1800.0, k)
    sizes = rng.standard_normal(k)
    burst = np.ones(SECONDS_PER_DAY)
    jump = np.zeros(SECONDS_PER_DAY)
    for t0, amp, tau, size in zip(starts.tolist(), amps.tolist(), taus.tolist(), sizes.tolist(), strict=True):
        burst[t0:] += amp * np.exp(-np.arange(SECONDS_PER_DAY - t0) / tau)
        jump[t0] += 0.1 * amp * size
    return burst, jump


@dataclass(frozen=True)
class _Market:
    log_vol: np.ndarray
    shock: np.ndarray
    burst: np.ndarray
    jump: np.ndarray


def _market(seed: int, exchange_key: int, ordinal: int) -> _Market:
    rng = _rng(seed, exchange_key, ordinal, _STREAM_MARKET)
    log_vol = _log_vol_regime(rng, _NU_MARKET)
    shock = rng.standard_normal(SECONDS_PER_DAY)
    burst, jump = _bursts(rng, _MARKET_BURSTS_PER_DAY)
    return _Market(log_vol, shock, burst, jump)


def _daily_levels(spec: SymbolSpec, seed: int, day_index: int) -> tuple[float, float]:
    """Log-price offsets (from the start price) at the day's open and close.

    A mean-reverting AR(1) over days since 1970 drawn from one stream per symbol (keyed
    without the exchange, so venues agree on the price level): day N's close equals day
    N+1's open, and the level stays within a factor of about 2 of the start price.
    """
    z = _rng(seed, _key(spec.symbol), _STREAM_DAILY).standard_normal(day_index + 1)
    weights = _DAILY_PHI ** np.arange(day_index - 1, -1, -1, dtype=np.float64)
    x_open = spec.daily_vol * float(weights @ z[:day_index])
    x_close = _DAILY_PHI * x_open + spec.daily_vol * float(z[day_index])
    return x_open, x_close


@dataclass(frozen=True)
class _Path:
    """One symbol's day on the 1 s grid: the state that trades and book snapshots share."""

    log_mid: np.ndarray  # (S + 1,) log mid at each second boundary
    vol: np.ndarray  # (S,) volatility multiplier, E[vol**2] = 1 outside bursts
    shock: np.ndarray  # (S,) standardised shock of each second, drives the taker side
    spread: np.ndarray  # (S,) spread in ticks, >= 1
    floor_ticks: int  # the mid is kept this many ticks above zero


def _symbol_path(
    spec: SymbolSpec, market: _Market, rng: np.random.Generator, levels: tuple[float, float], weekend: bool
) -> _Path:
    idio = _log_vol_regime(rng, _NU_IDIO)
    burst, jump = _bursts(rng, _IDIO_BURSTS_PER_DAY)
    # exp(h - var h) has E[.^2] = 1, so the day's variance is daily_vol**2 on average.
    vol = np.exp(market.log_vol + idio - (_NU_MARKET**2 + _NU_IDIO**2))
    vol *= np.sqrt(_seasonality()) * market.burst * burst
    rho = spec.market_corr
    shock = rho * market.shock + math.sqrt(1.0 - rho * rho) * rng.standard_normal(SECONDS_PER_DAY)
    sigma = spec.daily_vol * (_WEEKEND_VOL if weekend else 1.0) / math.sqrt(SECONDS_PER_DAY)
    ret = sigma * vol * shock + spec.daily_vol * (rho * market.jump + jump)
    cum = np.concatenate(([0.0], np.cumsum(ret)))
    x_open, x_close = levels
    bridge = ((x_close - x_open) - cum[-1]) * (np.arange(SECONDS_PER_DAY + 1) / SECONDS_PER_DAY)
    log_mid = math.log(spec.start_price) + x_open + cum + bridge
    spread = 1 + np.minimum(rng.poisson(spec.spread_extra_ticks * vol), _MAX_EXTRA_SPREAD)
    return _Path(log_mid, vol, shock, spread.astype(np.int64), floor_ticks=2 * _MAX_EXTRA_SPREAD + 4 * 64)


def _touch(path: _Path, ts_rel: np.ndarray, tick: float) -> tuple[np.ndarray, np.ndarray]:
    """Best bid and ask (in ticks) at the given times of day (microseconds).

    The mid is linear in log space within each second, so trades and snapshots taken at
    different instants in the same second agree with each other up to that second's move.
    """
    sec = ts_rel // US_PER_SECOND
    frac = (ts_rel - sec * US_PER_SECOND) * (1.0 / US_PER_SECOND)
    lo = path.log_mid[sec]
    mid = np.exp(lo + frac * (path.log_mid[sec + 1] - lo)) / tick
    np.clip(mid, path.floor_ticks, MAX_PRICE / 2 / tick, out=mid)
    spread = path.spread[sec]
    bid = np.floor(mid - 0.5 * spread).astype(np.int64)
    return bid, bid + spread


def _latency(rng: np.random.Generator, n: int) -> np.ndarray:
    lat = np.exp(math.log(_LATENCY_MEDIAN_US) + _LATENCY_SIGMA * rng.standard_normal(n))
    return np.minimum(np.rint(lat).astype(np.int64) + _LATENCY_MIN_US, _LATENCY_MAX_US)


def _median_lots(spec: SymbolSpec) -> float:
    return max(1.0, spec.median_notional / (spec.start_price * spec.lot_size))


def _max_lots(spec: SymbolSpec) -> int:
    # x4: room for the daily drift, as for the price bound.
    notional_cap = MAX_NOTIONAL / (4 * spec.start_price * spec.lot_size)
    return max(1, int(min(_median_lots(spec) * 1e5, MAX_AMOUNT / spec.lot_size, notional_cap)))


def _trade_lots(spec: SymbolSpec, rng: np.random.Generator, n: int) -> np.ndarray:
    """Lognormal body, Pareto tail (whales) and clustering on round sizes, as in real tapes."""
    x = _median_lots(spec) * np.exp(_TRADE_SIZE_SIGMA * rng.standard_normal(n))
    tail = np.flatnonzero(rng.random(n) < _TAIL_P)
    x[tail] *= 1.0 + rng.pareto(_TAIL_ALPHA, tail.size)
    lots = np.clip(np.rint(x), 1, _max_lots(spec))
    rounded = np.flatnonzero(rng.random(n) < _ROUND_LOT_P)
    magnitude = 10.0 ** np.floor(np.log10(lots[rounded]))
    lots[rounded] = np.maximum(np.rint(lots[rounded] / magnitude), 1) * magnitude
    return np.minimum(lots, _max_lots(spec)).astype(np.int64)


@dataclass
class _SymbolTrades:
    ts: np.ndarray  # microseconds into the day, non-decreasing
    latency: np.ndarray
    buy: np.ndarray
    price_ticks: np.ndarray
    lots: np.ndarray


def _symbol_trades(spec: SymbolSpec, path: _Path, rng: np.random.Generator, n: int, depth: int) -> _SymbolTrades:
    intensity = path.vol * path.vol  # trade count tracks variance (the volume-volatility link)
    counts = rng.multinomial(n, intensity / intensity.sum())
    sec = np.repeat(np.arange(SECONDS_PER_DAY, dtype=np.int64), counts)
    ts = sec * US_PER_SECOND + rng.integers(0, US_PER_SECOND, n)
    ts.sort()
    # A fill continuing the previous taker order shares its timestamp, side and latency.
    continued = rng.random(n) < _FILL_SPLIT_P
    continued[:1] = False
    head = np.maximum.accumulate(np.where(continued, 0, np.arange(n)))
    ts = ts[head]
    sec = ts // US_PER_SECOND
    p_buy = 0.5 + _SIDE_LEAN * np.tanh(path.shock)
    buy = (rng.random(n) < p_buy[sec])[head]
    bid, ask = _touch(path, ts, spec.tick_size)
    deeper = np.cumsum(continued & (rng.random(n) < _WALK_P))
    walk = np.minimum(deeper - deeper[head], depth - 1)
    price = np.where(buy, ask + walk, bid - walk)
    lots = _trade_lots(spec, rng, n)
    latency = _latency(rng, n)[head]
    return _SymbolTrades(ts, latency, buy, price, lots)


@dataclass
class _SymbolBook:
    ask_ticks: np.ndarray  # (n, depth)
    bid_ticks: np.ndarray
    ask_lots: np.ndarray
    bid_lots: np.ndarray
    latency: np.ndarray


def _symbol_book(spec: SymbolSpec, path: _Path, rng: np.random.Generator, ts: np.ndarray, depth: int) -> _SymbolBook:
    n = ts.size
    bid, ask = _touch(path, ts, spec.tick_size)

    def levels(best: np.ndarray, sign: int) -> np.ndarray:
        gaps = 1 + (rng.random((n, depth - 1)) < _BOOK_GAP_P) * rng.integers(1, 3, (n, depth - 1))
        offsets = np.concatenate((np.zeros((n, 1), np.int64), np.cumsum(gaps, axis=1)), axis=1)
        return best[:, None] + sign * offsets

    def sizes() -> np.ndarray:
        scale = 3.0 * _median_lots(spec) * (1.0 + 0.35 * np.arange(depth))
        x = scale * np.exp(_BOOK_SIZE_SIGMA * rng.standard_normal((n, depth)))
        return np.clip(np.rint(x), 1, _max_lots(spec)).astype(np.int64)

    return _SymbolBook(levels(ask, 1), levels(bid, -1), sizes(), sizes(), _latency(rng, n))


def _allocate(total: int, weights: Sequence[float]) -> np.ndarray:
    """Split ``total`` by weight, exactly (largest remainder, ties to the earlier symbol)."""
    w = np.asarray(weights, dtype=np.float64)
    if total == 0 or w.sum() <= 0:
        return np.zeros(w.size, np.int64)
    quota = total * w / w.sum()
    counts = np.floor(quota).astype(np.int64)
    short = total - int(counts.sum())
    if short > 0:
        order = np.lexsort((np.arange(w.size), -(quota - counts)))
        counts[order[:short]] += 1
    return counts


# --------------------------------------------------------------------------------------------
# Text output
# --------------------------------------------------------------------------------------------


def _format_units(units: np.ndarray, decimals: int) -> pa.Array:
    """Integers counted in 10**-decimals -> fixed-point strings, e.g. (1234, 2) -> "12.34"."""
    if decimals == 0:
        return pc.cast(pa.array(units, pa.int64()), pa.string())
    scale = 10**decimals
    whole = pc.cast(pa.array(units // scale, pa.int64()), pa.string())
    frac = pc.utf8_lpad(pc.cast(pa.array(units % scale, pa.int64()), pa.string()), decimals, "0")
    return pc.binary_join_element_wise(whole, frac, ".")


class _StringPool:
    """Per-symbol tables of formatted decimals, concatenated; rows point into them.

    A symbol's prices span only a few thousand ticks a day, so formatting the range once and
    gathering by index is far cheaper than formatting ten million values.
    """

    def __init__(self) -> None:
        self._chunks: list[pa.Array] = []
        self._size = 0

    def add(self, steps: np.ndarray, step: tuple[int, int]) -> np.ndarray:
        units, decimals = step
        if steps.size == 0:
            return np.zeros(steps.shape, np.int64)
        lo, hi = int(steps.min()), int(steps.max())
        if hi - lo + 1 <= max(steps.size, 1024):
            table = _format_units(np.arange(lo, hi + 1, dtype=np.int64) * units, decimals)
            index = steps - lo
        else:
            table = _format_units(steps.ravel() * units, decimals)
            index = np.arange(steps.size, dtype=np.int64).reshape(steps.shape)
        index = index + self._size
        self._chunks.append(table)
        self._size += len(table)
        return index

    def array(self) -> pa.Array:
        return pa.concat_arrays(self._chunks) if self._chunks else pa.array([], pa.string())


def _repeat(values: Sequence[str], index: np.ndarray) -> pa.Array:
    return pc.take(pa.array(values, pa.string()), pa.array(index))


_GZIP_HEADER = bytes([0x1F, 0x8B, 8, 0, 0, 0, 0, 0, 4, 255])  # deflate, no name, mtime 0, "fastest"


def _render_chunk(
    batch: Callable[[int, int], pa.Table], a: int, b: int, options: pacsv.WriteOptions
) -> tuple[pa.Buffer, bytes]:
    """CSV text of rows [a, b) and its raw deflate, ending on a byte boundary.

    A sync flush (rather than finish) leaves a stream that the next chunk's deflate can
    simply be appended to, so independent chunks concatenate into one valid gzip member.
    """
    sink = pa.BufferOutputStream()
    pacsv.write_csv(batch(a, b), sink, options)
    raw = sink.getvalue()
    comp = zlib.compressobj(_GZIP_LEVEL, zlib.DEFLATED, -15)
    return raw, comp.compress(raw) + comp.flush(zlib.Z_SYNC_FLUSH)


def _write_csv_gz(
    path: Path,
    header: str,
    n_rows: int,
    batch: Callable[[int, int], pa.Table],
    pool: ThreadPoolExecutor,
) -> int:
    """Stream the rows into ``path`` as one gzip member; return the compressed size.

    Rendering and gzip are the bottleneck of the simulator, so both run pigz-style: each
    chunk of rows is gathered, rendered by Arrow (which formats integers far faster than
    Python) and deflated on ``pool``, independently of the others; this thread only checks
    sums and writes the chunks in order. The cost of not priming each chunk with the
    previous one's window is negligible at this chunk size. The gzip header carries no name
    or mtime, so equal input gives byte-identical files, and the file appears atomically
    under its final name, so a watcher never picks up a half-written landing file.
    """
    tmp = path.with_name(f".{path.name}.tmp")
    options = pacsv.WriteOptions(include_header=False, quoting_style="none", batch_size=_CSV_WRITER_ROWS)
    window = _PENDING_CHUNKS
    pending: deque[Future[tuple[pa.Buffer, bytes]]] = deque()
    head = (header + "\n").encode()
    comp = zlib.compressobj(_GZIP_LEVEL, zlib.DEFLATED, -15)
    crc = zlib.crc32(head)
    raw_size = len(head)
    size = 0

    def drain(keep: int) -> None:
        nonlocal crc, raw_size, size
        while len(pending) > keep:
            raw, deflated = pending.popleft().result()
            crc = zlib.crc32(raw, crc)
            raw_size += len(raw)
            size += fh.write(deflated)

    try:
        with open(tmp, "wb") as fh:
            size += fh.write(_GZIP_HEADER)
            size += fh.write(comp.compress(head) + comp.flush(zlib.Z_SYNC_FLUSH))
            for a in range(0, n_rows, _CSV_BATCH_ROWS):
                pending.append(pool.submit(_render_chunk, batch, a, min(n_rows, a + _CSV_BATCH_ROWS), options))
                drain(window)
            drain(0)
            size += fh.write(zlib.compressobj(_GZIP_LEVEL, zlib.DEFLATED, -15).flush(zlib.Z_FINISH))
            size += fh.write(struct.pack("<II", crc & 0xFFFFFFFF, raw_size & 0xFFFFFFFF))
        os.replace(tmp, path)
    except BaseException:
        for job in pending:
            job.cancel()
        tmp.unlink(missing_ok=True)
        raise
    return size


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _DayContext:
    day: date
    exchange: str
    symbols: list[SymbolSpec]
    paths: list[_Path]
    seed: int
    exchange_key: int
    day_start_us: int


def _write_trades(ctx: _DayContext, out_path: Path, counts: np.ndarray, depth: int, pool: ThreadPoolExecutor) -> int:
    started = time.perf_counter()
    day_index = (ctx.day - EPOCH).days
    pieces: list[_SymbolTrades] = []
    for spec, path, n in zip(ctx.symbols, ctx.paths, counts.tolist(), strict=True):
        rng = _rng(ctx.seed, ctx.exchange_key, ctx.day.toordinal(), _key(spec.symbol), _STREAM_TRADES)
        pieces.append(_symbol_trades(spec, path, rng, n, depth))
    n_total = int(counts.sum())
    # Columns stay symbol-major; each chunk gathers its rows in time order on the pool.
    ts = np.concatenate([p.ts for p in pieces])
    order = np.argsort(ts, kind="stable")  # ties keep symbol order, then id order
    latency = np.concatenate([p.latency for p in pieces])
    symbol = np.repeat(np.arange(len(pieces), dtype=np.int32), counts)
    side = np.concatenate([~p.buy for p in pieces]).astype(np.int8)
    ids = np.concatenate(
        [
            spec.first_trade_id + day_index * n + np.arange(n, dtype=np.int64)
            for spec, n in zip(ctx.symbols, counts.tolist(), strict=True)
        ]
    )
    prices, amounts = _StringPool(), _StringPool()
    price_index = np.concatenate(
        [
            prices.add(p.price_ticks, _decimal_step(s.tick_size, "tick"))
            for p, s in zip(pieces, ctx.symbols, strict=True)
        ]
    )
    amount_index = np.concatenate(
        [amounts.add(p.lots, _decimal_step(s.lot_size, "lot")) for p, s in zip(pieces, ctx.symbols, strict=True)]
    )
    del pieces
    price_text, amount_text = prices.array(), amounts.array()
    names = [s.symbol for s in ctx.symbols]

    def batch(a: int, b: int) -> pa.Table:
        rows = order[a:b]
        stamp = ts[rows] + ctx.day_start_us
        return pa.table(
            {
                "exchange": _repeat([ctx.exchange], np.zeros(b - a, np.int8)),
                "symbol": _repeat(names, symbol[rows]),
                "timestamp": pa.array(stamp),
                "local_timestamp": pa.array(stamp + latency[rows]),
                "id": pa.array(ids[rows]),
                "side": _repeat(["buy", "sell"], side[rows]),
                "price": pc.take(price_text, pa.array(price_index[rows])),
                "amount": pc.take(amount_text, pa.array(amount_index[rows])),
            }
        )

    size = _write_csv_gz(out_path, TRADES_HEADER, n_total, batch, pool)
    log.info("wrote %s: %d trades, %.1f MB, %.2f s", out_path.name, n_total, size / 1e6, time.perf_counter() - started)
    return n_total


def _write_snapshots(ctx: _DayContext, out_path: Path, interval_us: int, depth: int, pool: ThreadPoolExecutor) -> int:
    started = time.perf_counter()
    times = np.arange(0, US_PER_DAY, interval_us, dtype=np.int64)
    n_sym = len(ctx.symbols)
    prices, amounts = _StringPool(), _StringPool()
    price_parts, amount_parts, latency_parts = [], [], []
    for spec, path in zip(ctx.symbols, ctx.paths, strict=True):
        rng = _rng(ctx.seed, ctx.exchange_key, ctx.day.toordinal(), _key(spec.symbol), _STREAM_BOOK)
        book = _symbol_book(spec, path, rng, times, depth)
        tick, lot = _decimal_step(spec.tick_size, "tick"), _decimal_step(spec.lot_size, "lot")
        # Interleave to the file's column order: asks[i].price, asks[i].amount, bids[i].price, ...
        price_parts.append(prices.add(np.stack((book.ask_ticks, book.bid_ticks), axis=2).reshape(-1, 2 * depth), tick))
        amount_parts.append(amounts.add(np.stack((book.ask_lots, book.bid_lots), axis=2).reshape(-1, 2 * depth), lot))
        latency_parts.append(book.latency)
    n_total = times.size * n_sym
    # Every symbol snapshots at the same instants: time-major, then symbol order.
    order = np.arange(n_total).reshape(n_sym, times.size).T.ravel()
    price_index, amount_index = np.concatenate(price_parts), np.concatenate(amount_parts)
    latency = np.concatenate(latency_parts)
    del price_parts, amount_parts, latency_parts
    price_text, amount_text = prices.array(), amounts.array()
    names = [s.symbol for s in ctx.symbols]
    level_names = snapshots_header(depth).split(",")[4:]

    def batch(a: int, b: int) -> pa.Table:
        rows = order[a:b]
        symbol = rows // times.size
        stamp = times[rows - symbol * times.size] + ctx.day_start_us
        level_prices, level_amounts = price_index[rows], amount_index[rows]
        data = {
            "exchange": _repeat([ctx.exchange], np.zeros(b - a, np.int8)),
            "symbol": _repeat(names, symbol),
            "timestamp": pa.array(stamp),
            "local_timestamp": pa.array(stamp + latency[rows]),
        }
        for k, name in enumerate(level_names):
            text, index = (price_text, level_prices) if k % 2 == 0 else (amount_text, level_amounts)
            data[name] = pc.take(text, pa.array(index[:, k // 2]))
        return pa.table(data)

    size = _write_csv_gz(out_path, snapshots_header(depth), n_total, batch, pool)
    log.info(
        "wrote %s: %d snapshots, %.1f MB, %.2f s", out_path.name, n_total, size / 1e6, time.perf_counter() - started
    )
    return n_total


def simulate_day(
    day: date,
    out_dir: Path,
    *,
    symbols: list[SymbolSpec] | None = None,
    exchange: str = "simex",
    trades_per_day: int = 200_000,
    snapshot_interval_ms: int = 1000,
    depth: int = 5,
    seed: int = 7,
) -> SimulatedDay:
    """Write one UTC day of trades and book snapshots for ``exchange`` into ``out_dir``.

    Output is a pure function of the arguments (byte-identical on rerun). Trade counts per
    symbol are ``trades_per_day`` split exactly by weight, which is what lets trade ids run
    on contiguously from one day to the next while the universe and volume stay the same.
    """
    if isinstance(day, datetime):
        day = day.date()
    if day < EPOCH:
        raise ValueError("days before 1970-01-01 are not supported (timestamps are since the epoch)")
    if not _EXCHANGE_RE.fullmatch(exchange):
        raise ValueError(f"exchange must be lower case letters, digits and '-': {exchange!r}")
    if trades_per_day < 0:
        raise ValueError("trades_per_day must be >= 0")
    if not 1 <= snapshot_interval_ms <= SECONDS_PER_DAY * 1000:
        raise ValueError("snapshot_interval_ms must be between 1 and 86400000")
    if not 5 <= depth <= 64:
        raise ValueError("depth must be between 5 and 64 (contracts.md: book_snapshot_N has N >= 5)")
    if seed < 0:
        raise ValueError("seed must be >= 0")
    specs = default_symbols() if symbols is None else list(symbols)
    if not specs:
        raise ValueError("need at least one symbol")
    if len({s.symbol for s in specs}) != len(specs):
        raise ValueError("symbols must be unique")

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    exchange_key = _key(exchange)
    ordinal = day.toordinal()
    market = _market(seed, exchange_key, ordinal)
    weekend = day.weekday() >= 5
    paths = [
        _symbol_path(
            spec,
            market,
            _rng(seed, exchange_key, ordinal, _key(spec.symbol), _STREAM_PATH),
            _daily_levels(spec, seed, (day - EPOCH).days),
            weekend,
        )
        for spec in specs
    ]
    day_start_us = (day - EPOCH).days * US_PER_DAY
    ctx = _DayContext(day, exchange, specs, paths, seed, exchange_key, day_start_us)
    counts = _allocate(trades_per_day, [s.weight for s in specs])
    trades_path = out_dir / trades_file_name(exchange, day)
    snapshots_path = out_dir / snapshots_file_name(exchange, day, depth)
    # The two files are independent, so each gets a thread; both feed one pool of gzip
    # workers. numpy, Arrow and zlib release the GIL for their heavy parts, so this keeps
    # every core busy however lopsided the two files are.
    workers = max(2, min(8, os.cpu_count() or 2))
    with ThreadPoolExecutor(workers, "gzip") as gzip_pool, ThreadPoolExecutor(2, "file") as files:
        trades_job = files.submit(_write_trades, ctx, trades_path, counts, depth, gzip_pool)
        snaps_job = files.submit(_write_snapshots, ctx, snapshots_path, snapshot_interval_ms * 1000, depth, gzip_pool)
        n_trades, n_snaps = trades_job.result(), snaps_job.result()
    return SimulatedDay(
        day=day,
        exchange=exchange,
        trades_path=trades_path,
        snapshots_path=snapshots_path,
        trades=n_trades,
        snapshots=n_snaps,
        trades_per_symbol={s.symbol: int(c) for s, c in zip(specs, counts.tolist(), strict=True)},
    )


def simulate_days(start: date, days: int, out_dir: Path, **kw: Any) -> list[SimulatedDay]:
    """``simulate_day`` for ``days`` consecutive days from ``start``; same keyword arguments."""
    return [simulate_day(start + timedelta(days=i), out_dir, **kw) for i in range(days)]


# The bounds of `tickwh simulate` and `tickwh demo` (the demo simulates through the same rules).
START = rules.days_between(EPOCH, rules.MAX_DAY)  # timestamps count from the epoch
DAYS = rules.bounded_int(1, 366)
TRADES_PER_DAY = rules.bounded_int(1, 100_000_000)
SYMBOLS = rules.bounded_int(1, 10_000)
SNAPSHOT_INTERVAL_MS = rules.bounded_int(1, SECONDS_PER_DAY * 1000)
DEPTH = rules.bounded_int(5, 64)
SEED = rules.bounded_int(0, 2**32 - 1)


def exchange_name(text: str) -> str:
    if not _EXCHANGE_RE.fullmatch(text):
        raise rules.Invalid(f"{rules.shown(text)} is not an exchange name: lower-case letters, digits and '-'")
    return text


def main(argv: Sequence[str] | None = None) -> int:
    parser = Parser(
        prog="tickwh simulate",
        description="Write simulated Tardis-layout trades and book snapshots, one file pair per UTC day.",
    )
    parser.add_argument("--start", type=rules.arg(START), required=True, help="first UTC day, YYYY-MM-DD")
    parser.add_argument("--days", type=rules.arg(DAYS), default=1, help="how many days (1 to 366)")
    parser.add_argument("--out", type=rules.arg(rules.path_text), default=None,
                        help="landing folder (default: $TICKWH_LANDING_ROOT, i.e. $TICKWH_HOME/landing)")
    parser.add_argument("--trades-per-day", type=rules.arg(TRADES_PER_DAY), default=200_000)
    parser.add_argument("--symbols", type=rules.arg(SYMBOLS), default=DEFAULT_UNIVERSE_SIZE, help="universe size")
    parser.add_argument("--exchange", type=rules.arg(exchange_name), default="simex")
    parser.add_argument("--snapshot-interval-ms", type=rules.arg(SNAPSHOT_INTERVAL_MS), default=1000)
    parser.add_argument("--depth", type=rules.arg(DEPTH), default=5)
    parser.add_argument("--seed", type=rules.arg(SEED), default=7)
    args = parser.parse_args(argv)
    if args.start + timedelta(days=args.days - 1) > rules.MAX_DAY:
        parser.error(f"--start {args.start} with --days {args.days} ends after {rules.MAX_DAY}")
    from ingest.settings import Settings

    settings = Settings.from_env()
    if args.out is None:  # under the home, wherever the command runs from (never ./var in the cwd)
        args.out = settings.landing_root
    elif not any(args.out.resolve().is_relative_to(root.resolve()) for root in (settings.home, settings.landing_root)):
        parser.error(f"--out {args.out} is outside $TICKWH_HOME ({settings.home}) and the landing folder "
                     f"({settings.landing_root}): nothing is written outside them")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    specs = default_symbols(args.symbols)
    for i in range(args.days):
        started = time.perf_counter()
        result = simulate_day(
            args.start + timedelta(days=i),
            args.out,
            symbols=specs,
            exchange=args.exchange,
            trades_per_day=args.trades_per_day,
            snapshot_interval_ms=args.snapshot_interval_ms,
            depth=args.depth,
            seed=args.seed,
        )
        log.info(
            "day %s done in %.2f s: %d trades, %d snapshots",
            result.day,
            time.perf_counter() - started,
            result.trades,
            result.snapshots,
        )
    return 0


if __name__ == "__main__":
    from ingest.errors import run

    raise SystemExit(run(main))
