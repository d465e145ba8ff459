"""Defect 8 of issue 22: `tickwh feed` honours SIGINT and SIGTERM within 2 s while NATS is unreachable.

A real `tickwh feed` process against a closed loopback port sits in its connect back-off (up to
600 s before the fix, which ignored both signals until then). Each signal must end it within 2 s
with the shell's status for that signal (130 SIGINT, 143 SIGTERM: ingest/feed/__main__.py), one
stop line last on stderr, and no traceback.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ingest.cold.seaweed import free_ports
from tests.conftest import TRADES_HEADER

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("sig", "status"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_feed_stops_within_two_seconds_of_a_signal_while_nats_is_down(
    tmp_path: Path, sig: signal.Signals, status: int
) -> None:
    trades = tmp_path / "trades.csv"
    trades.write_text(f"{TRADES_HEADER}\nbinance,BTCUSDT,1,2,1,buy,1,1\n")
    url = f"nats://tickwh:pw@127.0.0.1:{free_ports(1)[0]}"  # nothing listens there
    env = {**os.environ, "TICKWH_HOME": str(tmp_path / "home")}
    proc = subprocess.Popen([sys.executable, "-m", "tickwh.cli", "feed", "--file", str(trades), "--nats", url],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        seen = ""
        while "retrying in" not in seen:  # it is waiting in the back-off now
            assert proc.poll() is None and time.monotonic() < deadline, seen
            seen += proc.stderr.readline()
        time.sleep(0.5)
        sent = time.monotonic()
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=10)
        took = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert took < 2.0, f"{sig.name} honoured after {took:.1f}s"
    assert proc.returncode == status
    err = seen + err
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1] == (
        f"tickwh feed: stopped by {sig.name}; what was not acknowledged is sent again on the next start")
    assert out == ""
    assert ":pw@" not in err and "nats://tickwh:***@127.0.0.1" in err  # the URL's password is masked in every line
