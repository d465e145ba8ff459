{#-
    Post-hook of daily_stats: the day after the window reads the window's last close
    (`prev_close`, `return_cc`), so a window rebuild also refreshes those two columns of that
    day's rows, when they exist. Two ranges built at once then end equal to one sequential run,
    whichever finishes last: the later range's first day may have been built before the earlier
    range's last 1d bar existed (docs/lake.md, "Several writers").

    `build_fence`, its second post-hook: the fence row makes any two concurrent daily_stats windows conflict at commit, so the one
    that lost retries on a snapshot holding the other's rows (without it, each could miss the
    other's rows and both commit). `raw.build_fence` is created with the raw schema
    (ingest/warehouse.py); it is named here without `source()` so that it is no dependency in the DAG.
-#}
{% macro next_day_prev_close() -%}
    {%- if is_incremental() -%}
        {%- set previous_close -%}
            (select y.close from {{ ref('ohlcv_1d') }} as y
             where y.exchange = t.exchange and y.symbol = t.symbol and y.bar_date = t.bar_date - 1)
        {%- endset -%}
        update {{ this }} as t
        set prev_close = {{ previous_close }},
            return_cc = cast(t.close as double) / cast({{ previous_close }} as double) - 1
        where t.bar_date = {{ window_end() }}
            and t.prev_close is distinct from {{ previous_close }}
    {%- endif -%}
{%- endmacro %}

{% macro build_fence(name) -%}
    {%- if is_incremental() -%}
        {%- set fence = api.Relation.create(database=this.database, schema='raw', identifier='build_fence') -%}
        update {{ fence }} set builds = builds + 1 where model = '{{ name }}'
    {%- endif -%}
{%- endmacro %}
