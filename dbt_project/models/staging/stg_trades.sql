{#-
    One row per raw trade plus the derived columns every bar model uses.
    order_seq: the numeric trade id, 0 when the venue id is not an integer; together with ts and
    trade_id it is the deterministic in-bucket order (open/close tie-break).
    quote_amount is exact: both operands are widened to DECIMAL(38,8) first, because DuckDB
    types DECIMAL(18,8) * DECIMAL(18,8) as DECIMAL(18,16) and would overflow.
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
    cast(price as decimal(38, 8)) * cast(amount as decimal(38, 8)) as quote_amount,
    trade_date as bar_date

from source
