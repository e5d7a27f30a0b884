"""``boa cohort``: parse the cohort flags; the analysis flags go to the single-case parser."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Mapping, Sequence

log = logging.getLogger("body_organ_analysis")

EPILOG = "The analysis options apply to every case; -i and --series-uid are chosen per case."


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="boa cohort",
        description="Analyse many CTs into one tidy table; resumable; locally (--jobs) or on Celery workers (--celery).",
        epilog=EPILOG,
    )
    flag = parser.add_argument
    flag("folders", nargs="*", type=Path, help="folders of NIfTI files and/or DICOM series (searched recursively)")
    flag("--manifest", type=Path, help="CSV with case_id,input[,height_cm,weight_kg,segmentation:<model>,series_uid]")
    flag("-o", "--output-dir", dest="output_dir", type=Path, required=True, help="cohort output folder")
    flag("--jobs", type=int, default=1, help="worker processes on this machine (default 1)")
    flag("--celery", action="store_true", help="send the cases to the Celery workers (RABBITMQ_* variables, as the PACS worker)")
    flag("--celery-timeout-s", dest="celery_timeout_s", type=float, default=24 * 3600,
         help="stop waiting for Celery results after this many seconds (default 1 day)")
    flag("--retry-failed", dest="retry_failed", action="store_true", help="rerun the cases that failed before")
    flag("--dicom-cases", dest="dicom_cases", choices=("study", "series"), default="study",
         help="one case per DICOM study (its series chosen as by the single-case command; default) or per qualifying series")
    flag("--no-progress", dest="progress", action="store_false", help="no progress bar")
    analysis = parser.add_argument_group("analysis options (as for one case, applied to every case)")
    for action in single_case_actions():
        analysis._add_action(action)
    return parser


PER_CASE = {"input_image", "output_dir", "series_uid", "help"}


def single_case_actions() -> list[argparse.Action]:
    """The single-case command's options (one definition for both commands), less the per-case ones."""
    from body_organ_analysis.options import build_parser as single_case_parser

    return [action for action in single_case_parser()._actions
            if action.dest not in PER_CASE and action.default is not argparse.SUPPRESS]  # not -h, --version


def main(argv: Sequence[str], environ: Mapping[str, str]) -> int:
    from body_organ_analysis.console import run_guarded

    args = build_parser().parse_args(list(argv))
    return run_guarded(lambda: cohort_command(args, environ), verbose=bool(args.verbose))


def cohort_command(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    from body_organ_analysis.console import configure_logging
    from body_organ_analysis.options import settings_from_args
    from body_organ_analysis.cohort.cases import discover, read_manifest
    from body_organ_analysis.cohort.runner import pool_executor, run_cohort, run_local
    from body_organ_analysis.errors import ExitCode, UsageError

    analysis = {action.dest: getattr(args, action.dest) for action in single_case_actions()}
    analysis.update(input_image=args.output_dir, output_dir=args.output_dir)
    template = settings_from_args(argparse.Namespace(**analysis), dict(environ))
    configure_logging(template.runtime.verbose)
    if args.jobs < 1:
        raise UsageError(f"--jobs {args.jobs}: give 1 or more worker processes.")
    if args.celery and args.jobs != 1:
        raise UsageError("--celery and --jobs exclude each other: with --celery the Celery workers run the cases.")
    cases = read_manifest(args.manifest) if args.manifest else []
    cases += discover(args.folders, per_series=args.dicom_cases == "series")
    if args.celery:
        from body_organ_analysis.cohort.celery_task import celery_executor

        executor, name = celery_executor(environ, args.celery_timeout_s), "celery"
    elif args.jobs > 1:
        executor, name = pool_executor(args.jobs, template.runtime.verbose), f"local, {args.jobs} processes"
    else:
        executor, name = run_local, "local, 1 process"
    summary = run_cohort(cases, template, args.output_dir, executor, name, args.retry_failed, args.progress)
    counts = summary["counts"]
    log.info("cohort: %d cases, %d done, %d failed, %d skipped (done or failed earlier); tables in %s",
             summary["cases"], counts["done"], counts["failed"], counts["skipped"], args.output_dir)
    return int(ExitCode.OK)
