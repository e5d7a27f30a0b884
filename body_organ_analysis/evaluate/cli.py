"""``boa evaluate``: parse flags, score the pairs, write the tables."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Sequence

log = logging.getLogger("body_organ_analysis")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="boa evaluate",
        description="Dice and normalized surface Dice (NSD) of predicted label maps against references, "
        "in mm with each image's spacing. Reference value 255 marks ignored voxels (SAROS).",
    )
    flag = parser.add_argument
    flag("--pred", type=Path, help="predicted label map, or a folder of them (matched to --ref by file name)")
    flag("--ref", type=Path, help="reference label map, or a folder of them")
    flag("--pairs", type=Path, help="CSV with columns case,pred,ref (paths relative to the CSV) instead of --pred/--ref")
    flag("-o", "--output-dir", dest="output_dir", type=Path, required=True, help="output folder")
    flag("--model", default="total", help="model whose label table names the labels (default: total)")
    flag("--tolerance-mm", dest="tolerance_mm", type=float, default=3.0, help="NSD tolerance in mm (default 3)")
    flag("--resample", action="store_true", help="resample predictions onto the reference grid (nearest neighbour) "
         "when the grids differ, instead of stopping")
    flag("--label-map", dest="label_map", type=Path,
         help="CSV with columns pred,ref[,name] for references that number labels differently; "
         "values may be joined with '+' (merged)")
    flag("-v", "--verbose", action="store_true", help="more log lines")
    return parser


def main(argv: Sequence[str]) -> int:
    from body_organ_analysis.console import run_guarded

    args = build_parser().parse_args(list(argv))
    return run_guarded(lambda: evaluate_command(args), verbose=args.verbose)


def evaluate_command(args: argparse.Namespace) -> int:
    from body_organ_analysis.console import configure_logging
    from body_organ_analysis.errors import ExitCode, UsageError
    from body_organ_analysis.evaluate.inputs import find_pairs, read_structures
    from body_organ_analysis.evaluate.outputs import write_outputs
    from body_organ_analysis.evaluate.run import evaluate_pairs, summarize
    from body_organ_analysis.models.registry import get_model

    configure_logging(args.verbose)
    if not args.tolerance_mm > 0:
        raise UsageError(f"--tolerance-mm {args.tolerance_mm:g}: give a tolerance above 0 mm, e.g. 3.")
    pairs = find_pairs(args.pred, args.ref, args.pairs)
    structures = read_structures(args.label_map) if args.label_map else None
    labels = None if structures else get_model(args.model).labels()
    table = evaluate_pairs(pairs, args.tolerance_mm, labels, structures, args.resample)
    summary = summarize(table)
    write_outputs(table, summary, args.output_dir)
    scored = summary[summary["cases_scored"] > 0]
    log.info("scored %d cases, %d structures; mean Dice %.3f, mean NSD %.3f; wrote %s",
             len(pairs), len(scored), scored["dice_mean"].mean(), scored["nsd_mean"].mean(), args.output_dir)
    return int(ExitCode.OK)
