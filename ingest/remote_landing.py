"""The landing zone on S3: a worker on another machine fetches a day's landing files into its own home.

With TICKWH_LANDING_S3 set (`s3://bucket/prefix/`), the raw load of a day first copies every landing
file of that day from the bucket into the worker's landing folder (`$TICKWH_HOME/landing` of *that*
worker), then loads from there as on one machine. Every file of the day is fetched, not only the
dataset's own: the missing-file rules (a quotes-only day, the book rule) look at the other datasets'
files of the day too.

Object names come from someone else's bucket: only a name of the landing layout (`ingest/landing.py`:
exchange and symbols validated) directly under the prefix is fetched; anything else under the prefix
is ignored, a hostile name of the layout's shape is an error naming it. A file is written under a
temporary name and renamed (`landing.replacing`), so two steps of one day on one worker fetching the
same file at once never see half of it. A fetched file takes the object's modification time; a file
already present with the object's size and modification time (to the second) is kept, and any other
is fetched again, so an object the vendor re-published, even at the same size, replaces the old copy.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ingest.landing import LandingFileError, parse_landing_name, replacing
from ingest.vendors.source import parse_s3_url

log = logging.getLogger(__name__)

ENV_KEY_ID = "TICKWH_LANDING_S3_ACCESS_KEY_ID"
ENV_SECRET = "TICKWH_LANDING_S3_SECRET_ACCESS_KEY"


class RemoteLandingError(LandingFileError):
    """The bucket could not be listed or a file not fetched: the day's load stops, nothing changes."""


@dataclass(frozen=True)
class RemoteLanding:
    url: str  # s3://bucket/prefix/
    endpoint_url: str | None = None
    region: str | None = None
    access_key_id: str | None = None
    secret_access_key: str | None = None

    def __post_init__(self) -> None:
        parse_s3_url(self.url)  # validated before any request

    def client(self) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.session.Session().client(
            "s3", endpoint_url=self.endpoint_url or None, region_name=self.region or None,
            aws_access_key_id=self.access_key_id or None, aws_secret_access_key=self.secret_access_key or None,
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 5, "mode": "standard"},
                          connect_timeout=10, read_timeout=120),
        )

    def fetch_day(self, day: dt.date, root: Path, client: Any = None) -> list[Path]:
        """Copy the day's landing files into `root`; the paths, sorted. No file for the day: an empty list
        (the loader's missing-file rules then decide, naming what was expected)."""
        bucket, prefix = parse_s3_url(self.url)
        client = client or self.client()
        wanted: list[tuple[str, int, int]] = []
        try:
            pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{prefix}")
            for page in pages:
                for obj in page.get("Contents", []):
                    name = obj["Key"][len(prefix):]
                    if "/" in name or f"_{day.isoformat()}_" not in name:
                        continue
                    parsed = parse_landing_name(Path(name))  # raises on a hostile name of the layout's shape
                    if parsed is not None and parsed.day == day:
                        wanted.append((name, int(obj["Size"]), int(obj["LastModified"].timestamp())))
        except LandingFileError:
            raise
        except Exception as exc:
            raise RemoteLandingError(f"cannot list the landing files of {day} at {self.url}: "
                                     f"{type(exc).__name__}: {exc}") from exc
        out = []
        for name, size, modified in sorted(wanted):
            target = Path(root) / name
            if not _same(target, size, modified):
                try:
                    with replacing(target) as tmp:
                        client.download_file(bucket, prefix + name, str(tmp))
                        os.utime(tmp, (modified, modified))
                except Exception as exc:
                    raise RemoteLandingError(f"cannot fetch landing file s3://{bucket}/{prefix}{name} for {day}: "
                                             f"{type(exc).__name__}: {exc}") from exc
            out.append(target)
        log.info("landing %s: %d file(s) from %s in %s", day, len(out), self.url, root)
        return out


def _same(local: Path, size: int, modified: int) -> bool:
    """The local copy is the object as listed: same size, same modification time (whole seconds)."""
    try:
        st = local.stat()
    except FileNotFoundError:
        return False
    return st.st_size == size and int(st.st_mtime) == modified
