{{ day_partitioned_mart(['quotes'], cold_time_column='bucket_start') }}

{#-
    Time-weighted best bid/ask statistics per (exchange, symbol, minute) with at least one quote.

    A quote is in force from its ts until the next quote of the instrument and day (quote_order;
    quotes sharing a timestamp are in force for 0 us but the last). Within a minute, each quote
    is weighted by the microseconds it was in force inside the minute; the part of the minute
    before its first quote is weighted by the quote in force at the minute's start (the day's
    previous quote, from however many minutes before). The first minute of the day has no such
    quote: quotes are not carried over from the previous day (a day is built from its own rows,
    alone or in a range), so its means cover [first quote, minute end) only (covered_us < 60 s).
    The last quote of a minute is weighted up to the minute's end.

    mean_mid and mean_spread: sum(value * us) / covered_us, exact decimal arithmetic
    (macros/exact_ratio.sql), DECIMAL(38,24) rounded half-even (twice the price scale, like the
    exact VWAP of docs/contracts.md).
-#}

with quotes as (

    select
        exchange,
        symbol,
        quote_date,
        ts,
        quote_order,
        bid_price,
        bid_amount,
        ask_price,
        ask_amount,
        {{ units('bid_price') }} as bid_u,
        {{ units('ask_price') }} as ask_u,
        date_trunc('minute', ts) as bucket_start
    from {{ ref('stg_quotes') }}
    where {{ in_window('quote_date') }}

),

sequenced as (

    select
        *,
        lead(ts) over w as next_ts,
        lag(bid_u) over w as prev_bid_u,
        lag(ask_u) over w as prev_ask_u,
        lag(bucket_start) over w as prev_bucket_start
    from quotes
    window w as (partition by exchange, symbol, quote_date order by quote_order)

),

weighted as (

    select
        *,
        -- in force from ts until the next quote, at most to the minute's end
        date_diff(
            'microsecond', ts,
            least(coalesce(next_ts, bucket_start + interval '1 minute'), bucket_start + interval '1 minute')
        ) as held_us,
        -- the first quote of a minute: the quote before it was in force from the minute's start
        case
            when prev_bucket_start is not null and prev_bucket_start <> bucket_start
                then date_diff('microsecond', bucket_start, ts)
            else 0
        end as carried_us
    from sequenced

),

minutes as (

    select
        exchange,
        symbol,
        quote_date as bar_date,
        bucket_start,
        sum(held_us + carried_us) as covered_us,
        sum((ask_u - bid_u) * held_us + coalesce((prev_ask_u - prev_bid_u) * carried_us, 0)) as spread_num,
        sum((ask_u + bid_u) * held_us + coalesce((prev_ask_u + prev_bid_u) * carried_us, 0)) as mid_num,
        count(*) as quote_count,
        arg_max(bid_price, quote_order) as last_bid_price,
        arg_max(bid_amount, quote_order) as last_bid_amount,
        arg_max(ask_price, quote_order) as last_ask_price,
        arg_max(ask_amount, quote_order) as last_ask_amount,
        min(ts) as first_quote_ts,
        max(ts) as last_quote_ts
    from weighted
    group by exchange, symbol, quote_date, bucket_start

),

typed as (

    select
        *,
        cast(spread_num as hugeint) as spread_n,
        cast(mid_num as hugeint) as mid_n,
        cast(covered_us as hugeint) as spread_d,
        cast(covered_us as hugeint) * 2 as mid_d
    from minutes

)

select
    exchange,
    symbol,
    bar_date,
    {{ bar_bounds('bucket_start', '1 minute') }},
    {{ exact_ratio('mid_n', 'mid_d', 24, unit_scale=12) }} as mean_mid,
    {{ exact_ratio('spread_n', 'spread_d', 24, unit_scale=12) }} as mean_spread,
    cast(covered_us as bigint) as covered_us,
    cast(quote_count as bigint) as quote_count,
    last_bid_price,
    last_bid_amount,
    last_ask_price,
    last_ask_amount,
    first_quote_ts,
    last_quote_ts

from typed
