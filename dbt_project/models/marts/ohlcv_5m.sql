{{ day_partitioned_mart(['ohlcv'], cold_time_column='bucket_start') }}

{#- 5 minutes bars rolled up from the 1-minute bars (see macros/rollup_ohlcv.sql). -#}

{{ rollup_ohlcv(ref('ohlcv_1m'), '5 minutes') }}
