"""Real PACS services as plain processes on loopback, for the integration tests.

Orthanc (with DICOMweb), RabbitMQ, PostgreSQL and Samba from Debian's
packages, each with its own configuration and state under one temporary
folder, started with ``setsid`` and stopped by PID. Orthanc cannot bind one
address, so :func:`enter_private_network` first moves this process into a
network namespace that has only loopback (needs root): nothing the tests start
can be reached from outside, and the fixed ports cannot clash with the host's.
Every process runs with its working directory in its own state folder, and
Erlang's crash dumps (``ERL_CRASH_DUMP``, mnesia's ``MnesiaCore.*``, which it writes
to the working directory) land there too: nothing is written where the tests
were started.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

CLONE_NEWNET = 0x40000000
HOST = "127.0.0.1"
_in_private_network = False


def enter_private_network() -> None:
    """Move this process into a new network namespace with loopback up (root only).

    Once per process: later calls keep the namespace that the services already
    started in (a second unshare would cut the tests off from them).
    """
    global _in_private_network
    if _in_private_network:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNET) != 0:
        raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNET) failed; the service tests need root")
    _in_private_network = True
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)


def wait_for_port(port: int, timeout_s: float = 30, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process {proc.args!r} exited with {proc.returncode} before port {port} opened")
        with socket.socket() as s:
            s.settimeout(0.5)
            if s.connect_ex((HOST, port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listens on {HOST}:{port} after {timeout_s} s")


def stop_process(proc: subprocess.Popen | None, timeout_s: float = 20, sig: int = signal.SIGTERM) -> None:
    """Stop a process started with start_new_session=True, with its whole process group, by PID."""
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, sig)
        proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
    except ProcessLookupError:
        pass


def start(args: list[str], log: Path, env: dict[str, str] | None = None, user: str | None = None,
          cwd: Path | None = None) -> subprocess.Popen:
    """Start a server in its own session, working directory ``cwd`` (default: the log's folder)."""
    if user:
        args = ["runuser", "-u", user, "--", *args]
    return subprocess.Popen(
        args, stdout=open(log, "ab"), stderr=subprocess.STDOUT, start_new_session=True,
        env={**os.environ, **(env or {})}, cwd=cwd or log.parent,
    )


@dataclass
class Orthanc:
    root: Path
    http_port: int = 18042
    dicom_port: int = 14242
    aet: str = "BOA_ORTHANC"
    username: str = "boa"
    password: str = "orthanc-test-secret"
    modalities: dict[str, list] = field(default_factory=lambda: {"scanner": ["SCANNER1", HOST, 11112]})
    stable_age_s: int = 2
    http_compression: bool = True
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.http_port}"

    @property
    def dicomweb_url(self) -> str:
        return f"{self.url}/dicom-web"

    def config(self) -> dict:
        return {
            "Name": "boa-test",
            "StorageDirectory": str(self.root / "db"),
            "IndexDirectory": str(self.root / "db"),
            "HttpPort": self.http_port,
            "DicomPort": self.dicom_port,
            "DicomAet": self.aet,
            "DicomCheckCalledAet": True,
            "RemoteAccessAllowed": True,
            "AuthenticationEnabled": True,
            "RegisteredUsers": {self.username: self.password},
            "DicomAlwaysAllowEcho": False,
            "DicomAlwaysAllowStore": False,
            "DicomCheckModalityHost": False,
            "DicomModalities": self.modalities,
            "StableAge": self.stable_age_s,
            "DeidentifyLogs": True,
            "OverwriteInstances": True,
            "HttpCompressionEnabled": self.http_compression,
            "Plugins": ["/usr/share/orthanc/plugins/libOrthancDicomWeb.so"],
            "DicomWeb": {"Enable": True, "Root": "/dicom-web/"},
        }

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "orthanc.json").write_text(json.dumps(self.config(), indent=1))
        self.proc = start(["Orthanc", str(self.root / "orthanc.json")], self.root / "orthanc.log")
        wait_for_port(self.http_port, 30, self.proc)
        wait_for_port(self.dicom_port, 30, self.proc)

    def stop(self) -> None:
        stop_process(self.proc)


