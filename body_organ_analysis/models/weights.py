"""Model weights: where they are, whether they are there, how to get them.

Weights live where TotalSegmentator looks: ``TOTALSEG_WEIGHTS_PATH``, else
``TOTALSEG_HOME_DIR/nnunet/results``, else ``~/.totalsegmentator/nnunet/results``
(``/tmp/.totalsegmentator/...`` when the home folder is ``/``, as in
TotalSegmentator). ``--weights-dir`` / ``BOA_WEIGHTS_DIR`` overrides all three.
Each network is a folder ``DatasetNNN_name`` there, downloaded as
``DatasetNNN_name.zip`` from its release (or from ``BOA_WEIGHTS_URL``).

Installs (download, ``weights unpack``) are atomic and locked: the archive
goes to a temporary folder inside the weights folder, is checked (size and
SHA-256: the publisher's pinned hash, else the one recorded at the first
install, see :mod:`weights_manifest`), unpacked there with the hardened
extractor and only then renamed into place, while an ``fcntl`` lock keeps a
second process out. Offline, or when the download fails, a
:class:`WeightsError` names what is missing, each URL, the size and the
command that fetches it: before any model runs.
"""

from __future__ import annotations

import json
import shlex
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from body_organ_analysis.console import log
from body_organ_analysis.errors import WeightsError
from body_organ_analysis.imaging.archive import ArchiveRefused, ArchiveUnreadable, Limits, checked_names, extract
from body_organ_analysis.models.networks import Network, networks_for
from body_organ_analysis.models.registry import ModelSpec
from body_organ_analysis.models.weights_manifest import (
    MANIFEST_NAME,
    check_against_record,
    file_records,
    locked,
    read_manifest,
    record_network,
    sha256_of,
)
from body_organ_analysis.settings import RuntimeConfig, public_url

CHUNK_BYTES = 1 << 20
WEIGHTS_LIMITS = Limits(max_members=10_000, max_total_bytes=64 << 30, max_depth=8)


def weights_root(runtime: RuntimeConfig) -> Path:
    if runtime.weights_dir is not None:
        return Path(runtime.weights_dir)
    if runtime.totalseg_weights_path is not None:
        return Path(runtime.totalseg_weights_path)
    if runtime.totalseg_home_dir is not None:
        home = Path(runtime.totalseg_home_dir)
    else:
        user_home = Path("/tmp") if str(Path.home()) == "/" else Path.home()
        home = user_home / ".totalsegmentator"
    return home / "nnunet" / "results"


@dataclass(frozen=True)
class NeededWeights:
    model: str
    network: Network


def needed_networks(specs: Iterable[ModelSpec], fast_total: bool = False, fast_bca: bool = False) -> list[NeededWeights]:
    needed: dict[str, NeededWeights] = {}
    for spec in specs:
        fast = fast_total and spec.has_fast_variant
        for network in networks_for(spec, fast=fast, fast_bca=fast_bca):
            needed.setdefault(network.folder, NeededWeights(spec.name, network))
    return list(needed.values())


def ensure_weights(specs: Iterable[ModelSpec], runtime: RuntimeConfig, fast_total: bool = False,
                   fast_bca: bool = False) -> None:
    """Make sure every network ``specs`` run is present; download (or stop) before any work."""
    root = weights_root(runtime)
    missing = [n for n in needed_networks(specs, fast_total, fast_bca) if not n.network.is_present(root)]
    if not missing:
        return
    variants = {"fast_total": fast_total, "fast_bca": fast_bca}
    if runtime.offline:
        raise WeightsError(missing_message(missing, root, runtime, "offline mode is on (--offline / BOA_OFFLINE)", **variants))
    for item in missing:
        try:
            download_network(item.network, root, runtime.weights_url)
        except WeightsError as error:
            raise WeightsError(f"{error}\n\n{missing_message(missing, root, runtime, 'the download failed', **variants)}") from None


