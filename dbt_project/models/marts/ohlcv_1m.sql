{{ day_partitioned_mart(['ohlcv'], cold_time_column='bucket_start') }}

{#-
    1-minute OHLCV bars straight from the trades of the window.
    Bucket [date_trunc('minute', ts), + 1 minute), UTC: a trade at exactly hh:mm:00.000000 opens
    the hh:mm bar. Minutes without trades have no row.
    open/close: the first/last trade ordered by (ts, order_seq, trade_id), so trades in the same
    microsecond resolve deterministically by trade id.
-#}

with trades as (

    select
        *,
        date_trunc('minute', ts) as bucket_start
    from {{ ref('stg_trades') }}
    where {{ in_window('bar_date') }}

)

select
    exchange,
    symbol,
    bar_date,
    {{ bar_bounds('bucket_start', '1 minute') }},
    arg_min(price, struct_pack(ts := ts, order_seq := order_seq, trade_id := trade_id)) as open,
    max(price) as high,
    min(price) as low,
    arg_max(price, struct_pack(ts := ts, order_seq := order_seq, trade_id := trade_id)) as close,
    cast(sum(amount) as decimal(38, 12)) as volume,
    -- exact: the loader refuses trades whose notional has more than 20 decimals
    cast(sum(quote_amount) as decimal(38, 20)) as quote_volume,
    cast(count(*) as bigint) as trade_count,
    cast(cast(sum(quote_amount) as decimal(38, 20)) / nullif(sum(amount), 0) as double) as vwap,
    cast(coalesce(sum(amount) filter (where is_buy), 0) as decimal(38, 12)) as buy_volume,
    cast(coalesce(sum(amount) filter (where not is_buy), 0) as decimal(38, 12)) as sell_volume,
    min(ts) as first_trade_ts,
    max(ts) as last_trade_ts

from trades
group by exchange, symbol, bar_date, bucket_start
