"""One DuckDB engine per lake per process, lent out as cursors: what a Dagster run's steps share.

Opening the lake costs about 0.35 s (loading the ducklake and catalog extensions from their files,
then the ATTACH); a daily run opens it twenty-odd times (five loads, five suites, eight mart
checks, the marts' metadata), so the same process attaches each lake once and every step gets a
cursor of it. A cursor has its own transactions, so each step still sees the last committed
snapshot, other processes' commits included, and its temporary tables are its own.

An engine is dropped, and the next caller attaches afresh, when:
  - a block that used it raised (a lost catalog connection, an invalidated database): the next
    attempt must not inherit a broken attachment;
  - its SQLite catalog file is no longer the one it attached (deleted, replaced);
  - the process forked (DuckDB state does not survive a fork).
Snapshot-pinned readers (`as_of`) are not pooled: each pins its own attachment.
"""

from __future__ import annotations

import atexit
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import duckdb

from ingest import lake, sql


@dataclass(eq=False)
class _Engine:
    db: duckdb.DuckDBPyConnection
    pid: int
    stamp: tuple[int, int] | None
    users: int = 0
    retired: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def release(self) -> None:
        with self.lock:
            self.users -= 1
            close = self.retired and self.users == 0
        if close:
            self.db.close()


_ENGINES: dict[tuple[object, ...], _Engine] = {}
_LOCK = threading.Lock()


def _key(config: lake.LakeConfig, read_only: bool) -> tuple[object, ...]:
    return (config.catalog, config.data_path, config.s3_endpoint, config.s3_region,
            config.s3_access_key_id, config.s3_secret_access_key, read_only)


def _catalog_stamp(config: lake.LakeConfig) -> tuple[int, int] | None:
    """The SQLite catalog file's identity (device, inode); None for PostgreSQL or no file yet."""
    if config.catalog_kind != "sqlite":
        return None
    try:
        st = os.stat(config.sqlite_file)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def _open(config: lake.LakeConfig, read_only: bool) -> _Engine:
    db = duckdb.connect(":memory:")
    try:
        lake.attach(db, config, read_only=read_only, use=False)
    except BaseException:
        db.close()
        raise
    return _Engine(db=db, pid=os.getpid(), stamp=_catalog_stamp(config))


def _retire(key: tuple[object, ...], engine: _Engine) -> None:
    """Take `engine` out of the pool; it closes when its last cursor is returned."""
    with _LOCK:
        if _ENGINES.get(key) is engine:
            del _ENGINES[key]
    if engine.pid != os.getpid():
        return  # a parent's engine: closing it here would touch the parent's state
    with engine.lock:
        engine.retired = True
        close = engine.users == 0
    if close:
        engine.db.close()


def _checkout(config: lake.LakeConfig, read_only: bool) -> tuple[tuple[object, ...], _Engine]:
    key = _key(config, read_only)
    stamp = _catalog_stamp(config)
    with _LOCK:
        engine = _ENGINES.get(key)
        if engine is not None and (engine.pid != os.getpid() or engine.stamp != stamp):
            del _ENGINES[key]
            stale = engine
        else:
            stale = None
        if engine is None or stale is not None:
            engine = _open(config, read_only)
            if engine.stamp is not None or config.catalog_kind != "sqlite":
                _ENGINES[key] = engine
            else:
                engine.retired = True  # the catalog file did not exist before: do not keep it
        with engine.lock:
            engine.users += 1
    if stale is not None:
        _retire(key, stale)
    return key, engine


@contextmanager
def connection(config: lake.LakeConfig, *, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """A cursor of this process's engine for `config`, the lake in use; closed (rolled back if open) on exit."""
    key, engine = _checkout(config, read_only)
    cur: duckdb.DuckDBPyConnection | None = None
    try:
        cur = engine.db.cursor()
        cur.execute("SET enable_progress_bar = false")
        cur.execute(f"USE {sql.plain_ident(lake.ALIAS)}")
        yield cur
    except BaseException:
        _retire(key, engine)
        raise
    finally:
        if cur is not None:
            cur.close()
        engine.release()


def close_all() -> None:
    """Close every engine of this process (at exit, and for tests that remove a lake's files)."""
    with _LOCK:
        engines = list(_ENGINES.items())
    for key, engine in engines:
        _retire(key, engine)


atexit.register(close_all)
