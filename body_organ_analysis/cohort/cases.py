"""The cases of a cohort: from folders (NIfTI files, DICOM series) or a manifest CSV.

Case ids never come from patient identifiers: a NIfTI case is named after its
file name, a DICOM case after a hash of its SeriesInstanceUID (or of its file
paths when the UID is blank), a manifest case after the manifest's ``case_id``.
"""

from __future__ import annotations

import csv
import hashlib
import logging
import os
import re
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Iterable

from body_organ_analysis.errors import ExitCode, InputError, UsageError

log = logging.getLogger("body_organ_analysis")

NIFTI_SUFFIXES = (".nii.gz", ".nii")
SEGMENTATION_PREFIX = "segmentation:"
SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


@dataclass(frozen=True)
class Case:
    case_id: str
    input: Path
    series_uid: str | None = None
    segmentations: dict[str, Path] = field(default_factory=dict)
    height_cm: float | None = None
    weight_kg: float | None = None

    def to_json(self) -> dict:
        data = asdict(self)
        data["input"] = str(self.input)
        data["segmentations"] = {k: str(v) for k, v in self.segmentations.items()}
        return data

    @staticmethod
    def from_json(data: dict) -> "Case":
        return Case(
            data["case_id"], Path(data["input"]), data.get("series_uid"),
            {k: Path(v) for k, v in (data.get("segmentations") or {}).items()},
            data.get("height_cm"), data.get("weight_kg"),
        )


def safe_id(text: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._-")
    return cleaned[:100] or "case"


def hashed_id(prefix: str, text: str) -> str:
    return f"{prefix}-{hashlib.sha256(text.encode()).hexdigest()[:12]}"


def nifti_stem(path: Path) -> str:
    for suffix in NIFTI_SUFFIXES:
        if path.name.endswith(suffix):
            return path.name[: -len(suffix)]
    return path.name


def discover(folders: Iterable[Path], per_series: bool = False) -> list[Case]:
    """NIfTI files (one case each) and DICOM series (one per study, or per series) under the folders."""
    cases: list[Case] = []
    for folder in folders:
        if not folder.exists():
            raise InputError(f"{folder} does not exist. Give existing folders or a --manifest.", ExitCode.INPUT_NOT_FOUND)
        if folder.is_file():
            cases.append(Case(safe_id(nifti_stem(folder)), folder))
            continue
        niftis = sorted(p for p in folder.rglob("*") if p.is_file() and p.name.endswith(NIFTI_SUFFIXES))
        cases += [Case(safe_id(nifti_stem(p)), p) for p in niftis]
        cases += _dicom_cases(folder, per_series)
    return unique_ids(cases)


def _dicom_cases(folder: Path, per_series: bool) -> list[Case]:
    from body_organ_analysis.imaging.series import choose_stack, group_stacks
    from body_organ_analysis.imaging.slices import scan_folder

    scan = scan_folder(folder)
    if not scan.slices:
        return []
    studies: dict[str, list] = {}
    for stack in group_stacks(scan.slices):
        studies.setdefault(stack.first.text("StudyInstanceUID"), []).append(stack)
    cases = []
    for stacks in studies.values():
        if per_series:
            chosen = [s for s in stacks if not s.problems()]
        else:
            try:
                chosen = [choose_stack(stacks, None, "a study")]
            except InputError as error:
                log.warning("a DICOM study under %s has no series to analyse: %s", folder, error)
                continue
        for stack in chosen:
            files = sorted({str(ref.path) for ref in stack.slices})
            root = Path(os.path.commonpath(files)) if len(files) > 1 else Path(files[0]).parent
            key = stack.uid or "\n".join(files)
            cases.append(Case(hashed_id("series", key), root, stack.uid or None))
    return cases


def unique_ids(cases: list[Case]) -> list[Case]:
    """Same id twice (e.g. a.nii.gz in two folders): later ones get a -2, -3 ... suffix."""
    seen: dict[str, int] = {}
    out = []
    for case in cases:
        count = seen.get(case.case_id, 0) + 1
        seen[case.case_id] = count
        out.append(case if count == 1 else replace(case, case_id=f"{case.case_id}-{count}"))
    return out


def read_manifest(path: Path) -> list[Case]:
    """CSV with ``case_id,input`` and optional ``height_cm``, ``weight_kg``, ``segmentation:<model>``.

    Relative paths are relative to the manifest's folder.
    """
    if not path.is_file():
        raise InputError(f"The manifest {path} does not exist.", ExitCode.INPUT_NOT_FOUND)
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        header = reader.fieldnames or []
        if "case_id" not in header or "input" not in header:
            raise UsageError(f"The manifest {path} needs the columns case_id and input (found: {', '.join(header)}).")
        rows = list(reader)
    base, cases = path.parent, []
    for number, row in enumerate(rows, start=2):
        case_id = (row.get("case_id") or "").strip()
        if not SAFE_ID.match(case_id):
            raise UsageError(
                f"{path}, line {number}: case_id {case_id!r} must be 1-100 letters, digits, '.', '_' or '-' "
                "(it names a folder)."
            )
        segmentations = {
            name[len(SEGMENTATION_PREFIX):]: base / value.strip()
            for name, value in row.items()
            if name and name.startswith(SEGMENTATION_PREFIX) and value and value.strip()
        }
        cases.append(Case(
            case_id, base / row["input"].strip(), (row.get("series_uid") or "").strip() or None,
            segmentations, _number(row, "height_cm", path, number), _number(row, "weight_kg", path, number),
        ))
    ids = [c.case_id for c in cases]
    if len(set(ids)) != len(ids):
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        raise UsageError(f"The manifest {path} repeats case ids: {', '.join(repeated[:5])}. Give each case its own id.")
    return cases


def _number(row: dict, column: str, path: Path, number: int) -> float | None:
    text = (row.get(column) or "").strip()
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        raise UsageError(f"{path}, line {number}: {column} {text!r} is not a number.") from None


def content_hash(case: Case) -> str:
    """SHA-256 over the bytes of the input (every file of a DICOM folder) and the supplied label maps.

    File names do not count: the same bytes under another name are the same input (a duplicate).
    """
    paths = [case.input] if case.input.is_file() else sorted(p for p in case.input.rglob("*") if p.is_file())
    digest = hashlib.sha256()
    for group in (paths, [seg for _, seg in sorted(case.segmentations.items())]):
        for path in group:
            digest.update(_file_digest(path))
        digest.update(b"|")
    return digest.hexdigest()


def _file_digest(path: Path) -> bytes:
    digest = hashlib.sha256()
    try:
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except OSError:
        return b"<missing>"
    return digest.digest()
