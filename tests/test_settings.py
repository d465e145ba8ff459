"""`ingest.settings.Settings`: every default computed once, from one environment, and read by every consumer."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.cold.config import ColdStoreConfig
from ingest.errors import SettingError
from ingest.lake import LakeConfig
from ingest.settings import PROJECT_ROOT, Settings


def test_every_default_hangs_off_tickwh_home(tmp_path: Path) -> None:
    s = Settings.from_env({"TICKWH_HOME": str(tmp_path)})
    assert (s.home, s.landing_root, s.dagster_home, s.docs_dir) == (
        tmp_path, tmp_path / "landing", tmp_path / "dagster_home", tmp_path / "docs")
    assert s.chdb_path == str(tmp_path / "chdb")
    assert s.cold_local_root == str(tmp_path / "cold") and s.cold_endpoint is None
    assert (s.cold_bucket, s.cold_prefix, s.warm_days, s.lake_keep_days) == ("tickwh-cold", "warehouse", 30, 30.0)
    assert s.live is None and s.partitions_start == "2020-01-01" and s.catchup_interval_s == 3600
    lake = LakeConfig.from_settings(s)
    assert lake == LakeConfig.embedded(tmp_path)
    assert ColdStoreConfig.from_settings(s).describe() == (tmp_path / "cold").resolve().as_uri() + "/warehouse"


def test_unset_home_is_the_checkout_var_folder_whatever_the_working_directory(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    assert Settings.from_env({}).home == PROJECT_ROOT / "var"


def test_variables_override_and_an_endpoint_turns_the_local_fallback_off(tmp_path: Path) -> None:
    s = Settings.from_env({
        "TICKWH_HOME": str(tmp_path), "TICKWH_LAKE_CATALOG": "postgres:dbname=lake host=db",
        "TICKWH_LAKE_DATA": "s3://bucket/lake/", "TICKWH_COLD_ENDPOINT": "http://127.0.0.1:8333",
        "TICKWH_WARM_DAYS": "7", "TICKWH_LIVE": "off", "TICKWH_LANDING_ROOT": str(tmp_path / "in"),
    })
    assert (s.cold_endpoint, s.cold_local_root, s.warm_days, s.live) == ("http://127.0.0.1:8333", None, 7, False)
    assert s.landing_root == tmp_path / "in"
    lake = LakeConfig.from_settings(s)
    assert (lake.catalog, lake.data_path) == ("postgres:dbname=lake host=db", "s3://bucket/lake/")


def test_a_bad_live_value_is_refused_naming_the_variable_and_what_is_allowed() -> None:
    with pytest.raises(SettingError, match=r"^TICKWH_LIVE: 'maybe' is not on or off: expected 1/true/yes/on or "
                       r"0/false/no/off \(unset: automatic\)$"):
        Settings.from_env({"TICKWH_LIVE": "maybe"})
    assert Settings.from_env({"TICKWH_LIVE": "Off"}).live is False
    assert Settings.from_env({}).live is None


def test_the_code_location_resources_come_from_the_settings(tmp_path: Path) -> None:
    from orchestration.definitions import default_resources

    s = Settings.from_env({"TICKWH_HOME": str(tmp_path), "TICKWH_NATS_URL": "nats://10.0.0.1:4222"})
    resources = default_resources(s)
    assert resources["warehouse"].lake_config().catalog == LakeConfig.embedded(tmp_path).catalog
    assert resources["landing"].path == tmp_path / "landing"
    assert resources["nats"].url == "nats://10.0.0.1:4222"
    assert resources["hot"].path == str(tmp_path / "chdb")
    assert resources["cold"].config().local_root == str(tmp_path / "cold")
