"""``boa ui``: start the web app (``streamlit run``) with safe defaults; ``boa ui --hash-password``.

Listening on anything but loopback needs ``BOA_UI_PASSWORD_HASH``; without it
the command refuses to start (exit code 2).
"""

from __future__ import annotations

import argparse
import getpass
import ipaddress
import os
import subprocess
import sys
from pathlib import Path
from typing import Mapping, Sequence

from body_organ_analysis.errors import ExitCode, UsageError
from body_organ_analysis.ui.config import DEFAULT_RESULTS_DIR, DEFAULT_UPLOAD_LIMIT_MB
from body_organ_analysis.ui.password import hash_password, is_valid_hash

APP = Path(__file__).with_name("app.py")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="boa ui", description="Start the web UI (Streamlit) for analyses, "
                                     "results, history and PACS jobs. See docs/ui.md.")  # fmt: skip
    flag = parser.add_argument
    flag("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; any other needs "
         "BOA_UI_PASSWORD_HASH)")  # fmt: skip
    flag("--port", type=int, default=8501, help="port (default 8501)")
    flag("--results-dir", type=Path, default=None, help=f"where runs are kept (env BOA_UI_RESULTS_DIR; "
         f"default ./{DEFAULT_RESULTS_DIR})")  # fmt: skip
    flag("--data-root", type=Path, default=None, help="server folder whose files may be picked as input "
         "(env BOA_UI_DATA_ROOT); nothing outside it")  # fmt: skip
    flag("--max-upload-mb", type=int, default=DEFAULT_UPLOAD_LIMIT_MB, help="largest upload in MB "
         f"(default {DEFAULT_UPLOAD_LIMIT_MB})")  # fmt: skip
    flag("--work-retention-hours", type=float, default=None, help="remove uploads and work folders after this "
         "many hours (env BOA_UI_WORK_RETENTION_H; default 24)")  # fmt: skip
    flag("--hash-password", action="store_true", help="read a password (twice) and print the hash for "
         "BOA_UI_PASSWORD_HASH, then exit")  # fmt: skip
    return parser


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def streamlit_command(args: argparse.Namespace) -> list[str]:
    return [
        sys.executable, "-m", "streamlit", "run", str(APP),
        "--server.address", args.host, "--server.port", str(args.port),
        "--server.maxUploadSize", str(args.max_upload_mb), "--server.headless", "true",
        "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
        "--global.developmentMode", "false", "--client.toolbarMode", "minimal",
        "--server.enableXsrfProtection", "true", "--logger.level", "warning",
    ]  # fmt: skip


def app_environment(args: argparse.Namespace, environ: Mapping[str, str]) -> dict[str, str]:
    env = dict(environ)
    if args.results_dir is not None:
        env["BOA_UI_RESULTS_DIR"] = str(args.results_dir.resolve())
    if args.data_root is not None:
        env["BOA_UI_DATA_ROOT"] = str(args.data_root.resolve())
    if args.work_retention_hours is not None:
        env["BOA_UI_WORK_RETENTION_H"] = str(args.work_retention_hours)
    env["BOA_UI_REQUIRE_PASSWORD"] = "0" if is_loopback(args.host) else "1"
    return env


def check_safety(args: argparse.Namespace, environ: Mapping[str, str]) -> None:
    stored = environ.get("BOA_UI_PASSWORD_HASH", "")
    if stored and not is_valid_hash(stored):
        raise UsageError("BOA_UI_PASSWORD_HASH is not a hash made by 'boa ui --hash-password'. Make a new one "
                         "and set it again.")  # fmt: skip
    if not is_loopback(args.host) and not stored:
        raise UsageError(f"Refusing to listen on {args.host}: other computers could reach the app without a "
                         "password. Make a hash with 'boa ui --hash-password', set it as BOA_UI_PASSWORD_HASH "
                         "and start again, or listen on 127.0.0.1.")  # fmt: skip
    if args.data_root is not None and not args.data_root.is_dir():
        raise UsageError(f"--data-root {args.data_root} is not a folder.", ExitCode.INPUT_NOT_FOUND)


def read_new_password() -> str:
    first = getpass.getpass("New UI password: ")
    if len(first) < 8:
        raise UsageError("The password is shorter than 8 characters; choose a longer one.")
    if getpass.getpass("Again: ") != first:
        raise UsageError("The two passwords differ; run 'boa ui --hash-password' again.")
    return first


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    from body_organ_analysis.console import run_guarded

    environ = dict(os.environ if environ is None else environ)
    args = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    if args.hash_password:
        return run_guarded(lambda: _print_hash(), verbose=False)
    return run_guarded(lambda: _serve(args, environ), verbose=False)


def _print_hash() -> int:
    print(hash_password(read_new_password()))
    return 0


def _serve(args: argparse.Namespace, environ: dict[str, str]) -> int:
    try:
        import streamlit  # noqa: F401
    except ImportError:
        raise UsageError("The web UI needs the 'ui' extra: pip install 'body-organ-analysis[ui]'.") from None
    check_safety(args, environ)
    print(f"body-organ-analysis UI on http://{args.host}:{args.port}", file=sys.stderr)
    return subprocess.call(streamlit_command(args), env=app_environment(args, environ))
