"""One case of a cohort: analyze() into ``cases/<id>/``, a QC picture, and the case record.

Runs in the driver process (--jobs 1), in a pool worker (--jobs N) or in a
Celery worker (--celery); all three write the same record.
"""

from __future__ import annotations

import logging
import time
import traceback
from pathlib import Path
from typing import Any

from body_organ_analysis.cohort.cases import Case
from body_organ_analysis.cohort.ledger import case_dir, now_utc, write_record
from body_organ_analysis.errors import BoaError, ExitCode
from body_organ_analysis.settings import Settings

log = logging.getLogger("body_organ_analysis")

QC_PICTURE = "qc_coronal.png"


def run_case(case: Case, template: Settings, output_dir: Path, key: str) -> dict[str, Any]:
    """Analyse one case; never raises for a case's own problems: they go into the record."""
    from body_organ_analysis.pipeline import analyze

    started = time.monotonic()
    record: dict[str, Any] = {"case": case.case_id, "key": key, "case_options": case.to_json(), "started_utc": now_utc()}
    try:
        settings = template.replace(
            input_image=case.input, output_dir=case_dir(output_dir, case.case_id),
            segmentations={**template.segmentations, **case.segmentations}, series_uid=case.series_uid,
            height_cm=case.height_cm or template.height_cm, weight_kg=case.weight_kg or template.weight_kg,
        )
        analyze(settings)
        record.update(status="done", exit_code=int(ExitCode.OK))
        _qc_picture(case, settings.output_dir)
    except BoaError as error:
        record.update(status="failed", error_class=type(error).__name__, message=str(error),
                      exit_code=int(error.exit_code))
    except Exception as error:  # a bug: keep going with the other cases, keep the trace for the report
        log.debug("case %s: %s", case.case_id, traceback.format_exc())
        record.update(status="failed", error_class=type(error).__name__,
                      message=f"internal error: {type(error).__name__}: {str(error)[:300]}", exit_code=int(ExitCode.INTERNAL))
    record.update(time_s=round(time.monotonic() - started, 3), finished_utc=now_utc())
    write_record(output_dir, case.case_id, record)
    return record


def _qc_picture(case: Case, folder: Path) -> None:
    from body_organ_analysis.cohort.gallery import write_case_picture

    image = folder / "image.nii.gz"
    try:
        write_case_picture(image if image.exists() else case.input, folder / "total.nii.gz", folder / QC_PICTURE)
    except Exception as error:  # the picture is a convenience; the analysis stands without it
        log.warning("case %s: no QC picture (%s)", case.case_id, type(error).__name__)


def init_worker_process(verbose: bool) -> None:
    """Pool initializer: quiet logging in the worker (warnings are in each case's manifest), errors only."""
    logging.getLogger("body_organ_analysis").setLevel(logging.DEBUG if verbose else logging.ERROR)
