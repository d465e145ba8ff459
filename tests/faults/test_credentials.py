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
import logging
import secrets
from pathlib import Path

import pytest
from dagster import DagsterInstance, SkipReason, build_sensor_context, materialize

from ingest.cold.config import ColdStoreConfig
from ingest.cold.seaweed import SeaweedServer, free_ports
from ingest.hot.client import HotTarget
from ingest.landing import trades_file_name
from orchestration.definitions import build_defs
from orchestration.defs.live.checks import hot_tier_matches_warm
from orchestration.defs.live.resources import HotTierResource, NatsResource, clickhouse_url
from orchestration.defs.live.sensors import make_hot_load_sensor
from orchestration.defs.raw.assets import raw_trades
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
