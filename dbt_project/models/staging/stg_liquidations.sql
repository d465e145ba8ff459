{#-
    One row per raw liquidation with its exact notional. side is the liquidation order's side:
    `buy` closes a short (a short was liquidated), `sell` closes a long.
    notional = price * amount is DECIMAL(38,24) per row, as for trades (stg_trades); daily_stats
    sums it at scale 20, exact by the loader's precision rule (at most 20 decimals per notional),
    which the test `notional_fits_scale_20` below guards.
-#}

with source as (

    select * from {{ source('raw', 'liquidations') }}

)

select
    liquidation_date,
    exchange,
    symbol,
    ts,
    local_ts,
    liquidation_id,
    side,
    price,
    amount,
    source_file,
    price * amount as notional,
    liquidation_date as bar_date

from source
