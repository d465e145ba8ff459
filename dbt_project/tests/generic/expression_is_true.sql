{#-
    Every row satisfies `expression` (rows where it is NULL pass).
    Usage:
        data_tests:
          - expression_is_true:
              arguments:
                expression: "buy_volume + sell_volume <= volume"
-#}
{% test expression_is_true(model, expression) %}

select *
from {{ model }}
where not ({{ expression }})

{% endtest %}
