"""Writes the cohort files from the case folders: tables, QC sheet and gallery, failure ledger.

Every file is written under a temporary name in the output folder and renamed
into place, so a reader (or a crash) never sees half a table.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator, Sequence

import pandas as pd

from body_organ_analysis.cohort.cases import Case
from body_organ_analysis.cohort.gallery import index_html
from body_organ_analysis.cohort.ledger import CASES_DIR, case_dir, read_record
from body_organ_analysis.cohort.qc import QC_FLAGS, case_flags
from body_organ_analysis.cohort.tables import case_rows, load_json, long_table, wide_table
from body_organ_analysis.cohort.worker import QC_PICTURE
from body_organ_analysis.report.workbook import Sheet, write_workbook

FAILURE_COLUMNS = ["case", "error_class", "message", "exit_code", "time_utc"]


@contextlib.contextmanager
def atomic(path: Path) -> Iterator[Path]:
    """A temporary path beside ``path``; renamed to ``path`` when the block ends without error."""
    handle, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix, dir=path.parent)
    os.close(handle)
    temporary = Path(name)
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def build_tables(output_dir: Path, cases: Sequence[Case], models: Sequence[str],
                 input_hashes: dict[str, str] | None = None) -> dict[str, pd.DataFrame]:
    rows, status, qc, failures, gallery = [], [], [], [], []
    first_with: dict[str, str] = {}
    for case in cases:
        first_with.setdefault((input_hashes or {}).get(case.case_id, case.case_id), case.case_id)
    for case in cases:
        record = read_record(output_dir, case.case_id) or {"status": "not run"}
        folder = case_dir(output_dir, case.case_id)
        state = record.get("status", "not run")
        status.append({"case": case.case_id, "status": state})
        flags: dict[str, str] = {}
        if state == "done":
            case_long = case_rows(case.case_id, folder, case.height_cm, case.weight_kg)
            rows += case_long
            manifest = load_json(folder / "manifest.json") or {}
            flags = case_flags(long_table(case_long), manifest, "bca" in models)
            original = first_with.get((input_hashes or {}).get(case.case_id, case.case_id), case.case_id)
            flags["duplicate"] = f"same input files as case {original}" if original != case.case_id else ""
            qc.append({"case": case.case_id, "flag_count": sum(bool(v) for v in flags.values()), **flags})
        elif state == "failed":
            failures.append({"case": case.case_id, "error_class": record.get("error_class"), "message": record.get("message"),
                             "exit_code": record.get("exit_code"), "time_utc": record.get("finished_utc")})
            flags = {"failed": f"{record.get('error_class')} (exit {record.get('exit_code')}): {record.get('message')}"}
        picture = folder / QC_PICTURE
        gallery.append({"case": case.case_id, "status": state, "flags": [f"{k}: {v}" for k, v in flags.items() if v],
                        "picture": f"../{CASES_DIR}/{case.case_id}/{QC_PICTURE}" if picture.exists() else None})
    long = long_table(rows)
    status_frame = pd.DataFrame(status, columns=["case", "status"])
    return {
        "long": long,
        "wide": wide_table(long, status_frame),
        "qc": pd.DataFrame(qc, columns=["case", "flag_count", *QC_FLAGS]),
        "failures": pd.DataFrame(failures, columns=FAILURE_COLUMNS),
        "gallery": gallery,
    }


def write_tables(output_dir: Path, tables: dict) -> None:
    with atomic(output_dir / "cohort.parquet") as path:
        tables["long"].to_parquet(path, index=False)
    with atomic(output_dir / "cohort.csv") as path:
        tables["long"].to_csv(path, index=False)
    with atomic(output_dir / "failures.csv") as path:
        tables["failures"].to_csv(path, index=False)
    with atomic(output_dir / "cohort.xlsx") as path:
        write_workbook(path, [_sheet("cases", tables["wide"]), _sheet("qc", tables["qc"]),
                              _sheet("failures", tables["failures"])])
    qc_dir = output_dir / "qc"
    qc_dir.mkdir(exist_ok=True)
    with atomic(qc_dir / "index.html") as path:
        path.write_text(index_html(tables["gallery"]), encoding="utf-8")


def _sheet(name: str, frame: pd.DataFrame) -> Sheet:
    rows = [[None if (not isinstance(v, str) and pd.isna(v)) else v for v in row] for row in frame.itertuples(index=False)]
    return Sheet(name, list(frame.columns), rows)
