{#-
    The columns every OHLCV bar model shares, so a bar means the same thing at each interval.
    bar_bounds: the bucket [bucket_start, bucket_start + interval), UTC.
    rolled_up_bar: a bar over finer bars (1m bars into 5m .. 1d, daily bars into weeks and
    months) ordered by `order_column`: open of the first, close of the last, high/low max/min,
    exact DECIMAL sums, vwap = sum(quote_volume) / sum(volume); never an average of bars.
-#}
{% macro bar_bounds(start_column, interval) -%}
    {{ start_column }} as bucket_start,
    {{ start_column }} + interval '{{ interval }}' as bucket_end
{%- endmacro %}

{% macro rolled_up_bar(order_column) -%}
    arg_min(open, {{ order_column }}) as open,
    max(high) as high,
    min(low) as low,
    arg_max(close, {{ order_column }}) as close,
    cast(sum(volume) as decimal(38, 12)) as volume,
    cast(sum(quote_volume) as decimal(38, 20)) as quote_volume,
    cast(sum(trade_count) as bigint) as trade_count,
    cast(sum(quote_volume) / nullif(sum(volume), 0) as double) as vwap,
    cast(sum(buy_volume) as decimal(38, 12)) as buy_volume,
    cast(sum(sell_volume) as decimal(38, 12)) as sell_volume
{%- endmacro %}
