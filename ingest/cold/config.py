"""Where the cold tier lives: one small value object, read from arguments or the environment.

The Dagster resource, the CLI and the benchmark all build their store from this, so the rules
(which setting wins, when the local-directory fallback applies) exist once. Credentials are
never defaults: they come from the caller (the resource's `EnvVar`s) or boto3's own chain
(AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, profiles, instance roles).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from ingest import args as rules
from ingest.cold.layout import ColdTier
from ingest.cold.store import LocalColdStore, S3ColdStore
from ingest.errors import SettingError
from ingest.settings import DEFAULT_COLD_BUCKET as DEFAULT_BUCKET
from ingest.settings import DEFAULT_COLD_PREFIX as DEFAULT_PREFIX
from ingest.settings import DEFAULT_REGION, Settings, tickwh_home

ENV_ENDPOINT = "TICKWH_COLD_ENDPOINT"
ENV_BUCKET = "TICKWH_COLD_BUCKET"
ENV_PREFIX = "TICKWH_COLD_PREFIX"
ENV_REGION = "TICKWH_COLD_REGION"
ENV_LOCAL_ROOT = "TICKWH_COLD_LOCAL_ROOT"
ENV_WARM_DAYS = "TICKWH_WARM_DAYS"



def default_var_dir() -> Path:
    return tickwh_home()


@dataclass(frozen=True)
class ColdStoreConfig:
    """An S3 bucket + prefix, or (`local_root` / a `file://` endpoint) a directory with the same layout."""

    endpoint_url: str | None = None
    bucket: str = DEFAULT_BUCKET
    prefix: str = DEFAULT_PREFIX
    region: str = DEFAULT_REGION
    local_root: str | None = None
    access_key_id: str | None = field(default=None, repr=False)
    secret_access_key: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.endpoint_url and not self.endpoint_url.startswith("file://"):
            u = urlparse(self.endpoint_url)
            if u.password or u.username:
                # Never echo the URL: it holds the secret.
                raise SettingError(
                    ENV_ENDPOINT,
                    "credentials embedded in the S3 endpoint URL are refused; set "
                    "AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY in the environment and give the endpoint as "
                    f"{u.scheme}://{u.hostname}:{u.port or ''}",
                )
        if not self.is_local:
            try:
                rules.bucket(self.bucket or "")  # the rule TICKWH_COLD_BUCKET and --bucket follow
            except rules.Invalid as exc:
                raise SettingError(ENV_BUCKET, str(exc)) from None

    @property
    def is_local(self) -> bool:
        return bool(self.local_root) or bool(self.endpoint_url and self.endpoint_url.startswith("file://"))

    def open(self) -> ColdTier:
        """The store and key prefix to archive to and read from."""
        if self.local_root:
            return ColdTier(LocalColdStore(self.local_root), self.prefix)
        if self.endpoint_url and self.endpoint_url.startswith("file://"):
            return ColdTier(LocalColdStore(self.endpoint_url), self.prefix)
        store = S3ColdStore.connect(
            self.bucket,
            endpoint_url=self.endpoint_url,
            region=self.region,
            access_key_id=self.access_key_id,
            secret_access_key=self.secret_access_key,
        )
        return ColdTier(store, self.prefix)

    def describe(self) -> str:
        """Where archives go, for logs and metadata (never the credentials)."""
        if self.local_root:
            return Path(self.local_root.removeprefix("file://")).resolve().as_uri() + "/" + self.prefix
        if self.endpoint_url and self.endpoint_url.startswith("file://"):
            return self.endpoint_url.rstrip("/") + "/" + self.prefix
        where = f" at {self.endpoint_url}" if self.endpoint_url else ""
        return f"s3://{self.bucket}/{self.prefix}{where}"

    @classmethod
    def from_env(cls, var_dir: Path | None = None) -> ColdStoreConfig:
        """TICKWH_COLD_* variables; with no endpoint and no local root, the directory `<var>/cold`.

        The fallback keeps a fresh checkout working without a server; setting an endpoint (as
        `python -m ingest.cold.seaweed run -- ...` does) switches to S3.
        """
        return cls.from_settings(Settings.from_env(home=var_dir))

    @classmethod
    def from_settings(cls, settings: Settings) -> ColdStoreConfig:
        return cls(
            endpoint_url=settings.cold_endpoint,
            bucket=settings.cold_bucket,
            prefix=settings.cold_prefix,
            region=settings.cold_region,
            local_root=settings.cold_local_root,
        )


def default_warm_days() -> int:
    return Settings.from_env().warm_days
