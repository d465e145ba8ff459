"""The warm warehouse: a DuckLake, opened the same way by every consumer.

DuckDB is the engine; the catalog lives in a SQLite file (embedded default) or in PostgreSQL
(shared deployment), and the data are Parquet files in a local folder or under `s3://bucket/prefix/`.
Readers never wait for writers: each connection sees the last committed snapshot, and a day's
reload commits as one snapshot. `connect()` attaches the lake as `lake` and makes it the default
catalog, so SQL names tables as `raw.trades` or `marts.ohlcv_1m` wherever it runs (loader, dbt
through `ingest.lake_dbt`, quality checks, reconciliation, history API, bench).

Settings (environment, read by `LakeConfig.from_env`; credentials only from the environment):
  TICKWH_LAKE_CATALOG   `sqlite:<file>` (default `<TICKWH_HOME>/lake/catalog.sqlite`) or
                        `postgres:<libpq key=value pairs>` (no password: libpq reads PGPASSWORD)
  TICKWH_LAKE_DATA      data folder (default `<TICKWH_HOME>/lake/data/`) or `s3://bucket/prefix/`
  TICKWH_LAKE_S3_ENDPOINT, TICKWH_LAKE_S3_REGION   an S3-compatible endpoint (`http://host:port`)
  TICKWH_LAKE_S3_ACCESS_KEY_ID, TICKWH_LAKE_S3_SECRET_ACCESS_KEY   (else AWS_ACCESS_KEY_ID / ...)

Extensions come from the `duckdb-extension-*` wheels pinned beside duckdb and are loaded from
their files: `LOAD ducklake` by name would try a download, which cannot work offline.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import logging
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import duckdb
from tenacity import RetryCallState

from ingest import sql
from ingest.errors import SettingError
from ingest.retry import retrying
from ingest.settings import Settings, tickwh_home

log = logging.getLogger(__name__)

ALIAS = "lake"
ENV_CATALOG = "TICKWH_LAKE_CATALOG"
ENV_DATA = "TICKWH_LAKE_DATA"
ENV_S3_ENDPOINT = "TICKWH_LAKE_S3_ENDPOINT"
ENV_S3_REGION = "TICKWH_LAKE_S3_REGION"
ENV_S3_KEY_ID = "TICKWH_LAKE_S3_ACCESS_KEY_ID"
ENV_S3_SECRET = "TICKWH_LAKE_S3_SECRET_ACCESS_KEY"

# libpq keywords a catalog string may carry. `password` is refused: it comes from PGPASSWORD.
_PG_KEYS = {"dbname", "host", "port", "user", "sslmode", "application_name", "connect_timeout", "options"}
_PG_PAIR = re.compile(r"^([a-z_]+)=([^\s'\\]+)\Z")
_S3_DATA = re.compile(r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/[A-Za-z0-9._/-]*)?\Z")
_ENDPOINT = re.compile(r"^(https?)://([A-Za-z0-9.-]+|\[[0-9a-fA-F:]+\])(:\d{1,5})?/?\Z")
_REGION = re.compile(r"^[a-z0-9-]{1,32}\Z")

T = TypeVar("T")


class LakeError(RuntimeError):
    """The lake cannot be opened as configured (bad setting, missing extension, unreachable catalog)."""


class LakeConflictError(LakeError):
    """Another writer committed to the same table first; the caller's transaction was rolled back."""


def default_home() -> Path:
    return tickwh_home()


class LakeSettingError(LakeError, SettingError):
    """A lake setting with a value that is not allowed: a user error (one line, exit 2), named by variable."""

    def __init__(self, variable: str, problem: str) -> None:
        SettingError.__init__(self, variable, problem)  # RuntimeError's __init__ comes first in the MRO


