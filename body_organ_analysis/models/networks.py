"""The nnU-Net networks behind each registered model, and where their weights live.

A model (``total``, ``liver_vessels``, ``body_regions`` ...) runs one or more
nnU-Net networks. Each :class:`Network` names the folder TotalSegmentator
uses (``DatasetNNN_name/<trainer>__<plans>__<configuration>/fold_N``), the
release archive it comes from, and its own output labels. TotalSegmentator
networks are read from its installed package (``TASK_CONFIGS`` and
``TASK_ID_WEIGHTS_CONFIGS``); the body-composition networks are the reference
tool's (github.com/UMEssen/Body-and-Organ-Analysis, release v1.0.0-weights).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from body_organ_analysis.models.registry import BODY_PARTS_LABELS, BODY_REGIONS_LABELS, ModelSpec

TS_RELEASE_URL = "https://github.com/wasserth/TotalSegmentator/releases/download"
BOA_RELEASE_URL = "https://github.com/UMEssen/Body-and-Organ-Analysis/releases/download/v1.0.0-weights"
STAND_IN_MARKER = "BOA_STAND_IN.json"  # written by the test stand-ins (tests/helpers/standins.py)
BCA_SLICE_THICKNESS_MM = 5.0


@dataclass(frozen=True)
class Network:
    """One nnU-Net network: where its files are and what it outputs."""

    dataset_id: int
    folder: str  # e.g. "Dataset297_TotalSegmentator_total_3mm_1559subj"
    trainer: str
    labels: tuple[tuple[int, str], ...]  # the network's own output ids -> names
    plans: str = "nnUNetPlans"
    configuration: str = "3d_fullres"
    folds: tuple[int, ...] | None = (0,)  # None: every fold_N folder present
    spacing_zyx: tuple[float, float, float] | None = None  # model spacing (stand-ins use it)
    release_url: str | None = None  # the archive <folder>.zip is under this URL
    archive_bytes: int | None = None
    archive_sha256: str | None = None
    licensed: bool = False  # TotalSegmentator's licence server; not downloadable here

    @property
    def trainer_dir(self) -> str:
        return f"{self.trainer}__{self.plans}__{self.configuration}"

    def model_dir(self, root: Path) -> Path:
        return root / self.folder / self.trainer_dir

    def fold_names(self) -> list[str]:
        return [f"fold_{f}" for f in (self.folds if self.folds is not None else (0,))]

    def is_present(self, root: Path) -> bool:
        model_dir = self.model_dir(root)
        if not (model_dir / "plans.json").is_file() or not (model_dir / "dataset.json").is_file():
            return False
        if self.folds is None:
            return any(model_dir.glob("fold_*/checkpoint_final.pth"))
        return all((model_dir / fold / "checkpoint_final.pth").is_file() for fold in self.fold_names())

    def is_stand_in(self, root: Path) -> bool:
        return (root / self.folder / STAND_IN_MARKER).is_file()

    def archive_url(self, base_url: str | None) -> str | None:
        """Where ``<folder>.zip`` is downloaded from (``base_url`` overrides the release)."""
        if base_url:
            return f"{base_url.rstrip('/')}/{self.folder}.zip"
        if self.release_url is None:
            return None
        return f"{self.release_url}/{self.folder}.zip"


def _ts_network(dataset_id: int, trainer: str, labels: dict[int, str], config: dict) -> Network:
    from totalsegmentator.map_tasks_config import TASK_ID_WEIGHTS_CONFIGS

    info = TASK_ID_WEIGHTS_CONFIGS[dataset_id]
    version = info.get("version")
    resample = config.get("resample")
    spacing = None
    if resample is not None:
        xyz = [float(resample)] * 3 if isinstance(resample, (int, float)) else [float(r) for r in resample]
        spacing = (xyz[2], xyz[1], xyz[0])
    folds = config.get("folds")
    return Network(
        dataset_id=dataset_id,
        folder=str(info["foldername"]),
        trainer=trainer,
        labels=tuple(sorted(labels.items())),
        plans=config.get("plans") or "nnUNetPlans",
        configuration=config.get("model") or "3d_fullres",
        folds=None if folds is None else tuple(folds),
        spacing_zyx=spacing,
        release_url=f"{TS_RELEASE_URL}/{version}" if version and version != "TODO" else None,
        licensed=bool(config.get("commercial")) or "version" not in info,
    )


def ts_networks_for_task(task: str, config: dict) -> list[Network]:
    """Networks of a TotalSegmentator task, given its merged task config."""
    from totalsegmentator.map_to_binary import class_map, class_map_5_parts, map_taskid_to_partname_ct

    task_ids = config["task_id"]
    if isinstance(task_ids, list):  # the five-part 1.5 mm ``total``
        return [
            _ts_network(tid, config["trainer"], class_map_5_parts[map_taskid_to_partname_ct[tid]], config)
            for tid in task_ids
        ]
    return [_ts_network(task_ids, config["trainer"], class_map[task], config)]


def bca_network(name: str) -> Network:
    if name == "body_regions":
        return Network(
            dataset_id=542,
            folder="Dataset542_BCA_inference",
            trainer="nnUNetTrainerNoMirroring",
            labels=tuple(sorted(BODY_REGIONS_LABELS.items())),
            folds=(0, 1, 2, 3, 4),
            spacing_zyx=(BCA_SLICE_THICKNESS_MM, 3.0, 3.0),
            release_url=BOA_RELEASE_URL,
            archive_bytes=1_150_464_739,
            archive_sha256="096d6cdb45524273026d30e3bd290e8fd10990dec02f0aa0669d214b71bf6d4f",
        )
    if name == "body_parts":
        return Network(
            dataset_id=543,
            folder="Dataset543_BCA_body_parts",
            trainer="nnUNetTrainer_1500epochs_NoMirroring",
            labels=tuple(sorted(BODY_PARTS_LABELS.items())),
            folds=(0, 1, 2, 3, 4),
            spacing_zyx=(BCA_SLICE_THICKNESS_MM, 3.0, 3.0),
            release_url=BOA_RELEASE_URL,
        )
    raise KeyError(name)


def networks_for(spec: ModelSpec, fast: bool = False, fast_bca: bool = False) -> list[Network]:
    """The networks ``spec`` runs with these settings ([] for aggregate entries like ``bca``)."""
    if spec.engine == "bca":
        if not spec.produces_labelmap:
            return []
        network = bca_network(spec.name)
        if fast_bca:
            network = Network(**{**network.__dict__, "folds": (0,)})
        return [network]
    return ts_networks_for_task(spec.task or spec.name, spec.task_config(fast=fast and spec.has_fast_variant))


def all_networks_for(spec: ModelSpec) -> list[Network]:
    """Every network a model may run (both variants of a model with a fast variant)."""
    variants = [False, True] if spec.has_fast_variant else [False]
    found: dict[str, Network] = {}
    for fast in variants:
        for network in networks_for(spec, fast=fast):
            found.setdefault(network.folder, network)
    return list(found.values())