def missing_message(missing: list[NeededWeights], root: Path, runtime: RuntimeConfig, why: str,
                    fast_total: bool = False, fast_bca: bool = False) -> str:
    """What is missing, each URL unbroken on its own line, the sizes, and the commands that fix it."""
    lines = [f"Model weights are missing in {root} and cannot be fetched: {why}."]
    for item in missing:
        url = item.network.archive_url(runtime.weights_url)
        size = human_size(item.network.archive_bytes) if item.network.archive_bytes else "size not published"
        lines.append(f"  {item.model}: {item.network.folder} ({size}), from")
        lines.append(f"    {public_url(url)}" if url else "    TotalSegmentator's licence server (a licensed model: install it with TotalSegmentator)")
    known = [item.network.archive_bytes for item in missing if item.network.archive_bytes]
    if known and len(known) == len(missing):
        lines.append(f"Download size: {human_size(sum(known))} in all.")
    elif known:
        lines.append(
            f"Download size: {human_size(sum(known))} for the networks with a published size, plus"
            f" {len(missing) - len(known)} whose size the progress bar shows when the download starts."
        )
    command = weights_command(runtime, root, "download", *sorted({item.model for item in missing}),
                              fast_total=fast_total, fast_bca=fast_bca)
    lines.append("Fix: with internet access (and BOA_OFFLINE unset) run")
    lines.append(f"    {command}")
    lines.append(
        "Without internet here: run the same download on a machine that has it, then"
        f" '{weights_command(runtime, None, 'pack', 'weights.zip')}' there, copy weights.zip here and run"
    )
    lines.append(f"    {weights_command(runtime, root, 'unpack', 'weights.zip')}")
    return "\n".join(lines)


def weights_command(runtime: RuntimeConfig, root: Path | None, action: str, *arguments: str,
                    fast_total: bool = False, fast_bca: bool = False) -> str:
    """``body_organ_analysis weights ...`` with the options in the order its parser accepts them."""
    words = ["body_organ_analysis", "weights"]
    if root is not None:
        words += ["--weights-dir", str(root)]
    if runtime.weights_url and action == "download" and public_url(runtime.weights_url) == runtime.weights_url:
        words += ["--weights-url", runtime.weights_url]
    words += [action, *arguments]
    if action == "download":
        words += ["--fast-total"] if fast_total else []
        words += ["--fast-bca"] if fast_bca else []
    return " ".join(shlex.quote(word) for word in words)


def human_size(size: int) -> str:
    if size >= 1e9:
        return f"{size / 1e9:.2f} GB"
    return f"{size / 1e6:.1f} MB" if size >= 1e6 else f"{size / 1e3:.0f} kB"


def download_network(
    network: Network,
    root: Path,
    base_url: str | None = None,
    progress: Callable[[int, int | None], None] | None = None,
) -> Path:
    """Download, verify and install ``<folder>.zip`` into ``root``; return the network folder.

    The archive is fetched into a temporary folder inside ``root``, its size
    and SHA-256 checked (pinned hash, else the one recorded at the first
    install), unpacked there and renamed into place, all under a lock.
    """
    url = network.archive_url(base_url)
    if url is None:
        raise WeightsError(
            f"{network.folder} cannot be downloaded: it is a licensed TotalSegmentator model. Install it "
            "with TotalSegmentator's own tools (totalseg_download_weights with a licence), then point "
            "--weights-dir at that folder."
        )
    root.mkdir(parents=True, exist_ok=True)
    target = root / network.folder
    with locked(root, network.folder):
        if network.is_present(root):  # another process installed it while this one waited
            return target
        with tempfile.TemporaryDirectory(prefix=f".{network.folder}-", dir=root) as temporary:
            archive = Path(temporary) / f"{network.folder}.zip"
            log.info("downloading %s from %s", network.folder, public_url(url))
            _fetch(url, archive, network.archive_bytes, progress)
            archive_sha256 = _check_archive(archive, network)
            unpacked = Path(temporary) / "unpacked"
            unpacked.mkdir()
            safe_extract(archive, unpacked)
            if not network.is_present(unpacked):
                raise WeightsError(
                    f"The archive from {url} does not hold {network.folder}/{network.trainer_dir} with "
                    "plans.json, dataset.json and the checkpoints. Check the download URL (BOA_WEIGHTS_URL)."
                )
            details = {"source": public_url(url), "archive_sha256": archive_sha256, "pinned": network.archive_sha256 is not None}
            _install(unpacked / network.folder, root, archive_sha256, details)
    return target


