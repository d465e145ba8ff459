{#-
    The partition window of a run: [var('min_date'), var('max_date')), UTC days.
    See docs/contracts.md. Every incremental mart filters its inputs with `in_window` and
    deletes the same window from itself in a pre-hook (`delete_window`) before appending,
    so re-running a window replaces it instead of duplicating it.
-#}

{% macro window_start() -%}
    cast('{{ var("min_date") }}' as date)
{%- endmacro %}

{% macro window_end() -%}
    cast('{{ var("max_date") }}' as date)
{%- endmacro %}

{#- `column` (a DATE) is inside the window; `lookback_days` widens the start backwards. -#}
{% macro in_window(column, lookback_days=0) -%}
    ({{ column }} >= {{ window_start() }}{% if lookback_days %} - {{ lookback_days }}{% endif %}
     and {{ column }} < {{ window_end() }})
{%- endmacro %}

{#- Pre-hook of the incremental marts: empty on the first build and on --full-refresh. -#}
{% macro delete_window(date_column='bar_date') -%}
    {%- if is_incremental() -%}
        delete from {{ this }} where {{ in_window(date_column) }}
    {%- endif -%}
{%- endmacro %}
