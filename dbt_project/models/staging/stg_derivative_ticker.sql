{#-
    One row per raw derivative-ticker observation (funding, open interest, last, index and mark
    price of a perpetual or future). Every value column may be NULL: an exchange sends the fields
    it has (docs/contracts.md). ticker_order: the deterministic order of observations (ts, then
    local_ts, missing local_ts counted as ts); marts break the remaining ties by the larger value.
-#}

with source as (

    select * from {{ source('raw', 'derivative_ticker') }}

)

select
    ticker_date,
    exchange,
    symbol,
    ts,
    local_ts,
    funding_ts,
    funding_rate,
    predicted_funding_rate,
    open_interest,
    last_price,
    index_price,
    mark_price,
    source_file,
    struct_pack(ts := ts, local_ts := coalesce(local_ts, ts)) as ticker_order,
    ticker_date as bar_date

from source
