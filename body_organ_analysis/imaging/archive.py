"""Extracting a zip of DICOM files safely.

Refused before anything is written: absolute names, ``..`` components,
symbolic links, encrypted members, more than ``MAX_MEMBERS`` members, more than
``MAX_TOTAL_BYTES`` uncompressed, or more than the free space of the target.
While writing, no member may yield more bytes than its header announced (a zip
bomb with lying headers stops there).
"""

from __future__ import annotations

import shutil
import stat
import zipfile
from pathlib import Path, PurePosixPath

from body_organ_analysis.errors import ExitCode, InputError

MAX_MEMBERS = 100_000
MAX_TOTAL_BYTES = 16 << 30
CHUNK = 1 << 20


def extract_zip(archive: Path, target: Path) -> None:
    """Extract ``archive`` into the empty folder ``target``, or raise InputError."""
    try:
        with zipfile.ZipFile(archive) as bundle:
            members = [m for m in bundle.infolist() if not m.is_dir()]
            _check_members(archive, members, target)
            for member in members:
                _extract_member(bundle, member, target, archive)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, NotImplementedError) as error:
        raise InputError(
            f"The zip file {archive.name} cannot be read ({type(error).__name__}: it is damaged, "
            "truncated or uses an unsupported compression). Create the zip again.",
            ExitCode.INPUT_UNREADABLE,
        ) from None


def _check_members(archive: Path, members: list[zipfile.ZipInfo], target: Path) -> None:
    if len(members) > MAX_MEMBERS:
        raise _refused(archive, f"it holds {len(members):,} files (at most {MAX_MEMBERS:,})")
    total = sum(m.file_size for m in members)
    if total > MAX_TOTAL_BYTES:
        raise _refused(archive, f"it unpacks to {total:,} bytes (at most {MAX_TOTAL_BYTES:,})")
    free = shutil.disk_usage(target).free
    if total > free:
        raise _refused(archive, f"it unpacks to {total:,} bytes, more than the {free:,} free")
    for member in members:
        name = PurePosixPath(member.filename.replace("\\", "/"))
        if name.is_absolute() or ".." in name.parts or ":" in member.filename:
            raise _refused(archive, f"a member has an unsafe path ({member.filename!r})")
        if stat.S_ISLNK(member.external_attr >> 16):
            raise _refused(archive, f"a member is a symbolic link ({member.filename!r})")
        if member.flag_bits & 0x1:
            raise _refused(archive, "it is encrypted")


def _extract_member(
    bundle: zipfile.ZipFile, member: zipfile.ZipInfo, target: Path, archive: Path
) -> None:
    destination = target.joinpath(*PurePosixPath(member.filename.replace("\\", "/")).parts)
    if not destination.resolve().is_relative_to(target.resolve()):
        raise _refused(archive, f"a member has an unsafe path ({member.filename!r})")
    destination.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    with bundle.open(member) as source, open(destination, "wb") as sink:
        while block := source.read(CHUNK):
            written += len(block)
            if written > member.file_size:
                raise _refused(archive, "a member unpacks to more bytes than its header says")
            sink.write(block)


def _refused(archive: Path, reason: str) -> InputError:
    return InputError(
        f"The zip file {archive.name} was not unpacked: {reason}. Give a plain zip of the DICOM "
        "files (or the unpacked folder).",
        ExitCode.UNSAFE_ARCHIVE,
    )
