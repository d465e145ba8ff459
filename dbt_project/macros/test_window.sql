{#-
    Tests of a day-partitioned model check the run's window, not all of history.
    Why: a daily run that re-tests every past day costs more each day (day 30 scanned 30 days
    of trades for the grain test), and the past days were tested when they were built.
    A model, seed or source opts in with `meta: {window_column: <DATE column>}`; its tests then
    read `(select * from <relation> where <column> in [min_date, max_date))` (macros/window.sql).
    Without window vars the window is all time, so a bare `dbt build` / `dbt test` still tests
    everything. A test's own `where` config is kept and combined.
    Overrides dbt's `default__get_where_subquery`, the hook dbt documents for this.
-#}
{% macro default__get_where_subquery(relation) -%}
    {%- set predicates = [] -%}
    {%- set where = config.get('where', '') -%}
    {%- if where -%}
        {%- do predicates.append('(' ~ where ~ ')') -%}
    {%- endif -%}
    {%- set window_column = tested_window_column() -%}
    {%- if window_column -%}
        {%- do predicates.append(in_window(window_column)) -%}
    {%- endif -%}
    {%- if predicates -%}
        {%- do return('(select * from ' ~ relation ~ ' where ' ~ predicates | join(' and ') ~ ') dbt_subquery') -%}
    {%- endif -%}
    {%- do return(relation) -%}
{%- endmacro %}

{#- The `window_column` of the one node a test reads (None for tests of several nodes). -#}
{% macro tested_window_column() -%}
    {%- if not execute or model is not mapping or (model.depends_on.nodes | length) != 1 -%}
        {%- do return(none) -%}
    {%- endif -%}
    {%- set unique_id = model.depends_on.nodes[0] -%}
    {%- set node = graph.nodes.get(unique_id) or graph.sources.get(unique_id) -%}
    {%- if not node -%}
        {%- do return(none) -%}
    {%- endif -%}
    {%- set column = (node.config.meta or {}).get('window_column') or (node.meta or {}).get('window_column') -%}
    {%- if column and not modules.re.match('^[a-z_][a-z0-9_]*$', column) -%}
        {{ exceptions.raise_compiler_error(unique_id ~ ": meta.window_column must be a column name, got " ~ column) }}
    {%- endif -%}
    {%- do return(column) -%}
{%- endmacro %}
