"""The single-case analysis options as command-line flags.

One parser for the options of one analysis, shared by the single-case command
(cli.py) and the cohort command, which applies them to every case; and the
step from parsed flags plus the environment to one validated Settings.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Sequence

from body_organ_analysis.errors import UsageError


def build_parser() -> argparse.ArgumentParser:
    from body_organ_analysis.models.registry import model_list  # data only: cheap to import

    parser = argparse.ArgumentParser(
        prog="body_organ_analysis",
        description="Body and organ analysis of one CT. Subcommands: 'weights' and 'demo' "
        "(see 'body_organ_analysis weights --help').",
        epilog=f"models (-m):\n{model_list()}\n\nExit codes: docs/exit_codes.md (0 = success, "
        "2 = usage, 3-10 = input, 11-16 = models, device, output).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    flag = parser.add_argument
    flag("--version", action="version", version=version_text())
    flag("-i", "--input-image", dest="input_image", required=True,
         help="CT as NIfTI (.nii/.nii.gz), a DICOM folder (searched recursively) or a zip of DICOM files")
    flag("-o", "--output-dir", dest="output_dir", required=True, help="output folder")
    flag("-m", "--models", default="total",
         help="'+'-separated model names (listed below), or 'all' (default: total)")
    flag("-d", "--device", help="auto, gpu, cuda, gpu:N, cuda:N or cpu (env DEVICE; default auto: a GPU if there is one)")
    flag("-l", "--license_number", "--license-number", dest="license_number",
         help="TotalSegmentator licence number for licensed models (env LICENSE_NUMBER)")
    switch(parser, "--fast-total", dest="fast_total", help="use the fast variant of models that have one (env FAST_TOTAL)")
    switch(parser, "--use-study-prefix", dest="use_study_prefix", help="prefix output files with the input's name")
    switch(parser, "-v", "--verbose", dest="verbose", help="more log lines (env VERBOSE)")
    switch(parser, "--force-recompute", dest="force_recompute", help="never reuse outputs of an earlier run")
    flag("--segmentation", action="append", default=[], metavar="NAME=PATH",
         help="use an existing label map for model NAME instead of running it (repeatable)")
    flag("--series-uid", dest="series_uid", help="DICOM series to analyse when a folder holds several")
    flag("--height-cm", dest="height_cm", type=float, metavar="CM",
         help="patient's height, 50-250 cm, for SMI and BMI; overrides DICOM Patient's Size (env BOA_HEIGHT_CM)")
    flag("--weight-kg", dest="weight_kg", type=float, metavar="KG",
         help="patient's weight, 2-400 kg, for BMI; overrides DICOM Patient's Weight (env BOA_WEIGHT_KG)")
    switch(parser, "--offline", dest="offline", help="never download anything (env BOA_OFFLINE)")
    flag("--weights-dir", dest="weights_dir", type=Path,
         help="folder of the model weights (env BOA_WEIGHTS_DIR; default: where TotalSegmentator looks)")
    measures = parser.add_argument_group("measurements")
    switch(measures, "--skip-contrast-information", dest="skip_contrast_information", help="do not predict the contrast phase (env SKIP_CONTRAST_INFORMATION)")
    switch(measures, "--cnr-adjustment", dest="cnr_adjustment", help="add the cnr-adjusted sheet and block")
    switch(measures, "-p", "--preview", dest="preview", help="write preview_total.png")
    switch(measures, "-r", "--radiomics", dest="radiomics", help="pyradiomics features to radiomics.json")
    bca = parser.add_argument_group("body composition")
    switch(bca, "--fast-bca", dest="fast_bca", help="body-composition models with fold 0 only (env FAST_BCA)")
    bca.add_argument("--bca-engine", dest="bca_engine", choices=("nnunet", "threshold"),
                     help="nnunet (default) or the weights-free threshold engine (env BCA_ENGINE)")
    bca.add_argument("--bca-examined-body-region", dest="bca_examined_body_region",
                     choices=("abdomen", "thorax", "neck"), help="force the examined body region")
    switch(bca, "--bca-no-pdf", dest="bca_no_pdf", help="do not write report.pdf (env BCA_NO_PDF)")
    bca.add_argument("--bca-hu-window", dest="bca_hu_window", action="append", default=[], metavar="NAME=LO,HI",
                     help="HU window of 'muscle' (default -29,150) or 'fat' (default -190,-30); repeatable")
    bca.add_argument("--theme", choices=("light", "dark"), help="PDF report theme (env THEME)")
    return parser


def version_text() -> str:
    """The tool's version and those of the packages that decide its results (no imports)."""
    from importlib.metadata import PackageNotFoundError, version

    from body_organ_analysis import __version__

    parts = []
    for package in ("TotalSegmentator", "nnunetv2", "torch"):
        try:
            parts.append(f"{package} {version(package)}")
        except PackageNotFoundError:
            parts.append(f"{package} not installed")
    return f"body_organ_analysis {__version__} ({', '.join(parts)})"


def switch(group: Any, *names: str, dest: str, help: str) -> None:
    """A boolean flag whose absence means 'not given' (None), so the environment can decide."""
    group.add_argument(*names, dest=dest, action="store_const", const=True, default=None, help=help)


def parse_segmentations(items: Sequence[str]) -> dict[str, Path]:
    supplied: dict[str, Path] = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise UsageError(f"--segmentation {item!r}: write it as NAME=PATH, e.g. total=seg.nii.gz.")
        if name in supplied:
            raise UsageError(f"--segmentation {name}=... is given twice; give each model once.")
        supplied[name] = Path(path)
    return supplied


def parse_hu_windows(items: Sequence[str]) -> dict[str, tuple[float, float]] | None:
    windows: dict[str, tuple[float, float]] = {}
    for item in items:
        name, sep, bounds = item.partition("=")
        low, comma, high = bounds.partition(",")
        try:
            windows[name] = (float(low), float(high))
        except ValueError:
            raise UsageError(f"--bca-hu-window {item!r}: write it as NAME=LO,HI, e.g. fat=-190,-30.") from None
    return windows or None


def settings_from_args(args: argparse.Namespace, environ: dict[str, str]) -> Any:
    from body_organ_analysis.settings import PATIENT_VARIABLES, build_settings, parse_number

    flags = vars(args).copy()
    for name, option in (("input_image", "-i/--input-image"), ("output_dir", "-o/--output-dir")):
        if not str(flags[name]).strip():
            raise UsageError(f"{option} is empty. Give a path (use '.' for the current folder).")
        flags[name] = Path(flags[name])
    for name, variable in PATIENT_VARIABLES.items():  # one patient's values: the command line only
        if flags.get(name) is None and environ.get(variable, "").strip():
            flags[name] = parse_number(variable, environ[variable])
    flags["models"] = tuple(m for m in str(flags.pop("models")).split("+") if m)
    flags["segmentations"] = parse_segmentations(flags.pop("segmentation"))
    flags["bca_hu_windows"] = parse_hu_windows(flags.pop("bca_hu_window", []))
    return build_settings(flags, environ)
