"""The columns of the research answers' inputs, and the order of trades they all share."""

# The total order of trades in every research answer: the marts' open/close rule (stg_trades'
# order_seq = coalesce(trade_seq, 0), then trade_id), with exchange and symbol between time and it.
TRADE_ORDER = "ts, exchange, symbol, coalesce(trade_seq, 0), trade_id"
TRADE_COLUMNS = ["exchange", "symbol", "ts", "local_ts", "trade_id", "trade_seq", "side", "price", "amount"]
BOOK_TOP_COLUMNS = ["exchange", "symbol", "ts", "local_ts", "depth", "bid_price", "bid_amount", "ask_price",
                    "ask_amount"]
BOOK_LEVEL_COLUMNS = ["bid_prices", "bid_amounts", "ask_prices", "ask_amounts"]
