{{ config(materialized='table', tags=['rollup']) }}

{#- Calendar months (UTC) per instrument, rebuilt in full from daily_stats. -#}

{{ rollup_period(ref('daily_stats'), 'month') }}
