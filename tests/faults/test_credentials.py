"""Row 10: credentials come from the environment only and never appear in logs, metadata or errors.

A password embedded in TICKWH_CLICKHOUSE_URL (or in the S3 endpoint) is refused with a message
pointing to the variable that should hold it, and the message does not repeat it. With the
password where it belongs, real failures (a ClickHouse server that is not there, a SeaweedFS
that refuses a wrong secret, a NATS server that is down) are driven through Dagster, and every
log line, event, metadata value and error message of the run is searched for the secret.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import logging
import os
import secrets
import signal
import subprocess
import sys
import traceback
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from dagster import (
    DagsterInstance,
    Failure,
    RetryPolicy,
    RetryRequested,
    SkipReason,
    asset,
    build_sensor_context,
    instance_for_test,
    job,
    materialize,
    serialize_value,
)

from ingest import lake
from ingest.cold.config import ColdStoreConfig
from ingest.cold.seaweed import SeaweedServer, free_ports
from ingest.hot.client import HotTarget
from ingest.landing import trades_file_name
from ingest.redact import redact
from orchestration.definitions import build_defs
from orchestration.defs.live.checks import hot_tier_matches_warm
from orchestration.defs.live.jobs import load_stream_range
from orchestration.defs.live.resources import HotTierResource, NatsResource, clickhouse_url
from orchestration.defs.live.sensors import make_hot_load_sensor
from orchestration.defs.raw.assets import raw_trades
from orchestration.lib.redaction import is_redacted, redacted
from orchestration.lib.resources import LandingZoneResource, WarehouseResource
from tests.conftest import TRADES_HEADER

DAY = dt.date(2024, 1, 1)
T0 = 1_704_067_200_000_000
SECRET = "pw-" + secrets.token_hex(8)


def closed_port() -> int:
    """A loopback port nothing listens on: the server that is not there."""
    return free_ports(1)[0]


def assert_absent(secret: str, *texts: str) -> None:
    for text in texts:
        assert secret not in text, f"secret leaked into: {text[:300]!r}"


def test_password_in_clickhouse_url_is_refused_without_echoing_it(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    url = f"http://tickwh:{SECRET}@127.0.0.1:{closed_port()}/tickwh"
    monkeypatch.setenv("TICKWH_CLICKHOUSE_URL", url)
    errors = []
    for attempt in (clickhouse_url, lambda: HotTarget(url=url), lambda: HotTierResource(url=url).target()):
        with pytest.raises(ValueError, match="TICKWH_CLICKHOUSE_PASSWORD") as err:
            attempt()
        errors.append(str(err.value))
    # The code location itself refuses to load rather than show the URL as resource config.
    with pytest.raises(ValueError, match="TICKWH_CLICKHOUSE_PASSWORD") as err:
        build_defs()
    errors.append(str(err.value))
    assert "http://tickwh@127.0.0.1:" in errors[0]  # the URL to use instead, without the secret
    out, err_text = capfd.readouterr()
    assert_absent(SECRET, *errors, caplog.text, out, err_text)
    # An empty password field is a password field too.
    with pytest.raises(ValueError, match="TICKWH_CLICKHOUSE_PASSWORD"):
        HotTarget(url="http://tickwh:@127.0.0.1:8123/db")


def test_clickhouse_password_from_the_environment_never_reaches_run_logs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """The check against a ClickHouse server that is down: the run records the failure, not the secret."""
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("TICKWH_CLICKHOUSE_PASSWORD", SECRET)
    landing = tmp_path / "landing"
    landing.mkdir()
    with gzip.open(landing / trades_file_name("simex", DAY), "wt") as fh:
        fh.write(f"{TRADES_HEADER}\nsimex,BTCUSDT,{T0 + 1},{T0 + 2},1,buy,100,1\n")
    hot = HotTierResource(url=f"http://tickwh@127.0.0.1:{closed_port()}/tickwh", ttl_hours=0, live=True)
    with DagsterInstance.ephemeral() as instance:
        result = materialize(
            [raw_trades, hot_tier_matches_warm],
            resources={"warehouse": WarehouseResource.at(tmp_path),
                       "landing": LandingZoneResource(root=str(landing)), "hot": hot},
            partition_key=DAY.isoformat(), instance=instance, raise_on_error=False,
        )
        assert not result.success  # the check could not reach the server: a real, visible failure
        failures = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
        assert [e.step_key for e in failures] == ["hot_tier_matches_warm"]
        error = failures[0].step_failure_data.error
        assert "127.0.0.1" in str(error.to_string())  # the error says where it failed...
        records = instance.all_logs(result.run_id)
        assert len(records) > 10
        out, err_text = capfd.readouterr()
        assert_absent(SECRET, error.to_string(), *(repr(r) for r in records), caplog.text, out, err_text)


def test_s3_credentials_stay_out_of_urls_descriptions_and_errors(
    seaweed: SeaweedServer, s3_credentials: tuple[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    key, secret = s3_credentials
    with pytest.raises(ValueError, match="AWS_SECRET_ACCESS_KEY") as err:
        ColdStoreConfig(endpoint_url=f"http://{key}:{secret}@127.0.0.1:9000")
    texts = [str(err.value)]
    wrong = "wrong-" + secrets.token_hex(8)
    config = ColdStoreConfig(endpoint_url=seaweed.endpoint_url, bucket="tickwh-creds", access_key_id=key,
                             secret_access_key=wrong)
    texts += [repr(config), config.describe()]
    with pytest.raises(Exception) as refused:  # noqa: PT011 - whatever boto3 raises, it must not carry the secret
        config.open().store.ensure_ready()
    texts.append(str(refused.value))
    assert "(403)" in texts[-1] and "s3://tickwh-creds" in texts[-1]  # refused, and the error names the bucket
    good = ColdStoreConfig(endpoint_url=seaweed.endpoint_url, bucket="tickwh-creds", access_key_id=key,
                           secret_access_key=secret)
    good.open().store.ensure_ready()  # the same store with the right secret works
    texts += [repr(good), good.describe()]
    assert_absent(secret, *texts, caplog.text)
    assert_absent(wrong, *texts, caplog.text)


def test_nats_password_is_masked_in_the_sensor_skip_reason() -> None:
    sensor = make_hot_load_sensor(name="hot_load_sensor_creds")
    down = NatsResource(url=f"nats://tickwh:{SECRET}@127.0.0.1:{closed_port()}", timeout_s=0.5)
    with DagsterInstance.ephemeral() as instance:
        result = sensor(build_sensor_context(instance=instance, resources={"nats": down}))
    assert isinstance(result, SkipReason)
    text = result.skip_message or ""
    assert "not reachable" in text and "nats://tickwh:***@127.0.0.1" in text
    assert_absent(SECRET, text)


# ---------------------------------------------------------------------------------------------------
# Issue 22: one canary in every secret, every command and job driven into its error path.
# The canary holds \r, \n, quotes and @ (a key file with Windows line endings, a password with an
# `@`); its random core appears in every form a text could carry it (raw, repr- or JSON-escaped,
# stripped, percent-encoded), so finding the core anywhere is a leak, whatever the form.
CORE = "cNry" + secrets.token_hex(6)
CANARY = f"{CORE}\"'@x\r\n"
CANARY_URL_PW = quote(CANARY, safe="")
SECRET_VARS = ("TICKWH_LAKE_S3_SECRET_ACCESS_KEY", "AWS_SECRET_ACCESS_KEY", "PGPASSWORD",
               "TICKWH_CLICKHOUSE_PASSWORD", "TICKWH_API_TOKEN")


def canary_forms() -> set[str]:
    out = {CORE}
    for s in (CANARY, CANARY.strip()):
        out |= {s, repr(s)[1:-1], json.dumps(s)[1:-1], quote(s, safe="")}
    return out


def assert_no_canary(where: str, text: str) -> None:
    found = [f for f in canary_forms() if f in text]
    assert not found, f"canary {found[0]!r} in {where}: ...{text[max(0, text.find(found[0]) - 200):][:400]!r}"


def canary_env(home: Path, nats_port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TICKWH_", "AWS_"))}
    env.update({name: CANARY for name in SECRET_VARS})
    env.update(
        TICKWH_HOME=str(home), DAGSTER_HOME=str(home / "dagster_home"),
        TICKWH_LAKE_DATA="s3://tickwh-canary/lake/", TICKWH_LAKE_S3_ENDPOINT=f"http://127.0.0.1:{closed_port()}",
        TICKWH_LAKE_S3_ACCESS_KEY_ID="tickwh-canary-key", AWS_ACCESS_KEY_ID="tickwh-canary-key",
        TICKWH_NATS_URL=f"nats://tickwh:{CANARY_URL_PW}@127.0.0.1:{nats_port}",
        TICKWH_CLICKHOUSE_URL=f"http://tickwh@127.0.0.1:{closed_port()}/tickwh",
    )
    return env


def run_cli(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tickwh.cli", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)


def test_canary_secrets_never_leave_any_command(tmp_path: Path) -> None:
    """Every command that reads a secret, driven into its error path, prints no form of it."""
    home = tmp_path / "home"
    nats_port = closed_port()
    env = canary_env(home, nats_port)
    results = {
        "history": run_cli(env, tmp_path, "history", "trades", "BTCUSDT", "--start", "2024-01-01", "--days", "1"),
        "lake snapshots": run_cli(env, tmp_path, "lake", "snapshots"),
        "lake maintain -v": run_cli(env, tmp_path, "-v", "lake", "maintain"),
        "lake migrate": run_cli(env, tmp_path, "lake", "migrate", "--from", str(tmp_path / "none.duckdb")),
    }
    for name, out in results.items():
        assert out.returncode == 2, f"{name}: {out.returncode} {out.stderr[-2000:]}"
        assert_no_canary(f"{name} stdout", out.stdout)
        assert_no_canary(f"{name} stderr", out.stderr)
    # The lake secret's own check names the variable, never the value (defect 2).
    assert "TICKWH_LAKE_S3_SECRET_ACCESS_KEY: control character" in results["lake snapshots"].stderr
    # The feed handler against a closed port: every retry line, then its stop (SIGTERM).
    trades = tmp_path / "trades.csv"
    trades.write_text(f"{TRADES_HEADER}\nbinance,BTCUSDT,1,2,1,buy,1,1\n")
    feed = subprocess.Popen([sys.executable, "-m", "tickwh.cli", "feed", "--file", str(trades), "--nats",
                             env["TICKWH_NATS_URL"]], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    seen = ""
    try:
        while seen.count("retrying in") < 3:
            assert feed.poll() is None, seen
            seen += feed.stderr.readline()
        feed.send_signal(signal.SIGTERM)
        out, err = feed.communicate(timeout=10)
    finally:
        if feed.poll() is None:
            feed.kill()
            feed.wait()
    assert f"nats://tickwh:***@127.0.0.1:{nats_port}" in seen
    assert_no_canary("feed stdout", out)
    assert_no_canary("feed stderr", seen + err)
    assert not list(tmp_path.glob("*.csv.gz"))


def _storage_text(root: Path) -> str:
    """Every byte the Dagster instance stored (sqlite run/event storage, compute logs), as text."""
    return "\n".join(p.read_bytes().decode("latin-1") for p in sorted(root.rglob("*")) if p.is_file())


def _check_run(instance: DagsterInstance, run_id: str, root: Path, what: str) -> list[Any]:
    records = instance.all_logs(run_id)
    assert records
    for r in records:
        assert_no_canary(f"{what} event log", serialize_value(r))
    assert_no_canary(f"{what} run storage", _storage_text(root))
    return [r.dagster_event for r in records if r.dagster_event is not None]


def test_canary_secrets_never_reach_dagster_events_or_run_storage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """raw_trades with the bad lake secret, hot_load with NATS down: failures stored, canary nowhere."""
    caplog.set_level(logging.DEBUG)
    nats_port = closed_port()
    for name, value in canary_env(tmp_path / "home", nats_port).items():
        monkeypatch.setenv(name, value)
    landing = tmp_path / "landing"
    landing.mkdir()
    with gzip.open(landing / trades_file_name("simex", DAY), "wt") as fh:
        fh.write(f"{TRADES_HEADER}\nsimex,BTCUSDT,{T0 + 1},{T0 + 2},1,buy,100,1\n")
    root = tmp_path / "dagster"
    root.mkdir()
    with instance_for_test(temp_dir=str(root)) as instance:
        lake_s3 = WarehouseResource(catalog=f"sqlite:{tmp_path / 'catalog.sqlite'}",
                                    data_path="s3://tickwh-canary/lake/", s3_region="us-east-1",
                                    s3_endpoint=f"http://127.0.0.1:{closed_port()}")
        raw = materialize([raw_trades], resources={"warehouse": lake_s3,
                                                   "landing": LandingZoneResource(root=str(landing))},
                          partition_key=DAY.isoformat(), instance=instance, raise_on_error=False)
        assert not raw.success
        events = _check_run(instance, raw.run_id, root, "raw_trades")
        failure = next(e for e in events if e.event_type_value == "STEP_FAILURE").step_failure_data.error
        assert "TICKWH_LAKE_S3_SECRET_ACCESS_KEY" in failure.to_string()  # the error names the variable

        @job(name="hot_load_canary")
        def hot_load_canary() -> None:  # hot_load's op; one quick retry instead of three slow ones
            load_stream_range.with_retry_policy(RetryPolicy(max_retries=1, delay=0))()

        nats = NatsResource(url=os.environ["TICKWH_NATS_URL"], connect_deadline_s=0.5)
        hot = hot_load_canary.execute_in_process(
            run_config={"ops": {"load_stream_range": {"config": {"first_seq": 1, "last_seq": 5}}}},
            resources={"nats": nats, "hot": HotTierResource(path=str(tmp_path / "chdb"), url=None, ttl_hours=0)},
            instance=instance, raise_on_error=False,
        )
        assert not hot.success
        events = _check_run(instance, hot.run_id, root, "hot_load")
        kinds = [e.event_type_value for e in events]
        assert "STEP_UP_FOR_RETRY" in kinds and "STEP_FAILURE" in kinds
        failure = next(e for e in events if e.event_type_value == "STEP_FAILURE").step_failure_data.error
        assert f"nats://tickwh:***@127.0.0.1:{nats_port}" in failure.to_string()  # where, without the secret
    out, err = capfd.readouterr()
    assert_no_canary("captured stdout", out)
    assert_no_canary("captured stderr", err)
    assert_no_canary("python logs", caplog.text)


def test_a_step_failure_carrying_a_raw_secret_is_stored_redacted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The mechanism itself: an exception whose text and cause hold the canary verbatim. Through
    `redacted` (every definition of `defs` has it) the stored failure holds none of it; the same
    asset without it stores the canary, so the search above can find a leak."""
    monkeypatch.setenv("TICKWH_API_TOKEN", CANARY)

    def leaky() -> None:
        try:
            raise ConnectionError(f"refused nats://u:{CANARY_URL_PW}@h:1 with token {CANARY!r}")
        except ConnectionError as exc:
            raise RuntimeError(f"failed with {CANARY}") from exc

    @asset(name="leaky_redacted")
    @redacted
    def leaky_redacted(context) -> None:  # noqa: ANN001 - Dagster reads the annotation at run time
        context.log.warning(f"about to use {CANARY}")  # a run log message, stored in the event log
        leaky()

    @asset(name="leaky_raw")
    def leaky_raw(context) -> None:  # noqa: ANN001
        context.log.warning(f"about to use {CANARY}")
        leaky()

    for target, leaks in ((leaky_redacted, False), (leaky_raw, True)):
        root = tmp_path / target.key.to_user_string()
        root.mkdir()
        with instance_for_test(temp_dir=str(root)) as instance:
            result = materialize([target], instance=instance, raise_on_error=False)
            assert not result.success
            if leaks:
                with pytest.raises(AssertionError, match="canary"):
                    _check_run(instance, result.run_id, root, "control")
            else:
                events = _check_run(instance, result.run_id, root, "redacted")
                error = next(e for e in events if e.event_type_value == "STEP_FAILURE").step_failure_data.error
                assert "RuntimeError: failed with ***" in error.to_string()
                messages = [r.user_message for r in instance.all_logs(result.run_id)]
                assert "about to use ***" in messages


