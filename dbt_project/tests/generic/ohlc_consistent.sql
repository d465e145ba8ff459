{#-
    Bar prices are consistent: low <= open <= high, low <= close <= high, low <= high.
    Column names can be overridden for tables that use other names.
-#}
{% test ohlc_consistent(model, open='open', high='high', low='low', close='close') %}

select *
from {{ model }}
where not (
    {{ low }} <= {{ high }}
    and {{ low }} <= {{ open }} and {{ open }} <= {{ high }}
    and {{ low }} <= {{ close }} and {{ close }} <= {{ high }}
)

{% endtest %}
