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
* Quotes (Tardis ``quotes``): best bid/ask with sizes at event times drawn like the trades'
  (intensity follows the variance), from the same touch, so never crossed.
* Derivative ticker (Tardis ``derivative_ticker``, perpetual symbols only): a row per symbol every
  ``ticker_interval_s`` with index and mark prices a few bps around the path, the last trade
  price, a drifting open interest and funding: every 8 h (00/08/16 UTC), or every 4 h from
  ``funding_4h_from`` on. The rate of a funding time is a pure function of (seed, exchange,
  symbol, time), so the rate in force never changes between two funding times, across files too.
* Liquidations (Tardis ``liquidations``, perpetuals only): a sparse background plus bursts of
  liquidations seconds apart in the minutes where the price moves fastest, on the losing side.

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
from ingest.datasets import derivative_ticker as ticker_ds
from ingest.datasets import liquidations as liquidations_ds
from ingest.datasets import quotes as quotes_ds
from ingest.landing import (
    landing_file_name,
    snapshots_file_name,
    snapshots_header,
    trades_file_name,
    trades_header,
)

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
# The derivatives data set of issue 23, in Tardis.dev's layouts (docs/contracts.md).
QUOTES = quotes_ds.DATASET.family
DERIVATIVE_TICKER = ticker_ds.DATASET.family
LIQUIDATIONS = liquidations_ds.DATASET.family
QUOTES_HEADER = ",".join(quotes_ds.HEADER)
TICKER_HEADER = ",".join(ticker_ds.HEADER)
LIQUIDATIONS_HEADER = ",".join(liquidations_ds.HEADER)
# Venue conventions, fixed so that a demo shows both kinds: `simulate_days` and `tickwh simulate`
# switch this exchange's funding from every 8 h to every 4 h on the second day of the range, and
# this exchange's liquidation feed carries no ids (like Binance's); the others send string ids.
FUNDING_SWITCH_EXCHANGE = "simex"
NO_LIQUIDATION_IDS = frozenset({"simdex"})

# Stream ids mixed into the RNG seed. Separate streams keep the parts independent: changing
# the snapshot cadence must not change the trades, adding a symbol must not change the others.
_STREAM_MARKET = 1
_STREAM_PATH = 2
_STREAM_TRADES = 3
_STREAM_BOOK = 4
_STREAM_DAILY = 5
_STREAM_QUOTES = 6
_STREAM_TICKER = 7
_STREAM_LIQUIDATIONS = 8
_STREAM_FUNDING = 9  # keyed without the day: funding and open interest run on across days

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

# Derivatives.
_FUNDING_HOURS = 8
_FUNDING_UNITS = 10**8  # funding rates are drawn in 1e-8 (Binance's precision) ...
_FUNDING_AVERAGED_P = 0.25  # ... and this share are means of k samples, printed to 20 decimals
_FUNDING_AVERAGED_DECIMALS = 20
_FUNDING_EMPTY_P = 0.03  # rows without the funding fields
_OPEN_INTEREST_EMPTY_P = 0.04  # rows without open interest
_PRICE_EXTRA_DECIMALS = 2  # index and mark prices carry two decimals more than the tick (max 12)
_LIQ_BACKGROUND = 4.0  # background liquidations a day, plus 20 x weight
_LIQ_BURST_GAP_S = 0.4  # mean gap between the liquidations of one burst
_LIQ_BURST_TOP_MINUTES = 10  # bursts start in the day's fastest minutes

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
    perpetual: bool = True  # a perpetual swap: has a derivative ticker (funding) and liquidations

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
    SymbolSpec("BTCIDR", 1_550_000_000.0, 1.0, 0.00000001, 0.030, 0.50, median_notional=5_000_000.0,
               perpetual=False),
    # A contract-count future: integer contracts, half-dollar ticks.
    SymbolSpec("BTCUSD-PERP", 95_000.0, 0.5, 1.0, 0.030, 0.50, median_notional=9_500_000.0),
    # A token with 12-decimal amounts and 8-decimal prices: 20 decimals of notional, the limit.
    SymbolSpec("WETHUSDC", 3_000.0, 0.00000001, 0.000000000001, 0.035, 0.40, median_notional=1_000.0,
               perpetual=False),
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
    # The derivatives data set; a path is None (and its count 0) when that type was turned off.
    quotes_path: Path | None = None
    ticker_path: Path | None = None
    liquidations_path: Path | None = None
    quotes: int = 0
    ticker_rows: int = 0
    liquidations: int = 0


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


@dataclass
class _SymbolQuotes:
    ts: np.ndarray  # microseconds into the day, non-decreasing
    latency: np.ndarray
    bid_ticks: np.ndarray
    ask_ticks: np.ndarray
    bid_lots: np.ndarray
    ask_lots: np.ndarray


