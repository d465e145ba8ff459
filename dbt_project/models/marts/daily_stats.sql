{{ day_partitioned_mart(['daily'], cold_time_column='bar_date',
                         post_hook=['{{ next_day_prev_close() }}', "{{ build_fence('daily_stats') }}"]) }}

{#-
    One row per (exchange, symbol, bar_date) with trades. Bar values come from ohlcv_1d,
    realized volatility from the 1m closes, the largest trade gap from the trades, and the
    spread/imbalance statistics from the book snapshots of the same UTC day (left join: a day
    with trades but no snapshots keeps its row, with snapshot_count = 0 and NULL statistics).
    The derivatives columns are left-joined the same way: the day's settled funding events
    (funding_rates, by the UTC day of funding_time), the last open interest of the day
    (open_interest_1h) and the day's liquidations by side (stg_liquidations). Without such data a
    day keeps its row with funding_event_count and the liquidation counts and notionals 0, and
    funding_rate_sum and open_interest_close NULL.
-#}

with daily as (

    -- one extra day before the window so the window's first day finds its previous close
    select *
    from {{ ref('ohlcv_1d') }}
    where {{ in_window('bar_date', lookback_days=1) }}

),

with_previous as (

    select
        today.*,
        yesterday.close as prev_close
    from daily as today
    left join daily as yesterday
        on yesterday.exchange = today.exchange
        and yesterday.symbol = today.symbol
        and yesterday.bar_date = today.bar_date - 1
    where {{ in_window('today.bar_date') }}

),

minute_returns as (

    select
        exchange,
        symbol,
        bar_date,
        bucket_start,
        ln(
            cast(close as double)
            / cast(lag(close) over (partition by exchange, symbol, bar_date order by bucket_start) as double)
        ) as log_return
    from {{ ref('ohlcv_1m') }}
    where {{ in_window('bar_date') }}

),

realized as (

    select
        exchange,
        symbol,
        bar_date,
        count(*) as minutes_with_trades,
        sqrt(sum(log_return * log_return order by bucket_start)) as realized_vol
    from minute_returns
    group by exchange, symbol, bar_date

),

-- Gaps depend on the sorted timestamps only: trades sharing a ts are 0 apart whatever their
-- tie-break order, so ordering by ts alone gives the same maximum without sorting the day's
-- trades on (order_seq, trade_id) too (about half the model's time on a 10M-trade day).
trade_gaps as (

    select
        exchange,
        symbol,
        bar_date,
        date_diff(
            'microsecond',
            lag(ts) over (partition by exchange, symbol, bar_date order by ts),
            ts
        ) / 1e6 as gap_seconds
    from {{ ref('stg_trades') }}
    where {{ in_window('bar_date') }}

),

max_gaps as (

    select
        exchange,
        symbol,
        bar_date,
        max(gap_seconds) as max_trade_gap_seconds
    from trade_gaps
    group by exchange, symbol, bar_date

),

-- Floating-point sums are ordered so a rerun gives bit-identical values (parallel aggregation
-- would otherwise add in a different order each time).
book as (

    select
        exchange,
        symbol,
        snapshot_date as bar_date,
        count(*) as snapshot_count,
        avg(spread_bps order by ts) as mean_spread_bps,
        median(spread_bps) as median_spread_bps,
        avg(top_imbalance order by ts) as mean_top_imbalance,
        avg(case when is_crossed or is_locked then 1.0 else 0.0 end) as crossed_or_locked_share
    from {{ ref('stg_book_snapshots') }}
    where {{ in_window('snapshot_date') }}
    group by exchange, symbol, snapshot_date

),

funding as (

    select
        exchange,
        symbol,
        bar_date,
        count(*) as funding_event_count,
        sum(funding_rate) as funding_rate_sum
    from {{ ref('funding_rates') }}
    where {{ in_window('bar_date') }}
    group by exchange, symbol, bar_date

),

open_interest as (

    select
        exchange,
        symbol,
        bar_date,
        arg_max(close, bucket_start) as open_interest_close
    from {{ ref('open_interest_1h') }}
    where {{ in_window('bar_date') }}
    group by exchange, symbol, bar_date

),

liquidations as (

    select
        exchange,
        symbol,
        liquidation_date as bar_date,
        count(*) filter (where side = 'buy') as buy_liquidation_count,
        count(*) filter (where side = 'sell') as sell_liquidation_count,
        coalesce(sum(notional) filter (where side = 'buy'), 0) as buy_liquidation_notional,
        coalesce(sum(notional) filter (where side = 'sell'), 0) as sell_liquidation_notional
    from {{ ref('stg_liquidations') }}
    where {{ in_window('liquidation_date') }}
    group by exchange, symbol, liquidation_date

)

select
    d.exchange,
    d.symbol,
    d.bar_date,
    d.open,
    d.high,
    d.low,
    d.close,
    d.volume,
    d.quote_volume,
    d.trade_count,
    d.vwap,
    d.buy_volume,
    d.sell_volume,
    cast(
        (d.buy_volume - d.sell_volume) / nullif(d.buy_volume + d.sell_volume, 0) as double
    ) as buy_sell_imbalance,
    cast(d.close as double) / cast(d.open as double) - 1 as return_oc,
    d.prev_close,
    cast(d.close as double) / cast(d.prev_close as double) - 1 as return_cc,
    cast(r.minutes_with_trades as bigint) as minutes_with_trades,
    r.realized_vol,
    r.realized_vol * sqrt(365) as realized_vol_annualized,
    g.max_trade_gap_seconds,
    cast(coalesce(b.snapshot_count, 0) as bigint) as snapshot_count,
    b.mean_spread_bps,
    b.median_spread_bps,
    b.mean_top_imbalance,
    cast(b.crossed_or_locked_share as double) as crossed_or_locked_share,
    cast(coalesce(f.funding_event_count, 0) as bigint) as funding_event_count,
    cast(f.funding_rate_sum as decimal(38, 24)) as funding_rate_sum,
    oi.open_interest_close,
    cast(coalesce(l.buy_liquidation_count, 0) as bigint) as buy_liquidation_count,
    cast(coalesce(l.buy_liquidation_notional, 0) as decimal(38, 20)) as buy_liquidation_notional,
    cast(coalesce(l.sell_liquidation_count, 0) as bigint) as sell_liquidation_count,
    cast(coalesce(l.sell_liquidation_notional, 0) as decimal(38, 20)) as sell_liquidation_notional

from with_previous as d
left join realized as r
    on r.exchange = d.exchange and r.symbol = d.symbol and r.bar_date = d.bar_date
left join max_gaps as g
    on g.exchange = d.exchange and g.symbol = d.symbol and g.bar_date = d.bar_date
left join book as b
    on b.exchange = d.exchange and b.symbol = d.symbol and b.bar_date = d.bar_date
left join funding as f
    on f.exchange = d.exchange and f.symbol = d.symbol and f.bar_date = d.bar_date
left join open_interest as oi
    on oi.exchange = d.exchange and oi.symbol = d.symbol and oi.bar_date = d.bar_date
left join liquidations as l
    on l.exchange = d.exchange and l.symbol = d.symbol and l.bar_date = d.bar_date
