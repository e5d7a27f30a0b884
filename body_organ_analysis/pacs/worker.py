"""The worker's job: download the series, analyze(), deliver to every sink, record, then tidy up.

Run it with ``python -m body_organ_analysis.pacs.worker`` (Celery, prefork, one
job at a time). The source series is deleted from Orthanc only after every
configured sink confirmed and the statistics database recorded the job as
delivered (when DELETE_SOURCE_AFTER_DELIVERY is on); a failed delivery keeps it,
and the job is retried with backoff until TASK_MAX_ATTEMPTS. Results made with
stand-in weights are refused unless ALLOW_STAND_IN_RESULTS is on. The work
folder (the downloaded series) is removed on every outcome. Log lines and
stored error texts name the job key and Orthanc's series id, never patient data.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import sys
import time
import zipfile
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from body_organ_analysis import __version__
from body_organ_analysis.errors import BoaError
from body_organ_analysis.pacs.celery_app import create_app
from body_organ_analysis.pacs.jobs import TASK_NAME
from body_organ_analysis.pacs.orthanc import Orthanc
from body_organ_analysis.pacs.paths import destination, load_path_key
from body_organ_analysis.pacs.privacy import Redactor, errors_text
from body_organ_analysis.pacs.runtime import configure_logging, redact_logs, run_guarded
from body_organ_analysis.pacs.settings import WorkerSettings, build_worker_settings, usage
from body_organ_analysis.pacs.sinks.base import Delivery, RetryableDeliveryError, Sink
from body_organ_analysis.pacs.stats import FINAL_STATES, StatsStore, StoreUnavailable

log = logging.getLogger("body_organ_analysis.pacs.worker")
STORE_RETRIES = 20  # task retries while the statistics database cannot be reached (hours with the default backoff)
REFUSED_STAND_IN = (
    "stand-in weights: the results come from test weights and are not delivered; "
    "install the real weights (or set ALLOW_STAND_IN_RESULTS=true on a test system)"
)


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
    return StatsStore(settings.postgres, settings.sqlite_path)


def run_task(task: Any, settings: WorkerSettings, job_key: str, series_id: str) -> str:
    """The Celery task body: one attempt at a job; retries transient failures with backoff.

    While the statistics database is away the job is retried (the message is
    kept), whatever step it was at: nothing is deleted before the database says
    the job was delivered.
    """
    store = store_for(settings)
    try:
        return _attempt(task, settings, store, job_key, series_id)
    except StoreUnavailable as error:  # doubled up to 32x the backoff: a long outage is ridden out
        retries = getattr(getattr(task, "request", None), "retries", 0) or 0
        countdown = settings.task_retry_backoff_s * 2 ** min(retries, 5)
        log.warning("job %s: %s; retrying in %d s", job_key[:12], error, countdown)
        raise task.retry(countdown=countdown, max_retries=STORE_RETRIES)


def _attempt(task: Any, settings: WorkerSettings, store: StatsStore, job_key: str, series_id: str) -> str:
    begun = store.begin_attempt(job_key, settings.task_max_attempts)
    if begun is None:  # message without a row (e.g. the database was reset): adopt it
        store.create_job(job_key, series_id, 0, None)
        begun = store.begin_attempt(job_key, settings.task_max_attempts)
    assert begun is not None
    previous_state, attempts = begun
    if previous_state in FINAL_STATES:
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
        with job_folder(settings, job_key) as work:
            state = process_job(settings, store, job_key, series_id, work)
    except StoreUnavailable:
        raise
    except (RetryableDeliveryError, OSError, SoftTimeLimitExceeded) as error:  # transient, or stuck
        brief = _brief(error)  # process_job redacted the texts of errors that may quote the study
        if attempts >= settings.task_max_attempts:
            store.finish(job_key, _failed_state(store, job_key), f"gave up after {attempts} attempts: {brief}")
            log.error("job %s: gave up after %d attempts", job_key[:12], attempts)
            return "failed"
        countdown = settings.task_retry_backoff_s * 2 ** (attempts - 1)
        store.finish(job_key, "queued", f"attempt {attempts} failed, retry in {countdown} s: {brief}")
        log.warning("job %s: attempt %d failed (%s); retrying in %d s", job_key[:12], attempts,
                    type(error).__name__, countdown)
        raise task.retry(countdown=countdown, max_retries=None)
    except Exception as error:  # a bug: trying again will not help
        store.finish(job_key, "failed", f"{type(error).__name__} in attempt {attempts}")
        log.error("job %s: failed (%s)", job_key[:12], type(error).__name__)
        return "failed"
    return state


@contextlib.contextmanager
def job_folder(settings: WorkerSettings, job_key: str) -> Iterator[Path]:
    """The job's work folder (it holds the downloaded series: patient data), removed on every outcome.

    A leftover of an attempt that was killed is removed first; a killed worker's
    folders of other jobs are removed by :func:`clean_work_dir` at the next start.
    """
    work = settings.work_dir / job_key
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True, mode=0o700)
    try:
        yield work
    finally:
        shutil.rmtree(work, ignore_errors=True)


def clean_work_dir(work_dir: Path, max_age_h: float) -> int:
    """Remove work folders (and stray files) older than ``max_age_h`` hours; returns how many."""
    if not work_dir.is_dir():
        return 0
    cutoff = time.time() - max_age_h * 3600
    removed = 0
    for entry in work_dir.iterdir():
        try:
            if entry.lstat().st_mtime > cutoff:
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
            removed += 1
        except OSError as error:
            log.warning("work folder janitor: cannot remove an entry (%s)", type(error).__name__)
    return removed


def _failed_state(store: StatsStore, job_key: str) -> str:
    job = store.job(job_key) or {}
    sinks = job.get("sinks") or {}
    return "partially_delivered" if any(s.get("ok") for s in sinks.values()) else "failed"


def process_job(settings: WorkerSettings, store: StatsStore, job_key: str, series_id: str, work: Path) -> str:
    """Download, analyse, deliver, record, then delete the source; returns the final state.

    Raises RetryableDeliveryError when trying again later may help (the job
    row then says why), StoreUnavailable when the database cannot record it.
    """
    orthanc = Orthanc(settings.orthanc_url, settings.orthanc_username, settings.orthanc_password)
    timings: dict[str, float] = {}
    if not orthanc.exists(series_id):
        store.finish(job_key, "failed", "the source series is no longer in Orthanc")
        return "failed"
    series = orthanc.series(series_id)
    study = orthanc.study(series["ParentStudy"])
    tags = {**study.get("PatientMainDicomTags", {}), **study["MainDicomTags"], **series["MainDicomTags"]}
    calling_aet = orthanc.instance_metadata(series["Instances"][0], "RemoteAET") if series["Instances"] else None
    target = destination(tags, calling_aet, path_key(settings), settings.identifying_paths)
    redact = Redactor.for_tags(tags, *target.split("/")[1:])
    redact_logs(redact)
    try:
        return _analyze_and_deliver(settings, store, job_key, series_id, work, orthanc, target, redact, timings)
    except (RetryableDeliveryError, OSError) as error:  # its text may quote a path or a value: redact it
        text = str(error) if isinstance(error, RetryableDeliveryError) else _brief(error)
        raise RetryableDeliveryError(redact(text) or "") from None


def _analyze_and_deliver(
    settings: WorkerSettings, store: StatsStore, job_key: str, series_id: str, work: Path,
    orthanc: Orthanc, target: str, redact: Redactor, timings: dict[str, float],
) -> str:
    from body_organ_analysis.pipeline import analyze

    start = time.perf_counter()
    archive = orthanc.download_series(series_id, work / "series.zip", settings.download_timeout_s)
    timings["download"] = round(time.perf_counter() - start, 3)
    facts: dict[str, Any] = {"tool_version": __version__, "models": "+".join(settings.models)}
    try:
        result = analyze(settings.analysis_settings(archive, work / "output"))
    except BoaError as error:  # the input or the settings: trying again will not help
        reason = redact(f"analysis: {error}")
        store.finish(job_key, "failed", reason, timings_s=timings, **facts)
        log.error("job %s: %s", job_key[:12], reason)
        return "failed"
    timings.update({f"analysis {k}": v for k, v in result.manifest.get("timings_s", {}).items()})
    facts["image_shape"] = "x".join(str(s) for s in result.manifest["input"]["shape"])
    facts["models"] = "+".join(result.manifest.get("models", {})) or facts["models"]
    contrast = result.results.get("contrast")
    if isinstance(contrast, dict):
        facts["contrast_phase"] = contrast.get("phase") or contrast.get("phase_name")
    if result.manifest.get("stand_in_models") and not settings.allow_stand_in_results:
        store.finish(job_key, "refused", REFUSED_STAND_IN, timings_s=timings, **facts)
        log.error("job %s: refused: made with stand-in weights; nothing delivered, the source kept", job_key[:12])
        return "refused"
    delivery = Delivery(result_dir=result.output_dir, destination=target, source_datasets=read_source_datasets(archive))
    outcome = deliver_all(build_sinks(settings), delivery, settings, timings, redact)
    if all(o["ok"] for o in outcome.values()):
        store.finish(job_key, "delivered", None, timings_s=timings, sinks=outcome, **facts)
        log.info("job %s: delivered to %d sink(s)", job_key[:12], len(outcome))
        if settings.delete_source:  # only now: the database says the job was delivered
            try:
                orthanc.delete_series(series_id)
            except Exception as error:  # the results are safe; the source stays for a person to remove
                log.warning("job %s: delivered, but the source series was not deleted (%s)",
                            job_key[:12], type(error).__name__)
        return "delivered"
    errors = errors_text(outcome)
    state = "partially_delivered" if any(o["ok"] for o in outcome.values()) else "failed"
    store.finish(job_key, state, errors, timings_s=timings, sinks=outcome, **facts)
    if any(o.get("retryable") for o in outcome.values() if not o["ok"]):
        raise RetryableDeliveryError(errors)  # already redacted
    return state


def path_key(settings: WorkerSettings) -> bytes:
    return load_path_key(settings.result_path_key, settings.result_path_key_file)


def deliver_all(
    sinks: Sequence[Sink], delivery: Delivery, settings: WorkerSettings, timings: dict[str, float],
    redact: Callable[[str], str | None] = lambda text: text,
) -> dict[str, dict[str, Any]]:
    """Deliver to every sink, each retried on transient errors; never stops at the first failure.

    Error texts are passed through ``redact`` (the job's identifying values) before they are kept.
    """
    outcome: dict[str, dict[str, Any]] = {}
    for sink in sinks:
        start = time.perf_counter()
        for attempt in range(settings.sink_retries + 1):
            try:
                sink.deliver(delivery)
                outcome[sink.name] = {"ok": True, "tries": attempt + 1}
                break
            except RetryableDeliveryError as error:
                outcome[sink.name] = {"ok": False, "retryable": True, "error": redact(_brief(error)),
                                      "tries": attempt + 1}
                if attempt < settings.sink_retries:
                    time.sleep(settings.sink_retry_backoff_s * 2**attempt)
            except Exception as error:  # DeliveryError, or a sink's bug: permanent for this sink only
                outcome[sink.name] = {"ok": False, "retryable": False, "error": redact(_brief(error)),
                                      "tries": attempt + 1}
                break
        timings[f"sink {sink.name}"] = round(time.perf_counter() - start, 3)
        if not outcome[sink.name]["ok"]:
            log.warning("sink %s failed: %s", sink.name, outcome[sink.name]["error"])
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


def main(argv: Sequence[str] | None = None) -> int:
    """Start the Celery worker (prefork, one process, one job at a time)."""
    if argv and ("--help" in argv or "-h" in argv):
        print(usage("body_organ_analysis.pacs.worker"))
        return 0

    def start() -> int:
        settings = build_worker_settings(dict(os.environ))
        configure_logging(settings.verbose)
        path_key(settings)  # created on first start (mode 0600), so a bad key file stops the worker now
        removed = clean_work_dir(settings.work_dir, settings.work_dir_max_age_h)
        if removed:
            log.info("work folder janitor: removed %d leftover(s) older than %g h", removed,
                     settings.work_dir_max_age_h)
        store_for(settings).migrate()
        app = create_worker_app(settings)
        app.worker_main(["worker", "--pool=prefork", "--concurrency=1", "--prefetch-multiplier=1",
                         "-Q", settings.queue, "--without-gossip", "--without-mingle",
                         f"--loglevel={'DEBUG' if settings.verbose else 'INFO'}", *(argv or [])])
        return 0

    return run_guarded(start)


def create_worker_app(settings: WorkerSettings) -> Any:
    """The Celery app with the analysis task registered (the trigger uses the app without it)."""
    app = create_app(settings)

    @app.task(name=TASK_NAME, bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=None)
    def analyze_series(task: Any, job_key: str, series_id: str) -> str:
        return run_task(task, settings, job_key, series_id)

    return app


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