def _symbol_quotes(spec: SymbolSpec, path: _Path, rng: np.random.Generator, n: int) -> _SymbolQuotes:
    """Best bid/ask updates: arrivals like the trades' (variance-driven), prices from the same touch."""
    intensity = path.vol * path.vol
    counts = rng.multinomial(n, intensity / intensity.sum())
    sec = np.repeat(np.arange(SECONDS_PER_DAY, dtype=np.int64), counts)
    ts = sec * US_PER_SECOND + rng.integers(0, US_PER_SECOND, n)
    ts.sort()
    bid, ask = _touch(path, ts, spec.tick_size)
    scale = 3.0 * _median_lots(spec)

    def sizes() -> np.ndarray:
        return np.clip(np.rint(scale * np.exp(_BOOK_SIZE_SIGMA * rng.standard_normal(n))), 1, _max_lots(spec))

    bid_lots, ask_lots = sizes().astype(np.int64), sizes().astype(np.int64)
    return _SymbolQuotes(ts, _latency(rng, n), bid, ask, bid_lots, ask_lots)


# -- funding -------------------------------------------------------------------------------------


def _funding_hours(day: date, switch: date | None) -> int:
    """Hours between the funding times of ``day``: 8, or 4 from the switch day on."""
    return 4 if switch is not None and day >= switch else _FUNDING_HOURS


def _funding_schedule(day: date, switch: date | None) -> np.ndarray:
    """The funding times (microseconds since the epoch) in ``(day 00:00, day + 1 00:00]``.

    The half-open interval is the one whose rows point at these times: a ticker row at ``ts``
    carries the first funding time strictly after ``ts``, so the last rows of a day point at
    the next midnight (a funding time on every schedule).
    """
    start = (day - EPOCH).days * US_PER_DAY
    step = _funding_hours(day, switch) * 3600 * US_PER_SECOND
    return start + np.arange(step, US_PER_DAY + 1, step, dtype=np.int64)


