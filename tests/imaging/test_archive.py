"""The hardened zip extractor against hostile archives (DICOM zips and weights archives alike)."""

from __future__ import annotations

import io
import stat
import zipfile
import zlib
from pathlib import Path

import pytest

from body_organ_analysis.errors import ExitCode
from body_organ_analysis.imaging.archive import (
    ArchiveRefused,
    ArchiveUnreadable,
    Limits,
    checked_names,
    extract,
    numbered_names,
)


def zip_bytes(members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as bundle:
        for name, content in members.items():
            bundle.writestr(name, content)
    return buffer.getvalue()


def with_member_mode(name: str, mode: int, content: bytes = b"target") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        info = zipfile.ZipInfo(name)
        info.external_attr = mode << 16
        bundle.writestr(info, content)
    return buffer.getvalue()


def forge_central_size(raw: bytes, size: int, crc: int | None = None) -> bytes:
    """Rewrite the uncompressed size (and optionally the CRC) in the central directory of the only member."""
    data = bytearray(raw)
    central = data.rfind(b"PK\1\2")
    data[central + 24 : central + 28] = size.to_bytes(4, "little")
    if crc is not None:
        data[central + 16 : central + 20] = crc.to_bytes(4, "little")
        local = data.find(b"PK\3\4")
        data[local + 14 : local + 18] = crc.to_bytes(4, "little")
    return bytes(data)


def write(tmp_path: Path, raw: bytes) -> Path:
    path = tmp_path / "archive.zip"
    path.write_bytes(raw)
    return path


def files_under(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()]


@pytest.fixture()
def target(tmp_path) -> Path:
    folder = tmp_path / "target"
    folder.mkdir()
    return folder


@pytest.mark.parametrize(
    "name", ["../escape.dcm", "a/../../escape.dcm", "/tmp/escape.dcm", "..\\escape.dcm", "C:/escape.dcm"]
)
@pytest.mark.parametrize("rule", [numbered_names, checked_names])
def test_zip_slip_is_refused_before_anything_is_written(tmp_path, target, name, rule):
    archive = write(tmp_path, zip_bytes({"ok.dcm": b"fine", name: b"evil"}))
    with pytest.raises(ArchiveRefused, match="unsafe path"):
        extract(archive, target, rule)
    assert files_under(tmp_path) == [archive]


@pytest.mark.parametrize(
    ("mode", "reason"),
    [(stat.S_IFLNK | 0o777, "symbolic link"), (stat.S_IFIFO | 0o644, "not a regular file"),
     (stat.S_IFCHR | 0o644, "not a regular file")],
)  # fmt: skip
def test_links_and_special_files_are_refused(tmp_path, target, mode, reason):
    archive = write(tmp_path, with_member_mode("link.dcm", mode, b"/etc/passwd"))
    with pytest.raises(ArchiveRefused, match=reason):
        extract(archive, target, numbered_names)
    assert files_under(target) == []


def test_too_many_members(tmp_path, target):
    archive = write(tmp_path, zip_bytes({f"{i}.dcm": b"x" for i in range(11)}))
    with pytest.raises(ArchiveRefused, match="11 members"):
        extract(archive, target, numbered_names, Limits(max_members=10))
    assert files_under(target) == []
    assert len(extract(archive, target, numbered_names, Limits(max_members=11))) == 11


def test_zip_bomb_with_a_lying_header_stops_at_the_limit(tmp_path, target):
    """50 MB of zeros that claim to be 1 kB: the bytes are counted, not the header believed."""
    limit = 1 << 20
    honest = zip_bytes({"bomb.dcm": b"\0" * (50 << 20)})
    assert len(honest) < 100_000  # a real bomb: tiny on disk
    archive = write(tmp_path, forge_central_size(honest, 1000))
    with pytest.raises(ArchiveRefused, match="zip bomb"):
        extract(archive, target, numbered_names, Limits(max_total_bytes=limit))
    assert sum(p.stat().st_size for p in files_under(target)) <= limit


@pytest.mark.parametrize("claimed", [0, 1000, 300_000])
@pytest.mark.parametrize("compression", [zipfile.ZIP_DEFLATED, zipfile.ZIP_STORED])
def test_member_whose_header_lies_about_its_size(tmp_path, target, claimed, compression):
    payload = bytes(range(256)) * 800  # 204,800 bytes
    archive = write(tmp_path, forge_central_size(zip_bytes({"a.dcm": payload}, compression), claimed))
    with pytest.raises(ArchiveRefused, match=f"header says {claimed:,} bytes but it holds 204,800"):
        extract(archive, target, numbered_names)


def test_header_of_zero_bytes_with_matching_crc(tmp_path, target):
    """Size 0 and the CRC of nothing: zipfile alone would unpack an empty file without complaint."""
    archive = write(tmp_path, forge_central_size(zip_bytes({"a.dcm": b"D" * 5000}), 0, crc=zlib.crc32(b"")))
    with zipfile.ZipFile(archive) as bundle:
        assert bundle.read("a.dcm") == b""  # what trusting the header gives
    with pytest.raises(ArchiveRefused, match="forged header"):
        extract(archive, target, numbered_names)


def test_damaged_member_is_unreadable(tmp_path, target):
    raw = bytearray(zip_bytes({"a.dcm": b"D" * 5000}, zipfile.ZIP_STORED))
    raw[raw.find(b"DDDD") + 10] = ord("E")  # one byte changed: the CRC no longer matches
    with pytest.raises(ArchiveUnreadable):
        extract(write(tmp_path, bytes(raw)), target, numbered_names)


def test_encrypted_member_is_refused(tmp_path, target):
    raw = bytearray(zip_bytes({"a.dcm": b"x"}))
    for signature, offset in ((b"PK\3\4", 6), (b"PK\1\2", 8)):
        at = raw.find(signature)
        raw[at + offset] |= 0x1
    with pytest.raises(ArchiveRefused, match="encrypted"):
        extract(write(tmp_path, bytes(raw)), target, numbered_names)


def test_member_names_never_become_file_names(tmp_path, target):
    long_name = "x" * 300 + ".dcm"  # longer than any file system allows for one name
    names = {long_name: b"1", "sub/Patient^Name.dcm": b"2", "DICOMDIR": b"3"}
    written = extract(write(tmp_path, zip_bytes(names)), target, numbered_names)
    assert [p.name for p in written] == ["000000.dcm", "000001.dcm", "000002.dcm"]
    assert [p.read_bytes() for p in written] == [b"1", b"2", b"3"]


def test_weights_names_are_checked_and_rebuilt(tmp_path, target):
    good = {"Dataset1_a/nnUNetTrainer__nnUNetPlans__3d_fullres/fold_0/checkpoint_final.pth": b"w",
            "__MACOSX/._junk": b"j"}  # fmt: skip
    written = extract(write(tmp_path, zip_bytes(good)), target, checked_names)
    assert [p.relative_to(target).as_posix() for p in written] == [next(iter(good))]
    for bad in ("Dataset1_a/$(reboot).pth", "Dataset1_a/" + "y" * 200, "Dataset1_a/.hidden", "Dataset1_a/a b"):
        with pytest.raises(ArchiveRefused, match="not a plain relative path"):
            extract(write(tmp_path, zip_bytes({bad: b"x"})), tmp_path / "other", checked_names)


def test_duplicate_names_are_refused(tmp_path, target):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle, pytest.warns(UserWarning, match="Duplicate"):
        bundle.writestr("Dataset1_a/plans.json", b"{}")
        bundle.writestr("Dataset1_a/plans.json", b"{evil}")
    with pytest.raises(ArchiveRefused, match="twice"):
        extract(write(tmp_path, buffer.getvalue()), target, checked_names)


# ---- through the DICOM loader and the command line --------------------------------------------


def test_dicom_zip_with_304_character_member_names_loads(ts_example, tmp_path):
    from body_organ_analysis.imaging import load_ct

    folder = ts_example / "dicom_series_with_uids"
    archive = tmp_path / "series.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
        for index, path in enumerate(sorted(folder.iterdir())):
            bundle.write(path, f"{index:04d}" + "n" * 300)  # 304 characters
    from_zip, from_folder = load_ct(archive), load_ct(folder)
    assert from_zip.shape == from_folder.shape
    assert (from_zip.data == from_folder.data).all()


def test_lying_header_through_the_command_line(ts_example, tmp_path, capsys):
    from body_organ_analysis.cli import main

    one_slice = sorted((ts_example / "dicom_series_with_uids").iterdir())[0].read_bytes()
    archive = write(tmp_path, forge_central_size(zip_bytes({"a.dcm": one_slice}), 0, crc=zlib.crc32(b"")))
    code = main(["-i", str(archive), "-o", str(tmp_path / "out")])
    err = " ".join(capsys.readouterr().err.split())
    assert code == ExitCode.UNSAFE_ARCHIVE
    assert "was not unpacked" in err and "forged header" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()
