{#-
    The column lies in [min_value, max_value] wherever it is not NULL; either bound may be omitted.
    Usage:
        - between:
            arguments:
              min_value: -1
              max_value: 1
-#}
{% test between(model, column_name, min_value=none, max_value=none) %}

select *
from {{ model }}
where false
    {%- if min_value is not none %} or {{ column_name }} < {{ min_value }}{% endif %}
    {%- if max_value is not none %} or {{ column_name }} > {{ max_value }}{% endif %}

{% endtest %}
