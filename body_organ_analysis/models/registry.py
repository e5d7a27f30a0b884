"""The model registry, kept as data.

Each entry names a model the user can ask for with ``-m``. TotalSegmentator
models take their network parameters (dataset ids, spacing, trainer, crop) from
``totalsegmentator.map_tasks_config.TASK_CONFIGS`` and their label names from
``totalsegmentator.map_to_binary.class_map``: the installed package is the one
source of truth, nothing is copied here. The body-composition models are the
reference tool's published nnU-Net models.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from body_organ_analysis.errors import ExitCode, ModelError

# Label sets of the body-composition models (the reference tool's Dataset542 and 543).
BODY_REGIONS_LABELS = {
    1: "subcutaneous_tissue",
    2: "muscle",
    3: "abdominal_cavity",
    4: "thoracic_cavity",
    5: "bones",
    6: "glands",
    7: "pericardium",
    8: "breast_implant",
    9: "mediastinum",
    10: "brain",
    11: "spinal_cord",
}
BODY_PARTS_LABELS = {
    1: "torso",
    2: "head",
    3: "right_leg",
    4: "left_leg",
    5: "right_arm",
    6: "left_arm",
}


@dataclass(frozen=True)
class ModelSpec:
    name: str
    description: str
    engine: str  # "totalsegmentator" (a TotalSegmentator task) or "bca" (reference tool's models)
    task: str | None = None  # TotalSegmentator task name
    fast_task: str | None = None  # the task --fast-total switches to, if the model has one
    license_required: bool = False
    requires: tuple[str, ...] = ()  # models that must run first
    produces_labelmap: bool = True  # False for aggregate entries such as "bca"
    labels_static: tuple[tuple[int, str], ...] = ()  # for models not from TotalSegmentator

    @property
    def output_file(self) -> str:
        return f"{self.name}.nii.gz"

    @property
    def has_fast_variant(self) -> bool:
        return self.fast_task is not None

    def labels(self) -> dict[int, str]:
        """Label id -> name of this model's label map (the same for its fast variant)."""
        if self.labels_static:
            return dict(self.labels_static)
        if self.task is None:
            return {}
        from totalsegmentator.map_to_binary import class_map

        return dict(class_map[self.task])

    def task_config(self, fast: bool = False) -> dict:
        """TotalSegmentator's parameters for this model (merged with its defaults)."""
        from totalsegmentator.map_tasks_config import DEFAULT_CONFIG, TASK_CONFIGS

        if self.task is None:
            raise ModelError(f"Model {self.name!r} is not a TotalSegmentator task.")
        config = TASK_CONFIGS[self.task]
        if "sub_modes" in config:
            config = config["sub_modes"]["fast" if fast and self.has_fast_variant else "default"]
        return {**DEFAULT_CONFIG, **config}


CROPS_TO_TOTAL = ("total",)  # the model's crop (and remove_outside) mask comes from ``total``


def _ts(name: str, description: str, **kwargs) -> ModelSpec:
    return ModelSpec(name=name, description=description, engine="totalsegmentator", task=name, **kwargs)


MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        _ts("total", "117 anatomical structures (TotalSegmentator v2); organ statistics", fast_task="total"),
        _ts("lung_vessels", "lung vessels and airways", requires=CROPS_TO_TOTAL),
        _ts("cerebral_bleed", "intracerebral haemorrhage", requires=CROPS_TO_TOTAL),
        _ts("hip_implant", "hip implants", requires=CROPS_TO_TOTAL),
        _ts("liver_segments", "Couinaud liver segments", requires=CROPS_TO_TOTAL),
        _ts("liver_vessels", "liver vessels and tumour", requires=CROPS_TO_TOTAL),
        _ts("pleural_pericard_effusion", "pleural and pericardial effusion", requires=CROPS_TO_TOTAL),
        _ts(
            "heartchambers_highres",
            "heart chambers at high resolution (licensed)",
            license_required=True,
            requires=CROPS_TO_TOTAL,
        ),
        ModelSpec(
            "body_regions",
            "body regions for body composition (reference tool's Dataset542)",
            engine="bca",
            labels_static=tuple(BODY_REGIONS_LABELS.items()),
        ),
        ModelSpec(
            "body_parts",
            "body parts for body composition (reference tool's Dataset543)",
            engine="bca",
            labels_static=tuple(BODY_PARTS_LABELS.items()),
        ),
        ModelSpec(
            "bca",
            "body composition: tissue volumes and areas, vertebral levels, SMI (needs "
            "body_regions+body_parts, or no weights with --bca-engine threshold)",
            engine="bca",
            requires=("total", "body_regions", "body_parts"),
            produces_labelmap=False,
        ),
    )
}


