"""The output folder contract: staged writes, manifest, atomic completion.

Every file of a run is written into a hidden staging folder inside the output
folder (``.boa-staging-<pid>-*``), so only the output folder itself must be
writable (a read-only parent or a mount point such as ``-o /out`` works) and
every move is a rename on one file system. Only when the whole analysis has
succeeded are the files moved into place: the earlier manifest is removed
first, then each file is renamed, the new manifest last, with SIGINT/SIGTERM
held back for those few renames. A failed or interrupted run removes the
staging folder (and an output folder it created) and leaves the output folder
as it was. Staging folders of processes that died (SIGKILL) are removed by the
next run into the same folder.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

if TYPE_CHECKING:
    from body_organ_analysis.labelmap import LabelMap

from body_organ_analysis.errors import OutputError

MANIFEST_NAME = "manifest.json"
STAGING_PREFIX = ".boa-staging-"
ABANDONED_AFTER_S = 3600  # a dead process's staging folder untouched this long is removed


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_manifest(output_dir: Path, prefix: str | None = None) -> dict[str, Any] | None:
    """The manifest of an earlier run in ``output_dir`` (with that file prefix), or None."""
    path = output_dir / (f"{prefix}_{MANIFEST_NAME}" if prefix else MANIFEST_NAME)
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


class OutputStaging:
    """Collects a run's files in a staging folder, then moves them into place.

    ``path(name)`` gives where to write a file; with a study prefix the stored
    name becomes ``<prefix>_<name>``. ``adopt(name, source)`` reuses a file
    from the existing output folder (a model output that needs no recompute).
    """

    def __init__(self, output_dir: Path, prefix: str | None = None) -> None:
        self.output_dir = output_dir
        self.prefix = prefix
        self.created = _missing_folders(output_dir)  # folders this run creates, deepest first
        try:
            output_dir.mkdir(parents=True, exist_ok=True)
            remove_abandoned_staging(output_dir)
            self.staging = Path(tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{os.getpid()}-", dir=output_dir))
        except OSError as error:
            self._remove_created()
            raise OutputError(
                f"Cannot write the output folder {output_dir}: {error.strerror}. "
                "Choose a folder you can write to with -o/--output-dir."
            ) from None
        self.files: dict[str, Path] = {}  # logical name -> staged path

    def stored_name(self, name: str) -> str:
        return f"{self.prefix}_{name}" if self.prefix else name

    def path(self, name: str) -> Path:
        """Where to write ``name`` now; it is registered as an output of this run."""
        staged = self.staging / self.stored_name(name)
        staged.parent.mkdir(parents=True, exist_ok=True)
        self.files[name] = staged
        return staged

    def adopt(self, name: str, existing: Path) -> None:
        """Keep an existing output file (copied, so a failed run changes nothing)."""
        shutil.copy2(existing, self.path(name))

    def write_json(self, name: str, document: Any) -> Path:
        path = self.path(name)
        path.write_text(json.dumps(document, indent=2, allow_nan=False, default=_json_default))
        return path

    def write_labelmap(self, stem: str, label_map: "LabelMap") -> Path:
        """Write ``<stem>.nii.gz`` (label names embedded) and ``<stem>.labels.json``."""
        import nibabel as nib

        from body_organ_analysis.labelmap import labels_document

        path = self.path(f"{stem}.nii.gz")
        nib.save(label_map.to_nifti(), str(path))
        self.write_json(f"{stem}.labels.json", labels_document(label_map))
        return path

    def file_records(self) -> dict[str, dict[str, Any]]:
        return {
            self.stored_name(name): {"size_bytes": path.stat().st_size, "sha256": sha256_file(path)}
            for name, path in sorted(self.files.items())
            if path.exists()
        }

    def commit(self, manifest: dict[str, Any]) -> dict[str, Any]:
        """Write the manifest and move every staged file into the output folder, the manifest last.

        Returns the manifest as written (with its ``files`` records).
        """
        manifest = {**manifest, "files": self.file_records()}
        manifest_path = self.staging / self.stored_name(MANIFEST_NAME)
        manifest_path.write_text(json.dumps(manifest, indent=2, default=_json_default))
        try:
            with _signals_held():
                # without its manifest an interrupted commit never looks like a complete output
                (self.output_dir / self.stored_name(MANIFEST_NAME)).unlink(missing_ok=True)
                for name, staged in sorted(self.files.items()):
                    if staged.exists():
                        target = self.output_dir / self.stored_name(name)
                        target.parent.mkdir(parents=True, exist_ok=True)
                        os.replace(staged, target)
                os.replace(manifest_path, self.output_dir / self.stored_name(MANIFEST_NAME))
                self.created = []  # the output folder is now a result: keep it
        except OSError as error:
            raise OutputError(
                f"Could not move the results into {self.output_dir}: {error.strerror}."
            ) from None
        finally:
            self.discard()
        return manifest

    def discard(self) -> None:
        """Remove the staging folder and the output folders this run created (when still empty)."""
        shutil.rmtree(self.staging, ignore_errors=True)
        self._remove_created()

    def _remove_created(self) -> None:
        for folder in self.created:
            try:
                folder.rmdir()
            except OSError:
                break


def _missing_folders(folder: Path) -> list[Path]:
    missing = []
    for candidate in (folder, *folder.parents):
        if candidate.exists():
            break
        missing.append(candidate)
    return missing


def remove_abandoned_staging(output_dir: Path) -> None:
    """Remove staging folders whose process no longer runs and that nobody touched for an hour."""
    for folder in output_dir.glob(f"{STAGING_PREFIX}*"):
        pid_text = folder.name[len(STAGING_PREFIX) :].split("-")[0]
        try:
            idle = time.time() - folder.stat().st_mtime
        except OSError:
            continue
        if pid_text.isdigit() and not _process_alive(int(pid_text)) and idle > ABANDONED_AFTER_S:
            shutil.rmtree(folder, ignore_errors=True)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Hold SIGINT/SIGTERM back (main thread only) while the renames of a commit run."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _json_default(value: Any) -> Any:
    import numpy as np

    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
