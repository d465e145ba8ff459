"""The hot tier's committed stream position: the highest JetStream sequence it holds, published by its writer.

Why a file beside the incident store and not a query of `hot_trades`: embedded chdb admits one
process per directory, and the long-lived `tickwh hot-loader` holds it for as long as it runs, so
a freshness probe (a sensor tick, `tickwh status`) that opened the hot tier would wait on the
writer or, worse, make the writer wait. So every writer (the `hot_load` op and the hot-loader)
publishes, after each range load commits, what the hot tier then holds: `max(stream_seq)` read
back from `hot_trades` by the Dagster op, the loader's own landed sequence for the hot-loader
(which resumes from that same `max(stream_seq)`). Readers judge by that, whichever path loaded.

One small JSON file per stream, replaced atomically, so a reader never sees half a write. It names
the hot tier it describes (`HotTarget.describe()`): a position of another hot tier is ignored.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from clickhouse_connect.driver.client import Client


@dataclass(frozen=True)
class HotPosition:
    target: str  # HotTarget.describe() of the hot tier
    stream: str
    landed_seq: int  # highest stream sequence the hot tier holds (committed)
    committed_at: float  # unix time the writer published it
    writer: str  # who loaded: "hot_load run <id>", "tickwh hot-loader pid <n>"


def position_file(monitoring_dir: str | Path, stream: str) -> Path:
    return Path(monitoring_dir) / f"hot_position_{stream}.json"


def held_seq(client: Client) -> int:
    """The highest stream sequence `hot_trades` holds (0: empty)."""
    return int(client.query("SELECT max(stream_seq) FROM hot_trades").result_rows[0][0] or 0)


def record(monitoring_dir: str | Path, target: str, stream: str, landed_seq: int, writer: str) -> HotPosition:
    position = HotPosition(target, stream, int(landed_seq), time.time(), writer)
    path = position_file(monitoring_dir, stream)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(asdict(position)))
    os.replace(tmp, path)  # atomic: a reader sees the old position or the new one
    return position


def read(monitoring_dir: str | Path | None, target: str, stream: str) -> HotPosition | None:
    """The position last published for this hot tier and stream; None when none was (or for another tier)."""
    if monitoring_dir is None:
        return None
    try:
        doc = json.loads(position_file(monitoring_dir, stream).read_text())
    except (FileNotFoundError, ValueError):
        return None
    position = HotPosition(**doc)
    return position if position.target == target else None
