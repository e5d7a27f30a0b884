"""The task body's state machine, with an SQLite store and process_job replaced per test."""

from __future__ import annotations

import pytest

from body_organ_analysis.pacs import worker
from body_organ_analysis.pacs.settings import build_worker_settings
from body_organ_analysis.pacs.sinks.base import Delivery, DeliveryError, RetryableDeliveryError


class Retry(Exception):
    pass


class FakeTask:
    def __init__(self) -> None:
        self.countdowns: list[int] = []

    def retry(self, countdown: int, max_retries: int | None) -> Exception:
        self.countdowns.append(countdown)
        return Retry()


@pytest.fixture
def settings(tmp_path):
    return build_worker_settings({
        "ORTHANC_USERNAME": "u", "ORTHANC_PASSWORD": "p", "RABBITMQ_USER": "r", "RABBITMQ_PASSWORD": "s",
        "STATS_SQLITE_PATH": str(tmp_path / "s.sqlite"), "PACS_WORK_DIR": str(tmp_path / "work"),
        "TASK_MAX_ATTEMPTS": "2", "TASK_RETRY_BACKOFF_S": "10", "SINK_RETRIES": "2", "SINK_RETRY_BACKOFF_S": "0",
    })


@pytest.fixture
def store(settings):
    store = worker.store_for(settings)
    store.migrate()
    store.create_job("k", "series", 20, "CT")
    return store


def test_transient_failure_retried_with_backoff_then_given_up(settings, store, monkeypatch):
    def down(*args):
        raise RetryableDeliveryError("Orthanc away")

    monkeypatch.setattr(worker, "process_job", down)
    task = FakeTask()
    with pytest.raises(Retry):
        worker.run_task(task, settings, "k", "series")
    assert task.countdowns == [10]
    assert store.job("k")["state"] == "queued" and "Orthanc away" in store.job("k")["reason"]
    assert worker.run_task(task, settings, "k", "series") == "failed"
    job = store.job("k")
    assert job["state"] == "failed" and job["reason"].startswith("gave up after 2 attempts")
    assert worker.run_task(task, settings, "k", "series") == "failed"  # a late duplicate changes nothing
    assert store.job("k")["attempts"] == 2


def test_soft_time_limit_is_retried(settings, store, monkeypatch):
    from celery.exceptions import SoftTimeLimitExceeded

    def stuck(*args):
        raise SoftTimeLimitExceeded()

    monkeypatch.setattr(worker, "process_job", stuck)
    task = FakeTask()
    with pytest.raises(Retry):
        worker.run_task(task, settings, "k", "series")
    assert store.job("k")["state"] == "queued" and task.countdowns == [10]


def test_unexpected_error_fails_without_retry(settings, store, monkeypatch):
    monkeypatch.setattr(worker, "process_job", lambda *a: 1 / 0)
    task = FakeTask()
    assert worker.run_task(task, settings, "k", "series") == "failed"
    assert task.countdowns == [] and store.job("k")["reason"] == "ZeroDivisionError in attempt 1"


def test_delivered_job_is_not_run_again(settings, store, monkeypatch):
    calls = []
    monkeypatch.setattr(worker, "process_job", lambda *a: calls.append(a) or "delivered")
    store.finish("k", "delivered")
    assert worker.run_task(FakeTask(), settings, "k", "series") == "delivered"
    assert calls == []


def test_message_without_row_is_adopted(settings, store, monkeypatch):
    monkeypatch.setattr(worker, "process_job", lambda *a: "delivered")
    assert worker.run_task(FakeTask(), settings, "new-key", "series2") == "delivered"
    assert store.job("new-key")["attempts"] == 1


class FlakySink:
    def __init__(self, name: str, failures: list[Exception]) -> None:
        self.name, self.failures, self.calls = name, failures, 0

    def deliver(self, delivery: Delivery) -> None:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)


