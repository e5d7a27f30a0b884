"""One analysis in its own process: ``python -m body_organ_analysis.ui.worker RUN_FOLDER``.

Reads ``request.json`` (flags for :func:`body_organ_analysis.settings.build_settings`),
runs ``analyze()`` and keeps ``status.json`` current (stage, progress, the
error message of a :class:`BoaError`). Log lines go to ``log.txt``; they carry
step names and timings only, never patient identifiers.
"""

from __future__ import annotations

import datetime
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any

from body_organ_analysis.ui.runs import LOG, OUTPUT, REQUEST, STATUS, VIEWER_CT, read_json, write_json

BASE_STAGES = 8  # load, segment, write label maps, statistics, cnr, contrast, bone density, workbook
BCA_STAGES = 4


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")


class Progress(logging.Handler):
    """Turns the pipeline's "<step> ..." / "<step> done" log lines into ``status.json``."""

    def __init__(self, folder: Path, expected_stages: int) -> None:
        super().__init__(logging.INFO)
        self.folder = folder
        self.expected = expected_stages
        self.status: dict[str, Any] = {"state": "running", "started_utc": now(), "pid": os.getpid(),
                                       "stage": "starting", "done_stages": [], "fraction": 0.0}  # fmt: skip
        self.flush_status()

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.endswith(" ..."):
            self.status["stage"] = message[:-4]
        elif " done in " in message:
            self.status["done_stages"].append(message.split(" done in ")[0])
            done = len(self.status["done_stages"])
            self.status["fraction"] = round(min(done / max(self.expected, done + 1), 0.99), 3)
        else:
            return
        self.flush_status()

    def finish(self, state: str, **facts: Any) -> None:
        self.status.update(state=state, finished_utc=now(), **facts)
        if state == "done":
            self.status["fraction"] = 1.0
        self.flush_status()

    def flush_status(self) -> None:
        write_json(self.folder / STATUS, self.status)


def expected_stages(models: list[str]) -> int:
    extra = BCA_STAGES if "bca" in models else 0
    return BASE_STAGES + extra + max(len([m for m in models if m != "bca"]) - 1, 0)


def run(folder: Path) -> int:
    signal.signal(signal.SIGTERM, _interrupt)  # first: a cancel during the imports ends cleanly too
    from body_organ_analysis.errors import BoaError, ExitCode
    from body_organ_analysis.pipeline import analyze
    from body_organ_analysis.settings import build_settings

    request = read_json(folder / REQUEST)
    flags = dict(request["flags"])
    flags["input_image"] = Path(flags["input_image"])
    flags["output_dir"] = folder / OUTPUT
    flags["segmentations"] = {k: Path(v) for k, v in flags.get("segmentations", {}).items()}
    flags["models"] = tuple(flags["models"])
    logger = logging.getLogger("body_organ_analysis")
    logger.setLevel(logging.INFO)
    file_handler = logging.FileHandler(folder / LOG)
    file_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S"))
    progress = Progress(folder, expected_stages(list(flags["models"])))
    logger.handlers[:] = [file_handler, progress]
    logger.propagate = False
    try:
        settings = build_settings(flags, environ=dict(os.environ))
        result = analyze(settings)
        _keep_viewer_ct(folder, settings.input_image)
    except BoaError as error:
        progress.finish("failed", message=str(error), exit_code=int(error.exit_code))
        return int(error.exit_code)
    except KeyboardInterrupt:
        progress.finish("cancelled", message="Cancelled; no output was written.")
        return 130
    except Exception as error:  # a bug: the name of the error, the traceback only in the log
        logger.exception("internal error")
        progress.finish("failed", exit_code=int(ExitCode.INTERNAL), message=(
            f"Internal error ({type(error).__name__}). No output was written. "
            "The run's log.txt has the details; please report it."))  # fmt: skip
        return int(ExitCode.INTERNAL)
    progress.finish("done", files=result.files, warnings=result.warnings)
    return 0


def _keep_viewer_ct(folder: Path, input_image: Path) -> None:
    """A NIfTI input is not copied into the output folder; keep it for the viewer."""
    if (folder / OUTPUT / "image.nii.gz").is_file() or not input_image.is_file():
        return
    if input_image.name.endswith((".nii", ".nii.gz")):
        import nibabel as nib

        nib.save(nib.load(str(input_image)), str(folder / VIEWER_CT))


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(run(Path(sys.argv[1])))
