{{ config(materialized='table', tags=['rollup']) }}

{#-
    Market breadth: one row per (bar_date, exchange) over every symbol of that venue traded that
    day. No cross-venue 'ALL' row, so summing a column over the table gives a grand total
    (sum(total_trades) = count of raw trades). Notional is summed in each symbol's own quote
    currency as-is.
-#}

with ranked as (

    select
        *,
        row_number() over (
            partition by bar_date, exchange
            order by quote_volume desc, symbol
        ) as notional_rank
    from {{ ref('daily_stats') }}

)

select
    bar_date,
    exchange,
    cast(count(*) as bigint) as symbols_traded,
    cast(sum(quote_volume) as decimal(38, 20)) as total_notional,
    cast(sum(trade_count) as bigint) as total_trades,
    cast(count(*) filter (where return_oc > 0) as bigint) as advancers,
    cast(count(*) filter (where return_oc < 0) as bigint) as decliners,
    cast(count(*) filter (where return_oc = 0) as bigint) as unchanged,
    median(return_oc) as median_return_oc,
    avg(mean_spread_bps order by symbol) as mean_spread_bps,
    max(symbol) filter (where notional_rank = 1) as top_symbol,
    max(quote_volume) as top_symbol_notional

from ranked
group by bar_date, exchange
