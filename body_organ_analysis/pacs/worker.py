"""The worker's job: download the series, analyze(), deliver to every sink, then tidy up.

Run it with ``python -m body_organ_analysis.pacs.worker`` (Celery, prefork, one
job at a time). The source series is deleted from Orthanc only after every
configured sink confirmed (when DELETE_SOURCE_AFTER_DELIVERY is on); a failed
delivery keeps it, and the job is retried with backoff until TASK_MAX_ATTEMPTS.
Log lines name the job key and Orthanc's series id, never patient data.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import time
import zipfile
from pathlib import Path
from typing import Any, Sequence

from body_organ_analysis import __version__
from body_organ_analysis.errors import BoaError
from body_organ_analysis.pacs.orthanc import Orthanc
from body_organ_analysis.pacs.paths import destination
from body_organ_analysis.pacs.settings import WorkerSettings, build_worker_settings
from body_organ_analysis.pacs.sinks.base import Delivery, DeliveryError, RetryableDeliveryError, Sink
from body_organ_analysis.pacs.stats import StatsStore

log = logging.getLogger("body_organ_analysis.pacs.worker")
STORE_RETRIES = 20  # task retries while the statistics database cannot be reached


def build_sinks(settings: WorkerSettings) -> list[Sink]:
    sinks: list[Sink] = []
    if settings.output_root is not None:
        from body_organ_analysis.pacs.sinks.folder import FolderSink

        sinks.append(FolderSink(settings.output_root))
    if settings.smb_host:
        from body_organ_analysis.pacs.sinks.smb import SmbSink

        sinks.append(
            SmbSink(settings.smb_host, settings.smb_share, settings.smb_username, settings.smb_password,
                    port=settings.smb_port, directory=settings.smb_directory)
        )
    if settings.dicomweb_url:
        from body_organ_analysis.pacs.sinks.dicomweb import DicomWebSink

        auth = (settings.dicomweb_username, settings.dicomweb_password) if settings.dicomweb_username else None
        sinks.append(DicomWebSink(settings.dicomweb_url, auth=auth))
    return sinks


def store_for(settings: WorkerSettings) -> StatsStore:
    return StatsStore(settings.postgres_dsn, settings.sqlite_path)


def run_task(task: Any, settings: WorkerSettings, job_key: str, series_id: str) -> str:
    """The Celery task body: one attempt at a job; retries transient failures with backoff."""
    store = store_for(settings)
    try:
        begun = store.begin_attempt(job_key, settings.task_max_attempts)
        if begun is None:  # message without a row (e.g. the database was reset): adopt it
            store.create_job(job_key, series_id, 0, None)
            begun = store.begin_attempt(job_key, settings.task_max_attempts)
    except Exception as error:  # the statistics database is away: keep the job, try later
        log.warning("job %s: statistics store unavailable (%s); retrying", job_key[:12], type(error).__name__)
        raise task.retry(countdown=settings.task_retry_backoff_s, max_retries=STORE_RETRIES)
    assert begun is not None
    previous_state, attempts = begun
    if previous_state in ("delivered", "failed"):
        log.info("job %s: already %s, nothing to do", job_key[:12], previous_state)
        return previous_state
    if previous_state == "exhausted":
        reason = f"parked after {settings.task_max_attempts} attempts (the last one did not finish)"
        store.finish(job_key, "failed", reason)
        log.error("job %s: %s", job_key[:12], reason)
        return "failed"
    log.info("job %s: attempt %d of %d (series %s)", job_key[:12], attempts, settings.task_max_attempts, series_id)
    from celery.exceptions import SoftTimeLimitExceeded

    try:
        state = process_job(settings, store, job_key, series_id)
    except (RetryableDeliveryError, OSError, SoftTimeLimitExceeded) as error:  # transient, or stuck
        if attempts >= settings.task_max_attempts:
            store.finish(job_key, _failed_state(store, job_key), f"gave up after {attempts} attempts: {_brief(error)}")
            shutil.rmtree(settings.work_dir / job_key, ignore_errors=True)
            return "failed"
        countdown = settings.task_retry_backoff_s * 2 ** (attempts - 1)
        store.finish(job_key, "queued", f"attempt {attempts} failed, retry in {countdown} s: {_brief(error)}")
        log.warning("job %s: %s; retrying in %d s", job_key[:12], _brief(error), countdown)
        raise task.retry(countdown=countdown, max_retries=None)
    except Exception as error:  # a bug: trying again will not help
        store.finish(job_key, "failed", f"{type(error).__name__} in attempt {attempts}")
        log.error("job %s: failed (%s)", job_key[:12], type(error).__name__)
        log.debug("traceback of job %s", job_key[:12], exc_info=True)
        shutil.rmtree(settings.work_dir / job_key, ignore_errors=True)
        return "failed"
    return state


def _failed_state(store: StatsStore, job_key: str) -> str:
    job = store.job(job_key) or {}
    sinks = job.get("sinks") or {}
    return "partially_delivered" if any(s.get("ok") for s in sinks.values()) else "failed"


def process_job(settings: WorkerSettings, store: StatsStore, job_key: str, series_id: str) -> str:
    """Download, analyse, deliver, delete the source; returns the final state.

    Raises RetryableDeliveryError when trying again later may help (the job
    row then says why).
    """
    from body_organ_analysis.pipeline import analyze

    orthanc = Orthanc(settings.orthanc_url, settings.orthanc_username, settings.orthanc_password)
    timings: dict[str, float] = {}
    work = settings.work_dir / job_key
    if not orthanc.exists(series_id):
        store.finish(job_key, "failed", "the source series is no longer in Orthanc")
        return "failed"
    series = orthanc.series(series_id)
    tags = {**orthanc.study(series["ParentStudy"])["MainDicomTags"], **series["MainDicomTags"]}
    calling_aet = orthanc.instance_metadata(series["Instances"][0], "RemoteAET") if series["Instances"] else None
    start = time.perf_counter()
    archive = orthanc.download_series(series_id, work / "series.zip", settings.download_timeout_s)
    timings["download"] = round(time.perf_counter() - start, 3)
    facts: dict[str, Any] = {"tool_version": __version__, "models": "+".join(settings.models)}
    try:
        result = analyze(settings.analysis_settings(archive, work / "output"))
    except BoaError as error:  # the input or the settings: trying again will not help
        store.finish(job_key, "failed", f"analysis: {error}", timings_s=timings, **facts)
        log.error("job %s: analysis failed: %s", job_key[:12], error)
        shutil.rmtree(work, ignore_errors=True)
        return "failed"
    timings.update({f"analysis {k}": v for k, v in result.manifest.get("timings_s", {}).items()})
    facts["image_shape"] = "x".join(str(s) for s in result.manifest["input"]["shape"])
    facts["models"] = "+".join(result.manifest.get("models", {})) or facts["models"]
    contrast = result.results.get("contrast")
    if isinstance(contrast, dict):
        facts["contrast_phase"] = contrast.get("phase") or contrast.get("phase_name")
    delivery = Delivery(
        result_dir=result.output_dir,
        destination=destination(tags, calling_aet, settings.patient_info_in_path),
        source_datasets=read_source_datasets(archive),
    )
    outcome = deliver_all(build_sinks(settings), delivery, settings, timings)
    if all(o["ok"] for o in outcome.values()):
        if settings.delete_source:
            orthanc.delete_series(series_id)
        store.finish(job_key, "delivered", None, timings_s=timings, sinks=outcome, **facts)
        shutil.rmtree(work, ignore_errors=True)
        log.info("job %s: delivered to %d sink(s)", job_key[:12], len(outcome))
        return "delivered"
    errors = "; ".join(f"{name}: {o['error']}" for name, o in outcome.items() if not o["ok"])
    state = "partially_delivered" if any(o["ok"] for o in outcome.values()) else "failed"
    if any(o.get("retryable") for o in outcome.values() if not o["ok"]):
        store.finish(job_key, state, errors, timings_s=timings, sinks=outcome, **facts)
        raise RetryableDeliveryError(errors)
    store.finish(job_key, state, errors, timings_s=timings, sinks=outcome, **facts)
    return state


def deliver_all(
    sinks: Sequence[Sink], delivery: Delivery, settings: WorkerSettings, timings: dict[str, float]
) -> dict[str, dict[str, Any]]:
    """Deliver to every sink, each retried on transient errors; never stops at the first failure."""
    outcome: dict[str, dict[str, Any]] = {}
    for sink in sinks:
        start = time.perf_counter()
        for attempt in range(settings.sink_retries + 1):
            try:
                sink.deliver(delivery)
                outcome[sink.name] = {"ok": True, "tries": attempt + 1}
                break
            except RetryableDeliveryError as error:
                outcome[sink.name] = {"ok": False, "retryable": True, "error": _brief(error), "tries": attempt + 1}
                if attempt < settings.sink_retries:
                    time.sleep(settings.sink_retry_backoff_s * 2**attempt)
            except Exception as error:  # DeliveryError, or a sink's bug: permanent for this sink only
                outcome[sink.name] = {"ok": False, "retryable": False, "error": _brief(error), "tries": attempt + 1}
                log.debug("sink %s traceback", sink.name, exc_info=not isinstance(error, DeliveryError))
                break
        timings[f"sink {sink.name}"] = round(time.perf_counter() - start, 3)
        if not outcome[sink.name]["ok"]:
            log.warning("job sink %s failed: %s", sink.name, outcome[sink.name]["error"])
    return outcome


def _brief(error: Exception) -> str:
    return f"{type(error).__name__}: {error}"[:500]


def read_source_datasets(archive: Path) -> list[Any]:
    """The series' datasets without pixel data (for the DICOM outputs), from Orthanc's zip."""
    import pydicom

    datasets = []
    with zipfile.ZipFile(archive) as zf:
        for name in zf.namelist():
            if name.endswith("/"):
                continue
            with zf.open(name) as handle:
                try:
                    datasets.append(pydicom.dcmread(handle, stop_before_pixels=True))
                except Exception:  # not DICOM (e.g. a DICOMDIR-less readme): skip
                    continue
    return datasets


def configure_logging(verbose: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    for chatty in ("smbprotocol", "highdicom", "dicomweb_client"):  # a line per SMB packet / DICOM module
        logging.getLogger(chatty).setLevel(logging.WARNING)


def main(argv: Sequence[str] | None = None) -> int:
    """Start the Celery worker (prefork, one process, one job at a time)."""
    from body_organ_analysis.cli import run_guarded

    def start() -> int:
        settings = build_worker_settings(dict(os.environ))
        verbose = settings.analysis_settings(Path("."), Path(".")).verbose
        configure_logging(verbose)
        store_for(settings).migrate()
        app = create_worker_app(settings)
        app.worker_main(["worker", "--pool=prefork", "--concurrency=1", "--prefetch-multiplier=1",
                         "-Q", settings.queue, "--without-gossip", "--without-mingle",
                         f"--loglevel={'DEBUG' if verbose else 'INFO'}", *(argv or [])])
        return 0

    return run_guarded(start, verbose=False)


def create_worker_app(settings: WorkerSettings) -> Any:
    from body_organ_analysis.pacs.celery_app import create_app

    return create_app(settings)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
