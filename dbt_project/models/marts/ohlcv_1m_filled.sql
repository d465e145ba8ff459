{{ day_partitioned_mart(['ohlcv']) }}

{#-
    1-minute bars gap-filled the way exchanges publish klines (Binance: a minute without trades
    has volume 0, trade count 0 and open = high = low = close = the previous close).

    Span: every minute from the first to the last traded minute of each (exchange, symbol,
    bar_date). Not the full UTC day: minutes before the day's first trade would need the
    previous day's close, which a one-day window does not read, and minutes after the last
    trade of a partial (cut-off) file would invent a flat tail. Traded minutes are the rows of
    ohlcv_1m unchanged; filled minutes have is_filled = true, zero volumes and NULL
    vwap / first_trade_ts / last_trade_ts.
-#}

with bars as (

    select *
    from {{ ref('ohlcv_1m') }}
    where {{ in_window('bar_date') }}

),

spans as (

    select exchange, symbol, bar_date, min(bucket_start) as first_minute, max(bucket_start) as last_minute
    from bars
    group by exchange, symbol, bar_date

),

grid as (

    select
        spans.exchange,
        spans.symbol,
        spans.bar_date,
        unnest(generate_series(spans.first_minute, spans.last_minute, interval '1 minute')) as bucket_start
    from spans

),

joined as (

    select
        grid.exchange,
        grid.symbol,
        grid.bar_date,
        grid.bucket_start,
        bars.open,
        bars.high,
        bars.low,
        bars.close,
        bars.volume,
        bars.quote_volume,
        bars.trade_count,
        bars.vwap,
        bars.buy_volume,
        bars.sell_volume,
        bars.first_trade_ts,
        bars.last_trade_ts,
        -- the last close at or before this minute (the first minute of a span always traded)
        last_value(bars.close ignore nulls) over (
            partition by grid.exchange, grid.symbol, grid.bar_date
            order by grid.bucket_start
            rows between unbounded preceding and current row
        ) as carried_close
    from grid
    left join bars
        on bars.exchange = grid.exchange
        and bars.symbol = grid.symbol
        and bars.bucket_start = grid.bucket_start

)

select
    exchange,
    symbol,
    bar_date,
    {{ bar_bounds('bucket_start', '1 minute') }},
    coalesce(open, carried_close) as open,
    coalesce(high, carried_close) as high,
    coalesce(low, carried_close) as low,
    coalesce(close, carried_close) as close,
    coalesce(volume, cast(0 as decimal(38, 12))) as volume,
    coalesce(quote_volume, cast(0 as decimal(38, 20))) as quote_volume,
    coalesce(trade_count, cast(0 as bigint)) as trade_count,
    vwap,
    coalesce(buy_volume, cast(0 as decimal(38, 12))) as buy_volume,
    coalesce(sell_volume, cast(0 as decimal(38, 12))) as sell_volume,
    first_trade_ts,
    last_trade_ts,
    trade_count is null as is_filled

from joined
