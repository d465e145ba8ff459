{#-
    Column-level rules of a model checked in one scan: `not_null` columns have no NULL,
    `non_negative` columns are >= 0 wherever they are not NULL.
    Why one test instead of a not_null/non_negative test per column: each dbt test is a node
    with its own compile, query and result bookkeeping (~30 ms even on an empty table), and a
    mart has 20-odd such columns; one scan per model keeps the daily run's fixed cost down and
    reads the window once instead of 20 times. A failure returns one row per broken
    (rule, column) with the number of offending rows, so the message still names the column.
    Usage:
        data_tests:
          - column_rules:
              arguments:
                not_null: [exchange, symbol, ts]
                non_negative: [amount]
-#}
{% test column_rules(model, not_null=[], non_negative=[]) %}
{{ config(fail_calc='coalesce(sum(failing_rows), 0)') }}

{%- set checks = [] -%}
{%- for column in not_null -%}
    {%- do checks.append(('not_null', column, column ~ ' is null')) -%}
{%- endfor -%}
{%- for column in non_negative -%}
    {%- do checks.append(('non_negative', column, column ~ ' < 0')) -%}
{%- endfor -%}
{%- if not checks -%}
    {{ exceptions.raise_compiler_error("column_rules on " ~ model ~ ": name at least one column") }}
{%- endif %}

with counts as (

    select
        {%- for rule, column, failing in checks %}
        count(*) filter (where {{ failing }}) as c{{ loop.index }}{{ ',' if not loop.last }}
        {%- endfor %}
    from {{ model }}

),

failures as (

    {%- for rule, column, failing in checks %}
    select '{{ rule }}' as rule, '{{ column }}' as column_name, c{{ loop.index }} as failing_rows from counts
    {{ 'union all' if not loop.last }}
    {%- endfor %}

)

select * from failures where failing_rows > 0

{% endtest %}