def _funding_interval_hours(t_us: int, switch: date | None) -> int:
    """Hours since the previous funding time: midnight closes the previous day's last interval."""
    day = EPOCH + timedelta(days=t_us // US_PER_DAY)
    return _funding_hours(day - timedelta(days=1) if t_us % US_PER_DAY == 0 else day, switch)


@lru_cache(maxsize=4096)
def _funding_phases(seed: int, exchange_key: int, symbol_key: int) -> tuple[float, ...]:
    return tuple(_rng(seed, exchange_key, symbol_key, _STREAM_FUNDING).uniform(0.0, 2.0 * math.pi, 6).tolist())


def _funding_level(phases: Sequence[float], t_s: np.ndarray | float) -> np.ndarray | float:
    """The 8 h funding rate's slow part, in 1e-8 per 8 h, at absolute time ``t_s`` (seconds)."""
    day_s = float(SECONDS_PER_DAY)
    return (
        9_000.0
        + 7_000.0 * np.sin(2.0 * math.pi * t_s / (9.3 * day_s) + phases[0])
        + 3_500.0 * np.sin(2.0 * math.pi * t_s / (2.1 * day_s) + phases[1])
    )


def _decimal_text(value: Decimal) -> str:
    """The shortest exact decimal text (no exponent, no trailing zeros)."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def _funding_rate(
    seed: int, exchange_key: int, symbol_key: int, t_us: int, switch: date | None
) -> tuple[str, float]:
    """The rate settled at funding time ``t_us`` (exact text) and its 8 h equivalent (float).

    A pure function of (seed, exchange, symbol, time, schedule), drawn from its own stream, so
    the days before and after a funding time agree on its rate. Most rates have Binance's 8
    decimals (scaled to the interval: a 4 h rate is half an 8 h one); a share are the mean of k
    premium samples, printed rounded to 20 decimals (``0.00004405208333333333``-like text).
    """
    hours = _funding_interval_hours(t_us, switch)
    t_s = t_us // US_PER_SECOND
    rng = _rng(seed, exchange_key, symbol_key, _STREAM_FUNDING, 1, t_s)
    units = int(round(float(_funding_level(_funding_phases(seed, exchange_key, symbol_key), t_s))
                      + 1_500.0 * float(rng.standard_normal())))
    if rng.random() < _FUNDING_AVERAGED_P:
        k = int(rng.choice([3, 12, 96]))
        total = k * units + int(np.rint(800.0 * rng.standard_normal(k)).sum())
        rate = (Decimal(total * hours) / Decimal(k * _FUNDING_HOURS * _FUNDING_UNITS)).quantize(
            Decimal(1).scaleb(-_FUNDING_AVERAGED_DECIMALS)
        )
    else:
        rate = Decimal(units * hours) / Decimal(_FUNDING_HOURS * _FUNDING_UNITS)
    return _decimal_text(rate), float(rate) * _FUNDING_HOURS / hours


def _format_rate_units(units: np.ndarray) -> pa.Array:
    """Signed integers in 1e-8 -> the shortest exact decimal text ("-0.00012", "0.0001", "0")."""
    decimals = 8
    text = _format_units(np.abs(units), decimals)
    text = pc.utf8_rtrim(pc.utf8_rtrim(text, "0"), ".")  # there is always a point: never trims "10" to "1"
    return pc.if_else(pa.array(units < 0), pc.utf8_replace_slice(text, 0, 0, "-"), text)


@dataclass
class _SymbolTicker:
    ts: np.ndarray
    latency: np.ndarray
    funding_ts: np.ndarray  # -1: empty
    rate_index: np.ndarray  # into the day's funding rate texts; -1: empty
    predicted_units: np.ndarray  # 1e-8
    open_interest_lots: np.ndarray  # -1: empty
    last_ticks: np.ndarray  # -1: no trade yet today
    index_units: np.ndarray  # fine price grid
    mark_units: np.ndarray


def _ticker_times(ctx: _DayContext, spec: SymbolSpec, interval_us: int) -> np.ndarray:
    """Row times of the symbol's ticker (microseconds into the day): the grid plus a jitter."""
    rng = _rng(ctx.seed, ctx.exchange_key, ctx.day.toordinal(), _key(spec.symbol), _STREAM_TICKER, 0)
    grid = np.arange(0, US_PER_DAY, interval_us, dtype=np.int64)
    return grid + rng.integers(0, min(interval_us, US_PER_SECOND), grid.size)


def _price_decimals(spec: SymbolSpec) -> int:
    return min(MAX_DECIMALS, _decimal_step(spec.tick_size, "tick")[1] + _PRICE_EXTRA_DECIMALS)


def _symbol_ticker(
    ctx: _DayContext,
    spec: SymbolSpec,
    path: _Path,
    ts: np.ndarray,
    last_ticks: np.ndarray,
    switch: date | None,
    rates: list[str],
) -> _SymbolTicker:
    n = ts.size
    rng = _rng(ctx.seed, ctx.exchange_key, ctx.day.toordinal(), _key(spec.symbol), _STREAM_TICKER, 1)
    symbol_key = _key(spec.symbol)
    phases = _funding_phases(ctx.seed, ctx.exchange_key, symbol_key)
    # Funding: each row points at the next funding time; its rate is fixed per funding time.
    schedule = _funding_schedule(ctx.day, switch)
    stamp = ts + ctx.day_start_us
    slot = np.searchsorted(schedule, stamp, side="right")
    following = _funding_schedule(ctx.day + timedelta(days=1), switch)[0]  # the time after the last one
    events = [*schedule.tolist(), int(following)]
    settled = [_funding_rate(ctx.seed, ctx.exchange_key, symbol_key, t, switch) for t in events]
    rate_index = len(rates) + slot
    rates.extend(text for text, _ in settled[:-1])
    rate8 = np.array([r for _, r in settled])
    funding_ts = schedule[slot]
    # The prediction for the funding after that one converges on its settled rate as the
    # funding time nears (in 1e-8, scaled to that interval's length).
    hours_next = np.array([_funding_interval_hours(t, switch) for t in events[1:]], dtype=np.float64)
    target = rate8[slot + 1] * _FUNDING_UNITS * hours_next[slot] / _FUNDING_HOURS
    remaining = (funding_ts - stamp) / (_funding_hours(ctx.day, switch) * 3600.0 * US_PER_SECOND)
    predicted = np.rint(target + 2_000.0 * remaining * rng.standard_normal(n)).astype(np.int64)
    no_funding = rng.random(n) < _FUNDING_EMPTY_P
    funding_ts = np.where(no_funding, -1, funding_ts)
    rate_index = np.where(no_funding, -1, rate_index)
    # Index: the path's mid with a little noise; mark: the index plus a basis of a few bps that
    # leans with the funding rate (a rich perpetual pays funding).
    sec = ts // US_PER_SECOND
    frac = (ts - sec * US_PER_SECOND) * (1.0 / US_PER_SECOND)
    lo = path.log_mid[sec]
    mid = np.clip(np.exp(lo + frac * (path.log_mid[sec + 1] - lo)), path.floor_ticks * spec.tick_size, MAX_PRICE / 2)
    index = mid * np.exp(0.3e-4 * rng.standard_normal(n))
    t_s = stamp / US_PER_SECOND
    basis = 1e4 * rate8[slot] + 2.5 * np.sin(2.0 * math.pi * t_s / 7_200.0 + phases[2]) + 0.4 * rng.standard_normal(n)
    scale = 10.0 ** _price_decimals(spec)
    index_units = np.rint(index * scale).astype(np.int64)
    mark_units = np.maximum(np.rint(index * (1.0 + 1e-4 * basis) * scale).astype(np.int64), 1)
    # Open interest drifts slowly around a level set by the symbol's activity (in lots).
    lot = spec.lot_size
    base = min(_median_lots(spec) * 2e6, MAX_AMOUNT / lot / 4)
    level = 1.0 + 0.25 * np.sin(2.0 * math.pi * t_s / (5.7 * SECONDS_PER_DAY) + phases[3])
    level += 0.10 * np.sin(2.0 * math.pi * t_s / (0.77 * SECONDS_PER_DAY) + phases[4])
    oi = np.maximum(np.rint(base * level * (1.0 + 0.002 * rng.standard_normal(n))), 0).astype(np.int64)
    oi = np.where(rng.random(n) < _OPEN_INTEREST_EMPTY_P, -1, oi)
    return _SymbolTicker(
        ts, _latency(rng, n), funding_ts, rate_index, predicted, oi, last_ticks, index_units, mark_units
    )


# -- liquidations --------------------------------------------------------------------------------


@dataclass
class _SymbolLiquidations:
    ts: np.ndarray
    latency: np.ndarray
    buy: np.ndarray  # True: a short was liquidated (a buy order)
    price_ticks: np.ndarray
    lots: np.ndarray
    ids: list[str] | None


def _symbol_liquidations(
    spec: SymbolSpec, path: _Path, rng: np.random.Generator, with_ids: bool
) -> _SymbolLiquidations:
    """A sparse background plus 1-3 bursts (liquidations a fraction of a second apart) that start in
    the day's fastest-moving minutes; a falling price liquidates longs (sells), a rising one shorts."""
    intensity = path.vol * path.vol * np.abs(path.shock)
    n_background = int(rng.poisson(_LIQ_BACKGROUND + 20.0 * min(spec.weight, 1.0)))
    sec = rng.choice(SECONDS_PER_DAY, n_background, p=intensity / intensity.sum())
    ts_parts = [sec * US_PER_SECOND + rng.integers(0, US_PER_SECOND, n_background)]
    buy_parts = [rng.random(n_background) < 0.5 + _SIDE_LEAN * np.tanh(path.shock[sec])]
    minute_move = path.log_mid[60::60] - path.log_mid[:-60:60]
    fastest = np.argsort(-np.abs(minute_move), kind="stable")[:_LIQ_BURST_TOP_MINUTES]
    n_bursts = min(1 + int(rng.poisson(0.5)), fastest.size)
    for minute in rng.choice(fastest, n_bursts, replace=False).tolist():
        m = 6 + int(rng.poisson(12.0))
        start = minute * 60 * US_PER_SECOND + int(rng.integers(0, 60 * US_PER_SECOND))
        # >= 1 us apart: an id-less feed has nothing else to tell two liquidations apart.
        gaps = np.maximum(np.rint(rng.exponential(_LIQ_BURST_GAP_S * US_PER_SECOND, m)).astype(np.int64), 1)
        ts_parts.append(np.minimum(start + np.cumsum(gaps), US_PER_DAY - 1))
        up = minute_move[minute] > 0
        buy_parts.append(np.where(rng.random(m) < 0.9, up, not up))
    ts, buy = np.concatenate(ts_parts), np.concatenate(buy_parts)
    order = np.argsort(ts, kind="stable")
    ts, buy = ts[order], buy[order]
    n = ts.size
    bid, ask = _touch(path, ts, spec.tick_size)
    walk = rng.integers(0, 4, n)
    price = np.where(buy, ask + walk, bid - walk)
    x = 4.0 * _median_lots(spec) * np.exp(1.3 * rng.standard_normal(n))
    lots = np.clip(np.rint(x), 1, _max_lots(spec)).astype(np.int64)
    ids = None
    if with_ids:  # UUID-like order ids, as BitMEX sends
        words = rng.integers(0, 2**63, (n, 2), dtype=np.int64).tolist()
        ids = []
        for a, b in words:
            h = f"{a:016x}{b:016x}"
            ids.append(f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}")
    return _SymbolLiquidations(ts, _latency(rng, n), buy, price, lots, ids)


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


def _write_trades(
    ctx: _DayContext,
    out_path: Path,
    counts: np.ndarray,
    depth: int,
    pool: ThreadPoolExecutor,
    last_trade: tuple[list[np.ndarray | None], Future[list[np.ndarray | None]]] | None = None,
) -> int:
    """Write the trades; ``last_trade`` (times per symbol, a future) receives the last trade price
    (ticks, -1 before the day's first trade) at each of those times, as soon as the tape exists."""
    started = time.perf_counter()
    day_index = (ctx.day - EPOCH).days
    pieces: list[_SymbolTrades] = []
    try:
        for spec, path, n in zip(ctx.symbols, ctx.paths, counts.tolist(), strict=True):
            rng = _rng(ctx.seed, ctx.exchange_key, ctx.day.toordinal(), _key(spec.symbol), _STREAM_TRADES)
            pieces.append(_symbol_trades(spec, path, rng, n, depth))
        if last_trade is not None:
            last: list[np.ndarray | None] = []
            for p, at in zip(pieces, last_trade[0], strict=True):
                if at is None:
                    last.append(None)
                    continue
                i = np.searchsorted(p.ts, at, side="right") - 1
                last.append(np.where(i >= 0, p.price_ticks[np.maximum(i, 0)] if p.ts.size else -1, -1))
            last_trade[1].set_result(last)
    except BaseException as exc:
        if last_trade is not None and not last_trade[1].done():
            last_trade[1].set_exception(exc)
        raise
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


def _write_quotes(ctx: _DayContext, out_path: Path, counts: np.ndarray, pool: ThreadPoolExecutor) -> int:
    started = time.perf_counter()
    pieces: list[_SymbolQuotes] = []
    for spec, path, n in zip(ctx.symbols, ctx.paths, counts.tolist(), strict=True):
        rng = _rng(ctx.seed, ctx.exchange_key, ctx.day.toordinal(), _key(spec.symbol), _STREAM_QUOTES)
        pieces.append(_symbol_quotes(spec, path, rng, n))
    n_total = int(counts.sum())
    ts = np.concatenate([p.ts for p in pieces])
    order = np.argsort(ts, kind="stable")
    latency = np.concatenate([p.latency for p in pieces])
    symbol = np.repeat(np.arange(len(pieces), dtype=np.int32), counts)
    prices, amounts = _StringPool(), _StringPool()
    columns = {}
    for name, pool_, attr, step in (
        ("ask_amount", amounts, "ask_lots", "lot_size"),
        ("ask_price", prices, "ask_ticks", "tick_size"),
        ("bid_price", prices, "bid_ticks", "tick_size"),
        ("bid_amount", amounts, "bid_lots", "lot_size"),
    ):
        columns[name] = np.concatenate(
            [
                pool_.add(getattr(p, attr), _decimal_step(getattr(s, step), step))
                for p, s in zip(pieces, ctx.symbols, strict=True)
            ]
        )
    del pieces
    price_text, amount_text = prices.array(), amounts.array()
    names = [s.symbol for s in ctx.symbols]

    def batch(a: int, b: int) -> pa.Table:
        rows = order[a:b]
        stamp = ts[rows] + ctx.day_start_us
        data = {
            "exchange": _repeat([ctx.exchange], np.zeros(b - a, np.int8)),
            "symbol": _repeat(names, symbol[rows]),
            "timestamp": pa.array(stamp),
            "local_timestamp": pa.array(stamp + latency[rows]),
        }
        for name, index in columns.items():
            data[name] = pc.take(amount_text if name.endswith("amount") else price_text, pa.array(index[rows]))
        return pa.table(data)

    size = _write_csv_gz(out_path, QUOTES_HEADER, n_total, batch, pool)
    log.info("wrote %s: %d quotes, %.1f MB, %.2f s", out_path.name, n_total, size / 1e6, time.perf_counter() - started)
    return n_total


def _take_or_null(text: pa.Array, index: np.ndarray) -> pa.Array:
    """``text[index]`` with an empty field (null) where ``index`` is -1."""
    return pc.take(text, pa.array(np.maximum(index, 0), mask=index < 0))


def _write_ticker(
    ctx: _DayContext,
    out_path: Path,
    times: list[np.ndarray | None],
    last_trade: Future[list[np.ndarray | None]],
    switch: date | None,
    pool: ThreadPoolExecutor,
) -> int:
    started = time.perf_counter()
    rates: list[str] = []
    pieces: list[_SymbolTicker] = []
    sym: list[int] = []
    last = last_trade.result()  # the trade tape is drawn first (not written): last_price needs it
    for i, (spec, path, ts) in enumerate(zip(ctx.symbols, ctx.paths, times, strict=True)):
        if ts is None:
            continue
        lt = last[i]
        assert lt is not None
        pieces.append(_symbol_ticker(ctx, spec, path, ts, lt, switch, rates))
        sym.append(i)
    lengths = [p.ts.size for p in pieces]
    n_total = sum(lengths)
    if not pieces:
        ts = latency = funding_ts = np.zeros(0, np.int64)
    else:
        ts = np.concatenate([p.ts for p in pieces])
        latency = np.concatenate([p.latency for p in pieces])
        funding_ts = np.concatenate([p.funding_ts for p in pieces])
    order = np.argsort(ts, kind="stable")  # ties keep symbol order
    symbol = np.repeat(np.asarray(sym, dtype=np.int32), lengths)
    rate_index = np.concatenate([p.rate_index for p in pieces]) if pieces else ts
    predicted = np.concatenate([p.predicted_units for p in pieces]) if pieces else ts
    prices, amounts = _StringPool(), _StringPool()

    def pooled(pool_: _StringPool, attr: str, step: str) -> np.ndarray:
        """Text-table indices of one value column, -1 where the value is empty (< 0)."""
        parts = [np.zeros(0, np.int64)]
        for p, i in zip(pieces, sym, strict=True):
            spec = ctx.symbols[i]
            grid = {
                "lot": _decimal_step(spec.lot_size, "lot"),
                "tick": _decimal_step(spec.tick_size, "tick"),
                "fine": (1, _price_decimals(spec)),
            }[step]
            values = getattr(p, attr)
            parts.append(np.where(values < 0, -1, pool_.add(np.maximum(values, 0), grid)))
        return np.concatenate(parts)

    oi_index = pooled(amounts, "open_interest_lots", "lot")
    last_index = pooled(prices, "last_ticks", "tick")
    index_index = pooled(prices, "index_units", "fine")
    mark_index = pooled(prices, "mark_units", "fine")
    price_text, amount_text = prices.array(), amounts.array()
    rate_text = pa.array(rates, pa.string())
    names = [s.symbol for s in ctx.symbols]

    def batch(a: int, b: int) -> pa.Table:
        rows = order[a:b]
        stamp = ts[rows] + ctx.day_start_us
        empty = funding_ts[rows] < 0
        return pa.table(
            {
                "exchange": _repeat([ctx.exchange], np.zeros(b - a, np.int8)),
                "symbol": _repeat(names, symbol[rows]),
                "timestamp": pa.array(stamp),
                "local_timestamp": pa.array(stamp + latency[rows]),
                "funding_timestamp": pa.array(funding_ts[rows], mask=empty),
                "funding_rate": _take_or_null(rate_text, rate_index[rows]),
                "predicted_funding_rate": pc.if_else(
                    pa.array(empty), pa.scalar(None, pa.string()), _format_rate_units(predicted[rows])
                ),
                "open_interest": _take_or_null(amount_text, oi_index[rows]),
                "last_price": _take_or_null(price_text, last_index[rows]),
                "index_price": _take_or_null(price_text, index_index[rows]),
                "mark_price": _take_or_null(price_text, mark_index[rows]),
            }
        )

    size = _write_csv_gz(out_path, TICKER_HEADER, n_total, batch, pool)
    log.info(
        "wrote %s: %d ticker rows, %.1f MB, %.2f s", out_path.name, n_total, size / 1e6, time.perf_counter() - started
    )
    return n_total


def _write_liquidations(ctx: _DayContext, out_path: Path, with_ids: bool, pool: ThreadPoolExecutor) -> int:
    started = time.perf_counter()
    pieces: list[_SymbolLiquidations] = []
    sym: list[int] = []
    for i, (spec, path) in enumerate(zip(ctx.symbols, ctx.paths, strict=True)):
        if spec.perpetual:
            rng = _rng(ctx.seed, ctx.exchange_key, ctx.day.toordinal(), _key(spec.symbol), _STREAM_LIQUIDATIONS)
            pieces.append(_symbol_liquidations(spec, path, rng, with_ids))
            sym.append(i)
    lengths = [p.ts.size for p in pieces]
    n_total = sum(lengths)
    cat = (lambda parts: np.concatenate(parts)) if pieces else (lambda parts: np.zeros(0, np.int64))
    ts = cat([p.ts for p in pieces])
    order = np.argsort(ts, kind="stable")
    latency = cat([p.latency for p in pieces])
    side = cat([~p.buy for p in pieces]).astype(np.int8)
    symbol = np.repeat(np.asarray(sym, dtype=np.int32), lengths)
    prices, amounts = _StringPool(), _StringPool()
    specs = [ctx.symbols[i] for i in sym]
    price_index = cat(
        [prices.add(p.price_ticks, _decimal_step(s.tick_size, "tick")) for p, s in zip(pieces, specs, strict=True)]
    )
    amount_index = cat(
        [amounts.add(p.lots, _decimal_step(s.lot_size, "lot")) for p, s in zip(pieces, specs, strict=True)]
    )
    ids = pa.array([x for p in pieces for x in (p.ids or [None] * p.ts.size)], pa.string())
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
                "id": pc.take(ids, pa.array(rows)),
                "side": _repeat(["buy", "sell"], side[rows]),
                "price": pc.take(price_text, pa.array(price_index[rows])),
                "amount": pc.take(amount_text, pa.array(amount_index[rows])),
            }
        )

    size = _write_csv_gz(out_path, LIQUIDATIONS_HEADER, n_total, batch, pool)
    log.info(
        "wrote %s: %d liquidations, %.1f MB, %.2f s", out_path.name, n_total, size / 1e6, time.perf_counter() - started
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
    quotes: bool = True,
    derivative_ticker: bool = True,
    liquidations: bool = True,
    quotes_per_day: int | None = None,
    ticker_interval_s: int = 60,
    funding_4h_from: date | None = None,
    liquidation_ids: bool | None = None,
) -> SimulatedDay:
    """Write one UTC day of trades and book snapshots for ``exchange`` into ``out_dir``, and
    (each can be turned off) its quotes, derivative ticker and liquidations.

    Output is a pure function of the arguments (byte-identical on rerun). Trade counts per
    symbol are ``trades_per_day`` split exactly by weight, which is what lets trade ids run
    on contiguously from one day to the next while the universe and volume stay the same.
    The new types never change the trades or the book files. ``quotes_per_day`` defaults to
    ``trades_per_day``; the ticker has a row per perpetual symbol every ``ticker_interval_s``;
    funding is every 8 h, every 4 h on days from ``funding_4h_from`` on; liquidation ids are
    sent unless the exchange is in ``NO_LIQUIDATION_IDS`` (``liquidation_ids`` overrides).
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
    if quotes_per_day is not None and quotes_per_day < 0:
        raise ValueError("quotes_per_day must be >= 0")
    if not 1 <= ticker_interval_s <= SECONDS_PER_DAY:
        raise ValueError("ticker_interval_s must be between 1 and 86400")
    if isinstance(funding_4h_from, datetime):
        funding_4h_from = funding_4h_from.date()
    if funding_4h_from is not None and not isinstance(funding_4h_from, date):
        raise ValueError(f"funding_4h_from must be a date or None, got {funding_4h_from!r}")
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
    quotes_path = out_dir / landing_file_name(exchange, QUOTES, day) if quotes else None
    ticker_path = out_dir / landing_file_name(exchange, DERIVATIVE_TICKER, day) if derivative_ticker else None
    liquidations_path = out_dir / landing_file_name(exchange, LIQUIDATIONS, day) if liquidations else None
    with_ids = exchange not in NO_LIQUIDATION_IDS if liquidation_ids is None else liquidation_ids
    last_trade: tuple[list[np.ndarray | None], Future[list[np.ndarray | None]]] | None = None
    if ticker_path is not None:
        interval_us = ticker_interval_s * US_PER_SECOND
        times = [_ticker_times(ctx, s, interval_us) if s.perpetual else None for s in specs]
        last_trade = (times, Future())
    # The files are independent (but for the ticker's last trade price), so each gets a thread;
    # all feed one pool of gzip workers. numpy, Arrow and zlib release the GIL for their heavy
    # parts, so this keeps every core busy however lopsided the files are.
    workers = max(2, min(8, os.cpu_count() or 2))
    with ThreadPoolExecutor(workers, "gzip") as gzip_pool, ThreadPoolExecutor(5, "file") as files:
        trades_job = files.submit(_write_trades, ctx, trades_path, counts, depth, gzip_pool, last_trade)
        snaps_job = files.submit(_write_snapshots, ctx, snapshots_path, snapshot_interval_ms * 1000, depth, gzip_pool)
        quotes_job = ticker_job = liquidations_job = None
        if quotes_path is not None:
            per_day = trades_per_day if quotes_per_day is None else quotes_per_day
            quote_counts = _allocate(per_day, [s.weight for s in specs])
            quotes_job = files.submit(_write_quotes, ctx, quotes_path, quote_counts, gzip_pool)
        if ticker_path is not None and last_trade is not None:
            ticker_job = files.submit(_write_ticker, ctx, ticker_path, last_trade[0], last_trade[1],
                                      funding_4h_from, gzip_pool)
        if liquidations_path is not None:
            liquidations_job = files.submit(_write_liquidations, ctx, liquidations_path, with_ids, gzip_pool)
        n_trades, n_snaps = trades_job.result(), snaps_job.result()
        n_quotes, n_ticker, n_liquidations = (0 if j is None else j.result()
                                              for j in (quotes_job, ticker_job, liquidations_job))
    return SimulatedDay(
        day=day,
        exchange=exchange,
        trades_path=trades_path,
        snapshots_path=snapshots_path,
        trades=n_trades,
        snapshots=n_snaps,
        trades_per_symbol={s.symbol: int(c) for s, c in zip(specs, counts.tolist(), strict=True)},
        quotes_path=quotes_path,
        ticker_path=ticker_path,
        liquidations_path=liquidations_path,
        quotes=n_quotes,
        ticker_rows=n_ticker,
        liquidations=n_liquidations,
    )


def funding_switch_day(exchange: str, start: date, days: int) -> date | None:
    """The day ``FUNDING_SWITCH_EXCHANGE`` starts funding every 4 h in a run of ``days`` days from
    ``start``: the run's second day (None for other exchanges and one-day runs)."""
    return start + timedelta(days=1) if exchange == FUNDING_SWITCH_EXCHANGE and days >= 2 else None


