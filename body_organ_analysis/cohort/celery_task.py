"""The cohort's file job for the Celery workers of the PACS integration.

``boa cohort --celery`` puts one message per case on the PACS queue (JSON: the
case, the analysis settings, the cohort folder, the run key); any PACS worker
(``python -m body_organ_analysis.pacs.worker``) runs it with the same
``run_case`` as a local run, reading the input from storage every worker can
see and writing ``cases/<id>/`` and the case record into the cohort folder.
The driver waits for the case records, so resume, failures and tables are the
same as for a local run. Only the analysis request travels; the runtime (device,
weights folder, licence number) is each worker's own, from its environment.

The task is registered on the PACS Celery app through its ``include`` list.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from pathlib import Path
from typing import Any, Callable, Mapping

from celery import shared_task

from body_organ_analysis.cohort.cases import Case
from body_organ_analysis.cohort.ledger import RECORD_NAME, case_dir, now_utc, read_record, write_record
from body_organ_analysis.errors import ExitCode
from body_organ_analysis.settings import NUMBER_FIELDS, RuntimeConfig, Settings, build_runtime

log = logging.getLogger("body_organ_analysis")

TASK_NAME = "boa.cohort_case"
PATH_FIELDS = {"input_image", "output_dir"}
POLL_S = 0.5


def settings_to_json(settings: Settings) -> dict[str, Any]:
    """The analysis request for the message; the runtime (device, weights, licence) is the worker's own."""
    data = settings.for_manifest()
    data.pop("runtime")
    for name in NUMBER_FIELDS:  # the manifest says only "set": the case's values travel in the case
        data.pop(name, None)
    return data


def settings_from_json(data: Mapping[str, Any], runtime: RuntimeConfig) -> Settings:
    values = dict(data)
    for name in PATH_FIELDS:
        if values.get(name) is not None:
            values[name] = Path(values[name])
    values["segmentations"] = {k: Path(v) for k, v in (values.get("segmentations") or {}).items()}
    known = {f.name for f in dataclasses.fields(Settings)} - {"runtime"}
    return Settings(**{k: v for k, v in values.items() if k in known}, runtime=runtime)


@shared_task(name=TASK_NAME, bind=True, acks_late=True, reject_on_worker_lost=True)
def cohort_case(task: Any, case: dict, settings: dict, output_dir: str, key: str) -> str:
    """Analyse one cohort case on a worker; the result is the case record in the cohort folder."""
    from body_organ_analysis.cohort.worker import run_case

    template = settings_from_json(settings, build_runtime({}, os.environ))
    record = run_case(Case.from_json(case), template, Path(output_dir), key)
    return record["status"]


def celery_executor(environ: Mapping[str, str], timeout_s: float) -> Callable:
    """Send every case to the PACS queue, then wait for the case records to appear."""
    from body_organ_analysis.pacs.celery_app import create_app
    from body_organ_analysis.pacs.settings import build_worker_settings

    worker_settings = build_worker_settings(dict(environ))

    def run(work: list[tuple[Case, str]], template: Settings, output_dir: Path, report: Callable[[dict], None]) -> None:
        app = create_app(worker_settings)
        output_dir = output_dir.resolve()
        message_settings = settings_to_json(template)
        for case, key in work:
            (case_dir(output_dir, case.case_id) / RECORD_NAME).unlink(missing_ok=True)  # rerun: wait for the new record
            case_json = {**case.to_json(), "input": str(case.input.resolve()),
                         "segmentations": {k: str(v.resolve()) for k, v in case.segmentations.items()}}
            app.send_task(TASK_NAME, kwargs={"case": case_json, "settings": message_settings,
                                             "output_dir": str(output_dir), "key": key},
                          queue=worker_settings.queue, serializer="json", delivery_mode=2)
        log.info("sent %d cases to the queue %r; waiting for the workers", len(work), worker_settings.queue)
        wait_for_records(work, output_dir, report, timeout_s)

    return run


def wait_for_records(work: list[tuple[Case, str]], output_dir: Path, report: Callable[[dict], None],
                     timeout_s: float) -> None:
    pending = dict((case.case_id, key) for case, key in work)
    deadline = time.monotonic() + timeout_s
    while pending:
        for case_id, key in list(pending.items()):
            record = read_record(output_dir, case_id)
            if record and record.get("key") == key:
                report(record)
                del pending[case_id]
        if pending and time.monotonic() > deadline:
            for case_id, key in pending.items():
                record = {"case": case_id, "key": key, "status": "failed", "error_class": "TimeoutError",
                          "message": f"no result from the Celery workers within {timeout_s:g} s; are workers running?",
                          "exit_code": int(ExitCode.INTERNAL), "finished_utc": now_utc()}
                write_record(output_dir, case_id, record)
                report(record)
            return
        time.sleep(POLL_S)
