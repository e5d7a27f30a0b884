"""Command line: ``body_organ_analysis`` / ``boa`` / ``python -m body_organ_analysis``.

Thin: parse the flags (options.py), merge the environment into one Settings, call analyze().
Subcommands: ``weights list|download|pack|unpack``, ``demo``, ``evaluate`` and ``cohort``.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Callable, Sequence

from body_organ_analysis.console import configure_logging, log, run_guarded, sigterm_raises
from body_organ_analysis.errors import ExitCode
from body_organ_analysis.options import build_parser, settings_from_args


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    subcommands: dict[str, Callable[[list[str]], int]] = {
        "weights": _weights_main,
        "demo": _demo_main,
        "evaluate": _evaluate_main,
        "cohort": _cohort_main,
        "ui": _ui_main,
    }
    if argv and argv[0] in subcommands:
        with sigterm_raises():
            return subcommands[argv[0]](argv[1:])
    args = build_parser().parse_args(argv)
    with sigterm_raises():
        return run_guarded(lambda: _analyze(args), verbose=bool(args.verbose))


def _analyze(args: argparse.Namespace) -> int:
    from body_organ_analysis.models.registry import resolve_models
    from body_organ_analysis.preflight import check_before_work

    settings = settings_from_args(args, dict(os.environ))
    configure_logging(settings.runtime.verbose)
    # the cheap checks first, before the heavy imports of the pipeline; analyze() repeats them
    resolve_models(settings.models, settings.runtime.license_number, settings.bca_engine)
    check_before_work(settings, read_headers=False)
    from body_organ_analysis.pipeline import analyze

    result = analyze(settings)
    log.info("wrote %d files to %s", len(result.files), result.output_dir)
    return ExitCode.OK


def _weights_main(argv: list[str]) -> int:
    from body_organ_analysis.models.weights_cli import main as weights_main

    return weights_main(argv, dict(os.environ))


def _demo_main(argv: list[str]) -> int:
    from body_organ_analysis.demo.run import main as demo_main

    return demo_main(argv, dict(os.environ))


def _evaluate_main(argv: list[str]) -> int:
    from body_organ_analysis.evaluate.cli import main as evaluate_main

    return evaluate_main(argv)


def _cohort_main(argv: list[str]) -> int:
    from body_organ_analysis.cohort.cli import main as cohort_main

    return cohort_main(argv, dict(os.environ))


def _ui_main(argv: list[str]) -> int:
    from body_organ_analysis.ui.cli import main as ui_main

    return ui_main(argv)
