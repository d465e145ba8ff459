{#-
    The partition window of a run: [var('min_date'), var('max_date')), UTC days.
    See docs/contracts.md. Every incremental mart filters its inputs with `in_window` and
    deletes the same window from itself in a pre-hook (`delete_window`) before appending,
    so re-running a window replaces it instead of duplicating it.
-#}

{#- Window bounds reach SQL text, so anything but YYYY-MM-DD is refused at compile time. -#}
{% macro _window_date(name, default) -%}
    {#- --vars first, then TICKWH_DBT_MIN_DATE / _MAX_DATE (empty = unset), then all time -#}
    {%- set value = var(name, none) -%}
    {%- if value is none or value == '' -%}
        {%- set value = env_var('TICKWH_DBT_' ~ name | upper, '') -%}
    {%- endif -%}
    {%- if value == '' -%}
        {%- set value = default -%}
    {%- endif -%}
    {%- set value = value | string -%}
    {%- if not modules.re.match('^[0-9]{4}-[0-9]{2}-[0-9]{2}$', value) -%}
        {{ exceptions.raise_compiler_error("var " ~ name ~ " must be a date YYYY-MM-DD, got '" ~ value ~ "'") }}
    {%- endif -%}
    cast('{{ value }}' as date)
{%- endmacro %}

{% macro window_start() -%}
    {{ _window_date('min_date', '1970-01-01') }}
{%- endmacro %}

{% macro window_end() -%}
    {{ _window_date('max_date', '2999-12-31') }}
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
