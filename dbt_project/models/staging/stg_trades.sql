{#-
    One row per raw trade plus the derived columns every bar model uses.
    order_seq: the numeric trade id, 0 when the venue id is not an integer; together with ts and
    trade_id it is the deterministic in-bucket order (open/close tie-break).
    quote_amount is exact: DECIMAL(22,12) * DECIMAL(28,12) is typed DECIMAL(38,24), which holds
    every notional below 1e14 (the loader refuses larger ones, docs/contracts.md). It stays at
    scale 24 here: a per-trade cast to a smaller scale is a 128-bit division, ~100x the cost of
    the product; ohlcv_1m narrows the per-minute sums instead.
-#}

with source as (

    select * from {{ source('raw', 'trades') }}

)

select
    trade_date,
    exchange,
    symbol,
    ts,
    local_ts,
    trade_id,
    trade_seq,
    side,
    price,
    amount,
    source_file,
    coalesce(trade_seq, 0) as order_seq,
    case side when 'buy' then true when 'sell' then false end as is_buy,
    price * amount as quote_amount,
    trade_date as bar_date

from source
