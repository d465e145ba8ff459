"""The columns of the research answers' inputs, and the order of trades they all share."""

# The total order of trades in every research answer: the marts' open/close rule (stg_trades'
# order_seq = coalesce(trade_seq, 0), then trade_id), with exchange and symbol between time and it.
TRADE_ORDER = "ts, exchange, symbol, coalesce(trade_seq, 0), trade_id"
TRADE_COLUMNS = ["exchange", "symbol", "ts", "local_ts", "trade_id", "trade_seq", "side", "price", "amount"]
BOOK_TOP_COLUMNS = ["exchange", "symbol", "ts", "local_ts", "depth", "bid_price", "bid_amount", "ask_price",
                    "ask_amount"]
BOOK_LEVEL_COLUMNS = ["bid_prices", "bid_amounts", "ask_prices", "ask_amounts"]
QUOTE_COLUMNS = ["exchange", "symbol", "ts", "local_ts", "bid_price", "bid_amount", "ask_price", "ask_amount"]
# The ticker's value columns an as-of join carries, each its own last non-null value (funding_ts goes
# with funding_rate), and the total order of ticker rows whose last wins a tie: (ts, local_ts) and
# then the values in the vendor's column order, nulls last.
TICKER_VALUES = ["mark_price", "index_price", "last_price", "open_interest", "funding_rate", "predicted_funding_rate"]
TICKER_ORDER = ["ts", "local_ts", "funding_ts", "funding_rate", "predicted_funding_rate", "open_interest",
                "last_price", "index_price", "mark_price"]