@dataclass
class RabbitMQ:
    root: Path
    port: int = 15672
    epmd_port: int = 14369
    user: str = "boa"
    password: str = "rabbit-test-secret"
    consumer_timeout_ms: int = 36_000_000
    proc: subprocess.Popen | None = None

    def env(self) -> dict[str, str]:
        return {
            "RABBITMQ_NODENAME": "boatest@localhost",
            "RABBITMQ_NODE_IP_ADDRESS": HOST,
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.port + 10000),
            "RABBITMQ_MNESIA_BASE": str(self.root / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.root / "log"),
            "RABBITMQ_CONFIG_FILE": str(self.root / "rabbitmq.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.root / "enabled_plugins"),
            "RABBITMQ_PID_FILE": str(self.root / "rabbit.pid"),
            "ERL_EPMD_PORT": str(self.epmd_port),
            "ERL_CRASH_DUMP": str(self.root / "erl_crash.dump"),
            "HOME": str(self.root),
        }

    @property
    def url(self) -> str:
        return f"amqp://{self.user}:{self.password}@{HOST}:{self.port}//"

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "enabled_plugins").write_text("[].\n")
        (self.root / "rabbitmq.conf").write_text(
            f"listeners.tcp.default = {HOST}:{self.port}\n"
            f"default_user = {self.user}\ndefault_pass = {self.password}\n"
            "loopback_users = none\n"
            f"consumer_timeout = {self.consumer_timeout_ms}\n"
        )
        cookie = self.root / ".erlang.cookie"
        if not cookie.exists():
            cookie.write_text("BOATESTCOOKIE")
            cookie.chmod(0o400)
        self.proc = start(["/usr/lib/rabbitmq/bin/rabbitmq-server"], self.root / "server.log", self.env())
        subprocess.run(
            ["/usr/lib/rabbitmq/bin/rabbitmqctl", "wait", "--timeout", "60", str(self.root / "rabbit.pid")],
            env={**os.environ, **self.env()}, check=True, capture_output=True, cwd=self.root,
        )
        wait_for_port(self.port, 30, self.proc)

    def ctl(self, *args: str) -> str:
        return subprocess.run(
            ["/usr/lib/rabbitmq/bin/rabbitmqctl", *args], env={**os.environ, **self.env()},
            check=True, capture_output=True, text=True, timeout=60, cwd=self.root,
        ).stdout

    def stop(self, kill_epmd: bool = True) -> None:
        stop_process(self.proc, timeout_s=30)
        if kill_epmd:
            subprocess.run(["epmd", "-kill"], env={**os.environ, **self.env()}, capture_output=True, cwd=self.root)


@dataclass
class PostgreSQL:
    root: Path
    port: int = 15432
    user: str = "boa"
    password: str = "pg@test/secret word"  # '@', '/' and a space: they break a DSN, never keyword parameters
    database: str = "boa"
    proc: subprocess.Popen | None = None

    def params(self, database: str | None = None) -> dict[str, object]:
        """psycopg2.connect keywords (never a DSN string)."""
        return {"host": HOST, "port": self.port, "dbname": database or self.database,
                "user": self.user, "password": self.password, "connect_timeout": 10}

    def start(self) -> None:
        data, sockets = self.root / "data", self.root / "sockets"
        for d in (self.root, sockets):
            d.mkdir(parents=True, exist_ok=True)
        (self.root / "pw").write_text(self.password)
        subprocess.run(["chown", "-R", "postgres:postgres", str(self.root)], check=True)
        self.root.chmod(0o700)
        if not data.exists():
            subprocess.run(
                ["runuser", "-u", "postgres", "--", "/usr/lib/postgresql/15/bin/initdb", "-D", str(data),
                 "-U", self.user, f"--pwfile={self.root / 'pw'}", "--auth=scram-sha-256", "-E", "UTF8"],
                check=True, capture_output=True,
            )
        self.proc = start(
            ["/usr/lib/postgresql/15/bin/postgres", "-D", str(data), "-p", str(self.port),
             "-c", f"listen_addresses={HOST}", "-k", str(sockets)],
            self.root / "postgres.log", user="postgres", cwd=self.root,
        )
        wait_for_port(self.port, 30, self.proc)
        import psycopg2

        for _ in range(50):
            try:
                conn = psycopg2.connect(**self.params("postgres"))
                break
            except psycopg2.OperationalError:
                time.sleep(0.2)
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname=%s", (self.database,))
            if cur.fetchone() is None:
                cur.execute(f'CREATE DATABASE "{self.database}"')
        conn.close()

    def stop(self) -> None:
        stop_process(self.proc)


@dataclass
class Samba:
    root: Path
    port: int = 1445
    user: str = "boatest"
    password: str = "samba-test-secret"
    share: str = "results"
    proc: subprocess.Popen | None = None

    @property
    def share_dir(self) -> Path:
        return self.root / "share"

    def start(self) -> None:
        for name in ("private", "lock", "state", "cache", "pid", "log", "share"):
            (self.root / name).mkdir(parents=True, exist_ok=True)
        self.share_dir.chmod(0o777)
        conf = self.root / "smb.conf"
        conf.write_text(
            "[global]\n"
            f" interfaces = {HOST}\n bind interfaces only = yes\n smb ports = {self.port}\n"
            " server role = standalone server\n map to guest = never\n disable netbios = yes\n"
            " server min protocol = SMB2_10\n"
            f" private dir = {self.root / 'private'}\n lock directory = {self.root / 'lock'}\n"
            f" state directory = {self.root / 'state'}\n cache directory = {self.root / 'cache'}\n"
            f" pid directory = {self.root / 'pid'}\n ncalrpc dir = {self.root / 'ncalrpc'}\n"
            f" log file = {self.root / 'log'}/log.%m\n"
            f" passdb backend = tdbsam:{self.root / 'private' / 'passdb.tdb'}\n"
            f"[{self.share}]\n path = {self.share_dir}\n read only = no\n valid users = {self.user}\n"
        )
        if subprocess.run(["id", self.user], capture_output=True).returncode != 0:
            subprocess.run(["useradd", "-M", "-s", "/usr/sbin/nologin", self.user], check=True)
        subprocess.run(
            ["smbpasswd", "-c", str(conf), "-s", "-a", self.user],
            input=f"{self.password}\n{self.password}\n", text=True, check=True, capture_output=True, cwd=self.root,
        )
        self.proc = start(
            ["smbd", "--foreground", "--no-process-group", "-s", str(conf)], self.root / "smbd.out"
        )
        wait_for_port(self.port, 30, self.proc)

    def stop(self) -> None:
        stop_process(self.proc)