def sql_literal(text: str, setting: str = "a lake setting") -> str:
    """`ingest.sql.sql_literal`, refusing a bad lake setting as a `LakeSettingError`.

    The message names the setting, never its value: the value may be a secret (an S3 key saved
    with Windows line endings ends in `\\r`), and a message is shown, logged and stored by Dagster."""
    try:
        return sql.sql_literal(text)
    except sql.UnsafeSqlTextError:
        raise LakeSettingError(setting, "control character (line break or NUL) in the value; "
                               "the value is not shown") from None


@dataclass(frozen=True)
class LakeConfig:
    """Where the lake's catalog and data files live; validated on construction."""

    catalog: str
    data_path: str
    s3_endpoint: str | None = None
    s3_region: str = "us-east-1"
    s3_access_key_id: str | None = field(default=None, repr=False)
    s3_secret_access_key: str | None = field(default=None, repr=False)
    # The variables the credentials were read from, so an error can name them (never show them).
    key_id_setting: str = field(default=ENV_S3_KEY_ID, repr=False, compare=False)
    secret_setting: str = field(default=ENV_S3_SECRET, repr=False, compare=False)

    def __post_init__(self) -> None:
        kind, _, rest = self.catalog.partition(":")
        if kind == "sqlite":
            if not rest:
                raise LakeError("sqlite catalog needs a file: sqlite:/path/to/catalog.sqlite")
            sql_literal(rest, ENV_CATALOG)
        elif kind == "postgres":
            for pair in rest.split():
                m = _PG_PAIR.match(pair)
                if not m or m.group(1) not in _PG_KEYS:
                    key = pair.split("=", 1)[0]
                    hint = " (set PGPASSWORD in the environment instead)" if key == "password" else ""
                    raise LakeError(f"postgres catalog: {key!r} is not an accepted setting{hint}")
        else:
            raise LakeError(f"catalog must start with sqlite: or postgres:, got {kind!r}")
        if self.is_s3:
            if not _S3_DATA.match(self.data_path):
                raise LakeError(f"invalid S3 data path {self.data_path!r} (expected s3://bucket/prefix/)")
            # Checked here, not when the secret is created: the error names the credential, at once.
            sql_literal(self.s3_access_key_id or "", self.key_id_setting)
            sql_literal(self.s3_secret_access_key or "", self.secret_setting)
        else:
            sql_literal(self.data_path, ENV_DATA)
        if self.s3_endpoint is not None and not _ENDPOINT.match(self.s3_endpoint):
            raise LakeError(f"invalid S3 endpoint {self.s3_endpoint!r} (expected http(s)://host:port)")
        if not _REGION.match(self.s3_region):
            raise LakeError(f"invalid S3 region {self.s3_region!r}")

    @property
    def catalog_kind(self) -> str:
        return self.catalog.partition(":")[0]

    @property
    def sqlite_file(self) -> Path:
        """The embedded catalog's file (a `sqlite:` catalog only)."""
        return Path(self.catalog.partition(":")[2])

    @property
    def is_s3(self) -> bool:
        return self.data_path.startswith("s3://")

    @classmethod
    def embedded(cls, home: str | Path) -> LakeConfig:
        """The default: a SQLite catalog and local Parquet files under `<home>/lake/`."""
        root = Path(home).resolve() / "lake"
        return cls(catalog=f"sqlite:{root / 'catalog.sqlite'}", data_path=f"{root / 'data'}/")

    @classmethod
    def from_env(cls, home: str | Path | None = None) -> LakeConfig:
        return cls.from_settings(Settings.from_env(home=home))

    @classmethod
    def from_settings(cls, settings: Settings) -> LakeConfig:
        """The lake the settings name; credentials from the environment (never settings)."""
        base = cls.embedded(settings.home)
        key_var, key_id = _credential(ENV_S3_KEY_ID, "AWS_ACCESS_KEY_ID")
        secret_var, secret = _credential(ENV_S3_SECRET, "AWS_SECRET_ACCESS_KEY")
        return cls(
            catalog=settings.lake_catalog or base.catalog,
            data_path=settings.lake_data or base.data_path,
            s3_endpoint=settings.lake_s3_endpoint,
            s3_region=settings.lake_s3_region,
            s3_access_key_id=key_id,
            s3_secret_access_key=secret,
            key_id_setting=key_var,
            secret_setting=secret_var,
        )

    def env(self) -> dict[str, str]:
        """The variables that make `from_env` (in another process: dbt, a worker) return this config."""
        out = {ENV_CATALOG: self.catalog, ENV_DATA: self.data_path, ENV_S3_REGION: self.s3_region}
        if self.s3_endpoint:
            out[ENV_S3_ENDPOINT] = self.s3_endpoint
        if self.s3_access_key_id and self.s3_secret_access_key:
            out[ENV_S3_KEY_ID] = self.s3_access_key_id
            out[ENV_S3_SECRET] = self.s3_secret_access_key
        return out

    def describe(self) -> str:
        """For logs and metadata: where the catalog and files are (never a credential)."""
        where = f" via {self.s3_endpoint}" if self.s3_endpoint else ""
        return f"DuckLake catalog {self.catalog} data {self.data_path}{where}"

    def exists(self) -> bool:
        """False only for an embedded catalog file that was never created (Postgres: assume it is)."""
        return self.catalog_kind != "sqlite" or self.sqlite_file.exists()


