"""One hardened zip extractor, used for DICOM zips and model-weights archives.

Nothing in a zip is trusted:

- Refused before anything is written: absolute names, ``..`` components,
  drive letters, NUL characters, symbolic links or any other non-regular
  member, encrypted members, more than ``Limits.max_members`` members, a
  declared total above ``Limits.max_total_bytes`` or above the free space.
- Header sizes are not believed: every member is read to the end of its own
  compressed stream, the bytes are counted while they are written and
  extraction stops as soon as the total passes the limit. A member that holds
  more or fewer bytes than its header says is refused (a zip bomb or a forged
  header); one whose CRC-32 does not match is reported as damaged.
- Member names never become file names on disk by themselves: the caller's
  ``NameRule`` decides the path (DICOM zips: numbered files; weights: names
  checked against a strict pattern and rebuilt from their parts).

Problems are raised as :class:`ArchiveRefused` (built to mislead or too
large) or :class:`ArchiveUnreadable` (damaged); each caller turns them into
its own user-facing error.
"""

from __future__ import annotations

import copy
import re
import shutil
import stat
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Callable

from body_organ_analysis.errors import ExitCode, InputError

CHUNK = 1 << 20
SAFE_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$")


@dataclass(frozen=True)
class Limits:
    max_members: int = 100_000
    max_total_bytes: int = 16 << 30
    max_depth: int = 16


class ArchiveRefused(Exception):
    """The archive is unsafe or too large; ``str()`` says why (no member content)."""


class ArchiveUnreadable(Exception):
    """The archive is damaged, truncated or uses an unsupported method."""


# (member index, member name as stored) -> relative path on disk, or None to skip the member
NameRule = Callable[[int, str], "PurePosixPath | None"]


def numbered_names(index: int, name: str) -> PurePosixPath:
    """Member i becomes ``000i.dcm``: the stored name is never used on disk."""
    return PurePosixPath(f"{index:06d}.dcm")


def checked_names(index: int, name: str) -> PurePosixPath | None:
    """The stored path, kept only when every part is a plain short name (letters, digits, ._+-)."""
    parts = name.split("/")
    if parts and parts[0] == "__MACOSX":
        return None
    if not all(SAFE_PART.match(part) for part in parts):
        raise ArchiveRefused(f"member {index + 1} has a name that is not a plain relative path")
    return PurePosixPath(*parts)


def extract(archive: Path, target: Path, name_rule: NameRule, limits: Limits = Limits()) -> list[Path]:
    """Extract the regular files of ``archive`` into the folder ``target``; return their paths."""
    try:
        with zipfile.ZipFile(archive) as bundle:
            members = bundle.infolist()
            planned = _plan(members, target, name_rule, limits)
            budget = limits.max_total_bytes
            written: list[Path] = []
            for member, relative in planned:
                destination = target.joinpath(*relative.parts)
                destination.parent.mkdir(parents=True, exist_ok=True)
                budget -= _copy_member(bundle, member, destination, budget, limits)
                written.append(destination)
            return written
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, NotImplementedError, ValueError) as error:
        raise ArchiveUnreadable(f"{type(error).__name__}: damaged, truncated or an unsupported compression") from None


def _plan(
    members: list[zipfile.ZipInfo], target: Path, name_rule: NameRule, limits: Limits
) -> list[tuple[zipfile.ZipInfo, PurePosixPath]]:
    """Check every member before writing anything; the files to write and where."""
    if len(members) > limits.max_members:
        raise ArchiveRefused(f"it holds {len(members):,} members (at most {limits.max_members:,})")
    declared = sum(m.file_size for m in members)
    if declared > limits.max_total_bytes:
        raise ArchiveRefused(f"it unpacks to {declared:,} bytes (at most {limits.max_total_bytes:,})")
    target.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(target).free
    if declared > free:
        raise ArchiveRefused(f"it unpacks to {declared:,} bytes, more than the {free:,} free")
    planned: list[tuple[zipfile.ZipInfo, PurePosixPath]] = []
    seen: set[PurePosixPath] = set()
    for index, member in enumerate(members):
        _check_member(index, member, limits)
        if member.is_dir():
            continue
        relative = name_rule(index, member.filename)
        if relative is None:
            continue
        if relative.is_absolute() or ".." in relative.parts or relative in seen or not relative.parts:
            raise ArchiveRefused(f"member {index + 1} would be written outside the target or twice")
        seen.add(relative)
        planned.append((member, relative))
    return planned


def _check_member(index: int, member: zipfile.ZipInfo, limits: Limits) -> None:
    name = member.filename
    parts = PurePosixPath(name.replace("\\", "/")).parts
    if name.startswith(("/", "\\")) or ".." in parts or ":" in name or "\0" in name:
        raise ArchiveRefused(f"member {index + 1} has an unsafe path")
    if len(parts) > limits.max_depth:
        raise ArchiveRefused(f"member {index + 1} is nested more than {limits.max_depth} folders deep")
    mode = member.external_attr >> 16
    if stat.S_ISLNK(mode):
        raise ArchiveRefused(f"member {index + 1} is a symbolic link")
    if stat.S_IFMT(mode) not in (0, stat.S_IFREG, stat.S_IFDIR):
        raise ArchiveRefused(f"member {index + 1} is not a regular file")
    if member.flag_bits & 0x1:
        raise ArchiveRefused("it is encrypted")


def _copy_member(
    bundle: zipfile.ZipFile, member: zipfile.ZipInfo, destination: Path, budget: int, limits: Limits
) -> int:
    """Write one member, counting its bytes and checking its CRC here; return how many were written."""
    unbounded = copy.copy(member)
    unbounded.file_size = 1 << 62  # read to the end of the real stream, not to the header's size
    del unbounded.CRC  # checked below, after the size, so a forged size is named as such
    written = 0
    crc = 0
    with bundle.open(unbounded) as source, open(destination, "xb") as sink:
        while block := source.read(CHUNK):
            written += len(block)
            if written > budget:
                raise ArchiveRefused(f"it unpacks to more than {limits.max_total_bytes:,} bytes (a zip bomb)")
            crc = zlib.crc32(block, crc)
            sink.write(block)
    if written != member.file_size:
        raise ArchiveRefused(
            f"a member's header says {member.file_size:,} bytes but it holds {written:,} (a forged header)"
        )
    if crc != member.CRC:
        raise ArchiveUnreadable("a member's checksum (CRC-32) does not match: damaged")
    return written


# DICOM zips: limits and the user-facing errors of the input loader
MAX_MEMBERS = 100_000
MAX_TOTAL_BYTES = 16 << 30


def extract_zip(archive: Path, target: Path) -> None:
    """Extract a zip of DICOM files into the empty folder ``target`` (numbered names), or raise InputError."""
    try:
        extract(archive, target, numbered_names, Limits(MAX_MEMBERS, MAX_TOTAL_BYTES))
    except ArchiveRefused as error:
        raise InputError(
            f"The zip file {archive.name} was not unpacked: {error}. Give a plain zip of the DICOM "
            "files (or the unpacked folder).",
            ExitCode.UNSAFE_ARCHIVE,
        ) from None
    except ArchiveUnreadable as error:
        raise InputError(
            f"The zip file {archive.name} cannot be read ({error}). Create the zip again.",
            ExitCode.INPUT_UNREADABLE,
        ) from None
