{#-
    The config every day-partitioned mart shares: an incremental model that a run rebuilds one
    window of UTC days at a time ([min_date, max_date), macros/window.sql), by deleting the
    window from itself first (`delete_window`) and appending what the model selects.
    `cold_time_column`: the cold tier archives the mart per day, ordered by this column
    (ingest/marts.py reads it from the manifest); none leaves the mart out of the cold tier.
    `post_hook`: statements run after the append, in the same transaction.
-#}
{% macro day_partitioned_mart(tags, cold_time_column=none, post_hook=[]) %}
    {%- set meta = {'cold': {'time_column': cold_time_column}} if cold_time_column else {} -%}
    {{ config(
        materialized='incremental',
        incremental_strategy='append',
        pre_hook="{{ delete_window('bar_date') }}",
        post_hook=post_hook,
        tags=['incremental'] + tags,
        meta=meta
    ) }}
{%- endmacro %}
