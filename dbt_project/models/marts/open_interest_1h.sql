{{ day_partitioned_mart(['derivatives'], cold_time_column='bucket_start') }}

{#-
    Hourly open interest bars from the ticker rows that carry an open interest, per (exchange,
    symbol, hour) UTC: open = the first value of the hour, close = the last (ticker_order, then
    the larger value), high/low = max/min, exact DECIMAL(28,12) as loaded. Hours without an
    open interest value have no row (not filled).
-#}

with ticker as (

    select *, date_trunc('hour', ts) as bucket_start
    from {{ ref('stg_derivative_ticker') }}
    where {{ in_window('ticker_date') }}
        and open_interest is not null

)

select
    exchange,
    symbol,
    ticker_date as bar_date,
    {{ bar_bounds('bucket_start', '1 hour') }},
    arg_min(open_interest, struct_pack(o := ticker_order, v := -open_interest)) as open,
    max(open_interest) as high,
    min(open_interest) as low,
    arg_max(open_interest, struct_pack(o := ticker_order, v := open_interest)) as close,
    cast(count(*) as bigint) as observation_count,
    min(ts) as first_ts,
    max(ts) as last_ts

from ticker
group by exchange, symbol, ticker_date, bucket_start
