"""What every entry point shares: the package's logger on stderr, SIGTERM as an
interrupt, and user errors turned into one message and an exit code.

The command line, the demo, the weights command and the PACS processes use it;
it imports nothing of the package but the errors.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import sys
import textwrap
import threading
from typing import Any, Callable, Iterator

from body_organ_analysis.errors import BoaError, ExitCode

log = logging.getLogger("body_organ_analysis")


class StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time of each record."""

    @property  # type: ignore[override]
    def stream(self):  # noqa: D102
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:  # logging.StreamHandler sets it in __init__
        pass


def configure_logging(verbose: bool) -> None:
    handler = StderrHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S"))
    log.handlers[:] = [handler]
    log.setLevel(logging.DEBUG if verbose else logging.INFO)
    log.propagate = False


class Terminated(KeyboardInterrupt):
    """SIGTERM (docker stop, systemd, kill) raised in the main thread, so every cleanup runs."""


@contextlib.contextmanager
def sigterm_raises() -> Iterator[None]:
    """While inside, SIGTERM raises :class:`Terminated` (once; a repeat is ignored during cleanup)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def raise_terminated(signum: int, frame: Any) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_guarded(action: Callable[[], int], verbose: bool) -> int:
    """Run ``action``; turn user errors into a message and an exit code, never a traceback."""
    try:
        return int(action())
    except BoaError as error:
        print(fill(f"error: {error}"), file=sys.stderr)
        return int(error.exit_code)
    except KeyboardInterrupt as interrupt:
        print("interrupted; the output folder was left as it was.", file=sys.stderr)
        return 143 if isinstance(interrupt, Terminated) else 130
    except Exception as error:  # a bug: say so plainly
        if verbose:
            raise
        print(
            fill(
                f"internal error ({type(error).__name__}). The output folder was left as it was. "
                "Run again with --verbose for the traceback and report it."
            ),
            file=sys.stderr,
        )
        return int(ExitCode.INTERNAL)


def fill(text: str) -> str:
    """Wrap each line at 100 columns; indented lines (URLs, commands) are kept whole, words never split."""
    return "\n".join(
        line if line.startswith(" ") else textwrap.fill(line, width=100, break_long_words=False, break_on_hyphens=False)
        for line in text.split("\n")
    )
