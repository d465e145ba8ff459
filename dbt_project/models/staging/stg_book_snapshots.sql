{#-
    Top of book of every raw snapshot with spread and imbalance measures.
    The full-depth list columns stay in raw.book_snapshots.
-#}

with source as (

    select * from {{ source('raw', 'book_snapshots') }}

)

select
    snapshot_date,
    exchange,
    symbol,
    ts,
    local_ts,
    depth,
    bid_price,
    bid_amount,
    ask_price,
    ask_amount,
    source_file,
    (bid_price + ask_price) / 2 as mid_price,
    ask_price - bid_price as spread,
    (ask_price - bid_price) / nullif((bid_price + ask_price) / 2, 0) * 1e4 as spread_bps,
    (bid_amount - ask_amount) / nullif(bid_amount + ask_amount, 0) as top_imbalance,
    coalesce(bid_price > ask_price, false) as is_crossed,
    coalesce(bid_price = ask_price, false) as is_locked

from source
