"""Real servers for the fault tests: a SeaweedFS S3 endpoint on a loopback port, stopped afterwards."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from ingest.cold.seaweed import SeaweedServer


@pytest.fixture(scope="module")
def s3_credentials() -> Iterator[tuple[str, str]]:
    """A throwaway identity, handed to the server's -s3.config and to clients through the AWS_* variables."""
    saved = {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    key, secret = "test" + secrets.token_hex(6), secrets.token_urlsafe(24)
    os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"] = key, secret
    yield key, secret
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(scope="module")
def seaweed(tmp_path_factory: pytest.TempPathFactory, s3_credentials: tuple[str, str]) -> Iterator[SeaweedServer]:
    key, secret = s3_credentials
    server = SeaweedServer(tmp_path_factory.mktemp("seaweed"), access_key=key, secret_key=secret).start()
    try:
        yield server
    finally:
        server.stop(timeout=1.0)


def files_under(root: Path) -> set[str]:
    """Every file below `root`, relative: compared before and after a hostile input to prove nothing escaped."""
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}
