{#- The column is >= 0 wherever it is not NULL (NULLs are not_null's business). -#}
{% test non_negative(model, column_name) %}

select *
from {{ model }}
where {{ column_name }} < 0

{% endtest %}
