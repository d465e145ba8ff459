"""A worker's landing files fetched from a real S3 bucket (SeaweedFS, started by the fixture): the day's files
only, a hostile name refused, a kept copy reused and a re-published object fetched again."""

from __future__ import annotations

import datetime as dt
import secrets
import time
from pathlib import Path

import pytest

from ingest.landing import LandingFileError
from ingest.remote_landing import RemoteLanding

DAY = dt.date(2024, 3, 4)
TRADES = f"simex_trades_{DAY}_ALL.csv.gz"
BOOKS = f"simex_book_snapshot_5_{DAY}_ALL.csv.gz"
OTHER_DAY = f"simex_trades_{DAY + dt.timedelta(days=1)}_ALL.csv.gz"


@pytest.fixture()
def bucket(seaweed) -> tuple[RemoteLanding, object, str]:
    name = f"landing-{secrets.token_hex(4)}"
    client = seaweed.client()
    client.create_bucket(Bucket=name)
    landing = RemoteLanding(url=f"s3://{name}/landing/", endpoint_url=seaweed.endpoint_url,
                            access_key_id=seaweed.access_key, secret_access_key=seaweed.secret_key)
    return landing, client, name


def test_fetches_the_days_files_and_nothing_else(bucket, tmp_path: Path) -> None:
    landing, client, name = bucket
    for key, body in ((TRADES, b"trades"), (BOOKS, b"books"), (OTHER_DAY, b"next day"),
                      (f"notes_{DAY}_.txt", b"not a landing file"), (f"sub/{TRADES}", b"nested")):
        client.put_object(Bucket=name, Key=f"landing/{key}", Body=body)
    got = landing.fetch_day(DAY, tmp_path / "landing")
    assert [p.name for p in got] == sorted([BOOKS, TRADES])
    assert [p.read_bytes() for p in got] == [b"books", b"trades"]
    assert sorted(p.name for p in (tmp_path / "landing").iterdir()) == sorted([BOOKS, TRADES])


def test_a_hostile_name_of_the_layouts_shape_is_an_error_naming_it(bucket, tmp_path: Path) -> None:
    landing, client, name = bucket
    client.put_object(Bucket=name, Key=f"landing/simex_trades_{DAY}_...csv.gz", Body=b"x")
    with pytest.raises(LandingFileError, match="refused landing file name"):
        landing.fetch_day(DAY, tmp_path / "landing")
    assert not (tmp_path / "landing").exists() or not any((tmp_path / "landing").iterdir())


def test_a_kept_copy_is_reused_and_a_republished_object_of_the_same_size_fetched_again(bucket, tmp_path) -> None:
    landing, client, name = bucket
    client.put_object(Bucket=name, Key=f"landing/{TRADES}", Body=b"price=1.5")
    first = landing.fetch_day(DAY, tmp_path)[0]
    inode = first.stat().st_ino
    assert landing.fetch_day(DAY, tmp_path)[0].stat().st_ino == inode  # unchanged object: not downloaded again
    time.sleep(1.1)  # S3 keeps modification times to the second
    client.put_object(Bucket=name, Key=f"landing/{TRADES}", Body=b"price=2.5")  # a correction, same size
    again = landing.fetch_day(DAY, tmp_path)[0]
    assert again.read_bytes() == b"price=2.5" and again.stat().st_ino != inode
