"""Command line: ``body_organ_analysis`` / ``boa`` / ``python -m body_organ_analysis``.

Thin: parse flags, merge the environment into one Settings, call analyze().
Subcommands: ``weights list|download|pack|unpack`` and ``demo``.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import textwrap
from pathlib import Path
from typing import Any, Callable, Sequence

from body_organ_analysis.errors import BoaError, ExitCode, UsageError

log = logging.getLogger("body_organ_analysis")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="body_organ_analysis",
        description="Body and organ analysis of one CT. Subcommands: 'weights' and 'demo' "
        "(see 'body_organ_analysis weights --help').",
    )
    flag = parser.add_argument
    flag("-i", "--input-image", dest="input_image", type=Path, required=True,
         help="CT as NIfTI (.nii/.nii.gz), a DICOM folder (searched recursively) or a zip of DICOM files")
    flag("-o", "--output-dir", dest="output_dir", type=Path, required=True, help="output folder")
    flag("-m", "--models", default="total",
         help="'+'-separated model names, or 'all' (default: total)")
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
    from body_organ_analysis.settings import build_settings

    flags = vars(args).copy()
    flags["models"] = tuple(m for m in str(flags.pop("models")).split("+") if m)
    flags["segmentations"] = parse_segmentations(flags.pop("segmentation"))
    flags["bca_hu_windows"] = parse_hu_windows(flags.pop("bca_hu_window", []))
    return build_settings(flags, environ)


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


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    subcommands: dict[str, Callable[[list[str]], int]] = {
        "weights": _weights_main,
        "demo": _demo_main,
    }
    if argv and argv[0] in subcommands:
        return subcommands[argv[0]](argv[1:])
    args = build_parser().parse_args(argv)
    return run_guarded(lambda: _analyze(args), verbose=bool(args.verbose))


def _analyze(args: argparse.Namespace) -> int:
    from body_organ_analysis.pipeline import analyze

    settings = settings_from_args(args, dict(os.environ))
    configure_logging(settings.verbose)
    result = analyze(settings)
    log.info("wrote %d files to %s", len(result.files), result.output_dir)
    return ExitCode.OK


def _weights_main(argv: list[str]) -> int:
    from body_organ_analysis.models.weights_cli import main as weights_main

    return weights_main(argv, dict(os.environ))


def _demo_main(argv: list[str]) -> int:
    from body_organ_analysis.bca.demo import main as demo_main

    return demo_main(argv, dict(os.environ))


def run_guarded(action: Callable[[], int], verbose: bool) -> int:
    """Run ``action``; turn user errors into a message and an exit code, never a traceback."""
    try:
        return int(action())
    except BoaError as error:
        print(fill(f"error: {error}"), file=sys.stderr)
        return int(error.exit_code)
    except KeyboardInterrupt:
        print("interrupted; the output folder was left as it was.", file=sys.stderr)
        return 130
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
    return "\n".join(textwrap.fill(p, width=100) for p in text.split("\n"))
