"""Starts the real PACS worker for the tests (``python tests/pacs/worker_process.py``).

The same as ``python -m body_organ_analysis.pacs.worker``, plus a stack dump of
every thread on SIGUSR1 (to see where a stuck job hangs).
"""

from __future__ import annotations

import sys

if __name__ == "__main__":
    import faulthandler
    import signal

    faulthandler.register(signal.SIGUSR1, all_threads=True)
    from body_organ_analysis.pacs.worker import main

    raise SystemExit(main(sys.argv[1:]))
