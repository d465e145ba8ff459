"""A real archiving process for the crash rows: `python -m tests.faults.archive_child HOME DAY STOP_AT MARKER`.

It archives `raw_trades` of DAY into the store of the TICKWH_COLD_* environment and, at STOP_AT
(`manifest`: the object is uploaded and verified, the manifest not yet written; `cleanup`: the
manifest is published, the previous run's objects not yet deleted), writes MARKER and waits to
be killed. The test then sends SIGKILL: nothing in this process gets to run a handler.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import time
from pathlib import Path
from typing import Any

from ingest import lake
from ingest.cold import ColdStoreConfig, archive_days
from ingest.cold.layout import MANIFEST_NAME, RAW_TRADES


def main() -> int:
    warehouse, day, stop_at, marker = sys.argv[1], dt.date.fromisoformat(sys.argv[2]), sys.argv[3], Path(sys.argv[4])
    tier = ColdStoreConfig.from_env().open()
    store: Any = tier.store
    put_bytes, delete = store.put_bytes, store.delete

    def park(what: str, keys: list[str]) -> None:
        marker.write_text(json.dumps({"at": what, "keys": keys, "listed": store.list_keys(tier.prefix)}))
        time.sleep(300)  # the test kills us here; if it does not, fail loudly rather than go on
        raise SystemExit("not killed")

    def put_bytes_then_park(key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        if stop_at == "manifest" and key.endswith(MANIFEST_NAME):
            park("manifest", [key])
        put_bytes(key, data, content_type)

    def delete_then_park(keys: list[str]) -> None:
        if stop_at == "cleanup":
            park("cleanup", list(keys))
        delete(keys)

    store.put_bytes, store.delete = put_bytes_then_park, delete_then_park
    with lake.connect(lake.LakeConfig.embedded(warehouse), read_only=True) as con:
        archive_days(con, tier, [day], [RAW_TRADES])
    return 0


if __name__ == "__main__":
    sys.exit(main())
