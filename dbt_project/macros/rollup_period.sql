{#-
    Calendar rollup of daily_stats to `period` ('week' or 'month'), one row per
    (exchange, symbol, period_start). Weeks are ISO weeks starting Monday; months start on the
    1st; both are UTC calendar periods, [period_start, period_end).
    open = open of the first day with trades, close = close of the last; high/low max/min;
    volumes and counts are exact sums; vwap = sum(quote_volume) / sum(volume).
-#}
{% macro rollup_period(daily_relation, period) %}

{%- if period not in ['week', 'month'] -%}
    {{ exceptions.raise_compiler_error("rollup_period: period must be 'week' or 'month', got " ~ period) }}
{%- endif -%}

with days as (

    select
        *,
        cast(date_trunc('{{ period }}', bar_date) as date) as period_start
    from {{ daily_relation }}

)

select
    exchange,
    symbol,
    period_start,
    cast(period_start + interval '1 {{ period }}' as date) as period_end,
    min(bar_date) as first_bar_date,
    max(bar_date) as last_bar_date,
    cast(count(*) as bigint) as days_with_trades,
    {{ rolled_up_bar('bar_date') }},
    cast(arg_max(close, bar_date) as double) / cast(arg_min(open, bar_date) as double) - 1 as period_return,
    avg(realized_vol order by bar_date) as mean_realized_vol

from days
group by exchange, symbol, period_start

{% endmacro %}
