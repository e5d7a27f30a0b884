"""``body_organ_analysis weights list|download|pack|unpack``.

- ``list``: every model's networks: present or missing, stand-in or not, size, location.
- ``download MODEL...``: fetch the networks these models need (progress bar,
  checked against pinned or recorded SHA-256, atomic, locked); networks
  already present are verified against the weights manifest.
  ``--fast-total`` / ``FAST_TOTAL`` and ``--fast-bca`` choose
  the variant; ``--all-variants`` takes both.
- ``pack FILE`` / ``unpack FILE``: a zip of the present weights with their
  checksums, to carry them to a machine without internet; unpack verifies them.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Mapping, Sequence

from body_organ_analysis.errors import BoaError, UsageError, WeightsError
from body_organ_analysis.settings import ENV_VARIABLES, RuntimeConfig, build_runtime, parse_bool


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="body_organ_analysis weights", description="Manage model weights.")
    parser.add_argument("--weights-dir", type=Path, help="weights folder (env BOA_WEIGHTS_DIR; default: TotalSegmentator's)")
    parser.add_argument("--weights-url", help="base URL of the <DatasetNNN_name>.zip archives (env BOA_WEIGHTS_URL)")
    parser.add_argument("--offline", action="store_const", const=True, default=None, help="never download (env BOA_OFFLINE)")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="every model's weights: present or missing, size, location")
    download = commands.add_parser("download", help="download the weights of MODEL... (or 'all')")
    download.add_argument("models", nargs="+")
    download.add_argument("--fast-total", dest="fast_total", action="store_const", const=True, default=None)
    download.add_argument("--fast-bca", dest="fast_bca", action="store_const", const=True, default=None)
    download.add_argument("--all-variants", action="store_true", help="both variants of models with a fast one")
    pack = commands.add_parser("pack", help="zip the present weights into FILE")
    pack.add_argument("file", type=Path)
    pack.add_argument("models", nargs="*", help="only these models' weights (default: all present)")
    unpack = commands.add_parser("unpack", help="unpack a zip made by 'weights pack' into the weights folder")
    unpack.add_argument("file", type=Path)
    return parser


def main(argv: Sequence[str], environ: Mapping[str, str]) -> int:
    from body_organ_analysis.console import configure_logging, run_guarded

    args = build_parser().parse_args(list(argv))
    configure_logging(False)
    return run_guarded(lambda: _run(args, environ), verbose=False)


def _runtime(args: argparse.Namespace, environ: Mapping[str, str]) -> RuntimeConfig:
    return build_runtime({"weights_dir": args.weights_dir, "weights_url": args.weights_url, "offline": args.offline}, environ)


def _switch(args: argparse.Namespace, name: str, environ: Mapping[str, str]) -> bool:
    """A download flag, else its environment variable (FAST_TOTAL, FAST_BCA)."""
    given = getattr(args, name, None)
    if given is not None:
        return bool(given)
    variable = ENV_VARIABLES[name]
    return parse_bool(variable, environ[variable]) if variable in environ else False


def _run(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    from body_organ_analysis.models import weights

    runtime = _runtime(args, environ)
    root = weights.weights_root(runtime)
    if args.command == "list":
        print(f"weights folder: {root}")
        for row in weights.inventory(root):
            state = ("stand-in" if row.stand_in else "present") if row.present else "missing"
            size = f"{weights.human_size(row.size_bytes):>12s}" if row.present else " " * 12
            print(f"{row.model:28s} {state:9s}{size}  {row.network.folder}")
        return 0
    if args.command == "download":
        if runtime.offline:
            raise WeightsError("Offline mode is on (--offline / BOA_OFFLINE): nothing is downloaded.")
        for item in weights.networks_of(args.models, runtime, all_variants=args.all_variants,
                                        fast_total=_switch(args, "fast_total", environ),
                                        fast_bca=_switch(args, "fast_bca", environ)):
            if item.network.is_present(root):
                weights.verify_network(item.network, root)
                print(f"{item.network.folder}: present, checksums verified")
                continue
            path = weights.download_network(item.network, root, runtime.weights_url)
            print(f"{item.network.folder}: downloaded to {path}")
        return 0
    if args.command == "pack":
        count = weights.pack(root, args.file, args.models or None)
        print(f"packed {count} networks into {args.file}")
        return 0
    if args.command == "unpack":
        if not args.file.is_file():
            raise UsageError(f"{args.file} does not exist. Give the zip made by 'weights pack'.")
        names = weights.unpack(args.file, root)
        print(f"unpacked {len(names)} networks into {root}: {', '.join(names)}")
        return 0
    raise BoaError(f"unknown command {args.command}")  # argparse prevents this

