"""The error contract of every entry point (docs/reliability.md, rows 17-20).

A user error ends with exit status 2 and one line `error: ...` naming the argument or setting and
what is allowed; never a traceback. First every case the issue listed, each with its exact line;
then a property-based test (hypothesis) that drives every `tickwh` command, the research CLI and
every `TICKWH_*` setting with generated hostile values and checks, for each input: exit 0 or 2, no
traceback, one `error:` line, the S3 secret (a canary) never echoed, no file created outside
`$TICKWH_HOME` (the working directory, `$HOME` and `/tmp` listed before and after, TMPDIR inside
the home); and at the end that the lake built once for the module lost nothing (row counts and
content checksums of every table).

Commands run in this process through `tickwh.cli.main(argv)` (and `ingest.research.cli.main`), with
the environment swapped for each call: a subprocess per input would cost seconds each.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest import lake
from ingest.lake_admin import fingerprints
from ingest.loader import load_day
from ingest.simulator import default_symbols, simulate_days

D1, D2 = dt.date(2024, 1, 1), dt.date(2024, 1, 2)
CANARY = "Can4ry\r\nS3cret'\"@0xC0FFEE"
CANARY_MARKS = ("0xC0FFEE", "S3cret")  # a canary shown in part is shown
# Set in the jail: a mount namespace whose /tmp is a private tmpfs, so a file there can only be ours.
JAIL = os.environ.get("TICKWH_TEST_JAIL") == "1"
CAN_JAIL = not JAIL and os.geteuid() == 0 and shutil.which("unshare") is not None
in_the_jail = pytest.mark.skipif(CAN_JAIL, reason="runs inside test_in_a_jail_with_a_private_tmp")
EXAMPLES = 10  # generated inputs per entry point (hypothesis, derandomized: the same inputs every run)
SETTING_EXAMPLES = 1  # generated values per setting (each one runs a command that reads the lake: ~0.7 s)


@dataclass
class World:
    root: Path
    home: Path
    cwd: Path
    user: Path
    prints: dict = field(default_factory=dict)
    tried: list = field(default_factory=list)  # (entry point, argv or setting) of every input run


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    root = tmp_path_factory.mktemp("contract")
    w = World(root, root / "home", root / "cwd", root / "user")
    for d in (w.home / "tmp", w.home / "dagster_home", w.cwd, w.user):
        d.mkdir(parents=True)
    landing = w.home / "landing"
    simulate_days(D1, 2, landing, symbols=default_symbols(2), trades_per_day=2_000, snapshot_interval_ms=600_000)
    with lake.connect(lake.LakeConfig.embedded(w.home)) as con:
        for day in (D1, D2):
            load_day(con, landing, day, "trades")
            load_day(con, landing, day, "book_snapshots")
        w.prints = fingerprints(con)
    assert w.prints["raw.trades"].rows > 0
    return w


def base_env(w: World) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TICKWH_", "AWS_", "PG")) and k not in ("DAGSTER_HOME", "HOME", "TMPDIR")}
    env.update({"TICKWH_HOME": str(w.home), "HOME": str(w.user), "TMPDIR": str(w.home / "tmp"),
                "DAGSTER_HOME": str(w.home / "dagster_home"), "TICKWH_LAKE_S3_SECRET_ACCESS_KEY": CANARY})
    return env


@contextmanager
def environment(w: World, env: dict[str, str]) -> Iterator[None]:
    saved, argv, cwd = dict(os.environ), list(sys.argv), os.getcwd()
    os.environ.clear()
    os.environ.update(env)
    os.chdir(w.cwd)
    tempfile.tempdir = None  # TMPDIR is read again
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)
        os.chdir(cwd)
        sys.argv = argv
        tempfile.tempdir = None


def _outside(w: World) -> set[str]:
    """Every file and folder outside the home a command could write. In the jail (a private /tmp,
    `test_in_a_jail_with_a_private_tmp`): everything under /tmp but the home (the working directory
    and $HOME are there too), and the names in / and /etc. Without it (no root, no `unshare`): the
    working directory, $HOME, and names in the shared /tmp with a canary in them."""
    found = {f"cwd/{p.relative_to(w.cwd)}" for p in w.cwd.rglob("*")}
    found |= {f"home/{p.relative_to(w.user)}" for p in w.user.rglob("*")}
    if JAIL:
        found |= {str(p) for p in Path("/tmp").rglob("*") if not p.is_relative_to(w.home)}
        found |= {f"/{n}" for n in os.listdir("/")} | {f"/etc/{n}" for n in os.listdir("/etc")}
    else:
        found |= {f"/tmp/{p.name}" for p in Path("/tmp").iterdir() if "canary" in p.name.lower()}
    return found


def invoke(w: World, argv: list[str], extra_env: dict[str, str] | None = None,
           research: bool = False) -> tuple[int, str, str]:
    """Run one command in this process; (exit status, stdout, stderr)."""
    from ingest.research.cli import main as research_main
    from tickwh.cli import main as tickwh_main

    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="backslashreplace", write_through=True)
    err = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="backslashreplace", write_through=True)
    before = _outside(w)
    with environment(w, {**base_env(w), **(extra_env or {})}), redirect_stdout(out), redirect_stderr(err):
        try:
            code = (research_main if research else tickwh_main)(argv)
        except SystemExit as exc:  # argparse's help and the Parser's one-line error
            code = exc.code if isinstance(exc.code, int) else 1
    created = _outside(w) - before
    assert created == set(), (argv, extra_env, created)
    return int(code or 0), out.buffer.getvalue().decode(errors="replace"), err.buffer.getvalue().decode(
        errors="replace")


def holds_contract(code: int, out: str, err: str, allowed: tuple[int, ...] = (0, 2)) -> None:
    assert code in allowed, (code, err[-3000:])
    assert "Traceback" not in out + err, err[-3000:]
    for mark in CANARY_MARKS:
        assert mark not in out + err, "the S3 secret was echoed"
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    if code == 2:
        assert len(errors) == 1 and err.rstrip("\n").splitlines()[-1] == errors[0], err
    else:
        assert errors == [], err


# -- every case the issue listed, with its exact line --------------------------------------------

WHOLE = ["--start", "2024-01-01", "--end", "2024-01-02"]
LISTED = [
    (["catchup", "--from", "2024-13-40"], {},
     "tickwh catchup: argument --from: '2024-13-40' is not a day YYYY-MM-DD from 1900-01-01 to 2199-12-31 "
     "(month must be in 1..12) (see tickwh catchup --help)"),
    (["history", "trades", "BTCUSDT", "--start", "0001-01-01T00:00+14:00", "--end", "2024-01-02"], {},
     "tickwh history: argument --start: '0001-01-01T00:00+14:00' is out of range once its UTC offset is applied "
     "(see tickwh history --help)"),
    (["history", "trades", "BTCUSDT", *WHOLE, "--as-of", "²"], {},
     "tickwh history: argument --as-of: '²' is not a snapshot id or an ISO time: only plain ASCII characters are "
     "allowed (see tickwh history --help)"),
    (["history", "trades", "BTCUSDT", *WHOLE, "--limit", "-3"], {},
     "tickwh history: argument --limit: '-3' is out of range: expected a whole number from 1 to 100000 "
     "(see tickwh history --help)"),
    (["history", "trades", "BTCUSDT", *WHOLE, "--bucket", "Bad_Bucket"], {},
     "tickwh history: argument --bucket: 'Bad_Bucket' is not an S3 bucket name: 3 to 63 lower-case letters, "
     "digits, '.' and '-', alphanumeric at both ends (see tickwh history --help)"),
    (["history", "trades", "BTCUSDT", *WHOLE, "--prefix", "../up"], {},
     "tickwh history: argument --prefix: '../up' is not an S3 key prefix: empty, or parts of letters, digits, "
     "'.', '_', '=' and '-' separated by '/' (no '..', no leading '/', at most 512 characters) "
     "(see tickwh history --help)"),
    (["history", "trades", "BTCUSDT", *WHOLE, "--cache-dir", "/proc/x"], {},
     "tickwh history: argument --cache-dir: '/proc/x' is not an existing directory (see tickwh history --help)"),
    (["history", "trades", "BTCUSDT", "--start", "2030-01-01", "--end", "2030-01-02",
      "--cold-endpoint", "http://127.0.0.1:9", "--no-warm"], {"AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "sk"},
     None),  # the cold endpoint down: one line naming the endpoint (text from the store: checked below)
    (["history", "trades", "BTCUSDT", *WHOLE], {"TICKWH_WARM_DAYS": "abc"},
     "TICKWH_WARM_DAYS: 'abc' is not a whole number from 1 to 36500"),
    (["lake", "snapshots"], {"TICKWH_LIVE": "maybe"},
     "TICKWH_LIVE: 'maybe' is not on or off: expected 1/true/yes/on or 0/false/no/off (unset: automatic)"),
    (["history", "trades", "BTCUSDT", *WHOLE], {"TICKWH_PARTITIONS_START": "garbage"},
     "TICKWH_PARTITIONS_START: 'garbage' is not a day YYYY-MM-DD from 1900-01-01 to 2199-12-31"),
    (["simulate", "--start", "2024-01-01", "--trades-per-day", "-1"], {},
     "tickwh simulate: argument --trades-per-day: '-1' is out of range: expected a whole number from 1 to "
     "100000000 (see tickwh simulate --help)"),
    (["demo", "--days", "0"], {},
     "tickwh demo: argument --days: '0' is out of range: expected a whole number from 1 to 366 "
     "(see tickwh demo --help)"),
    (["demo", "--start", "2019-12-31", "--days", "1"], {},
     "tickwh demo: --start 2019-12-31 is before the first partition 2020-01-01 (TICKWH_PARTITIONS_START) "
     "(see tickwh demo --help)"),
    *[(["lake", "maintain", "--keep-days", v], {},
       f"tickwh lake maintain: argument --keep-days: '{v}' is out of range: expected a finite number from 1 to 3650 "
       "(see tickwh lake maintain --help)") for v in ("-5", "nan", "inf", "1e12")],
    (["lake", "maintain"], {"TICKWH_LAKE_KEEP_DAYS": "-5"},
     "TICKWH_LAKE_KEEP_DAYS: '-5' is out of range: expected a finite number from 1 to 3650"),
    (["history", "trades", "BTCUSDT\n", *WHOLE], {},
     "invalid symbol 'BTCUSDT\\n': expected letters, digits, '_', '-' and single '.' (at most 48); map vendor "
     "symbols with '/' or ':' through canonical_symbol"),
]
RESEARCH_LISTED = [
    (["bars", "BTCUSDT", "--interval", "9999999d", *WHOLE],
     "python -m ingest.research bars: argument --interval: interval '9999999d' is longer than 3660d, the longest "
     "bar allowed (see python -m ingest.research bars --help)"),
    (["asof", "BTCUSDT", "--tolerance", "99999999999d", *WHOLE],
     "python -m ingest.research asof: argument --tolerance: invalid tolerance: '99999999999d' is out of range: "
     "expected a number and a unit us, ms, s, m, h or d (e.g. 2s, 1m, 4h) from 0s to 3660d "
     "(see python -m ingest.research asof --help)"),
    (["infobars", "BTCUSDT", "--kind", "volume", "--threshold", "1e400", *WHOLE],
     "python -m ingest.research infobars: argument --threshold: invalid threshold: '1e400' is out of range: "
     "expected a number > 0 and at most 1,000,000,000,000,000,000 with at most 20 decimals "
     "(see python -m ingest.research infobars --help)"),
]


@pytest.mark.parametrize(("argv", "env", "line"), LISTED, ids=[" ".join(c[0])[:60] for c in LISTED])
def test_each_listed_bad_argument_is_one_line_and_exit_2(world: World, argv: list[str], env: dict[str, str],
                                                         line: str | None) -> None:
    code, out, err = invoke(world, argv, env)
    holds_contract(code, out, err, allowed=(2,))
    if line is None:
        assert re.fullmatch(r"error: s3://tickwh-cold/warehouse/raw_trades/: LIST failed \(endpoint "
                            r"http://127\.0\.0\.1:9\): .*", err.strip()), err
    else:
        assert err.strip() == f"error: {line}"


@pytest.mark.parametrize(("argv", "line"), RESEARCH_LISTED, ids=[c[0][0] for c in RESEARCH_LISTED])
def test_each_listed_research_argument_is_one_line_and_exit_2(world: World, argv: list[str], line: str) -> None:
    code, out, err = invoke(world, [*argv, "--no-cold"], research=True)
    holds_contract(code, out, err, allowed=(2,))
    assert err.strip() == f"error: {line}"


def test_demo_refused_before_anything_runs(world: World) -> None:
    runs = world.home / "dagster_home" / "storage"
    landing = sorted(p.name for p in (world.home / "landing").iterdir())
    code, out, err = invoke(world, ["demo", "--start", "2024-01-01", "--days", "0"])
    assert (code, out) == (2, "")
    assert not runs.exists() and sorted(p.name for p in (world.home / "landing").iterdir()) == landing


def test_an_answer_with_no_rows_says_which_tiers_hold_which_days(world: World) -> None:
    code, out, err = invoke(world, ["history", "trades", "BTCUSDT", "--start", "2025-01-01", "--end", "2025-01-02"])
    assert (code, out) == (0, "")
    assert err.splitlines() == [
        "no rows for BTCUSDT 2025-01-01..2025-01-02; warm lake holds 2024-01-01..2024-01-02, cold tier holds none"]
    code, out, err = invoke(world, ["bars", "ETHUSDT", "BTCUSDT", "--interval", "1h", "--start", "2025-01-01",
                                    "--end", "2025-01-02", "--no-cold"], research=True)
    assert (code, out) == (0, "")  # no empty frame
    assert err.splitlines() == [
        "no rows for ETHUSDT, BTCUSDT 2025-01-01..2025-01-02; ETHUSDT: warm lake holds 2024-01-01..2024-01-02; "
        "BTCUSDT: warm lake holds 2024-01-01..2024-01-02 (cold tier not searched)"]


# -- generated hostile values at every entry point ------------------------------------------------

SQL = ["x'; DROP TABLE raw.trades; --", "1; COPY (SELECT 1) TO 'canary.csv'; --", "\" OR 1=1 --",
       "lake.raw.trades", "'; ATTACH 'canary.db' AS c; --"]
PATH_TRICKS = ["../../etc", "/etc", "/etc/passwd", "/proc/x", "/tmp/x", "..", "/", "~", "$HOME/x", "a/../../b",
               "nul\x00byte", "", " ", "x\n", "C:\\Windows", "/dev/null", "canary.csv", "./canary"]
BAD_NUMBER_TEXT = ["-1", "0", "-0", "nan", "NaN", "inf", "-inf", "1e400", "1e12", "99999999999999999999999",
                   "1.5", "0x10", "１２", "", "+-1", "7\n", "1 000", "²", "1_0", "-9223372036854775809"]
BAD_DATE_TEXT = ["2024-13-40", "0001-01-01", "9999-12-31", "2024-02-30", "2024-1-1", "20240101", "²",
                 "0001-01-01T00:00+14:00", "9999-12-31T23:59-14:00", "2024-01-01\n", "2024-01-01\x00", "yesterday",
                 "2024-01-01T25:00", "1899-12-31"]
URL_TEXT = ["http://127.0.0.1:1", f"http://user:{CANARY}@127.0.0.1:1", "ftp://x", "http://", "http://127.0.0.1:99999",
            "file:///etc", "http://[::1", "nats://x", "http://x y", "http://127.0.0.1:1/'; DROP TABLE x; --"]

control_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=24)
bad_numbers = st.one_of(st.sampled_from(BAD_NUMBER_TEXT), st.integers(max_value=0).map(str),
                        st.integers(min_value=10**9, max_value=10**40).map(str),
                        st.floats(allow_nan=True, allow_infinity=True).filter(lambda f: not 0 < f < 1e9).map(repr))
numbers = st.one_of(bad_numbers, st.integers(-10**25, 10**25).map(str), st.floats().map(repr))
today = dt.datetime.now(dt.UTC).date()
bad_dates = st.one_of(st.sampled_from(BAD_DATE_TEXT),  # malformed, out of range, or not a demo day
                      st.dates(max_value=dt.date(2019, 12, 31)).map(dt.date.isoformat),
                      st.dates(min_value=today).map(dt.date.isoformat))
dates = st.one_of(bad_dates, st.dates().map(dt.date.isoformat),
                  st.datetimes(timezones=st.timezones()).map(dt.datetime.isoformat))
paths = st.one_of(st.sampled_from(PATH_TRICKS), control_text)
text = st.one_of(control_text, st.sampled_from(SQL + PATH_TRICKS))
urls = st.one_of(st.sampled_from(URL_TEXT), text)
anything = st.one_of(numbers, dates, text, paths, urls)


@dataclass(frozen=True)
class Entry:
    name: str
    argv: list[str]
    slots: dict[str, st.SearchStrategy[str]]  # option (or `@N`: the positional at index N) -> values
    allowed: tuple[int, ...] = (0, 2)  # only 2 where a valid value would start something long
    research: bool = False


def _history_slots() -> dict[str, st.SearchStrategy[str]]:
    return {"@1": text, "@2": text, "--start": dates, "--end": dates, "--as-of": anything, "--limit": numbers,
            "--exchange": text, "--cache-dir": paths, "--interval": text, "--days": numbers,
            "--bucket": text, "--prefix": paths, "--cold-local-root": paths, "--cold-endpoint": urls}


def _research(cmd: str, extra: list[str], slots: dict[str, st.SearchStrategy[str]]) -> Entry:
    common = {"@1": text, "--start": dates, "--end": dates, "--as-of": anything, "--limit": numbers,
              "--exchange": text, "--cache-dir": paths}
    return Entry(f"research {cmd}", [cmd, "BTCUSDT", *extra, "--start", "2024-01-01", "--end", "2024-01-02",
                                     "--no-cold"], {**common, **slots}, research=True)


sim_numbers = st.one_of(bad_numbers, st.integers(0, 3).map(str))  # valid ones small: the run stays short
ENTRIES = [
    Entry("history", ["history", "trades", "BTCUSDT", "--start", "2024-01-01", "--end", "2024-01-02", "--no-cold"],
          _history_slots()),
    _research("asof", [], {"--tolerance": text, "--levels": numbers}),
    _research("bars", ["--interval", "1h"], {"--interval": text, "--tz": text, "--fill": text}),
    _research("infobars", ["--kind", "tick", "--threshold", "100"], {"--kind": text, "--threshold": numbers}),
    _research("replay", [], {"@2": text}),
    Entry("simulate", ["simulate", "--start", "2024-01-01", "--days", "1", "--trades-per-day", "200", "--symbols", "2",
                       "--snapshot-interval-ms", "3600000"],
          {"--start": dates, "--days": sim_numbers, "--trades-per-day": sim_numbers, "--symbols": sim_numbers,
           "--snapshot-interval-ms": bad_numbers, "--depth": numbers, "--seed": numbers, "--exchange": text,
           "--out": paths, "--quotes-per-day": sim_numbers, "--ticker-interval-s": bad_numbers}),
    Entry("catchup", ["catchup", "--dry-run"], {"--from": bad_dates, "--to": bad_dates}),
    Entry("demo", ["demo"], {"--start": bad_dates, "--days": bad_numbers, "--trades-per-day": bad_numbers,
                             "--snapshot-interval-ms": bad_numbers}, allowed=(2,)),
    Entry("docs", ["docs"], {"--ge-days": bad_numbers, "@1": text}, allowed=(2,)),
    Entry("ui", ["ui"], {"--port": bad_numbers, "--host": st.sampled_from(SQL + PATH_TRICKS + ["", "a b", "é"])},
          allowed=(2,)),
    Entry("feed", ["feed"], {"--speed": anything, "--nats": urls, "--stream": text, "--batch-trades": numbers,
                             "--batch-ms": numbers, "--max-age-hours": numbers, "--duplicate-window-s": numbers,
                             "--encoding": text, "--log-level": text, "--file": paths}, allowed=(2,)),
    Entry("lake snapshots", ["lake", "snapshots"], {"@2": text}),
    Entry("lake maintain", ["lake", "maintain"], {"--keep-days": numbers}),
    Entry("lake migrate", ["lake", "migrate"], {"--from": paths}, allowed=(2,)),
    *[Entry(f"cold {c}", ["cold", c], {"@2": text}) for c in ("up", "down", "status", "env")],
    # status answers 1 when something is late or failing (its documented health answer), never a traceback
    Entry("status", ["status", "--no-live"], {"@2": text}, allowed=(0, 1, 2)),
    Entry("hot-loader", ["hot-loader"], {"--nats": urls, "--stream": text, "--poll-s": numbers,
                                         "--metrics-port": numbers, "--metrics-addr": text}, allowed=(2,)),
    Entry("tickwh <command>", ["x"], {"@0": text}, allowed=(0, 2)),  # an unknown command (or --help)
    Entry("tickwh cold <member>", ["cold", "x"], {"@1": text}, allowed=(0, 2)),
]
# `tickwh cold run -- CMD` is left out: its hostile value is a command it would run, by design.


def _argv(entry: Entry, slot: str, value: str) -> list[str]:
    argv = list(entry.argv)
    if slot.startswith("@"):
        i = int(slot[1:])
        argv = argv[:i] + [value] + argv[i + 1:] if i < len(argv) else [*argv, value]
        return argv
    if entry.name == "history" and slot.startswith(("--bucket", "--prefix", "--cold")):
        argv.remove("--no-cold")  # the cold options only matter when the cold tier is read
    if entry.name == "feed":  # the slot first: argparse converts left to right, the file is refused after it
        return [*argv, f"{slot}={value}", "--file=/nonexistent/trades.csv"]
    if entry.name == "hot-loader":  # likewise: a valid value would start a loader that runs until stopped
        return [*argv, f"{slot}={value}", "--nats=refused"]
    return [*argv, f"{slot}={value}"]


@in_the_jail
@pytest.mark.parametrize("entry", ENTRIES, ids=[e.name for e in ENTRIES])
def test_hostile_arguments_hold_the_contract(world: World, entry: Entry) -> None:
    slots = sorted(entry.slots)

    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
    @given(st.sampled_from(slots).flatmap(lambda s: st.tuples(st.just(s), entry.slots[s])))
    def one(slot_value: tuple[str, str]) -> None:
        argv = _argv(entry, *slot_value)
        world.tried.append((entry.name, argv))
        holds_contract(*invoke(world, argv, research=entry.research), allowed=entry.allowed)

    one()


# Every TICKWH_* variable the code reads (the -v switch TICKWH_VERBOSE aside: it asks for tracebacks),
# and the non-TICKWH settings read with them.
SETTINGS = sorted({
    "TICKWH_HOME", "TICKWH_LANDING_ROOT", "TICKWH_BOOK_EXCHANGES", "TICKWH_LAKE_CATALOG", "TICKWH_LAKE_DATA",
    "TICKWH_LAKE_S3_ENDPOINT", "TICKWH_LAKE_S3_REGION", "TICKWH_LAKE_KEEP_DAYS", "TICKWH_LAKE_S3_ACCESS_KEY_ID",
    "TICKWH_COLD_ENDPOINT", "TICKWH_COLD_BUCKET", "TICKWH_COLD_PREFIX", "TICKWH_COLD_REGION", "TICKWH_COLD_LOCAL_ROOT",
    "TICKWH_WARM_DAYS", "TICKWH_NATS_URL", "TICKWH_CLICKHOUSE_URL", "TICKWH_CLICKHOUSE_PASSWORD", "TICKWH_CHDB_PATH",
    "TICKWH_LIVE", "TICKWH_VENDOR", "TICKWH_VENDOR_MARKET", "TICKWH_VENDOR_PATH", "TICKWH_VENDOR_SYMBOLS",
    "TICKWH_VENDOR_TRADES_KIND", "TICKWH_BINANCE_REFERENCE_MARKET", "TICKWH_BINANCE_REFERENCE_PATH",
    "TICKWH_BINANCE_REFERENCE_SYMBOLS", "TICKWH_PARTITIONS_START", "TICKWH_CATCHUP_INTERVAL_S",
    "TICKWH_DBT_DOCS_URL", "TICKWH_DBT_MANIFEST", "TICKWH_EXPECTATIONS_DIR", "TICKWH_RETENTION_ALLOW_LOCAL_COLD",
    "TICKWH_DBT_MIN_DATE", "TICKWH_DBT_MAX_DATE", "DAGSTER_HOME", "AWS_REGION",
    # vendor fields (docs/vendors.md)
    "TICKWH_VENDOR_EXCHANGE", "TICKWH_VENDOR_BOOK_DATA_TYPES", "TICKWH_VENDOR_DATASETS",
    "TICKWH_VENDOR_SNAPSHOT_DEPTH",
    "TICKWH_VENDOR_SNAPSHOT_INTERVAL_MS", "TICKWH_VENDOR_CHECKSUMS", "TICKWH_VENDOR_S3_ENDPOINT",
    "TICKWH_VENDOR_CACHE_DIR", "TICKWH_BINANCE_REFERENCE_CHECKSUMS", "TICKWH_BINANCE_REFERENCE_S3_ENDPOINT",
    # monitoring (docs/operations.md)
    "TICKWH_UI_URL", "TICKWH_ALERT_WEBHOOK_URL", "TICKWH_ALERT_SMTP_URL", "TICKWH_ALERT_SMTP_PASSWORD",
    "TICKWH_ALERT_EMAIL_TO", "TICKWH_ALERT_EMAIL_FROM", "TICKWH_FEED_STALL_S", "TICKWH_FEED_METRICS_PORT",
    "TICKWH_HOT_METRICS_PORT",
    # execution past one machine (docs/deploy.md)
    "TICKWH_EXECUTOR", "TICKWH_CELERY_BROKER", "TICKWH_CELERY_BACKEND", "TICKWH_CELERY_VISIBILITY_TIMEOUT_S",
    "TICKWH_LANDING_S3", "TICKWH_LANDING_S3_ENDPOINT", "TICKWH_LANDING_S3_ACCESS_KEY_ID",
    "TICKWH_LANDING_S3_SECRET_ACCESS_KEY",
})
READERS: list[tuple[list[str], bool]] = [  # read-only commands that read every setting (Settings.from_env)
    (["history", "trades", "BTCUSDT", "--start", "2024-01-01", "--end", "2024-01-02"], False),
    (["bars", "BTCUSDT", "--interval", "1h", "--start", "2024-01-01", "--end", "2024-01-02"], True),
    (["lake", "snapshots"], False),
]


def test_every_setting_the_code_reads_is_listed() -> None:
    repo = Path(__file__).resolve().parents[1]
    read = set()
    for path in [*repo.glob("ingest/**/*.py"), *repo.glob("orchestration/**/*.py"), *repo.glob("tickwh/*.py")]:
        if path.name != "redact.py":  # it names URL settings to redact, it reads none
            read |= set(re.findall(r"\"(TICKWH_[A-Z0-9_]+)\"", path.read_text()))
    secrets = {"TICKWH_LAKE_S3_SECRET_ACCESS_KEY"}  # the canary itself
    assert read - set(SETTINGS) - secrets - {"TICKWH_VERBOSE"} == set()


@in_the_jail
@settings(max_examples=SETTING_EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.fixed_dictionaries({name: anything for name in SETTINGS}))
def test_hostile_settings_hold_the_contract(world: World, values: dict[str, str]) -> None:
    """Each setting in turn with a generated value (the others unset), read by one of the READERS."""
    for i, name in enumerate(SETTINGS):
        argv, research = READERS[i % len(READERS)]
        value = values[name].replace("\x00", "")  # the environment cannot hold a NUL byte
        world.tried.append((name, value))
        holds_contract(*invoke(world, argv, {name: value}, research=research))


@in_the_jail
def test_nothing_loaded_was_lost(world: World) -> None:
    """After every input above: each table of the lake holds the rows it held, with the same checksum."""
    with lake.connect(lake.LakeConfig.embedded(world.home), read_only=True) as con:
        now = fingerprints(con)
    assert {t: now[t] for t in world.prints} == world.prints
    print(f"error contract: {len(world.tried)} hostile inputs at {len(ENTRIES)} entry points and "
          f"{len(SETTINGS)} settings")



@pytest.mark.skipif(not CAN_JAIL, reason="needs root and unshare (a mount namespace); the tests run unjailed")
def test_in_a_jail_with_a_private_tmp() -> None:
    """The generated-input tests again in a mount namespace whose /tmp is a fresh tmpfs: any file that
    appears there (or in / or /etc) during a command is one the command wrote outside the home."""
    me = Path(__file__).resolve()
    inner = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(me), "-k",
             "hostile_arguments or hostile_settings or nothing_loaded", "-s"]
    jail = ["unshare", "-m", "--propagation", "private", "sh", "-c", 'mount -t tmpfs tmpfs /tmp && exec "$@"', "sh"]
    out = subprocess.run([*jail, *inner], cwd=me.parents[1], capture_output=True, text=True, timeout=900,
                         env={**os.environ, "TICKWH_TEST_JAIL": "1"})
    assert out.returncode == 0, out.stdout[-6000:] + out.stderr[-3000:]
    line = re.search(r"error contract: (\d+) hostile inputs at (\d+) entry points and (\d+) settings", out.stdout)
    assert line, out.stdout[-3000:]
    print(line.group(0))
    doc = (me.parents[1] / "docs" / "reliability.md").read_text()
    published = re.search(r"^- Error contract inputs generated: \*\*(\d+)\*\* \(10 per entry point at (\d+) "
                          r"entry points, 1 per setting for\s+(\d+) settings", doc, re.M)
    assert published, "docs/reliability.md has no error-contract count"
    assert (int(line[1]), int(line[2]), int(line[3])) == tuple(int(g) for g in published.groups())
    assert int(line[1]) == EXAMPLES * len(ENTRIES) + SETTING_EXAMPLES * len(SETTINGS)
