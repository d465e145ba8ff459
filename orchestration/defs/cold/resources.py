"""The cold tier's resource: an S3 bucket + prefix (AWS, SeaweedFS, MinIO), or a local directory."""

# No `from __future__ import annotations`: Dagster inspects resource annotations at runtime.
from dataclasses import asdict
from typing import Any

from dagster import ConfigurableResource
from pydantic import Field

from ingest.cold.config import ColdStoreConfig
from ingest.cold.layout import ColdTier
from ingest.settings import Settings
from orchestration.lib.resources import env_credentials

# The fields that say where the archive is (the rest are credentials).
WHERE = ("endpoint_url", "bucket", "prefix", "region", "local_root")


def _cold_default(attr: str) -> Any:
    return lambda: getattr(ColdStoreConfig.from_settings(Settings.from_env()), attr)


class ColdStorageResource(ConfigurableResource):
    """Where day archives go: an S3 bucket + prefix (AWS, SeaweedFS, MinIO), or a local directory.

    Defaults come from TICKWH_COLD_* variables (see docs/cold.md); credentials only ever from
    `EnvVar`s or boto3's own chain, never from code or committed config.
    """

    endpoint_url: str | None = Field(
        default_factory=_cold_default("endpoint_url"),
        description="S3 endpoint URL; None for AWS itself. A file:// URL means a local directory.",
    )
    bucket: str = Field(default_factory=_cold_default("bucket"), description="S3 bucket")
    prefix: str = Field(default_factory=_cold_default("prefix"), description="key prefix in the bucket")
    region: str = Field(default_factory=_cold_default("region"), description="S3 region")
    local_root: str | None = Field(
        default_factory=_cold_default("local_root"),
        description="a directory with the bucket's layout instead of S3 (the fallback without an endpoint)",
    )
    aws_access_key_id: str | None = Field(default=None, repr=False, description='EnvVar("AWS_ACCESS_KEY_ID")')
    aws_secret_access_key: str | None = Field(
        default=None, repr=False, description='EnvVar("AWS_SECRET_ACCESS_KEY")'
    )

    def config(self) -> ColdStoreConfig:
        return ColdStoreConfig(
            **self.model_dump(include=set(WHERE)),
            access_key_id=self.aws_access_key_id,
            secret_access_key=self.aws_secret_access_key,
        )

    def open(self) -> ColdTier:
        return self.config().open()


def cold_storage_from_settings(settings: Settings) -> ColdStorageResource:
    """The resource of the code location: where from the settings, credentials as `EnvVar`s when set.

    Unset variables leave the fields empty rather than failing every run that does not touch
    the cold tier; boto3 then falls back to its own chain (profile, instance role).
    """
    config = asdict(ColdStoreConfig.from_settings(settings))
    return ColdStorageResource(
        **{name: config[name] for name in WHERE},
        **env_credentials({"aws_access_key_id": "AWS_ACCESS_KEY_ID", "aws_secret_access_key": "AWS_SECRET_ACCESS_KEY"}),
    )
