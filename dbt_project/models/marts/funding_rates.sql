{{ day_partitioned_mart(['derivatives'], cold_time_column='funding_time') }}

{#-
    One row per settled funding event of a perpetual: (exchange, symbol, funding_time).

    An observation is a ticker row with a funding_ts and a funding_rate, taken at or before its
    funding_ts (ts <= funding_ts). An event is a funding_ts that was observed, and it is settled
    once the instrument's ticker reached its time: some ticker row of the event's UTC day has
    ts >= funding_time. funding_rate is the rate of the last observation (ticker_order, then the
    larger rate). The event belongs to the UTC day of funding_time (bar_date).

    Day attribution reads back: the rate of a 00:00 funding is observed in the previous day's
    rows. Each event reads the observations of its own day and the day before only, and its
    previous funding time among the funding times observed in its day and the two days before,
    whatever window is built, so a day built alone equals the same day built in a range.
    Schedules up to 24 h are covered; a longer gap in the data gives a NULL interval.
-#}

with ticker as (

    select exchange, symbol, ticker_date, ts, ticker_order, funding_ts, funding_rate
    from {{ ref('stg_derivative_ticker') }}
    where {{ in_window('ticker_date', lookback_days=2) }}

),

observations as (

    select *
    from ticker
    where funding_ts is not null
        and funding_rate is not null
        and ts <= funding_ts
        and {{ in_window('cast(funding_ts as date)') }}
        and ticker_date >= cast(funding_ts as date) - 1

),

events as (

    select
        exchange,
        symbol,
        funding_ts as funding_time,
        arg_max(funding_rate, struct_pack(o := ticker_order, r := funding_rate)) as funding_rate,
        count(*) as observation_count,
        max(ts) as last_observed_ts
    from observations
    group by exchange, symbol, funding_ts

),

-- the last ticker row of each instrument and day: an event is settled when its day's ticker reached it
day_ends as (

    select exchange, symbol, ticker_date, max(ts) as last_ts
    from ticker
    group by exchange, symbol, ticker_date

),

-- every funding time the ticker announced, by the day it was seen on
announced as (

    select distinct exchange, symbol, ticker_date, funding_ts
    from ticker
    where funding_ts is not null and ts <= funding_ts

),

settled as (

    select events.*
    from events
    join day_ends
        on day_ends.exchange = events.exchange
        and day_ends.symbol = events.symbol
        and day_ends.ticker_date = cast(events.funding_time as date)
    where day_ends.last_ts >= events.funding_time

),

with_previous as (

    select
        settled.exchange,
        settled.symbol,
        settled.funding_time,
        max(announced.funding_ts) as previous_funding_time
    from settled
    join announced
        on announced.exchange = settled.exchange
        and announced.symbol = settled.symbol
        and announced.funding_ts < settled.funding_time
        and announced.ticker_date between cast(settled.funding_time as date) - 2 and cast(settled.funding_time as date)
    group by settled.exchange, settled.symbol, settled.funding_time

)

select
    s.exchange,
    s.symbol,
    cast(s.funding_time as date) as bar_date,
    s.funding_time,
    s.funding_rate,
    p.previous_funding_time,
    cast(date_diff('microsecond', p.previous_funding_time, s.funding_time) as double) / 3600000000 as interval_hours,
    cast(s.observation_count as bigint) as observation_count,
    s.last_observed_ts

from settled as s
left join with_previous as p
    on p.exchange = s.exchange and p.symbol = s.symbol and p.funding_time = s.funding_time
