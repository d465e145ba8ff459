{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        pre_hook="{{ delete_window('bar_date') }}",
        tags=['incremental', 'ohlcv'],
        meta={'cold': {'time_column': 'bucket_start'}}
    )
}}

{#- 5 minutes bars rolled up from the 1-minute bars (see macros/rollup_ohlcv.sql). -#}

{{ rollup_ohlcv(ref('ohlcv_1m'), '5 minutes') }}
