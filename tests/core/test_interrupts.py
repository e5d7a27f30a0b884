"""Interrupts and awkward output locations lose nothing (docs/output_folder.md, docs/exit_codes.md).

The command line runs as a real subprocess on the real example CT; the signal
arrives after the label maps are in the staging folder, while the contrast
phase is being computed (several seconds on these machines).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from body_organ_analysis.cli import main
from body_organ_analysis.report.output import STAGING_PREFIX

REPO = Path(__file__).resolve().parents[2]


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (hidden ones too) with its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def supplied_total(ts_example: Path) -> list[str]:
    return ["--segmentation", f"total={ts_example / 'seg_total.nii.gz'}", "-d", "cpu"]


def wait_for(pattern: str, folder: Path, process: subprocess.Popen, timeout_s: float = 120.0) -> Path:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = sorted(folder.glob(pattern))
        if found:
            return found[0]
        if process.poll() is not None:
            raise AssertionError(f"the run ended ({process.returncode}) before {pattern} appeared")
        time.sleep(0.02)
    raise AssertionError(f"{pattern} did not appear in {timeout_s} s")


@pytest.mark.parametrize(("signal_number", "exit_code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_signal_after_label_maps_leaves_previous_output(ts_example, tmp_path, signal_number, exit_code):
    out = tmp_path / "out"
    ct = str(ts_example / "ct_small.nii.gz")
    assert main(["-i", ct, "-o", str(out), "--skip-contrast-information", *supplied_total(ts_example)]) == 0
    (out / "notes.txt").write_text("the user's own file")
    before = snapshot(out)
    assert "manifest.json" in before and "total.nii.gz" in before

    environ = {**os.environ, "PYTHONPATH": str(REPO)}
    environ.pop("SKIP_CONTRAST_INFORMATION", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "body_organ_analysis", "-i", ct, "-o", str(out), "--force-recompute",
         *supplied_total(ts_example)],
        cwd=tmp_path, env=environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        staged = wait_for(f"{STAGING_PREFIX}*/total.labels.json", out, process)
        assert staged.parent.parent == out  # staged inside the output folder
        process.send_signal(signal_number)  # the measurements (contrast phase: seconds) are still to come
        _, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    # 130/143 as a shell reports it: either our exit code, or (python -m, CPython's own rule after a
    # KeyboardInterrupt) death by the signal itself, which a shell also shows as 128 + signal number
    assert process.returncode in (exit_code, -signal_number), stderr
    assert "interrupted; the output folder was left as it was" in stderr
    assert "Traceback" not in stderr and "write workbook done" not in stderr
    assert snapshot(out) == before  # byte for byte, and no staging folder left
    assert not list(tmp_path.rglob(f"*{STAGING_PREFIX}*"))


@pytest.fixture()
def read_only_parent(tmp_path):
    """``parent/out`` where ``parent`` refuses new entries (immutable for root, mode 555 otherwise)."""
    parent = tmp_path / "parent"
    out = parent / "out"
    out.mkdir(parents=True)
    if os.geteuid() == 0:
        if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(parent)]).returncode != 0:
            pytest.skip("chattr +i is not available on this file system")
    else:
        parent.chmod(0o555)
    try:
        with pytest.raises(OSError):
            (parent / "probe").mkdir()
        yield out
    finally:
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", str(parent)], check=True)
        else:
            parent.chmod(0o755)


def test_output_folder_in_a_read_only_parent(ts_example, read_only_parent):
    """Like ``-o /out`` on a mount point: only the output folder itself is writable."""
    out = read_only_parent
    code = main(["-i", str(ts_example / "ct_small.nii.gz"), "-o", str(out), "--skip-contrast-information",
                 *supplied_total(ts_example)])  # fmt: skip
    assert code == 0
    names = {p.name for p in out.iterdir()}
    assert {"manifest.json", "total.nii.gz", "total.labels.json", "output.xlsx"} <= names
    assert not [name for name in names if name.startswith(".")]
    assert sorted(p.name for p in out.parent.iterdir()) == ["out"]


def test_abandoned_staging_of_a_dead_process_is_removed(ts_example, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    dead = out / f"{STAGING_PREFIX}999999999-abc"  # above any pid_max: no such process
    live = out / f"{STAGING_PREFIX}{os.getpid()}-abc"
    recent = out / f"{STAGING_PREFIX}999999998-abc"
    for folder in (dead, live, recent):
        folder.mkdir()
        (folder / "total.nii.gz").write_bytes(b"partial")
    hours_ago = time.time() - 2 * 3600
    for folder in (dead, live):
        os.utime(folder, (hours_ago, hours_ago))
    assert main(["-i", str(ts_example / "ct_small.nii.gz"), "-o", str(out), "--skip-contrast-information",
                 *supplied_total(ts_example)]) == 0  # fmt: skip
    assert not dead.exists()
    assert live.exists() and recent.exists()  # a running process's (or a fresh) staging is kept


def test_failed_run_removes_the_output_folder_it_created(ts_example, tmp_path, capsys):
    out = tmp_path / "new" / "deeper" / "out"
    bad = tmp_path / "bad.nii.gz"
    bad.write_bytes(b"not a nifti")
    code = main(["-i", str(ts_example / "ct_small.nii.gz"), "-o", str(out), "--segmentation", f"total={bad}"])
    assert code != 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.nii.gz"]