def _credential(variable: str, fallback: str) -> tuple[str, str | None]:
    """(the variable it came from, the value) of a credential: ours first, else the AWS one."""
    for name in (variable, fallback):
        if os.environ.get(name):
            return name, os.environ[name]
    return variable, None


def extension_file(name: str) -> Path:
    """The `.duckdb_extension` file shipped by the `duckdb-extension-<name>` wheel for this duckdb."""
    spec = importlib.util.find_spec(f"duckdb_extension_{name}")
    if spec is None or not spec.submodule_search_locations:
        wheel = f"duckdb-extension-{name.replace('_', '-')}=={duckdb.__version__}"
        raise LakeError(f"extension {name} missing: install {wheel}")
    root = Path(next(iter(spec.submodule_search_locations)))
    path = root / "extensions" / f"v{duckdb.__version__}" / f"{name}.duckdb_extension"
    if not path.exists():
        found = sorted(root.rglob(f"{name}.duckdb_extension"))
        raise LakeError(f"{path} missing (found {[str(p) for p in found]}): pin the wheel to duckdb "
                        f"{duckdb.__version__}")
    return path


def load_extensions(con: duckdb.DuckDBPyConnection, config: LakeConfig) -> None:
    names = ["ducklake", "sqlite_scanner" if config.catalog_kind == "sqlite" else "postgres_scanner"]
    if config.is_s3:
        names.append("httpfs")
    loaded = {r[0] for r in con.execute("SELECT extension_name FROM duckdb_extensions() WHERE loaded").fetchall()}
    for name in names:
        if name.removesuffix("_scanner") not in loaded and name not in loaded:
            con.execute(f"LOAD {sql_literal(str(extension_file(name)))}")


def _s3_secret(con: duckdb.DuckDBPyConnection, config: LakeConfig) -> None:
    parts = ["TYPE s3", f"REGION {sql_literal(config.s3_region)}"]
    if config.s3_access_key_id and config.s3_secret_access_key:
        parts += [f"KEY_ID {sql_literal(config.s3_access_key_id, config.key_id_setting)}",
                  f"SECRET {sql_literal(config.s3_secret_access_key, config.secret_setting)}"]
    if config.s3_endpoint:
        m = _ENDPOINT.match(config.s3_endpoint)
        assert m is not None  # validated in __post_init__
        host = config.s3_endpoint.split("://", 1)[1].rstrip("/")
        parts += [f"ENDPOINT {sql_literal(host)}", "URL_STYLE 'path'",
                  "USE_SSL " + ("true" if m.group(1) == "https" else "false")]
    con.execute(f"CREATE OR REPLACE SECRET tickwh_lake_s3 ({', '.join(parts)})")