def simulate_days(start: date, days: int, out_dir: Path, **kw: Any) -> list[SimulatedDay]:
    """``simulate_day`` for ``days`` consecutive days from ``start``; same keyword arguments.

    Unless ``funding_4h_from`` is given, it is ``funding_switch_day(exchange, start, days)``: the
    exchange ``FUNDING_SWITCH_EXCHANGE`` funds every 8 h on the first day, every 4 h from the second.
    """
    if "funding_4h_from" not in kw:
        kw["funding_4h_from"] = funding_switch_day(kw.get("exchange", "simex"), start, days)
    return [simulate_day(start + timedelta(days=i), out_dir, **kw) for i in range(days)]


# The bounds of `tickwh simulate` and `tickwh demo` (the demo simulates through the same rules).
START = rules.days_between(EPOCH, rules.MAX_DAY)  # timestamps count from the epoch
DAYS = rules.bounded_int(1, 366)
TRADES_PER_DAY = rules.bounded_int(1, 100_000_000)
SYMBOLS = rules.bounded_int(1, 10_000)
SNAPSHOT_INTERVAL_MS = rules.bounded_int(1, SECONDS_PER_DAY * 1000)
DEPTH = rules.bounded_int(5, 64)
SEED = rules.bounded_int(0, 2**32 - 1)
QUOTES_PER_DAY = rules.bounded_int(0, 100_000_000)
TICKER_INTERVAL_S = rules.bounded_int(1, SECONDS_PER_DAY)


