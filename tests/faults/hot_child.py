"""A real hot-tier loader process: `python -m tests.faults.hot_child CHDB_PATH NATS_URL FIRST LAST PART_MSGS`.

Loads stream sequences FIRST..LAST into embedded chdb at CHDB_PATH, printing `insert <rows>` (and
flushing) just before each insert reaches the engine and `inserted <rows>` once the engine has
returned, so a test can SIGKILL it while an insert runs and prove afterwards that it did (an
`insert` line without its `inserted`); at the end it prints the RangeLoad as JSON.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from typing import Any

import pyarrow as pa

import ingest.hot.load as hot_load
from ingest.hot import HotSettings, HotTarget, load_range, open_hot_tier


def main() -> int:
    path, url, first, last, part_msgs = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:6])
    real_insert = hot_load.insert_trades

    def announced_insert(client: Any, rows: pa.Table, token: str) -> int:
        print(f"insert {rows.num_rows}", flush=True)
        done = real_insert(client, rows, token)
        print(f"inserted {rows.num_rows}", flush=True)
        return done

    hot_load.insert_trades = announced_insert  # type: ignore[assignment]
    with open_hot_tier(HotTarget(path=path), HotSettings(ttl_basis="ingest")) as client:
        result = load_range(client, first, last, url=url, part_msgs=part_msgs)
    print(json.dumps(dataclasses.asdict(result)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
