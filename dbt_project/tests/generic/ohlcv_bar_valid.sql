{#-
    Structural checks of a bar table with buckets of `interval`, one failing row per broken rule:
      - bucket_start is aligned (to UTC midnight) and bucket_end = bucket_start + interval
      - bar_date is the UTC day of bucket_start
      - first_trade_ts/last_trade_ts lie in [bucket_start, bucket_end), first <= last
      - trade_count >= 1 and volume > 0 (no empty bars)
      - buy_volume + sell_volume <= volume (side `unknown` is in neither)
      - low <= vwap <= high (relative tolerance 1e-9: vwap is a DOUBLE)
-#}
{% test ohlcv_bar_valid(model, interval) %}

with checks as (

    select
        *,
        case
            when time_bucket(interval '{{ interval }}', bucket_start, timestamp '2000-01-01') <> bucket_start
                then 'bucket_start not aligned'
            when bucket_end <> bucket_start + interval '{{ interval }}'
                then 'bucket_end <> bucket_start + {{ interval }}'
            when bar_date <> cast(bucket_start as date)
                then 'bar_date <> day of bucket_start'
            when first_trade_ts < bucket_start or last_trade_ts >= bucket_end or first_trade_ts > last_trade_ts
                then 'trade timestamps outside the bucket'
            when trade_count < 1 or volume <= 0
                then 'empty bar'
            when buy_volume + sell_volume > volume
                then 'buy_volume + sell_volume > volume'
            when vwap < cast(low as double) * (1 - 1e-9) or vwap > cast(high as double) * (1 + 1e-9)
                then 'vwap outside [low, high]'
        end as failed_check
    from {{ model }}

)

select * from checks where failed_check is not null

{% endtest %}
