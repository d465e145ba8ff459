{{ day_partitioned_mart(['derivatives'], cold_time_column='bucket_start') }}

{#-
    Mark and index price per minute and their basis, gap-filled like ohlcv_1m_filled.

    A minute's mark_price (index_price) is the last non-NULL mark (index) of the minute's ticker
    rows (ticker_order, then the larger value), else carried forward from the last minute before
    it that had one. Span: every minute from the first to the last minute with a mark or an index
    of each (exchange, symbol, bar_date), so nothing is read from or carried over from another
    day; a minute without any ticker row in the span is filled (is_filled) with the carried
    values.

    basis_bps = (mark_price / index_price - 1) * 10000 = (mark - index) * 10000 / index, exact
    decimal arithmetic (macros/exact_ratio.sql), DECIMAL(38,12) rounded half-even; NULL while
    either price is unknown.
-#}

with ticker as (

    select *
    from {{ ref('stg_derivative_ticker') }}
    where {{ in_window('ticker_date') }}
        and (mark_price is not null or index_price is not null)

),

minutes as (

    select
        exchange,
        symbol,
        ticker_date as bar_date,
        date_trunc('minute', ts) as bucket_start,
        arg_max(mark_price, struct_pack(o := ticker_order, v := mark_price))
            filter (where mark_price is not null) as mark_price,
        arg_max(index_price, struct_pack(o := ticker_order, v := index_price))
            filter (where index_price is not null) as index_price,
        count(*) as ticker_count
    from ticker
    group by exchange, symbol, ticker_date, date_trunc('minute', ts)

),

spans as (

    select exchange, symbol, bar_date, min(bucket_start) as first_minute, max(bucket_start) as last_minute
    from minutes
    group by exchange, symbol, bar_date

),

grid as (

    select
        spans.exchange,
        spans.symbol,
        spans.bar_date,
        unnest(generate_series(spans.first_minute, spans.last_minute, interval '1 minute')) as bucket_start
    from spans

),

carried as (

    select
        grid.exchange,
        grid.symbol,
        grid.bar_date,
        grid.bucket_start,
        last_value(minutes.mark_price ignore nulls) over w as mark_price,
        last_value(minutes.index_price ignore nulls) over w as index_price,
        coalesce(minutes.ticker_count, 0) as ticker_count
    from grid
    left join minutes
        on minutes.exchange = grid.exchange
        and minutes.symbol = grid.symbol
        and minutes.bucket_start = grid.bucket_start
    window w as (
        partition by grid.exchange, grid.symbol, grid.bar_date
        order by grid.bucket_start
        rows between unbounded preceding and current row
    )

),

in_units as (

    select
        *,
        ({{ units('mark_price') }} - {{ units('index_price') }}) * 10000 as basis_num,
        {{ units('index_price') }} as basis_den
    from carried

)

select
    exchange,
    symbol,
    bar_date,
    {{ bar_bounds('bucket_start', '1 minute') }},
    mark_price,
    index_price,
    case when basis_den > 0 then {{ exact_ratio('basis_num', 'basis_den', 12) }} end as basis_bps,
    cast(ticker_count as bigint) as ticker_count,
    ticker_count = 0 as is_filled

from in_units