def test_every_asset_check_and_op_of_the_code_location_is_redacted() -> None:
    """The guarantee for definitions nobody listed: a new asset, check or op without `redacted` fails here."""
    repo = build_defs().get_repository_def()
    ops = {op.name: op for job in repo.get_all_jobs() for op in job.graph.iterate_op_defs()}
    assert len(ops) >= 20
    assert [name for name, op in ops.items() if not is_redacted(op.compute_fn.decorated_fn)] == []


def test_redaction_point_masks_a_lake_secret_ending_in_a_line_break(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("TICKWH_LAKE_S3_SECRET_ACCESS_KEY", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv("TICKWH_LAKE_S3_SECRET_ACCESS_KEY", raising=False)
        monkeypatch.delenv("AWS_SECRET_ACCESS_KEY", raising=False)
        monkeypatch.setenv(var, "SuperSecretValue123\r")
        # The message of the defect, were any code to produce it again: masked by the one redaction point.
        assert redact("error: control character in lake setting 'SuperSecretValue123\\r'") == (
            "error: control character in lake setting '***'")
        monkeypatch.setenv("TICKWH_LAKE_DATA", "s3://tickwh-canary/lake/")
        with pytest.raises(lake.LakeError, match=f"^{var}: control character") as err:
            lake.LakeConfig.from_env(home=Path("/nonexistent"))  # names the variable...
        assert "SuperSecret" not in str(err.value)  # ...never the value
        monkeypatch.delenv("TICKWH_LAKE_DATA")
        lake.LakeConfig.from_env(home=Path("/nonexistent"))  # a local lake does not use the S3 secret at all


def test_failure_and_retry_requested_are_redacted_too(monkeypatch: pytest.MonkeyPatch) -> None:
    """A step's `Failure` (description, metadata) and `RetryRequested` (its cause) pass the redaction point."""
    monkeypatch.setenv("TICKWH_API_TOKEN", CANARY)

    @redacted
    def fails() -> None:
        raise Failure(description=f"refused {CANARY}", metadata={"detail": f"token {CANARY!r}", "n": 3})

    @redacted
    def retries() -> None:
        try:
            raise ConnectionError(f"lost with {CANARY}")
        except ConnectionError as exc:
            raise RetryRequested(max_retries=2, seconds_to_wait=1) from exc

    with pytest.raises(Failure) as failure:
        fails()
    assert failure.value.description == "refused ***"
    assert {k: v.value for k, v in failure.value.metadata.items()} == {"detail": "token '***'", "n": "3"}
    assert failure.value.__cause__ is None and failure.value.__suppress_context__
    with pytest.raises(RetryRequested) as retry:
        retries()
    assert retry.value.max_retries == 2 and retry.value.seconds_to_wait == 1
    assert "ConnectionError: lost with ***" in str(retry.value.__cause__)
    assert_no_canary("retry cause", "".join(traceback.format_exception(retry.value)))
