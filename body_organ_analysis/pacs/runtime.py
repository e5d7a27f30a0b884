"""What the worker, trigger and health entry points share: logging and the error guard.

The PACS entry points do not import the command line (``cli``): they sit beside it,
above the pipeline, and use the settings and the pipeline directly.
"""

from __future__ import annotations

import logging
import sys
from typing import Callable

from body_organ_analysis.errors import BoaError, ExitCode


def configure_logging(verbose: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
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