def attach(
    con: duckdb.DuckDBPyConnection,
    config: LakeConfig,
    *,
    read_only: bool = False,
    as_of: int | dt.datetime | None = None,
    alias: str = ALIAS,
    use: bool = True,
) -> None:
    """Attach the lake to `con` as `alias` (and `USE` it); `as_of` pins a snapshot id or time."""
    load_extensions(con, config)
    if config.is_s3:
        _s3_secret(con, config)
    options = [f"DATA_PATH {sql_literal(config.data_path)}"]
    if read_only or as_of is not None:
        options.append("READ_ONLY")
    if isinstance(as_of, bool):
        raise LakeError("as_of must be a snapshot id or a timestamp")
    if isinstance(as_of, int):
        options.append(f"SNAPSHOT_VERSION {int(as_of)}")
    elif isinstance(as_of, dt.datetime):
        ts = as_of if as_of.tzinfo else as_of.replace(tzinfo=dt.UTC)
        options.append(f"SNAPSHOT_TIME {sql_literal(ts.isoformat())}")
    elif as_of is not None:
        raise LakeError(f"as_of must be a snapshot id or a timestamp, got {as_of!r}")
    if config.catalog_kind == "sqlite" and not read_only and as_of is None:
        config.sqlite_file.parent.mkdir(parents=True, exist_ok=True)
        if not config.is_s3:
            Path(config.data_path).mkdir(parents=True, exist_ok=True)
    if not sql.is_plain_ident(alias):
        raise LakeError(f"invalid alias {alias!r}")
    statement = f"ATTACH {sql_literal('ducklake:' + config.catalog)} AS {sql.plain_ident(alias)} ({', '.join(options)})"
    try:
        # Two writers opening a new lake at once both create its catalog tables; the one that finds
        # the SQLite catalog locked (or PostgreSQL's catalog types taken) attaches again once the other has
        # created them.
        with_conflict_retry(lambda: con.execute(statement), what="attaching the lake")
    except duckdb.Error as exc:
        raise LakeError(f"cannot open the lake ({config.describe()}): {exc}") from exc
    if use:
        con.execute(f"USE {sql.plain_ident(alias)}")


@contextmanager
def connect(
    config: LakeConfig | None = None, *, read_only: bool = False, as_of: int | dt.datetime | None = None
) -> Iterator[duckdb.DuckDBPyConnection]:
    """An in-memory DuckDB with the lake attached and in use; closed on exit."""
    config = config or LakeConfig.from_env()
    if (read_only or as_of is not None) and not config.exists():
        raise LakeError(f"no lake at {config.describe()}: load a day first (tickwh demo, or daily_pipeline)")
    con = duckdb.connect(":memory:")
    try:
        con.execute("SET enable_progress_bar = false")
        attach(con, config, read_only=read_only, as_of=as_of)
        yield con
    finally:
        con.close()


def current_snapshot(con: duckdb.DuckDBPyConnection, alias: str = ALIAS) -> int:
    """The id of the newest snapshot this connection sees."""
    return int(con.execute(f"SELECT id FROM {sql.quote_ident(alias)}.current_snapshot()").fetchone()[0])


def snapshots(con: duckdb.DuckDBPyConnection, alias: str = ALIAS) -> list[tuple[int, dt.datetime, dict]]:
    """(snapshot id, commit time in UTC, changes) of every snapshot still kept, oldest first."""
    rows = con.execute(
        "SELECT snapshot_id, snapshot_time, changes FROM ducklake_snapshots(?) ORDER BY snapshot_id", [alias]
    ).fetchall()
    return [(int(i), t.astimezone(dt.UTC) if t.tzinfo else t.replace(tzinfo=dt.UTC), c) for i, t, c in rows]


def rollback(con: duckdb.DuckDBPyConnection) -> None:
    """Roll back if a transaction is still open (a failed COMMIT has already ended it)."""
    try:
        con.execute("ROLLBACK")
    except duckdb.Error as exc:
        if "no transaction is active" not in str(exc).lower():
            raise


