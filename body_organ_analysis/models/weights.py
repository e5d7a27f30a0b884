"""Model weights: where they are, whether they are there, how to get them.

Weights live where TotalSegmentator looks: ``TOTALSEG_WEIGHTS_PATH``, else
``TOTALSEG_HOME_DIR/nnunet/results``, else ``~/.totalsegmentator/nnunet/results``
(``/tmp/.totalsegmentator/...`` when the home folder is ``/``, as in
TotalSegmentator). ``--weights-dir`` / ``BOA_WEIGHTS_DIR`` overrides all three.
Each network is a folder ``DatasetNNN_name`` there, downloaded as
``DatasetNNN_name.zip`` from its release (or from ``BOA_WEIGHTS_URL``).

Downloads are atomic: the archive goes to a temporary folder beside the
weights, is checked (size and SHA-256 where known), unpacked there, and only
then renamed into place. Offline, or when the download fails, a
:class:`WeightsError` names what is missing, where it comes from and the
command that fetches it: before any model runs.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Callable, Iterable

from body_organ_analysis.context import log
from body_organ_analysis.errors import WeightsError
from body_organ_analysis.models.networks import Network, networks_for
from body_organ_analysis.models.registry import ModelSpec
from body_organ_analysis.settings import Settings

CHUNK_BYTES = 1 << 20
MAX_UNPACKED_BYTES = 64 << 30  # refuse archives that claim more (zip bombs)


def weights_root(settings: Settings) -> Path:
    if settings.weights_dir is not None:
        return Path(settings.weights_dir)
    if settings.totalseg_weights_path is not None:
        return Path(settings.totalseg_weights_path)
    if settings.totalseg_home_dir is not None:
        home = Path(settings.totalseg_home_dir)
    else:
        user_home = Path("/tmp") if str(Path.home()) == "/" else Path.home()
        home = user_home / ".totalsegmentator"
    return home / "nnunet" / "results"


@dataclass(frozen=True)
class NeededWeights:
    model: str
    network: Network


def needed_networks(specs: Iterable[ModelSpec], settings: Settings) -> list[NeededWeights]:
    needed: dict[str, NeededWeights] = {}
    for spec in specs:
        fast = settings.fast_total and spec.has_fast_variant
        for network in networks_for(spec, fast=fast, fast_bca=settings.fast_bca):
            needed.setdefault(network.folder, NeededWeights(spec.name, network))
    return list(needed.values())


def ensure_weights(specs: Iterable[ModelSpec], settings: Settings) -> None:
    """Make sure every network ``specs`` run is present; download (or stop) before any work."""
    root = weights_root(settings)
    missing = [n for n in needed_networks(specs, settings) if not n.network.is_present(root)]
    if not missing:
        return
    if settings.offline:
        raise WeightsError(_missing_message(missing, root, settings, "offline mode is on (--offline / BOA_OFFLINE)"))
    for item in missing:
        try:
            download_network(item.network, root, settings.weights_url)
        except WeightsError as error:
            raise WeightsError(f"{error}\n\n{_missing_message(missing, root, settings, 'the download failed')}") from None


def _missing_message(missing: list[NeededWeights], root: Path, settings: Settings, why: str) -> str:
    lines = [f"Model weights are missing in {root} and cannot be fetched: {why}."]
    for item in missing:
        url = item.network.archive_url(settings.weights_url)
        source = url or "TotalSegmentator's licence server (licensed model; install it with TotalSegmentator)"
        lines.append(f"  - {item.model}: {item.network.folder} (from {source})")
    models = " ".join(sorted({item.model for item in missing}))
    lines.append(
        f"Fetch them on a machine with internet access: body_organ_analysis weights download {models}"
        " (then 'weights pack FILE' there and 'weights unpack FILE' here), or point --weights-dir /"
        " BOA_WEIGHTS_DIR at a folder that has them."
    )
    return "\n".join(lines)


def download_network(
    network: Network,
    root: Path,
    base_url: str | None = None,
    progress: Callable[[int, int | None], None] | None = None,
) -> Path:
    """Download and unpack ``<folder>.zip`` into ``root`` atomically; return the network folder."""
    url = network.archive_url(base_url)
    if url is None:
        raise WeightsError(
            f"{network.folder} cannot be downloaded: it is a licensed TotalSegmentator model. Install it "
            "with TotalSegmentator's own tools (totalseg_download_weights with a licence), then point "
            "--weights-dir at that folder."
        )
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{network.folder}-", dir=root) as temporary:
        archive = Path(temporary) / f"{network.folder}.zip"
        log.info("downloading %s from %s", network.folder, url)
        _fetch(url, archive, network.archive_bytes, progress)
        _check_archive(archive, network)
        unpacked = Path(temporary) / "unpacked"
        safe_extract(archive, unpacked)
        staged = unpacked / network.folder
        if not network.is_present(unpacked):
            raise WeightsError(
                f"The archive from {url} does not hold {network.folder}/{network.trainer_dir} with "
                "plans.json, dataset.json and the checkpoints. Check the download URL (BOA_WEIGHTS_URL)."
            )
        target = root / network.folder
        if target.exists():  # an incomplete earlier copy: replace it whole
            shutil.rmtree(target)
        staged.rename(target)
    return target


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
        raise WeightsError(f"Downloading {url} failed ({type(error).__name__}: {error}).") from None


def _check_archive(archive: Path, network: Network) -> None:
    size = archive.stat().st_size
    if network.archive_bytes is not None and size != network.archive_bytes:
        raise WeightsError(
            f"The download of {network.folder} has {size} bytes, expected {network.archive_bytes}: "
            "it is incomplete or not the published archive. Try again."
        )
    if network.archive_sha256 is not None:
        digest = sha256_of(archive)
        if digest != network.archive_sha256:
            raise WeightsError(
                f"The download of {network.folder} has SHA-256 {digest}, expected "
                f"{network.archive_sha256}: not the published archive. Try again or check BOA_WEIGHTS_URL."
            )


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


def safe_extract(archive: Path, target: Path) -> None:
    """Unpack a zip, refusing absolute paths, '..', links and archives that expand absurdly."""
    try:
        with zipfile.ZipFile(archive) as source:
            members = source.infolist()
            if sum(m.file_size for m in members) > MAX_UNPACKED_BYTES:
                raise WeightsError(f"{archive.name} expands to more than {MAX_UNPACKED_BYTES >> 30} GiB; refused.")
            for member in members:
                parts = PurePosixPath(member.filename.replace("\\", "/")).parts
                if member.filename.startswith("/") or ".." in parts or (member.external_attr >> 16) & 0o170000 == 0o120000:
                    raise WeightsError(f"{archive.name} holds an unsafe path {member.filename!r}; refused.")
                if parts and parts[0] == "__MACOSX":
                    continue
                source.extract(member, target)
    except zipfile.BadZipFile:
        raise WeightsError(f"{archive.name} is not a valid zip archive (broken download?).") from None


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


def networks_of(names: Iterable[str], settings: Settings, all_variants: bool = False) -> list[NeededWeights]:
    """The networks of models ``names`` ('all': every model) with these settings."""
    from body_organ_analysis.models.networks import all_networks_for
    from body_organ_analysis.models.registry import MODELS, resolve_models

    wanted = ["all"] if "all" in names else list(names)
    specs = resolve_models(wanted, settings.license_number, settings.bca_engine)
    if not all_variants:
        return needed_networks(specs, settings)
    found: dict[str, NeededWeights] = {}
    for spec in specs:
        for network in all_networks_for(MODELS[spec.name]):
            found.setdefault(network.folder, NeededWeights(spec.name, network))
    return list(found.values())


def pack(root: Path, target: Path, models: Iterable[str] | None = None) -> int:
    """Zip the present networks (of ``models``, or all) into ``target``; return how many."""
    rows = [r for r in inventory(root) if r.present and (models is None or r.model in set(models))]
    folders = sorted({r.network.folder for r in rows})
    if not folders:
        raise WeightsError(f"No weights are present in {root}: nothing to pack. Download them first.")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        for folder in folders:
            for path in sorted((root / folder).rglob("*")):
                if path.is_file():
                    archive.write(path, path.relative_to(root).as_posix())
    partial.replace(target)
    return len(folders)


def unpack(archive: Path, root: Path) -> list[str]:
    """Unpack a 'weights pack' zip into ``root``; each network folder is moved in whole."""
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".unpack-", dir=root) as temporary:
        staged = Path(temporary)
        safe_extract(archive, staged)
        names = sorted(p.name for p in staged.iterdir() if p.is_dir() and p.name.startswith("Dataset"))
        if not names:
            raise WeightsError(f"{archive} holds no DatasetNNN_name folders; give a zip made by 'weights pack'.")
        for name in names:
            target = root / name
            if target.exists():
                shutil.rmtree(target)
            (staged / name).rename(target)
    return names