def exchange_name(text: str) -> str:
    if not _EXCHANGE_RE.fullmatch(text):
        raise rules.Invalid(f"{rules.shown(text)} is not an exchange name: lower-case letters, digits and '-'")
    return text


def main(argv: Sequence[str] | None = None) -> int:
    parser = Parser(
        prog="tickwh simulate",
        description="Write simulated Tardis-layout trades, book snapshots, quotes, derivative ticker and "
        "liquidations, one file of each per UTC day.",
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
    parser.add_argument("--quotes-per-day", type=rules.arg(QUOTES_PER_DAY), default=None,
                        help="best bid/ask updates a day (default: as many as trades)")
    parser.add_argument("--ticker-interval-s", type=rules.arg(TICKER_INTERVAL_S), default=60,
                        help="seconds between derivative ticker rows of a perpetual (default 60)")
    parser.add_argument("--no-quotes", dest="quotes", action="store_false", help="write no quotes files")
    parser.add_argument("--no-derivative-ticker", dest="derivative_ticker", action="store_false",
                        help="write no derivative_ticker files (funding, open interest, mark and index prices)")
    parser.add_argument("--no-liquidations", dest="liquidations", action="store_false",
                        help="write no liquidations files")
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
            quotes=args.quotes,
            derivative_ticker=args.derivative_ticker,
            liquidations=args.liquidations,
            quotes_per_day=args.quotes_per_day,
            ticker_interval_s=args.ticker_interval_s,
            funding_4h_from=funding_switch_day(args.exchange, args.start, args.days),
        )
        log.info(
            "day %s done in %.2f s: %d trades, %d snapshots, %d quotes, %d ticker rows, %d liquidations",
            result.day,
            time.perf_counter() - started,
            result.trades,
            result.snapshots,
            result.quotes,
            result.ticker_rows,
            result.liquidations,
        )
    return 0


if __name__ == "__main__":
    from ingest.errors import run

    raise SystemExit(run(main))
