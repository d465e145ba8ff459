{#-
    |column| <= cap wherever the column is not NULL; `caps` overrides the cap per value of `by`
    (an exchange, by default), e.g. a venue whose funding cap is wider.
    Usage:
        - within_cap:
            arguments:
              cap: 0.05
              caps: {bitmex: 0.1}
-#}
{% test within_cap(model, column_name, cap, caps={}, by='exchange') %}

select *
from {{ model }}
where abs({{ column_name }}) >
    {%- if caps %} case
        {%- for key, value in caps.items() %}
        when {{ by }} = '{{ key | replace("'", "''") }}' then {{ value | float }}
        {%- endfor %}
        else {{ cap | float }}
    end
    {%- else %} {{ cap | float }}
    {%- endif %}

{% endtest %}
