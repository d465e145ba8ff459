{#-
    Exact decimal division, which DuckDB does not have (DECIMAL / DECIMAL is a DOUBLE there).

    `units(x)`: a DECIMAL with at most 12 decimals (a price, an amount) as an integer count of
    1e-12, a HUGEINT; exact for every value of the numeric contract (docs/contracts.md).

    `exact_ratio(num, den, scale)`: num / den for HUGEINT `num` and a HUGEINT `den` > 0, as a
    DECIMAL(38, `scale`) rounded half-even (Python's `Decimal.quantize` default), by long
    division in integers: nothing passes through a float. `unit_scale` > 0 reads the quotient as
    a count of 10^-unit_scale (a ratio of `units` sums is a price in 1e-12), so the result has
    `scale` decimals in all. Bounds (HUGEINT holds 1.7e38): |num / den| * 10^(scale -
    unit_scale) < 1e38 and den * 10^(scale - unit_scale) < 1e38. Pass column names: each
    argument is read several times.
-#}
{% macro units(column) -%}
    cast({{ column }} * cast(1000000000000 as decimal(13, 0)) as hugeint)
{%- endmacro %}

{% macro exact_ratio(num, den, scale, unit_scale=0) -%}
    {%- set digits = scale - unit_scale -%}
    {%- if digits < 0 or digits > 30 -%}
        {{ exceptions.raise_compiler_error("exact_ratio: scale - unit_scale must be in 0..30") }}
    {%- endif -%}
    {%- set pow = "cast('1" ~ "0" * digits ~ "' as hugeint)" -%}
    {%- set q = "(abs(" ~ num ~ ") // " ~ den ~ ")" -%}
    {%- set f = "((abs(" ~ num ~ ") % " ~ den ~ ") * " ~ pow ~ ")" -%}
    (
        case when {{ num }} < 0 then -1 else 1 end
        * cast(
            {{ q }} * {{ pow }} + {{ f }} // {{ den }}
            + case
                when 2 * ({{ f }} % {{ den }}) > {{ den }} then 1
                when 2 * ({{ f }} % {{ den }}) = {{ den }} and ({{ f }} // {{ den }}) % 2 = 1 then 1
                else 0
            end
        as decimal(38, 0))
        * cast('{{ "1" if scale == 0 else "0." ~ "0" * (scale - 1) ~ "1" }}' as decimal({{ scale + 1 }}, {{ scale }}))
    )
{%- endmacro %}
