"""Make docs/img/freshness_checks.png: the UI's checks of raw_trades with a planted late day.

`.venv/bin/python ops/screenshot_freshness.py` (needs Debian's chromium: `make browser`). A temporary
TICKWH_HOME gets two landed days; the older is loaded (GE check passes), the newer is not, so the
freshness sensor records raw_trades' `freshness` check as failed with its overdue seconds. Then the
real `tickwh ui` (no daemon) serves it and headless Chromium takes the picture.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "docs" / "img" / "freshness_checks.png"


def main() -> int:
    home = Path(tempfile.mkdtemp(prefix="tickwh-shot-")) / "var"
    (home / "dagster_home").mkdir(parents=True)
    os.environ.update({"TICKWH_HOME": str(home), "DAGSTER_HOME": str(home / "dagster_home"),
                       "TICKWH_LANDING_ROOT": str(home / "landing"), "TICKWH_BOOK_EXCHANGES": "none",
                       "DAGSTER_DISABLE_TELEMETRY": "1", "TICKWH_LIVE": "0"})
    sys.path.insert(0, str(REPO))
    from dagster import DagsterInstance, build_sensor_context, materialize
    from playwright.sync_api import sync_playwright

    from orchestration.definitions import defs
    from orchestration.defs.monitoring.freshness import freshness_sensor
    from orchestration.defs.quality.checks import checks_by_suite
    from orchestration.defs.raw.assets import raw_book_snapshots, raw_trades
    from orchestration.lib.resources import LandingZoneResource, WarehouseResource
    from tests.conftest import TRADES_HEADER, write_gz
    from tests.test_ui_browser import CHROMIUM, CHROMIUM_ARGS, dismiss_community_dialog
    from tests.ui_servers import free_port, server, wait_http

    today = dt.datetime.now(dt.UTC).date()
    loaded, late = today - dt.timedelta(days=3), today - dt.timedelta(days=2)
    for day in (loaded, late):
        base = int(dt.datetime.combine(day, dt.time(1), dt.UTC).timestamp() * 1e6)
        write_gz(home / "landing" / f"binance_trades_{day}_BTCUSDT.csv.gz", [TRADES_HEADER] + [
            f"binance,BTCUSDT,{base + i * 1_000_000},{base + i * 1_000_000 + 5},{i},buy,42000.5,0.01"
            for i in range(1, 50)])
    instance = DagsterInstance.get()
    resources = {"warehouse": WarehouseResource.at(home), "landing": LandingZoneResource(root=str(home / "landing"))}
    assert materialize([raw_trades, raw_book_snapshots, checks_by_suite["raw_trades"]], resources=resources,
                       partition_key=loaded.isoformat(), instance=instance).success
    freshness_sensor(build_sensor_context(instance=instance, definitions=defs))
    port = free_port()
    log = home / "ui.log"
    with server([str(REPO / ".venv" / "bin" / "tickwh"), "ui", "--port", str(port), "--no-daemon"],
                dict(os.environ), log) as ui:
        url = f"http://127.0.0.1:{port}"
        wait_http(f"{url}/server_info", ui, log, timeout=300)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            page = browser.new_context(viewport={"width": 1440, "height": 900}).new_page()
            page.set_default_timeout(120_000)
            page.goto(f"{url}/assets/raw_trades?view=checks&checkDetail=freshness", wait_until="domcontentloaded")
            dismiss_community_dialog(page)
            page.get_by_text("dagster/overdue_seconds").first.wait_for()
            page.wait_for_timeout(1500)
            page.screenshot(path=str(OUT))
            browser.close()
    # 64 colours keep the PNG small (~40 KB) and the text sharp.
    from PIL import Image

    Image.open(OUT).convert("RGB").quantize(colors=64).save(OUT, optimize=True)
    shutil.rmtree(home.parent, ignore_errors=True)
    print(f"wrote {OUT} ({OUT.stat().st_size // 1024} KB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
