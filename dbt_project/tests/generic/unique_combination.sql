{#-
    The combination of `columns` is unique (the grain of the model).
    Usage:
        data_tests:
          - unique_combination:
              arguments:
                columns: [exchange, symbol, bucket_start]
-#}
{% test unique_combination(model, columns) %}

select
    {{ columns | join(', ') }},
    count(*) as n_rows
from {{ model }}
group by {{ columns | join(', ') }}
having count(*) > 1

{% endtest %}
