"""``boa cohort --celery`` with the real RabbitMQ and two real PACS worker processes: the same tables as a local run."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import pytest

from body_organ_analysis.cohort.cli import main as cohort_main
from helpers import services as svc
from tests.cohort.conftest import ANALYSIS
from tests.cohort.test_cohort_run import tables

pytestmark = pytest.mark.services
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def rabbitmq():
    if os.geteuid() != 0:
        pytest.skip("the service tests need root (network namespace)")
    if not Path("/usr/lib/rabbitmq/bin/rabbitmq-server").exists():
        pytest.skip("rabbitmq-server is not installed (scripts/install.sh --system)")
    root = Path(tempfile.mkdtemp(prefix="boa-cohort-"))
    svc.enter_private_network()
    broker = svc.RabbitMQ(root / "rabbitmq")
    broker.start()
    try:
        yield root, broker
    finally:
        broker.stop()
        shutil.rmtree(root, ignore_errors=True)


def worker_env(root: Path, broker: svc.RabbitMQ) -> dict[str, str]:
    return {
        **os.environ, "PYTHONPATH": str(REPO),
        "RABBITMQ_HOST": svc.HOST, "RABBITMQ_PORT": str(broker.port),
        "RABBITMQ_USER": broker.user, "RABBITMQ_PASSWORD": broker.password,
        "PACS_QUEUE": "boa-cohort-test", "ORTHANC_USERNAME": "unused", "ORTHANC_PASSWORD": "unused",
        "STATS_SQLITE_PATH": str(root / "stats.sqlite"), "PACS_WORK_DIR": str(root / "work"),
        "DEVICE": "cpu", "BOA_OFFLINE": "1", "TASK_TIME_LIMIT_S": "600",
    }


def start_worker(name: str, env: dict[str, str], log: Path) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "body_organ_analysis.pacs.worker", "-n", f"{name}@%h"],
                            cwd=REPO, env=env, stdout=open(log, "ab"), stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 90
    while "ready." not in log.read_text(errors="replace"):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("worker did not start:\n" + log.read_text(errors="replace")[-3000:])
        time.sleep(0.2)
    return proc


def test_celery_run_gives_the_local_tables(rabbitmq, cohort_manifest: Path, tmp_path: Path) -> None:
    root, broker = rabbitmq
    env = worker_env(root, broker)
    local, distributed = tmp_path / "local", tmp_path / "celery"
    assert cohort_main(["--manifest", str(cohort_manifest), "-o", str(local), *ANALYSIS, "--no-progress"], env) == 0
    workers = [start_worker(f"cohort{n}", env, tmp_path / f"worker{n}.log") for n in (1, 2)]
    try:
        assert cohort_main(["--manifest", str(cohort_manifest), "-o", str(distributed), *ANALYSIS, "--no-progress",
                            "--celery", "--celery-timeout-s", "900"], env) == 0
    finally:
        for proc in workers:
            svc.stop_process(proc, timeout_s=30)
    run = json.loads((distributed / "run.json").read_text())
    assert run["executor"] == "celery" and run["counts"] == {"done": 21, "failed": 2, "skipped": 0}
    reference, result = tables(local), tables(distributed)
    for name in reference:
        pd.testing.assert_frame_equal(reference[name], result[name], obj=name)
    # both workers took cases
    logs = [(tmp_path / f"worker{n}.log").read_text(errors="replace") for n in (1, 2)]
    assert all("boa.cohort_case" in text and "succeeded" in text for text in logs)
    print("jobs 1:", json.loads((local / "run.json").read_text())["timings"], "celery, 2 workers:", run["timings"])
    # a rerun through Celery sends nothing: every case is done
    assert cohort_main(["--manifest", str(cohort_manifest), "-o", str(distributed), *ANALYSIS, "--no-progress",
                        "--celery", "--celery-timeout-s", "5"], env) == 0
    assert json.loads((distributed / "run.json").read_text())["ran"] == 0
