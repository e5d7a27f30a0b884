"""``run_cohort``: plan (skip what is done), run the rest locally or on Celery, rebuild the tables."""

from __future__ import annotations

import json
import logging
import multiprocessing
import platform
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from body_organ_analysis import __version__
from body_organ_analysis.cohort.cases import Case, content_hash
from body_organ_analysis.cohort.ledger import now_utc, options_of, read_record, run_key, write_atomic, write_record
from body_organ_analysis.cohort.outputs import build_tables, write_tables
from body_organ_analysis.cohort.worker import init_worker_process, run_case
from body_organ_analysis.errors import ExitCode, OutputError, UsageError
from body_organ_analysis.settings import Settings

log = logging.getLogger("body_organ_analysis")


@dataclass
class Plan:
    to_run: list[tuple[Case, str]] = field(default_factory=list)
    input_hashes: dict[str, str] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)  # done earlier with the same key
    failed_before: list[str] = field(default_factory=list)  # failed earlier with the same key, not retried


def plan_cases(cases: Sequence[Case], template: Settings, output_dir: Path, retry_failed: bool) -> Plan:
    options = options_of(template.for_manifest())
    plan = Plan()
    for case in cases:
        extra = {"series_uid": case.series_uid, "segmentations": sorted(case.segmentations)}
        plan.input_hashes[case.case_id] = content_hash(case)
        key = run_key(plan.input_hashes[case.case_id], options, extra)
        record = read_record(output_dir, case.case_id)
        if record and record.get("key") == key and record.get("status") == "done":
            plan.skipped.append(case.case_id)
        elif record and record.get("key") == key and record.get("status") == "failed" and not retry_failed:
            plan.failed_before.append(case.case_id)
        else:
            plan.to_run.append((case, key))
    return plan


class Progress:
    """A tqdm bar: cases done / failed / skipped and the ETA."""

    def __init__(self, total: int, skipped: int, failed_before: int, enabled: bool) -> None:
        from tqdm import tqdm

        self.counts = {"done": 0, "failed": 0, "skipped": skipped + failed_before}
        self.bar = tqdm(total=total, initial=skipped + failed_before, unit="case", file=sys.stderr,
                        disable=not enabled, dynamic_ncols=True)
        self._show()

    def update(self, record: dict) -> None:
        self.counts["done" if record.get("status") == "done" else "failed"] += 1
        self.bar.update(1)
        self._show()

    def _show(self) -> None:
        self.bar.set_postfix_str(" ".join(f"{k} {v}" for k, v in self.counts.items()), refresh=True)

    def close(self) -> None:
        self.bar.close()


Executor = Callable[[list[tuple[Case, str]], Settings, Path, Callable[[dict], None]], None]


def run_local(work: list[tuple[Case, str]], template: Settings, output_dir: Path, report: Callable[[dict], None]) -> None:
    level = log.level
    if not template.runtime.verbose:
        log.setLevel(logging.ERROR)  # the progress bar, not each case's steps; warnings are in its manifest
    try:
        for case, key in work:
            report(run_case(case, template, output_dir, key))
    finally:
        log.setLevel(level)


def pool_executor(jobs: int, verbose: bool) -> Executor:
    """``jobs`` spawned worker processes; each keeps its loaded models for all its cases."""
    def run(work: list[tuple[Case, str]], template: Settings, output_dir: Path, report: Callable[[dict], None]) -> None:
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(jobs, mp_context=context, initializer=init_worker_process, initargs=(verbose,)) as pool:
            futures = {pool.submit(run_case, case, template, output_dir, key): (case, key) for case, key in work}
            try:
                for future in as_completed(futures):
                    case, key = futures[future]
                    try:
                        record = future.result()
                    except Exception as error:  # the worker process died (killed, out of memory)
                        record = {"case": case.case_id, "key": key, "status": "failed", "error_class": type(error).__name__,
                                  "message": "the worker process ended while analysing this case (killed or out of memory)",
                                  "exit_code": int(ExitCode.INTERNAL), "finished_utc": now_utc()}
                        write_record(output_dir, case.case_id, record)
                    report(record)
            except BaseException:
                pool.shutdown(wait=False, cancel_futures=True)
                raise
    return run


def run_cohort(
    cases: Sequence[Case],
    template: Settings,
    output_dir: Path,
    executor: Executor = run_local,
    executor_name: str = "local",
    retry_failed: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    """Run what is not done yet, then rebuild every table from the case folders. Returns run.json's content."""
    if not cases:
        raise UsageError("No cases found: give folders with NIfTI files or DICOM series, or a --manifest CSV.")
    started, started_utc = time.monotonic(), now_utc()
    _check_writable(output_dir)
    plan = plan_cases(cases, template, output_dir, retry_failed)
    log.info("cohort of %d cases: %d to run, %d done earlier, %d failed earlier%s", len(cases), len(plan.to_run),
             len(plan.skipped), len(plan.failed_before), "" if retry_failed else " (not retried; --retry-failed reruns them)")
    bar = Progress(len(cases), len(plan.skipped), len(plan.failed_before), progress)
    run_started = time.monotonic()
    try:
        executor(plan.to_run, template, output_dir, bar.update)
    finally:
        bar.close()
    run_wall = time.monotonic() - run_started
    tables = build_tables(output_dir, cases, template.models, plan.input_hashes)
    write_tables(output_dir, tables)
    summary = run_document(cases, template, output_dir, executor_name, plan, bar.counts, started_utc,
                           run_wall, time.monotonic() - started)
    write_atomic(output_dir / "run.json", json.dumps(summary, indent=2, default=str).encode())
    return summary


def run_document(cases: Sequence[Case], template: Settings, output_dir: Path, executor: str, plan: Plan,
                 counts: dict, started_utc: str, run_wall_s: float, total_wall_s: float) -> dict[str, Any]:
    per_case = {}
    for case in cases:
        record = read_record(output_dir, case.case_id) or {}
        per_case[case.case_id] = {"status": record.get("status", "not run"), "time_s": record.get("time_s"),
                                  "finished_utc": record.get("finished_utc")}
    ran = len(plan.to_run)
    return {
        "tool": "body-organ-analysis", "tool_version": __version__, "versions": versions(),
        "options": options_of(template.for_manifest()), "executor": executor,
        "started_utc": started_utc, "finished_utc": now_utc(),
        "cases": len(cases), "ran": ran, "counts": counts,
        "timings": {"analysis_wall_s": round(run_wall_s, 3), "total_wall_s": round(total_wall_s, 3),
                    "cases_per_minute": round(60 * ran / run_wall_s, 2) if ran and run_wall_s > 0 else None},
        "per_case": per_case,
    }


def versions() -> dict[str, str]:
    from importlib import metadata

    found = {"python": platform.python_version()}
    for name in ("numpy", "nibabel", "pandas", "pyarrow", "torch", "nnunetv2", "TotalSegmentator", "celery"):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return found


def _check_writable(output_dir: Path) -> None:
    try:
        (output_dir / "cases").mkdir(parents=True, exist_ok=True)
        probe = output_dir / ".write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        raise OutputError(f"Cannot write the cohort folder {output_dir} ({error.strerror}). Choose a writable -o folder.",
                          ExitCode.OUTPUT_NOT_WRITABLE) from None
