{{ config(materialized='table', tags=['rollup']) }}

{#- ISO weeks (Monday to Sunday, UTC) per instrument, rebuilt in full from daily_stats. -#}

{{ rollup_period(ref('daily_stats'), 'week') }}
