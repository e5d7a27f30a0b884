"""Checksums of installed weights: the weights folder's manifest, locks, verification.

Every network installed into a weights folder is recorded in
``<weights folder>/boa_weights_manifest.json``: the SHA-256 of the archive it
came from (checked against the publisher's pinned hash where one is known)
and the size and SHA-256 of every file. Where no published hash exists the
first install is trusted (trust on first use) and every later install of the
same network (download, ``weights unpack``) and every load must give the same
hashes. Weights put there by other tools (TotalSegmentator's own download)
are recorded the first time they are loaded.

Loading verifies the files it reads once per process, cached by (path, size,
modification time). Installs and manifest updates hold an ``fcntl`` lock in
``.boa-locks/`` so two processes never install into one folder at once.
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import hashlib
import json
import os
import tempfile
import threading
from pathlib import Path
from typing import Any, Iterator

from body_organ_analysis.console import log
from body_organ_analysis.errors import WeightsError

MANIFEST_NAME = "boa_weights_manifest.json"
LOCK_DIR = ".boa-locks"
CHUNK_BYTES = 1 << 20

_VERIFIED: dict[tuple[str, int, int], str] = {}  # (path, size, mtime_ns) -> sha256, this process
_VERIFIED_LOCK = threading.Lock()


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


def file_records(folder: Path) -> dict[str, dict[str, Any]]:
    """Size and SHA-256 of every file under ``folder``, by POSIX path relative to it."""
    return {
        path.relative_to(folder).as_posix(): {"size": path.stat().st_size, "sha256": _cached_sha256(path)}
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def read_manifest(root: Path) -> dict[str, Any]:
    try:
        document = json.loads((root / MANIFEST_NAME).read_text())
    except FileNotFoundError:
        return {"format": 1, "networks": {}}
    except (OSError, ValueError):
        raise WeightsError(
            f"The weights manifest {root / MANIFEST_NAME} cannot be read. Restore it, or remove it to "
            "record the installed weights anew (their checksums are then trusted as they are)."
        ) from None
    document.setdefault("networks", {})
    return document


def _write_manifest(root: Path, document: dict[str, Any]) -> None:
    handle, temporary = tempfile.mkstemp(prefix=f".{MANIFEST_NAME}-", dir=root)
    with os.fdopen(handle, "w") as out:
        json.dump(document, out, indent=2, sort_keys=True)
    os.replace(temporary, root / MANIFEST_NAME)


@contextlib.contextmanager
def locked(root: Path, name: str) -> Iterator[None]:
    """An exclusive lock on ``root/.boa-locks/<name>.lock``, across processes."""
    folder = root / LOCK_DIR
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / f"{name}.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def now_utc() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def check_against_record(root: Path, folder: str, files: dict[str, dict[str, Any]], archive_sha256: str | None) -> None:
    """Refuse an install whose hashes differ from what was recorded for ``folder`` before."""
    record = read_manifest(root)["networks"].get(folder)
    if record is None:
        return
    if archive_sha256 and record.get("archive_sha256") and record["archive_sha256"] != archive_sha256:
        raise WeightsError(_changed(root, folder, "archive", record["archive_sha256"], archive_sha256))
    for name, recorded in record.get("files", {}).items():
        if name in files and files[name]["sha256"] != recorded["sha256"]:
            raise WeightsError(_changed(root, folder, name, recorded["sha256"], files[name]["sha256"]))


def record_network(root: Path, folder: str, files: dict[str, dict[str, Any]], **details: Any) -> None:
    """Store the hashes of ``folder`` (call with the manifest lock held)."""
    document = read_manifest(root)
    document["networks"][folder] = {**details, "recorded_utc": now_utc(), "files": files}
    _write_manifest(root, document)


def _changed(root: Path, folder: str, what: str, recorded: str, found: str) -> str:
    return (
        f"The weights of {folder} ({what}) have SHA-256 {found}, but {recorded} was recorded when they "
        f"were first installed ({root / MANIFEST_NAME}): they were changed, damaged or are not the same "
        f"release. Remove {root / folder} and download it again; if the publisher really replaced the "
        f"weights, also remove the entry {folder!r} from the manifest."
    )


def verify_files(root: Path, folder: str, names: list[str]) -> None:
    """Check the files ``names`` of network ``folder`` against the manifest before they are loaded.

    A network without a record is recorded now (trust on first use) when the
    folder is writable; otherwise it is loaded unverified with a warning.
    """
    record = read_manifest(root)["networks"].get(folder)
    if record is None:
        _record_on_first_load(root, folder)
        record = read_manifest(root)["networks"].get(folder)
        if record is None:
            return
    for name in names:
        expected = record["files"].get(name)
        path = root / folder / name
        if expected is None:
            raise WeightsError(
                f"{path} is not among the files recorded when {folder} was installed ({root / MANIFEST_NAME}). "
                f"Remove {root / folder} and install it again with 'body_organ_analysis weights download'."
            )
        found = _cached_sha256(path)
        if found != expected["sha256"]:
            raise WeightsError(_changed(root, folder, name, expected["sha256"], found))


def _cached_sha256(path: Path) -> str:
    info = path.stat()
    key = (str(path.resolve()), info.st_size, info.st_mtime_ns)
    with _VERIFIED_LOCK:
        known = _VERIFIED.get(key)
    if known is None:
        known = sha256_of(path)
        with _VERIFIED_LOCK:
            _VERIFIED[key] = known
    return known


def _record_on_first_load(root: Path, folder: str) -> None:
    try:
        with locked(root, "manifest"):
            if folder in read_manifest(root)["networks"]:
                return
            files = file_records(root / folder)
            record_network(root, folder, files, source="first load (installed by another tool)")
        log.info("weights %s recorded in %s (trust on first use)", folder, root / MANIFEST_NAME)
    except OSError:
        log.warning("weights %s are not recorded and %s is read-only: loaded unverified", folder, root)


def forget_verified() -> None:
    """Drop this process's cache of verified files (tests)."""
    with _VERIFIED_LOCK:
        _VERIFIED.clear()
