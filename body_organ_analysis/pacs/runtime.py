"""What the worker, trigger and health entry points share: logging and the error guard.

The PACS entry points do not import the command line (``cli``): they sit beside it,
above the pipeline, and use the settings and the pipeline directly.
"""

from __future__ import annotations

import logging
import sys
from typing import Callable

from body_organ_analysis.errors import BoaError, ExitCode


class RedactingFilter(logging.Filter):
    """Removes the current job's identifying values from every record the handler writes.

    The worker's own lines name job keys only; this catches what a library or a
    lower layer puts in a message (a series description, a path), warnings included.
    """

    def __init__(self) -> None:
        super().__init__()
        self.redact: Callable[[str], str | None] = lambda text: text

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = self.redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        if record.exc_info:  # a traceback may quote values: keep its kind only
            record.msg, record.args = f"{record.getMessage()} ({record.exc_info[0].__name__})", ()
            record.exc_info, record.exc_text = None, None
        return True


LOG_FILTER = RedactingFilter()


def redact_logs(redact: Callable[[str], str | None]) -> None:
    """From now on, every log line of this process passes through ``redact`` (one job per process)."""
    LOG_FILTER.redact = redact


def configure_logging(verbose: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    handler.addFilter(LOG_FILTER)
    logging.captureWarnings(True)  # library warnings (they may quote a tag value) go through the filter
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    for chatty in ("smbprotocol", "highdicom", "dicomweb_client"):  # a line per SMB packet / DICOM module
        logging.getLogger(chatty).setLevel(logging.WARNING)


def run_guarded(action: Callable[[], int]) -> int:
    """Run ``action``; a configuration error is one message and its exit code, never a traceback."""
    try:
        return int(action())
    except BoaError as error:
        print(f"error: {error}", file=sys.stderr)
        return int(error.exit_code)
    except KeyboardInterrupt:
        return 130
    except Exception as error:  # a bug: name its kind only (its text may quote a value)
        print(f"internal error ({type(error).__name__}); set VERBOSE=true for details and report it.",
              file=sys.stderr)
        return int(ExitCode.INTERNAL)
