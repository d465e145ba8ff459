"""Subjects, message ids, headers and payload encodings of the live trade stream.

One message is one batch of trades of one (exchange, symbol), in venue order. Batching is what
makes JetStream fast enough (about 44k publishes/s from Python, so one trade per message would
cap the feed far below the 200k trades/s target). The payload is an Arrow IPC stream (default:
no per-row parsing on either side, decimals stay exact) or compact columnar JSON (readable with
the `nats` CLI). Headers carry what a reader needs without decoding the payload: the batch's
first and last trade ids, used for the deterministic `Nats-Msg-Id` (so a republish after a
reconnect is dropped by the server's duplicate window) and for resuming a restarted feed
handler from the last acknowledged trade of each subject.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from ingest.feed.canonical import AMOUNT_TYPE, PRICE_TYPE, TRADE_SCHEMA
from ingest.names import validate_exchange, validate_symbol

SUBJECT_PREFIX = "trades"
ARROW = "arrow"
JSON = "json"
ENCODINGS = (ARROW, JSON)

H_MSG_ID = "Nats-Msg-Id"
H_FORMAT = "Tw-Format"
H_COUNT = "Tw-Count"
H_FIRST_ID = "Tw-First-Id"
H_LAST_ID = "Tw-Last-Id"
H_LAST_SEQ = "Tw-Last-Seq"
H_SOURCE = "Tw-Src"
H_SOURCE_ROW = "Tw-Src-Row"
H_SENT_US = "Tw-Sent-Us"
_TO_SUBJECT = str.maketrans({".": "_", "_": "~"})
_FROM_SUBJECT = str.maketrans({"_": ".", "~": "_"})


def subject_for(exchange: str, symbol: str) -> str:
    """`trades.<exchange>.<symbol>`; a `.` in a symbol (a subject separator) travels as `_`, and `_` as `~`.

    Valid symbols never contain `~` (ingest/names.py), so the mapping is reversible.
    """
    validate_exchange(exchange)
    validate_symbol(symbol)
    return f"{SUBJECT_PREFIX}.{exchange}.{symbol.translate(_TO_SUBJECT)}"


def parse_subject(subject: str) -> tuple[str, str]:
    """The (exchange, symbol) of a trade subject."""
    prefix, exchange, token = subject.split(".", 2)
    if prefix != SUBJECT_PREFIX:
        raise ValueError(f"not a trade subject: {subject!r}")
    return validate_exchange(exchange), validate_symbol(token.translate(_FROM_SUBJECT))


def message_id(exchange: str, symbol: str, first_id: str, last_id: str) -> str:
    """Deterministic per batch: the same trades published twice get the same id."""
    return f"{exchange}/{symbol}/{first_id}-{last_id}"


@dataclass(frozen=True)
class BatchInfo:
    """What the headers say about a message, without decoding its payload."""

    count: int
    first_id: str
    last_id: str
    last_seq: int | None
    source: str | None
    source_row: int | None


def batch_headers(
    batch: pa.Table, encoding: str, source: str | None = None, source_row: int | None = None
) -> dict[str, str]:
    exchange, symbol = batch["exchange"][0].as_py(), batch["symbol"][0].as_py()
    first_id, last_id = batch["trade_id"][0].as_py(), batch["trade_id"][-1].as_py()
    headers = {
        H_MSG_ID: message_id(exchange, symbol, first_id, last_id),
        H_FORMAT: encoding,
        H_COUNT: str(batch.num_rows),
        H_FIRST_ID: first_id,
        H_LAST_ID: last_id,
    }
    last_seq = batch["trade_seq"][-1].as_py()
    if last_seq is not None:
        headers[H_LAST_SEQ] = str(last_seq)
    if source is not None and source_row is not None:
        headers[H_SOURCE] = source
        headers[H_SOURCE_ROW] = str(source_row)
    return headers


def batch_info(headers: Mapping[str, str] | None) -> BatchInfo | None:
    if not headers or H_COUNT not in headers:
        return None
    seq = headers.get(H_LAST_SEQ)
    row = headers.get(H_SOURCE_ROW)
    return BatchInfo(
        count=int(headers[H_COUNT]),
        first_id=headers.get(H_FIRST_ID, ""),
        last_id=headers.get(H_LAST_ID, ""),
        last_seq=int(seq) if seq else None,
        source=headers.get(H_SOURCE),
        source_row=int(row) if row else None,
    )


def encode(batch: pa.Table, encoding: str = ARROW) -> bytes:
    """One batch (canonical columns, one exchange and symbol) as a message payload."""
    batch = batch.select(TRADE_SCHEMA.names).cast(TRADE_SCHEMA)
    if encoding == ARROW:
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, TRADE_SCHEMA) as writer:
            writer.write_table(batch)
        return sink.getvalue().to_pybytes()
    if encoding == JSON:
        doc = {
            "v": 1,
            "exchange": batch["exchange"][0].as_py(),
            "symbol": batch["symbol"][0].as_py(),
            "ts_us": batch["ts_us"].to_pylist(),
            "local_ts_us": batch["local_ts_us"].to_pylist(),
            "trade_id": batch["trade_id"].to_pylist(),
            "trade_seq": batch["trade_seq"].to_pylist(),
            "side": batch["side"].to_pylist(),
            # Decimal text, never floats: the warehouse keeps prices exact.
            "price": pc.cast(batch["price"], pa.string()).to_pylist(),
            "amount": pc.cast(batch["amount"], pa.string()).to_pylist(),
        }
        return json.dumps(doc, separators=(",", ":")).encode()
    raise ValueError(f"unknown encoding {encoding!r}; expected one of {ENCODINGS}")


def decode(payload: bytes, headers: Mapping[str, str] | None = None) -> pa.Table:
    """A message payload back to canonical trades (the encoding comes from the headers)."""
    encoding = (headers or {}).get(H_FORMAT, ARROW)
    if encoding == ARROW:
        with pa.ipc.open_stream(payload) as reader:
            return reader.read_all()
    if encoding == JSON:
        doc = json.loads(payload)
        n = len(doc["ts_us"])
        return pa.table(
            {
                "exchange": pa.array([doc["exchange"]] * n, pa.string()),
                "symbol": pa.array([doc["symbol"]] * n, pa.string()),
                "ts_us": pa.array(doc["ts_us"], pa.int64()),
                "local_ts_us": pa.array(doc["local_ts_us"], pa.int64()),
                "trade_id": pa.array(doc["trade_id"], pa.string()),
                "trade_seq": pa.array(doc["trade_seq"], pa.int64()),
                "side": pa.array(doc["side"], pa.string()),
                "price": pc.cast(pa.array(doc["price"], pa.string()), PRICE_TYPE),
                "amount": pc.cast(pa.array(doc["amount"], pa.string()), AMOUNT_TYPE),
            }
        ).cast(TRADE_SCHEMA)
    raise ValueError(f"unknown payload format {encoding!r}")
