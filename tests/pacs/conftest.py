"""Fixtures of the PACS tests: real services in a private network, a real worker, DICOM senders."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pytest

from helpers import services as svc
from pacs_helpers import SCANNER_AET, dicomweb_sink_available

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]


@dataclass
class Services:
    root: Path
    orthanc: svc.Orthanc
    rabbitmq: svc.RabbitMQ
    postgres: svc.PostgreSQL
    samba: svc.Samba

    def worker_env(self) -> dict[str, str]:
        env = {
            "ORTHANC_URL": self.orthanc.url,
            "ORTHANC_USERNAME": self.orthanc.username,
            "ORTHANC_PASSWORD": self.orthanc.password,
            "RABBITMQ_HOST": svc.HOST,
            "RABBITMQ_PORT": str(self.rabbitmq.port),
            "RABBITMQ_USER": self.rabbitmq.user,
            "RABBITMQ_PASSWORD": self.rabbitmq.password,
            "PACS_QUEUE": "boa-test",
            "POSTGRES_HOST": svc.HOST,
            "POSTGRES_PORT": str(self.postgres.port),
            "POSTGRES_DB": self.postgres.database,
            "POSTGRES_USER": self.postgres.user,
            "POSTGRES_PASSWORD": self.postgres.password,
            "PACS_MODEL": "total+bca",  # every job: both measurement files, the PDF report, SEGs, SR and PDF
            "BCA_ENGINE": "threshold",  # the weights-free body-composition engine
            "PACS_WORK_DIR": str(self.root / "work"),
            "OUTPUT_ROOT": str(self.root / "results"),
            "RESULT_PATH_KEY_FILE": str(self.root / "state" / "result-path.key"),  # generated on first start
            "ALLOW_STAND_IN_RESULTS": "true",  # the tests' weights are stand-ins
            "SMB_HOST": svc.HOST,
            "SMB_PORT": str(self.samba.port),
            "SMB_SHARE": self.samba.share,
            "SMB_DIRECTORY": "boa",
            "SMB_USERNAME": self.samba.user,
            "SMB_PASSWORD": self.samba.password,
            "DELETE_SOURCE_AFTER_DELIVERY": "true",
            "TASK_MAX_ATTEMPTS": "3",
            # soft limit 180 s: a stuck job is retried (a job takes about 40-65 s here with total+bca on 2 busy cores)
            "TASK_TIME_LIMIT_S": "240",
            "TASK_RETRY_BACKOFF_S": "3",
            "SINK_RETRIES": "1",
            "SINK_RETRY_BACKOFF_S": "1",
            "TRIGGER_POLL_S": "0.5",
            "MIN_SLICES": "10",
            "DEVICE": "cpu",
            "FAST_TOTAL": "1",  # the 3 mm stand-in: one small network
            "BOA_OFFLINE": "1",
        }
        if dicomweb_sink_available():
            env.update({
                "DICOMWEB_URL": f"{self.orthanc.url}/dicom-web",
                "DICOMWEB_AUTH": "basic",
                "DICOMWEB_USERNAME": self.orthanc.username,
                "DICOMWEB_PASSWORD": self.orthanc.password,
            })
        return env


@pytest.fixture(scope="session")
def services() -> Any:
    if os.geteuid() != 0:
        pytest.skip("the service tests need root (network namespace, PostgreSQL and Samba users)")
    root = Path(tempfile.mkdtemp(prefix="boa-pacs-"))
    root.chmod(0o755)
    svc.enter_private_network()
    started: list[Any] = []
    try:
        for service in (
            svc.Orthanc(root / "orthanc", modalities={"scanner": [SCANNER_AET, svc.HOST, 11112]}),
            svc.RabbitMQ(root / "rabbitmq"),
            svc.PostgreSQL(root / "postgres"),
            svc.Samba(root / "samba"),
        ):
            service.start()
            started.append(service)
        yield Services(root, *started)
    finally:
        for service in reversed(started):
            service.stop()
        shutil.rmtree(root, ignore_errors=True)


class Worker:
    """The real Celery worker as a process (its own session: stopped by PID with its children)."""

    def __init__(self, env: dict[str, str], log: Path, cwd: Path) -> None:
        self.env, self.log, self.cwd = env, log, cwd
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "worker_process.py")], cwd=self.cwd, env=self.env,
            stdout=open(self.log, "ab"), stderr=subprocess.STDOUT, start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while "ready." not in self.log.read_text(errors="replace"):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("worker did not start:\n" + self.log.read_text(errors="replace")[-3000:])
            time.sleep(0.2)

    def children(self) -> list[int]:
        assert self.proc is not None
        path = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        return [int(p) for p in path.read_text().split()] if path.exists() else []

    def kill(self) -> None:
        svc.stop_process(self.proc, sig=9)

    def stop(self) -> None:
        svc.stop_process(self.proc, timeout_s=30)


def standin_weights(root: Path) -> dict[str, str]:
    """Stand-in `total` weights (both variants) where TotalSegmentator looks."""
    weights = root / "weights"
    subprocess.run([sys.executable, str(Path(__file__).resolve().parents[1] / "helpers" / "standins.py"), "--dir", str(weights), "total"],
                   check=True, cwd=root, capture_output=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    return {"TOTALSEG_WEIGHTS_PATH": str(weights)}


@pytest.fixture(scope="session")
def worker_env(services: Services) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(services.root),
        "PYTHONPATH": str(REPO),
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        **services.worker_env(),
        **standin_weights(services.root),
    }


@pytest.fixture(scope="session")
def worker(services: Services, worker_env: dict[str, str], trigger_process: Any) -> Any:
    w = Worker(worker_env, services.root / "worker.log", services.root)
    w.start()
    yield w
    w.stop()


@pytest.fixture(scope="session")
def trigger_process(services: Services, worker_env: dict[str, str], tmp_path_factory: Any) -> Any:
    """The trigger as deployed, running beside the tests' own in-process trigger (both idempotent)."""
    log = services.root / "trigger.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "body_organ_analysis.pacs.trigger"], cwd=services.root, env=worker_env,
        stdout=open(log, "ab"), stderr=subprocess.STDOUT, start_new_session=True,
    )
    yield proc
    svc.stop_process(proc)
    keep = tmp_path_factory.getbasetemp() / "pacs-logs"  # for reading after the run
    keep.mkdir(exist_ok=True)
    for name in ("worker.log", "trigger.log", "orthanc/orthanc.log"):
        if (services.root / name).exists():
            shutil.copy(services.root / name, keep / Path(name).name)


