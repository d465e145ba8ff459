{#-
    Funding times lie on the exchange's schedule: on the hour (minute, second and microsecond 0)
    and, when the interval since the previous funding is a whole number of hours up to 24, at an
    hour divisible by it (8 h: 00, 08, 16; 4 h: 00, 04, ...). A longer interval means a gap in
    the data, not a schedule, and only the on-the-hour part is checked.
-#}
{% test funding_on_schedule(model, time_column='funding_time', interval_column='interval_hours') %}

select *
from {{ model }}
where date_trunc('hour', {{ time_column }}) <> {{ time_column }}
    or (
        {{ interval_column }} is not null
        and {{ interval_column }} <= 24
        and (
            {{ interval_column }} <> floor({{ interval_column }})
            or hour({{ time_column }}) % cast({{ interval_column }} as integer) <> 0
        )
    )

{% endtest %}
