{#-
    One row per raw quote (best bid and ask with their sizes) with its exact spread and mid.
    raw.quotes never holds a crossed quote (the loader quarantines bid > ask), so spread >= 0.
    quote_order: the deterministic order of quotes (ts, then local_ts, missing local_ts counted
    as ts, then the prices and sizes): which quote is the last one, and in force, when several
    share a timestamp.
-#}

with source as (

    select * from {{ source('raw', 'quotes') }}

)

select
    quote_date,
    exchange,
    symbol,
    ts,
    local_ts,
    bid_price,
    bid_amount,
    ask_price,
    ask_amount,
    source_file,
    ask_price - bid_price as spread,
    -- exact: the mean of two scale-12 prices has at most 13 decimals
    (bid_price + ask_price) * cast(0.5 as decimal(2, 1)) as mid_price,
    struct_pack(
        ts := ts, local_ts := coalesce(local_ts, ts), bid := bid_price, ask := ask_price,
        bid_size := bid_amount, ask_size := ask_amount
    ) as quote_order,
    quote_date as bar_date

from source