@pytest.fixture(scope="session")
def pacs(services: Services, worker_env: dict[str, str]) -> Any:
    """Settings, statistics store, Orthanc client and an in-process trigger, as the deployment has them."""
    from body_organ_analysis.pacs.orthanc import Orthanc
    from body_organ_analysis.pacs.settings import build_worker_settings
    from body_organ_analysis.pacs.trigger import build_trigger

    settings = build_worker_settings(worker_env)
    trigger = build_trigger(settings)
    orthanc = Orthanc(settings.orthanc_url, settings.orthanc_username, settings.orthanc_password)
    return Pacs(settings, trigger, trigger.store, orthanc)


@dataclass
class Pacs:
    settings: Any
    trigger: Any
    store: Any
    orthanc: Any

    def series_id(self, series_uid: str) -> str | None:
        found = self.orthanc._request("POST", "/tools/lookup", data=series_uid).json()
        return next((f["ID"] for f in found if f["Type"] == "Series"), None)

    def queue_when_stable(self, series_uid: str, timeout_s: float = 40) -> str:
        """Run the trigger until the series has a job; returns the job key."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.trigger.follow_changes()
            series_id = self.series_id(series_uid)
            keys = self.store.jobs_for_series(series_id) if series_id else []
            if keys:
                return keys[0]
            time.sleep(0.5)
        raise TimeoutError(f"no job for the series after {timeout_s} s")

    def wait_for(self, key: str, states: tuple[str, ...], timeout_s: float = 240,
                 condition: Callable[[dict], bool] | None = None) -> dict:
        deadline = time.monotonic() + timeout_s
        job: dict = {}
        while time.monotonic() < deadline:
            job = self.store.job(key) or {}
            if job.get("state") in states and (condition is None or condition(job)):
                return job
            time.sleep(0.2)
        raise TimeoutError(f"job {key[:12]} not in {states} after {timeout_s} s: {job}")