def _install(staged: Path, root: Path, archive_sha256: str | None, details: dict) -> None:
    """Check ``staged`` against the manifest, rename it into ``root``, record it (manifest lock held)."""
    files = file_records(staged)
    with locked(root, "manifest"):
        check_against_record(root, staged.name, files, archive_sha256)
        target = root / staged.name
        if target.exists():  # an incomplete or damaged earlier copy: swap it out, then remove it
            old = staged.parent / f".replaced-{staged.name}"
            target.rename(old)
            staged.rename(target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            staged.rename(target)
        record_network(root, staged.name, files, **details)


def _fetch(url: str, target: Path, expected_bytes: int | None, progress) -> None:
    import requests
    from tqdm import tqdm

    try:
        with requests.get(url, stream=True, timeout=(10, 60)) as response:
            response.raise_for_status()
            total = int(response.headers.get("content-length") or 0) or expected_bytes
            bar = tqdm(total=total, unit="B", unit_scale=True, desc=target.stem, disable=None)
            written = 0
            with target.open("wb") as out:
                for chunk in response.iter_content(chunk_size=CHUNK_BYTES):
                    out.write(chunk)
                    written += len(chunk)
                    bar.update(len(chunk))
                    if progress is not None:
                        progress(written, total)
            bar.close()
    except requests.RequestException as error:
        public = public_url(url)
        detail = str(error).replace(url, public)
        raise WeightsError(f"Downloading {public} failed ({type(error).__name__}: {detail}).") from None


def _check_archive(archive: Path, network: Network) -> str:
    """Size and pinned SHA-256 of a downloaded archive; returns its SHA-256."""
    size = archive.stat().st_size
    if network.archive_bytes is not None and size != network.archive_bytes:
        raise WeightsError(
            f"The download of {network.folder} has {size} bytes, expected {network.archive_bytes}: "
            "it is incomplete or not the published archive. Try again."
        )
    digest = sha256_of(archive)
    if network.archive_sha256 is not None and digest != network.archive_sha256:
        raise WeightsError(
            f"The download of {network.folder} has SHA-256 {digest}, expected "
            f"{network.archive_sha256}: not the published archive. Try again or check BOA_WEIGHTS_URL."
        )
    return digest


def safe_extract(archive: Path, target: Path) -> None:
    """Unpack a weights zip with the hardened extractor (checked names, size and member limits)."""
    try:
        extract(archive, target, checked_names, WEIGHTS_LIMITS)
    except ArchiveRefused as error:
        raise WeightsError(f"{archive.name} was refused as unsafe: {error}. Use the published archive.") from None
    except ArchiveUnreadable as error:
        raise WeightsError(f"{archive.name} is not a valid zip archive ({error}; broken download?).") from None


@dataclass(frozen=True)
class InventoryRow:
    model: str
    network: Network
    present: bool
    stand_in: bool
    size_bytes: int


def inventory(root: Path) -> list[InventoryRow]:
    """Every registered model's networks (all variants) and their state in ``root``."""
    from body_organ_analysis.models.networks import all_networks_for
    from body_organ_analysis.models.registry import MODELS

    rows = []
    for spec in MODELS.values():
        for network in all_networks_for(spec):
            present = network.is_present(root)
            folder = root / network.folder
            size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) if present else 0
            rows.append(InventoryRow(spec.name, network, present, present and network.is_stand_in(root), size))
    return rows