def requirements(spec: ModelSpec, bca_engine: str = "nnunet") -> tuple[str, ...]:
    """The models ``spec`` cannot run without; ``bca`` with the threshold engine needs none."""
    if spec.name == "bca" and bca_engine == "threshold":
        return ()
    return spec.requires


def optional_requirements(spec: ModelSpec, bca_engine: str = "nnunet") -> tuple[str, ...]:
    """Models ``spec`` uses when they can run without a download (weights present, or supplied).

    The threshold engine takes anatomical hints (vertebrae, organs) from ``total``
    but works without it, so the weights-free route needs no weights at all.
    """
    if spec.name == "bca" and bca_engine == "threshold":
        return ("total",)
    return ()


def suggest(name: str) -> str:
    """' Did you mean 'x'?' for a near miss of a model name, else ''."""
    import difflib

    close = difflib.get_close_matches(name.lower(), [*MODELS, "all"], n=1, cutoff=0.6)
    return f" Did you mean {close[0]!r}?" if close else ""


def get_model(name: str) -> ModelSpec:
    try:
        return MODELS[name]
    except KeyError:
        raise ModelError(
            f"Unknown model {name!r}.{suggest(name)} Valid models: {', '.join(MODELS)} (or 'all'); "
            "'body_organ_analysis --help' describes each.",
            ExitCode.UNKNOWN_MODEL,
        ) from None


def model_list() -> str:
    """One line per model: name and description (for --help)."""
    width = max(len(name) for name in MODELS)
    return "\n".join(f"  {name:<{width}}  {spec.description}" for name, spec in MODELS.items())


def resolve_models(
    requested: Iterable[str],
    license_number: str | None,
    bca_engine: str = "nnunet",
    include_optional: bool = True,
) -> list[ModelSpec]:
    """Expand 'all' and requirements; return the models to run in a fixed order.

    The order is the registry's order, so that every run is deterministic and
    models that others need (``total``) come first. With the weights-free
    body-composition engine (``bca_engine="threshold"``) ``bca`` needs no other
    model: the bca stage then makes body_regions and body_parts itself, and
    ``total`` is included as an optional helper (see :func:`optional_models`)
    unless ``include_optional`` is false.
    """
    names = [n.strip() for n in requested if n.strip()]
    if not names:
        raise ModelError("No model requested. Valid models: " + ", ".join(MODELS) + " (or 'all').")
    wanted: set[str] = set()
    for name in names:
        if name == "all":
            wanted.update(n for n, s in MODELS.items() if license_number or not s.license_required)
        else:
            wanted.add(get_model(name).name)
    pending = list(wanted)
    while pending:
        spec = MODELS[pending.pop()]
        extra = optional_requirements(spec, bca_engine) if include_optional else ()
        for required in (*requirements(spec, bca_engine), *extra):
            if required not in wanted:
                wanted.add(required)
                pending.append(required)
    for name in sorted(wanted):
        if MODELS[name].license_required and not license_number:
            raise ModelError(
                f"Model {name!r} needs a licence number. Give it with -l/--license_number "
                "or LICENSE_NUMBER, or leave the model out.",
                ExitCode.LICENSE_REQUIRED,
            )
    return [spec for name, spec in MODELS.items() if name in wanted]


def optional_models(requested: Iterable[str], license_number: str | None, bca_engine: str = "nnunet") -> set[str]:
    """The models of a run that are only optional helpers: skipped when their weights are absent."""
    requested = list(requested)
    every = resolve_models(requested, license_number, bca_engine)
    needed = resolve_models(requested, license_number, bca_engine, include_optional=False)
    return {spec.name for spec in every} - {spec.name for spec in needed}
