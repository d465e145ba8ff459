"""Past one machine (issue 25, docs/deploy.md), for real: Dagster's Celery executor over a real Redis broker,
two real Celery worker processes, each with its own $TICKWH_HOME, sharing only the broker, PostgreSQL (Dagster's
storage and the lake's catalog) and SeaweedFS S3 (the lake's files and the landing zone).

Each worker is its own machine as far as this one can make it: its own network namespace, on a bridge that
reaches only the host's service address (Redis and SeaweedFS listen there; PostgreSQL on a Unix socket), and
its own mount namespace, where no folder of the launcher or of another worker exists.

The launcher has no landing folder at all: the landing files exist only in the bucket (and in the sequential
reference's own home), so a step that read a launcher path would fail. Each worker fetches its days' files into
its own home (TICKWH_LANDING_S3).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from ingest import lake
from ingest.cold.seaweed import SeaweedServer
from ingest.lake_admin import TableFingerprint, fingerprints
from ingest.simulator import simulate_days
from ingest.warehouse import FENCES
from tests.pg_server import Postgres, running_postgres, start_postgres, stop_postgres

REPO = Path(__file__).resolve().parents[1]
REDIS = Path("/usr/bin/redis-server")
START = dt.date(2024, 3, 4)
DAYS = [START + dt.timedelta(days=i) for i in range(3)]
MISSING_DAY = START + dt.timedelta(days=3)  # its trades file is not in the bucket: test (c)
BUCKET = "tickwh-dist"
# A dead worker's step comes back after this. It must exceed the longest step (dbt_daily_marts: ~40 s here on a
# loaded 2-core machine): at 30 s the broker delivered a running dbt step a second time, to the other worker.
VISIBILITY_S = 90

DAGSTER_YAML = """
storage:
  postgres:
    postgres_url:
      env: TICKWH_DAGSTER_PG_URL
# Resolved in each process from its own environment: a worker never writes under the launcher's home.
local_artifact_storage:
  module: dagster._core.storage.root
  class: LocalArtifactStorage
  config:
    base_dir:
      env: DAGSTER_HOME
compute_logs:
  module: dagster._core.storage.noop_compute_log_manager
  class: NoOpComputeLogManager
telemetry:
  enabled: false
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class Network:
    """A bridge on this machine holding the services' address (`host`), and a network namespace per worker
    machine joined to it by a veth pair. Inside, a worker has its own loopback and reaches only `host`."""
    tag: str
    subnet: str  # the first three octets of a /24
    machines: tuple[str, ...]

    @property
    def host(self) -> str:
        return f"{self.subnet}.1"

    def namespace(self, machine: str) -> str:
        return f"tickwh-{self.tag}-{machine}"

    def address(self, machine: str) -> str:
        return f"{self.subnet}.{self.machines.index(machine) + 2}"

    def inside(self, machine: str, cmd: list[str]) -> list[str]:
        return ["ip", "netns", "exec", self.namespace(machine), *cmd]


