"""Live metrics scraped by a real Prometheus (Debian's `prometheus`, `make prometheus` installs it).

A nats-server, the feed handler replaying a real Binance file and the long-lived hot loader run as
processes with their /metrics ports set; Prometheus scrapes both every 0.5 s; PromQL over its HTTP
API must return values that move while the file flows. The example rules pass `promtool`.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from tests.monitoring_receivers import free_port
from tests.test_live import NatsServer

REPO = Path(__file__).resolve().parents[1]
PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
RULES = REPO / "ops" / "prometheus" / "alerts.yml"


def test_example_rules_pass_promtool() -> None:
    out = subprocess.run([PROMTOOL, "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS: 5 rules found" in out.stdout


def query(port: int, promql: str) -> list[dict]:
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    with urllib.request.urlopen(url, timeout=5) as resp:
        body = json.load(resp)
    assert body["status"] == "success", body
    return body["data"]["result"]


def value(port: int, promql: str) -> float | None:
    result = query(port, promql)
    return float(result[0]["value"][1]) if result else None


def ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/-/ready", timeout=2) as resp:
            return resp.status == 200
    except OSError:
        return False


def wait_until(pred, timeout: float, what: str) -> None:  # noqa: ANN001
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.skipif(not Path(PROMETHEUS).exists(), reason="Debian's prometheus is missing: run `make prometheus`")
def test_prometheus_scrapes_moving_feed_and_hot_loader_metrics(tmp_path: Path, real_trades_file: Path) -> None:
    store = tmp_path / "js"
    store.mkdir()
    nats = NatsServer(store)
    nats.start()
    feed_port, hot_port, prom_port = free_port(), free_port(), free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO), "TICKWH_HOME": str(tmp_path / "var"),
           "TICKWH_CHDB_PATH": str(tmp_path / "chdb"), "TICKWH_NATS_URL": nats.url,
           "TICKWH_FEED_METRICS_PORT": str(feed_port), "TICKWH_HOT_METRICS_PORT": str(hot_port)}
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 500ms, evaluation_interval: 1s}\n"
        f"rule_files: ['{RULES}']\n"
        "scrape_configs:\n"
        f"  - job_name: tickwh_feed\n    static_configs: [{{targets: ['127.0.0.1:{feed_port}']}}]\n"
        f"  - job_name: tickwh_hot\n    static_configs: [{{targets: ['127.0.0.1:{hot_port}']}}]\n"
    )
    procs: list[subprocess.Popen] = []

    def spawn(args: list[str], log: str) -> subprocess.Popen:
        proc = subprocess.Popen(args, cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                                stderr=open(tmp_path / log, "w"))  # noqa: SIM115 - the child owns it
        procs.append(proc)
        return proc

    try:
        prom = spawn([PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                      f"--web.listen-address=127.0.0.1:{prom_port}"], "prometheus.log")
        # The loader starts first and waits for the stream; the feed replays 2 hours of trades at
        # 240x (30 s), so several scrapes see the counters in motion.
        spawn([sys.executable, "-m", "tickwh.cli", "hot-loader", "--poll-s", "0.2"], "hot.log")
        spawn([sys.executable, "-m", "ingest.feed", "--file", str(real_trades_file), "--nats", nats.url,
               "--speed", "240", "--batch-ms", "50"], "feed.log")
        wait_until(lambda: ready(prom_port) or prom.poll() is not None, 60, "prometheus to start")
        assert prom.poll() is None, (tmp_path / "prometheus.log").read_text()[-2000:]
        wait_until(lambda: (value(prom_port, 'sum(up{job=~"tickwh_.*"})') or 0) == 2, 90, "both targets up")
        wait_until(lambda: (value(prom_port, "sum(tickwh_feed_trades_published_total)") or 0) > 0, 60,
                   "published trades")
        first = value(prom_port, "sum(tickwh_feed_trades_published_total)")
        wait_until(lambda: (value(prom_port, "sum(tickwh_feed_trades_published_total)") or 0) > first, 30,
                   "published trades to move")
        wait_until(lambda: (value(prom_port, "tickwh_hot_trades_inserted_total") or 0) > 0, 60, "hot inserts")
        hot_first = value(prom_port, "tickwh_hot_trades_inserted_total")
        wait_until(lambda: (value(prom_port, "tickwh_hot_trades_inserted_total") or 0) > hot_first, 60,
                   "hot inserts to move")
        # The labelled series of the design: per-symbol age and imbalance, latency histograms.
        ages = query(prom_port, "tickwh_feed_last_trade_age_seconds")
        assert [(r["metric"]["exchange"], r["metric"]["symbol"]) for r in ages] == [("binance-futures", "BTCUSDT")]
        assert 0 <= float(ages[0]["value"][1]) < 30
        assert -1 <= value(prom_port, "tickwh_feed_trade_imbalance") <= 1
        assert value(prom_port, "sum(tickwh_feed_publish_seconds_count)") > 0
        assert value(prom_port, "tickwh_hot_insert_seconds_count") > 0
        assert value(prom_port, "sum(tickwh_feed_sequence_gaps_total)") == 0  # the real file has none
        assert value(prom_port, "sum(rate(tickwh_feed_trades_in_total[5s]))") > 0
        assert prom.poll() is None
    finally:
        for proc in reversed(procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
        nats.stop()