def test_every_sink_tried_and_retried(settings, tmp_path):
    flaky = FlakySink("a", [RetryableDeliveryError("x"), RetryableDeliveryError("y")])
    broken = FlakySink("b", [DeliveryError("bad credentials")])
    down = FlakySink("c", [RetryableDeliveryError("down")] * 5)
    buggy = FlakySink("d", [ValueError("invalid DA")])
    timings: dict[str, float] = {}
    outcome = worker.deliver_all([flaky, broken, down, buggy], Delivery(tmp_path, "A/B/C"), settings, timings)
    assert outcome["d"] == {"ok": False, "retryable": False, "error": "ValueError: invalid DA", "tries": 1}
    assert outcome["a"] == {"ok": True, "tries": 3}
    assert outcome["b"]["ok"] is False and outcome["b"]["retryable"] is False and broken.calls == 1
    assert outcome["c"]["ok"] is False and outcome["c"]["retryable"] is True and down.calls == 3
    assert set(timings) == {"sink a", "sink b", "sink c", "sink d"}


@pytest.mark.parametrize("outcome", ["delivered", "retryable", "bug", "store down"])
def test_work_folder_removed_on_every_outcome(settings, store, monkeypatch, outcome):
    from body_organ_analysis.pacs.stats import StoreUnavailable

    seen = []

    def job(settings_, store_, key, series_id, work):
        (work / "series.zip").write_bytes(b"PK patient data")
        seen.append(work)
        if outcome == "retryable":
            raise RetryableDeliveryError("smb away")
        if outcome == "bug":
            raise KeyError("x")
        if outcome == "store down":
            raise StoreUnavailable("statistics database unavailable (OperationalError)")
        return "delivered"

    monkeypatch.setattr(worker, "process_job", job)
    task = FakeTask()
    try:
        worker.run_task(task, settings, "k", "series")
    except Retry:
        pass
    assert seen and seen[0] == settings.work_dir / "k" and not seen[0].exists()
    assert list(settings.work_dir.iterdir()) == []


def test_store_outage_mid_job_keeps_the_job_for_a_retry(settings, store, monkeypatch):
    from body_organ_analysis.pacs.stats import StoreUnavailable

    def job(*args):
        raise StoreUnavailable("statistics database unavailable (OperationalError)")

    monkeypatch.setattr(worker, "process_job", job)
    task = FakeTask()
    with pytest.raises(Retry):
        worker.run_task(task, settings, "k", "series")
    assert task.countdowns == [settings.task_retry_backoff_s]
    assert store.job("k")["state"] == "running"  # nothing recorded as finished: the retry does it


def test_janitor_removes_only_old_leftovers(settings):
    import os
    import time

    settings.work_dir.mkdir(parents=True)
    old, fresh = settings.work_dir / "old-job", settings.work_dir / "fresh-job"
    for folder in (old, fresh):
        folder.mkdir()
        (folder / "series.zip").write_bytes(b"PK")
    stray = settings.work_dir / "stray.tmp"
    stray.write_bytes(b"x")
    two_days_ago = time.time() - 48 * 3600
    for path in (old, stray):
        os.utime(path, (two_days_ago, two_days_ago))
    assert worker.clean_work_dir(settings.work_dir, 24) == 2
    assert sorted(p.name for p in settings.work_dir.iterdir()) == ["fresh-job"]
    assert worker.clean_work_dir(settings.work_dir / "missing", 24) == 0


def test_sink_errors_are_redacted(settings, tmp_path):
    from body_organ_analysis.pacs.privacy import Redactor

    leaky = FlakySink("smb", [RetryableDeliveryError("cannot write \\\\nas\\share\\Canary_Name_19230417\\x")] * 9)
    redact = Redactor.for_tags({"PatientName": "Canary^Name", "PatientBirthDate": "19230417"})
    outcome = worker.deliver_all([leaky], Delivery(tmp_path, "A/B/C"), settings, {}, redact)
    error = outcome["smb"]["error"]
    assert "Canary" not in error and "19230417" not in error and error.startswith("RetryableDeliveryError")