def is_conflict(exc: BaseException) -> bool:
    """A commit lost to a concurrent writer (DuckLake's conflict check, or SQLite's lock on the catalog).

    On a PostgreSQL catalog two writers can also collide inside PostgreSQL: both creating a new lake's catalog
    tables at once (duckdb/ducklake#243: `duplicate key value violates unique constraint
    "pg_type_typname_nsp_index"`, seen by two Celery workers' first loads, tests/test_distributed.py, or
    `relation "ducklake_metadata" already exists`, seen by 4 and 16 writers of bench/distributed_bench.py), or
    both taking the same next id (#1094). The transaction is whole and nothing of it committed: retrying it is right.
    """
    text = str(exc)
    return isinstance(exc, duckdb.Error) and (
        "Transaction conflict" in text or "database is locked" in text or "Failed to commit DuckLake" in text
        or "duplicate key value violates unique constraint" in text
        # the same race a step later: the other writer created the catalog's tables between our check and ours
        or ("Failed to initialize DuckLake" in text and "already exists" in text)
    )


@contextmanager
def build_lock(config: LakeConfig) -> Iterator[None]:
    """Held around a dbt build of an embedded (SQLite-catalog) lake: builds on one machine take turns.

    Why: a build commits once per model for 10-40 s, so two builds of the same window that start
    together each lose a commit to the other, retry, and meet again (a test of two processes
    reloading one day took 318 s of such retries in CI). With the lock the second simply waits for
    the first. A shared (PostgreSQL) catalog has writers on several machines, where a file lock
    means nothing: there the lost commit is retried (and `lake_writers` pools can queue builds).
    """
    if config.catalog_kind != "sqlite":
        yield
        return
    import fcntl

    path = config.sqlite_file.with_name(config.sqlite_file.name + ".build.lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)  # released when the file closes, or by the kernel if the process dies
        yield


def with_conflict_retry(
    fn: Callable[[], T], *, what: str, attempts: int = 16, base_delay_s: float = 0.2, max_delay_s: float = 10.0
) -> T:
    """Run `fn` (one whole transaction) again when another writer committed first.

    A retried transaction re-reads the table, so two reloads of the same day end as one reload:
    the later one deletes what the earlier one inserted.
    """

    def log_retry(state: RetryCallState) -> None:
        log.info("%s: another writer committed first (attempt %d/%d); retrying in %.2fs", what,
                 state.attempt_number, attempts, state.upcoming_sleep)

    try:
        return retrying(retry_if=is_conflict, initial_s=base_delay_s, max_s=max_delay_s, jitter=True,
                        attempts=attempts, before_sleep=log_retry)(fn)
    except duckdb.Error as exc:
        if is_conflict(exc):
            raise LakeConflictError(f"{what}: still conflicting after {attempts} attempts: {exc}") from exc
        raise


def copy_embedded(src: LakeConfig, dst_home: str | Path) -> LakeConfig:
    """Copy an embedded lake (SQLite catalog + local files) under `<dst_home>/lake/` and repoint it.

    The catalog stores its data folder and, under it, relative file paths: the copy is the same
    lake, snapshots included, at the new place.
    """
    import shutil
    import sqlite3

    if src.catalog_kind != "sqlite" or src.is_s3:
        raise LakeError("only an embedded lake (SQLite catalog, local files) can be copied as files")
    dst = LakeConfig.embedded(dst_home)
    src_catalog, dst_catalog = src.sqlite_file, dst.sqlite_file
    dst_catalog.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(src_catalog, dst_catalog)
    if Path(src.data_path).exists():
        shutil.copytree(src.data_path, dst.data_path, dirs_exist_ok=True)
    with sqlite3.connect(dst_catalog) as db:
        db.execute("UPDATE ducklake_metadata SET value = ? WHERE key = 'data_path'", [dst.data_path])
    return dst
