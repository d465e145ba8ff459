{#-
    Roll 1-minute bars up to a coarser bar, e.g. {{ rollup_ohlcv(ref('ohlcv_1m'), '5 minutes') }}.

    Never re-reads trades and never averages bars:
      open  = open of the earliest 1m bar      close = close of the latest 1m bar
      high  = max(high)                        low   = min(low)
      volume, quote_volume, trade_count, buy_volume, sell_volume = sums (exact DECIMAL)
      vwap  = sum(quote_volume) / sum(volume)
      first_trade_ts / last_trade_ts = min / max
    so the result equals bars computed directly from the trades.

    Buckets come from time_bucket with a UTC-midnight origin: [bucket_start, bucket_start +
    interval). The interval must divide a day, so a bar never spans two bar_dates and the
    partition window (whole days) can be rebuilt on its own.
-#}
{% macro rollup_ohlcv(bars_relation, interval) %}

{%- set allowed = [
    '2 minutes', '3 minutes', '5 minutes', '10 minutes', '15 minutes', '20 minutes', '30 minutes',
    '1 hour', '2 hours', '3 hours', '4 hours', '6 hours', '8 hours', '12 hours', '1 day'
] -%}
{%- if interval not in allowed -%}
    {{ exceptions.raise_compiler_error(
        "rollup_ohlcv: interval '" ~ interval ~ "' must divide a UTC day; use one of " ~ allowed | join(', ')
    ) }}
{%- endif -%}

with bars as (

    select
        *,
        time_bucket(interval '{{ interval }}', bucket_start, timestamp '2000-01-01 00:00:00') as rollup_start
    from {{ bars_relation }}
    where {{ in_window('bar_date') }}

)

select
    exchange,
    symbol,
    bar_date,
    {{ bar_bounds('rollup_start', interval) }},
    {{ rolled_up_bar('bucket_start') }},
    min(first_trade_ts) as first_trade_ts,
    max(last_trade_ts) as last_trade_ts

from bars
group by exchange, symbol, bar_date, rollup_start

{% endmacro %}