def networks_of(names: Iterable[str], runtime: RuntimeConfig, all_variants: bool = False, fast_total: bool = False,
                fast_bca: bool = False) -> list[NeededWeights]:
    """The networks of models ``names`` ('all': every model): the chosen variants, or all of them."""
    from body_organ_analysis.models.networks import all_networks_for
    from body_organ_analysis.models.registry import MODELS, resolve_models

    wanted = ["all"] if "all" in names else list(names)
    specs = resolve_models(wanted, runtime.license_number, "nnunet")  # bca: the networks to download
    if not all_variants:
        return needed_networks(specs, fast_total, fast_bca)
    found: dict[str, NeededWeights] = {}
    for spec in specs:
        for network in all_networks_for(MODELS[spec.name]):
            found.setdefault(network.folder, NeededWeights(spec.name, network))
    return list(found.values())


def pack(root: Path, target: Path, models: Iterable[str] | None = None) -> int:
    """Zip the present networks (of ``models``, or all) with their checksums into ``target``; return how many."""
    rows = [r for r in inventory(root) if r.present and (models is None or r.model in set(models))]
    folders = sorted({r.network.folder for r in rows})
    if not folders:
        raise WeightsError(f"No weights are present in {root}: nothing to pack. Download them first.")
    recorded = read_manifest(root)["networks"]
    carried: dict[str, dict] = {}
    for folder in folders:
        files = file_records(root / folder)
        check_against_record(root, folder, files, None)  # never carry changed weights
        previous = recorded.get(folder, {})
        carried[folder] = {"archive_sha256": previous.get("archive_sha256"), "source": previous.get("source"), "files": files}
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        for folder in folders:
            for name in carried[folder]["files"]:
                archive.write(root / folder / name, f"{folder}/{name}")
        archive.writestr(MANIFEST_NAME, json.dumps({"format": 1, "networks": carried}, indent=2))
    partial.replace(target)
    return len(folders)


def unpack(archive: Path, root: Path) -> list[str]:
    """Install the networks of a 'weights pack' zip into ``root``, each verified and renamed in whole."""
    root.mkdir(parents=True, exist_ok=True)
    pinned = {n.folder: n.archive_sha256 for n in _all_networks() if n.archive_sha256}
    with tempfile.TemporaryDirectory(prefix=".unpack-", dir=root) as temporary:
        staged = Path(temporary)
        safe_extract(archive, staged)
        names = sorted(p.name for p in staged.iterdir() if p.is_dir() and p.name.startswith("Dataset"))
        if not names:
            raise WeightsError(f"{archive} holds no DatasetNNN_name folders; give a zip made by 'weights pack'.")
        carried = json.loads((staged / MANIFEST_NAME).read_text())["networks"] if (staged / MANIFEST_NAME).is_file() else {}
        for name in names:
            record = carried.get(name)
            if record is not None and file_records(staged / name) != record["files"]:
                raise WeightsError(
                    f"{archive.name}: the files of {name} differ from the checksums packed with them; "
                    "the zip was changed or damaged after 'weights pack'. Pack it again."
                )
            archive_sha256 = (record or {}).get("archive_sha256")
            if name in pinned and archive_sha256 not in (None, pinned[name]):
                raise WeightsError(f"{archive.name}: {name} was not installed from the published archive; refused.")
            details = {"source": f"unpack of {archive.name}", "archive_sha256": archive_sha256}
            with locked(root, name):
                _install(staged / name, root, archive_sha256, details)
    return names


def verify_network(network: Network, root: Path) -> None:
    """Check every file of an installed network against the weights manifest (records it when new)."""
    from body_organ_analysis.models.weights_manifest import verify_files

    folder = root / network.folder
    names = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    verify_files(root, network.folder, names)


def _all_networks() -> list[Network]:
    from body_organ_analysis.models.networks import all_networks_for
    from body_organ_analysis.models.registry import MODELS

    return [network for spec in MODELS.values() for network in all_networks_for(spec)]