def _ip(*args: str) -> None:
    proc = subprocess.run(["ip", *args], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {proc.stderr.strip()} (the distributed tests need root and ip)")


@contextmanager
def machine_network(machines: tuple[str, ...]) -> Iterator[Network]:
    used = subprocess.run(["ip", "-o", "-4", "addr"], capture_output=True, text=True).stdout
    rng = random.SystemRandom()
    subnet = next(s for s in (f"10.{rng.randrange(64, 250)}.{rng.randrange(256)}" for _ in range(100))
                  if f" {s}." not in used)
    net = Network(tag=secrets.token_hex(3), subnet=subnet, machines=machines)
    bridge = f"twb{net.tag}"  # interface names hold at most 15 characters
    made: list[str] = []
    try:
        _ip("link", "add", bridge, "type", "bridge")
        _ip("addr", "add", f"{net.host}/24", "dev", bridge)
        _ip("link", "set", bridge, "up")
        for machine in machines:
            ns, veth = net.namespace(machine), f"tw{net.tag}{machine}"
            _ip("netns", "add", ns)
            made.append(ns)
            _ip("link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns)
            _ip("link", "set", veth, "master", bridge, "up")
            _ip("-n", ns, "addr", "add", f"{net.address(machine)}/24", "dev", "eth0")
            _ip("-n", ns, "link", "set", "eth0", "up")
            _ip("-n", ns, "link", "set", "lo", "up")
        yield net
    finally:
        for ns in made:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        subprocess.run(["ip", "link", "del", bridge], capture_output=True)


@dataclass
class Cluster:
    pg: Postgres
    s3: SeaweedServer
    redis_port: int
    root: Path
    net: Network | None = None  # None: every machine on this one's loopback (the benchmark)
    redis: subprocess.Popen | None = None
    workers: dict[str, subprocess.Popen] = field(default_factory=dict)
    reference: subprocess.Popen | None = None
    worker_env: dict[str, str] = field(default_factory=dict)  # every worker's test hooks (tests/dist_app.py)

    @property
    def host(self) -> str:
        """Where the services listen: the bridge's address, or loopback without a network."""
        return self.net.host if self.net else "127.0.0.1"

    def start_redis(self) -> subprocess.Popen:
        """Debian's redis-server on the cluster's port; its queue survives a restart (append-only file, every
        write fsynced) in its own folder."""
        (self.root / "redis").mkdir(exist_ok=True)
        log = open(self.root / "redis" / "redis.log", "a")  # noqa: SIM115  (the server's whole life)
        self.redis = subprocess.Popen(
            # Protected mode refuses every client not on loopback unless a password is set; here the server listens
            # only on the machines' private bridge.
            [str(REDIS), "--port", str(self.redis_port), "--bind", self.host, "--protected-mode", "no", "--save", "",
             "--appendonly", "yes",
             "--appendfsync", "always", "--dir", str(self.root / "redis")], stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection((self.host, self.redis_port), timeout=1) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(64).startswith(b"+PONG"):
                        return self.redis
            except OSError:
                pass
            if self.redis.poll() is not None or time.monotonic() > deadline:
                self.redis.kill()
                raise AssertionError(f"redis-server did not start; see {self.root / 'redis' / 'redis.log'}")
            time.sleep(0.1)

    def stop_redis(self) -> None:
        assert self.redis is not None
        self.redis.kill()  # SIGKILL: no shutdown save; what it had is in the fsynced append-only file
        self.redis.wait(timeout=30)

    def home(self, name: str) -> Path:
        home = self.root / name
        (home / "dagster_home").mkdir(parents=True, exist_ok=True)
        (home / "dagster_home" / "dagster.yaml").write_text(DAGSTER_YAML)
        return home

    def env(self, home: Path, **extra: str) -> dict[str, str]:
        """A machine's environment: its own home; the shared services; nothing of any other home."""
        base = {k: v for k, v in os.environ.items() if not k.startswith(("TICKWH_", "AWS_", "DAGSTER_"))}
        return {
            **base,
            "TICKWH_HOME": str(home),
            "DAGSTER_HOME": str(home / "dagster_home"),
            "DAGSTER_DISABLE_TELEMETRY": "1",
            "TICKWH_DAGSTER_PG_URL": self.pg.url("dagster"),
            "TICKWH_LAKE_CATALOG": "postgres:" + self.pg.conninfo("tickwh_lake"),
            "TICKWH_LAKE_DATA": f"s3://{BUCKET}/lake/",
            "TICKWH_LAKE_S3_ENDPOINT": self.s3.endpoint_url,
            "TICKWH_LAKE_S3_ACCESS_KEY_ID": self.s3.access_key or "",
            "TICKWH_LAKE_S3_SECRET_ACCESS_KEY": self.s3.secret_key or "",
            "TICKWH_LANDING_S3": f"s3://{BUCKET}/landing/",
            "TICKWH_LANDING_S3_ENDPOINT": self.s3.endpoint_url,
            "TICKWH_LANDING_S3_ACCESS_KEY_ID": self.s3.access_key or "",
            "TICKWH_LANDING_S3_SECRET_ACCESS_KEY": self.s3.secret_key or "",
            "TICKWH_EXECUTOR": "celery",
            "TICKWH_CELERY_BROKER": f"redis://{self.host}:{self.redis_port}/0",
            "TICKWH_CELERY_BACKEND": f"redis://{self.host}:{self.redis_port}/1",
            "TICKWH_CELERY_VISIBILITY_TIMEOUT_S": str(VISIBILITY_S),
            **extra,
        }

    def lake_config(self) -> lake.LakeConfig:
        return lake.LakeConfig(catalog="postgres:" + self.pg.conninfo("tickwh_lake"), data_path=f"s3://{BUCKET}/lake/",
                               s3_endpoint=self.s3.endpoint_url, s3_access_key_id=self.s3.access_key,
                               s3_secret_access_key=self.s3.secret_key)

    def start_worker(self, name: str, **extra: str) -> subprocess.Popen:
        for other in HOMES:
            self.home(other)
        home = self.home(name)
        log = open(home / "worker.log", "w")  # noqa: SIM115  (the worker's whole life)
        celery = [sys.executable, "-m", "celery", "-A", "tests.dist_app", "worker", "-Q", "dagster", "-n",
                  f"{name}@%h", "--concurrency", "1", "--prefetch-multiplier=1", "--without-gossip",
                  "--without-mingle", "--loglevel", "INFO"]
        # The embedded PostgreSQL listens on a Unix socket inside its folder: that folder is the service's address
        # here (a port elsewhere), the only one of the cluster's folders a worker keeps.
        cmd = isolated(celery, hidden=[d for d in sorted(self.root.iterdir())
                                       if d.is_dir() and d not in (home, self.root / "pg")])
        if self.net is not None:
            cmd = self.net.inside(name, cmd)
        env = self.env(home, TICKWH_TEST_WORKER=name, PYTHONPATH=str(REPO), **{**self.worker_env, **extra})
        proc = subprocess.Popen(cmd, cwd=home, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.workers[name] = proc
        deadline = time.monotonic() + 90
        while "ready." not in (home / "worker.log").read_text():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"worker {name} did not start:\n{(home / 'worker.log').read_text()[-3000:]}")
            time.sleep(0.3)
        return proc

    def kill(self, name: str) -> None:
        proc = self.workers.pop(name)
        os.killpg(proc.pid, signal.SIGKILL)  # the worker and its pool child: a machine lost
        proc.wait(timeout=30)

    def launch(self, first: dt.date, last: dt.date) -> subprocess.Popen:
        home = self.home("launcher")
        assert not (home / "landing").exists()
        return subprocess.Popen([sys.executable, "-m", "tests.dist_launcher", first.isoformat(), last.isoformat()],
                                cwd=REPO, env=self.env(home), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)


# Every home of the cluster is made before a worker starts, so that the worker's mount namespace hides it.
HOMES = ("launcher", "reference", "w1", "w2", "w3", "w4")


def isolated(cmd: list[str], hidden: list[Path]) -> list[str]:
    """`cmd` in its own mount namespace where each of `hidden` is an empty, unreadable tmpfs: a worker machine
    has no path of the launcher's home (or of another worker's, or of the servers' folders) to read."""
    masks = " && ".join(f"mount -t tmpfs -o size=64k,mode=000 tickwh-hidden {shlex.quote(str(d))}" for d in hidden)
    script = f"{masks} && exec {shlex.join(cmd)}" if hidden else f"exec {shlex.join(cmd)}"
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script]


def finish(proc: subprocess.Popen, timeout: float = 400) -> dict:
    out, err = proc.communicate(timeout=timeout)
    lines = [ln for ln in out.splitlines() if ln.startswith("{")]
    assert lines, f"launcher printed no result (exit {proc.returncode}):\n{err[-4000:]}"
    return json.loads(lines[-1])


def finish_green(run: subprocess.Popen) -> dict:
    """The launched run's result, asserted to have succeeded with no failed step."""
    result = finish(run)
    assert result["failures"] == {}, result
    assert result["success"]
    return result


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    if not REDIS.exists():
        pytest.fail(f"{REDIS} is missing: `make redis` installs Debian's redis-server (a prerequisite of make test)")
    root = tmp_path_factory.mktemp("dist")
    staging = root / "staging"
    simulate_days(START, len(DAYS) + 1, staging, seed=11, trades_per_day=3000, snapshot_interval_ms=120_000)
    with machine_network(tuple(h for h in HOMES if h.startswith("w"))) as net:
        yield from _cluster(root, staging, net)


def _cluster(root: Path, staging: Path, net: Network) -> Iterator[Cluster]:
    c = Cluster(pg=None, s3=None, redis_port=free_port(), root=root, net=net)  # type: ignore[arg-type]  (set below)
    c.start_redis()
    key, secret = "dist" + secrets.token_hex(4), secrets.token_urlsafe(18)
    try:
        with running_postgres(root / "pg", ["tickwh_lake", "dagster"]) as pg:
            s3 = SeaweedServer(root / "seaweed", access_key=key, secret_key=secret, host=net.host).start()
            try:
                client = s3.client()
                client.create_bucket(Bucket=BUCKET)
                for path in sorted(staging.iterdir()):
                    if MISSING_DAY.isoformat() in path.name and "_trades_" in path.name:
                        continue  # test (c): a day whose trades file never reached the bucket
                    client.upload_file(str(path), BUCKET, f"landing/{path.name}")
                c.pg, c.s3 = pg, s3
                # The sequential reference: the same days, one in-process run, embedded lake, its own home.
                ref = root / "reference"
                shutil.copytree(staging, ref / "landing",
                                ignore=lambda _d, names: [n for n in names if MISSING_DAY.isoformat() in n])
                ref_env = {k: v for k, v in os.environ.items() if not k.startswith(("TICKWH_", "AWS_", "DAGSTER_"))}
                ref_env.update(TICKWH_HOME=str(ref), DAGSTER_HOME=str(ref / "no_dagster_home"),
                               DAGSTER_DISABLE_TELEMETRY="1")
                c.reference = subprocess.Popen(
                    [sys.executable, "-m", "tests.lake_worker", "pipeline", str(ref), DAYS[0].isoformat(),
                     DAYS[-1].isoformat()], cwd=REPO, env=ref_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                    text=True)
                c.worker_env = {"TICKWH_TEST_PARK": f"book_snapshots:{DAYS[1]}:{root / 'parked.json'}",
                                "TICKWH_TEST_PARK_DBT": str(root / "parked_dbt.json")}
                for name in ("w1", "w2"):
                    c.start_worker(name)
                yield c
            finally:
                for proc in [*c.workers.values(), *([c.reference] if c.reference else [])]:
                    if proc.poll() is None:
                        os.killpg(proc.pid, signal.SIGKILL) if proc in c.workers.values() else proc.kill()
                        proc.wait(timeout=30)
                s3.stop(timeout=1.0)
    finally:
        if c.redis is not None and c.redis.poll() is None:
            c.redis.terminate()
            c.redis.wait(timeout=30)


def lake_diff(got: dict[str, TableFingerprint], want: dict[str, TableFingerprint]) -> list[str]:
    """Tables whose row count or content checksum differ (every raw table and mart), or missing on one side."""
    return [f"{t}: {got.get(t)} != {want.get(t)}" for t in sorted(set(got) | set(want)) if got.get(t) != want.get(t)]


def fingerprints_of(config: lake.LakeConfig) -> dict[str, TableFingerprint]:
    """Every raw table and mart; the fences count loads and builds (bookkeeping, not data): a reload changes them."""
    with lake.connect(config, read_only=True) as con:
        return {t: f for t, f in fingerprints(con).items()
                if t.startswith(("raw.", "marts.")) and t not in FENCES}


@pytest.fixture(scope="module")
def reference(cluster: Cluster) -> dict[str, TableFingerprint]:
    assert cluster.reference is not None
    out, err = cluster.reference.communicate(timeout=600)
    assert cluster.reference.returncode == 0, err[-4000:]
    return fingerprints_of(lake.LakeConfig.embedded(cluster.root / "reference"))


def test_a_worker_sees_no_path_of_the_launcher_or_of_another_machine(cluster: Cluster) -> None:
    secret = cluster.home("launcher") / "launcher_only.txt"
    secret.write_text("the launching machine's file")
    for name, proc in cluster.workers.items():
        def inside(*cmd: str, pid: int = proc.pid) -> subprocess.CompletedProcess:
            return subprocess.run(["nsenter", "-t", str(pid), "-m", "--", *cmd], capture_output=True, text=True)

        assert inside("test", "-f", str(cluster.root / name / "worker.log")).returncode == 0  # its own home
        for hidden in (secret, next((cluster.root / "staging").iterdir()), cluster.root / "reference" / "landing",
                       next((cluster.root / "seaweed").iterdir()), cluster.root / "redis" / "redis.log",
                       *[cluster.root / other / "worker.log" for other in cluster.workers]):
            if hidden.parent != cluster.root / name:
                assert inside("test", "-e", str(hidden)).returncode == 1, f"{name} can see {hidden}"
        assert inside("ls", "-A", str(cluster.root / "launcher")).stdout == ""


_PROBE = """import socket, sys
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=2).close()
    print("open")
except OSError:
    print("closed")
"""


def test_a_worker_machine_reaches_the_services_and_nothing_on_the_launchers_loopback(cluster: Cluster) -> None:
    assert cluster.net is not None
    s3_port = int(cluster.s3.endpoint_url.rsplit(":", 1)[1])
    with socket.socket() as launcher_only:  # a service of the launching machine, on its own loopback
        launcher_only.bind(("127.0.0.1", 0))
        launcher_only.listen()
        port = launcher_only.getsockname()[1]

        def reach(pid: int | None, host: str, p: int) -> str:
            cmd = [sys.executable, "-c", _PROBE, host, str(p)]
            cmd = ["nsenter", "-t", str(pid), "-n", "--", *cmd] if pid else cmd
            return subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout.strip()

        assert reach(None, "127.0.0.1", port) == "open"
        for name, proc in cluster.workers.items():
            assert reach(proc.pid, "127.0.0.1", port) == "closed", f"{name} reaches the launcher's loopback"
            assert reach(proc.pid, cluster.host, cluster.redis_port) == "open", name
            assert reach(proc.pid, cluster.host, s3_port) == "open", name
            addresses = subprocess.run(["nsenter", "-t", str(proc.pid), "-n", "--", "ip", "-o", "-4", "addr"],
                                       capture_output=True, text=True).stdout
            assert f" {cluster.net.address(name)}/24 " in addresses and cluster.net.host not in addresses, addresses


def test_split_backfill_over_two_workers_equals_the_sequential_run(cluster: Cluster, request) -> None:
    # Two ranged runs at once (days 1-2 and day 3): their steps spread over both workers.
    runs = [cluster.launch(DAYS[0], DAYS[1]), cluster.launch(DAYS[2], DAYS[2])]
    reference = request.getfixturevalue("reference")  # the sequential run, meanwhile in its own process
    results = [finish(p) for p in runs]
    assert [r["failures"] for r in results] == [{}, {}]
    assert all(r["success"] for r in results)
    assert reference["raw.trades"].rows == 3000 * len(DAYS)
    # Every raw table and mart equals the sequential run, daily_stats' previous close on the later range's
    # first day included: whichever range built its window last set it (macros/next_day_prev_close.sql).
    assert lake_diff(fingerprints_of(cluster.lake_config()), reference) == []
    # Every step ran on a Celery worker, and both workers ran steps.
    steps = {(r["run_id"], step): names for r in results for step, names in r["workers"].items()}
    # One execution per step, plus one per retry the step asked for (a dbt build that lost a commit to the other
    # run's build retries its window: docs/lake.md).
    retried = {(r["run_id"], step): n for r in results for step, n in r["retries"].items()}
    assert {k: v for k, v in steps.items() if len(v) != 1 + retried.get(k, 0)} == {}, retried
    ran = {name.split("@")[0] for names in steps.values() for name in names}
    assert ran == {"w1", "w2"}, steps
    assert {"raw_trades", "raw_book_snapshots", "dbt_daily_marts"} <= {step for _, step in steps}
    # The landing files reached the workers through the bucket, into their own homes.
    for name in ("w1", "w2"):
        assert any((cluster.root / name / "landing").glob("*.csv.gz"))


def test_worker_killed_mid_raw_load_step_redelivered_to_the_other(cluster: Cluster, reference) -> None:
    marker = cluster.root / "parked.json"
    Path(f"{marker}.armed").touch()
    run = cluster.launch(DAYS[0], DAYS[-1])  # reloads the three days over what test (a) left
    deadline = time.monotonic() + 240
    while not marker.exists():
        assert run.poll() is None and time.monotonic() < deadline, "no worker reached the second day's book load"
        time.sleep(0.2)
    parked = json.loads(marker.read_text())
    killed = parked["worker"]
    cluster.kill(killed)  # SIGKILL mid ranged raw load: day 1 committed, day 2 under way
    t_kill = time.monotonic()
    result = finish_green(run)
    assert time.monotonic() - t_kill >= VISIBILITY_S - 2  # redelivered by the broker's visibility timeout
    ran = [n.split("@")[0] for n in result["workers"]["raw_book_snapshots"]]
    survivor = ({"w1", "w2"} - {killed}).pop()
    assert ran == [killed, survivor], result["workers"]
    # Nothing doubled or lost: every raw table and mart still equals the sequential run.
    assert lake_diff(fingerprints_of(cluster.lake_config()), reference) == []


def arm(marker: Path) -> None:
    """Arm a test hook of tests/dist_app.py: the next matching step writes `marker` and holds there."""
    for path in (marker, Path(f"{marker}.release")):
        path.unlink(missing_ok=True)
    Path(f"{marker}.armed").touch()


def parked(marker: Path, run: subprocess.Popen, what: str) -> dict:
    """Wait until a worker holds at the armed hook; disarm it (the step's next execution runs through)."""
    deadline = time.monotonic() + 300
    while True:
        assert run.poll() is None and time.monotonic() < deadline, f"no worker reached {what}"
        try:
            info = json.loads(marker.read_text())
            break
        except (FileNotFoundError, json.JSONDecodeError):
            time.sleep(0.2)
    Path(f"{marker}.armed").unlink()
    return info


def release(marker: Path) -> None:
    Path(f"{marker}.release").touch()


def redis_queued(host: str, port: int) -> int:
    """Steps waiting in the broker's queue: the lists `dagster` and its priority levels (`dagster\\x06\\x16<n>`)."""
    import redis

    client = redis.Redis(host=host, port=port)
    try:
        return sum(client.llen(key) for key in client.keys("dagster*") if client.type(key) == b"list")
    finally:
        client.close()


def test_worker_killed_mid_dbt_build_step_redelivered_to_the_other(cluster: Cluster, reference) -> None:
    if len(cluster.workers) < 2:
        cluster.start_worker("w3")
    marker = cluster.root / "parked_dbt.json"
    arm(marker)
    run = cluster.launch(DAYS[1], DAYS[1])
    # The first model of the build has committed its window; dbt holds before the next: mid-build.
    killed = parked(marker, run, "a dbt build of dbt_daily_marts")["worker"]
    cluster.kill(killed)  # SIGKILL of the worker's process group: the step's process and the dbt inside it
    t_kill = time.monotonic()
    result = finish_green(run)
    assert time.monotonic() - t_kill >= VISIBILITY_S - 2  # redelivered by the broker's visibility timeout
    ran = [n.split("@")[0] for n in result["workers"]["dbt_daily_marts"]]
    assert ran[0] == killed and set(ran[1:]) == set(cluster.workers), result["workers"]
    assert len(ran) == 2 + result["retries"].get("dbt_daily_marts", 0), result
    # The window was rebuilt whole: nothing doubled (the committed model replaced, not appended) or lost.
    assert lake_diff(fingerprints_of(cluster.lake_config()), reference) == []


def test_broker_restarted_mid_backfill_with_steps_queued(cluster: Cluster, reference) -> None:
    marker = cluster.root / "parked.json"
    arm(marker)
    run = cluster.launch(DAYS[0], DAYS[1])
    # A worker holds in the second day's book load; with one slot per worker, the run's other steps wait in
    # the broker's queue.
    try:
        parked(marker, run, "the second day's book load")
        queued = redis_queued(cluster.host, cluster.redis_port)
        assert queued >= 1  # steps wait in the broker: published once, never again by the run
        cluster.stop_redis()  # SIGKILL of redis-server: the workers' and the launcher's connections drop
        time.sleep(3)
        cluster.start_redis()  # same port, same append-only file
        # The queue came back (the reconnected worker may take one step into its free prefetch slot at once).
        assert redis_queued(cluster.host, cluster.redis_port) >= queued - 1
    finally:
        release(marker)
    result = finish_green(run)
    assert {"raw_trades", "raw_book_snapshots", "dbt_daily_marts"} <= set(result["workers"])
    assert lake_diff(fingerprints_of(cluster.lake_config()), reference) == []


def test_postgres_briefly_unreachable_mid_dbt_build(cluster: Cluster, reference) -> None:
    marker = cluster.root / "parked_dbt.json"
    arm(marker)
    run = cluster.launch(DAYS[2], DAYS[2])
    # dbt holds between two models' commits, its lake attached (the catalog's PostgreSQL connection open).
    try:
        parked(marker, run, "a dbt build of dbt_daily_marts")
        t0 = time.monotonic()
        stop_postgres(cluster.root / "pg")  # pg_ctl stop (fast): every session cut, the server down
        time.sleep(3)
        assert start_postgres(cluster.root / "pg") == cluster.pg  # same data dir, same socket
        outage = time.monotonic() - t0
    finally:
        release(marker)
    result = finish(run)
    print(json.dumps({"outage_s": round(outage, 1), **result}))
    assert result["failures"] == {}, result
    assert result["success"]
    assert lake_diff(fingerprints_of(cluster.lake_config()), reference) == []


def test_a_worker_lacking_a_file_fails_naming_it(cluster: Cluster) -> None:
    # Last of the runs: it loads a fourth day's other datasets, which the sequential reference has not.
    if len(cluster.workers) < 2:
        cluster.start_worker("w4")
    result = finish(cluster.launch(MISSING_DAY, MISSING_DAY))
    assert not result["success"]
    failures = result["failures"]
    assert "raw_trades" in failures, failures
    message = failures["raw_trades"]
    assert f"no trades files for {MISSING_DAY}" in message
    assert f"<exchange>_trades..._{MISSING_DAY}_<symbols>.csv.gz" in message  # the file it expected
    assert "/landing" in message and "launcher" not in message  # the worker's own folder, never the launcher's


def test_the_executor_is_configuration_only() -> None:
    from ingest.settings import Settings
    from orchestration.lib.execution import celery_config_source, executor_from_settings

    assert executor_from_settings(Settings.from_env({})).name == "in_process"  # make demo: unchanged
    settings = Settings.from_env({"TICKWH_EXECUTOR": "celery", "TICKWH_CELERY_VISIBILITY_TIMEOUT_S": "900"})
    assert executor_from_settings(settings).name == "celery"
    config = celery_config_source(settings)
    assert config["task_acks_late"] is True and config["task_reject_on_worker_lost"] is True
    assert config["broker_transport_options"]["visibility_timeout"] == 900
    assert config["worker_prefetch_multiplier"] == 1
    assert config["result_backend_always_retry"] is True  # a restarted broker: the run's polls wait for it


@pytest.mark.parametrize(("env", "line"), [
    ({"TICKWH_EXECUTOR": "dask"}, "error: TICKWH_EXECUTOR: 'dask' is not allowed: expected one of in_process, celery"),
    ({"TICKWH_LANDING_S3": "/srv/landing"},
     "error: TICKWH_LANDING_S3: '/srv/landing' is not an S3 location: expected s3://bucket/prefix/"),
    ({"TICKWH_CELERY_VISIBILITY_TIMEOUT_S": "2"},
     "error: TICKWH_CELERY_VISIBILITY_TIMEOUT_S: '2' is out of range: expected a whole number from 5 to 604800"),
])
def test_a_worker_with_a_bad_setting_is_one_line(env: dict[str, str], line: str, tmp_path: Path) -> None:
    tickwh = Path(sys.executable).with_name("tickwh")
    out = subprocess.run([str(tickwh), "worker"], env={**os.environ, "TICKWH_HOME": str(tmp_path), **env},
                         capture_output=True, text=True, timeout=60)
    assert (out.returncode, out.stderr.strip()) == (2, line)
