"""Grouping DICOM slices into series and choosing the one to analyse.

Grouping: slices belong together when they share the SeriesInstanceUID, or,
when that is blank (anonymisers blank it), the StudyInstanceUID, SeriesNumber,
SeriesDescription, FrameOfReferenceUID and modality. Within that, slices are
split further by image size, pixel spacing and orientation, so a localizer
stored in the same series as the axial images becomes a stack of its own.

The rule that chooses a stack (documented in docs/input.md):

1. ``--series-uid UID``: the stack with that SeriesInstanceUID (if it has
   several stacks, the one with the most slices); it is then checked like any
   other, so a wrong choice gets the specific error.
2. Only one stack in the input: that one.
3. Otherwise the stacks that qualify: modality CT, axial (slice normal closest
   to the patient's head-feet axis), not a localizer/scout/topogram, not
   derived/reformatted (ImageType DERIVED, SECONDARY, REFORMATTED, MPR, MIP,
   PROJECTION), not secondary capture, at least ``MIN_SLICES`` slices. Of those
   the one with the most slices; ties go to the thinner slices, then the lower
   series number.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Hashable

import numpy as np

from body_organ_analysis.errors import ExitCode, InputError
from body_organ_analysis.imaging.checks import MIN_SLICES, capital
from body_organ_analysis.imaging.slices import SECONDARY_CAPTURE_PREFIX, SliceRef

log = logging.getLogger("body_organ_analysis")

LOCALIZER_TYPES = {"LOCALIZER", "SCOUT", "TOPOGRAM", "SURVIEW", "SCANOGRAM"}
DERIVED_TYPES = {"DERIVED", "SECONDARY", "REFORMATTED", "MPR", "MIP", "MINIP", "PROJECTION", "VOLUME_RENDERING"}  # fmt: skip
LOCALIZER_WORDS = ("localizer", "localiser", "scout", "topogram", "surview", "scanogram")


@dataclass
class Stack:
    """The slices of one series that share size, spacing and orientation."""

    slices: list[SliceRef]

    @property
    def first(self) -> SliceRef:
        return self.slices[0]

    @property
    def uid(self) -> str:
        return self.first.text("SeriesInstanceUID")

    @property
    def number(self) -> str:
        return self.first.text("SeriesNumber")

    @property
    def description(self) -> str:
        return self.first.text("SeriesDescription")

    @property
    def modality(self) -> str:
        return self.first.text("Modality").upper()

    def problems(self) -> list[str]:
        """Why this stack does not qualify for automatic choice (empty: it qualifies)."""
        found = []
        if self.modality != "CT":
            found.append(f"modality {self.modality or 'missing'}")
        types = set(self.first.image_type)
        description = self.description.lower()
        if types & LOCALIZER_TYPES or any(word in description for word in LOCALIZER_WORDS):
            found.append("localizer")
        elif types & DERIVED_TYPES:
            found.append("derived or reformatted")
        if self.first.text("SOPClassUID").startswith(SECONDARY_CAPTURE_PREFIX):
            found.append("secondary capture")
        if not self.is_axial():
            found.append("not axial")
        if len(self.slices) < MIN_SLICES:
            found.append(f"fewer than {MIN_SLICES} slices")
        return found

    def is_axial(self) -> bool:
        orientation = self.first.orientation
        if orientation is None:
            return False
        normal = np.cross(orientation[:3], orientation[3:])
        return int(np.argmax(np.abs(normal))) == 2

    def slice_thickness(self) -> float:
        try:
            return float(self.first.header.get("SliceThickness") or np.inf)
        except (TypeError, ValueError):
            return float(np.inf)

    def describe(self) -> str:
        """One line without patient data, for logs and error messages."""
        return (
            f"series number {self.number or '-'}, {self.description or 'no description'!r}, "
            f"{self.modality or 'no modality'}, {len(self.slices)} slice(s), "
            f"UID {self.uid or '(blank)'}"
        )


def group_stacks(slices: list[SliceRef]) -> list[Stack]:
    groups: dict[Hashable, list[SliceRef]] = {}
    for ref in slices:
        groups.setdefault(_stack_key(ref), []).append(ref)
    return [Stack(refs) for refs in groups.values()]


def _stack_key(ref: SliceRef) -> Hashable:
    uid = ref.text("SeriesInstanceUID")
    series = (
        ("uid", uid)
        if uid
        else (
            "attributes",
            ref.text("StudyInstanceUID"),
            ref.text("SeriesNumber"),
            ref.text("SeriesDescription"),
            ref.text("FrameOfReferenceUID"),
            ref.text("Modality"),
        )
    )
    orientation = None if ref.orientation is None else tuple(np.round(ref.orientation, 3))
    spacing = None if ref.pixel_spacing is None else tuple(np.round(ref.pixel_spacing, 4))
    return series, ref.rows, ref.columns, spacing, orientation


def choose_stack(stacks: list[Stack], series_uid: str | None, where: str) -> Stack:
    """Pick the stack to analyse by the rule in the module docstring; log which and why."""
    if not stacks:
        raise InputError(f"{capital(where)} holds no DICOM images.", ExitCode.INPUT_NOT_FOUND)
    if series_uid:
        matching = [s for s in stacks if s.uid == series_uid.strip()]
        if not matching:
            raise InputError(
                f"No series with the UID given by --series-uid is in {where}. "
                + listing(stacks),
                ExitCode.NO_SUITABLE_SERIES,
            )
        chosen = max(matching, key=lambda s: len(s.slices))
        log.info("series chosen by --series-uid: %s", chosen.describe())
        return chosen
    if len(stacks) == 1:
        log.info("series chosen: %s (the only image series in the input)", stacks[0].describe())
        return stacks[0]
    qualified = [s for s in stacks if not s.problems()]
    if not qualified:
        raise InputError(
            f"None of the {len(stacks)} image series in {where} is an axial CT series with at "
            f"least {MIN_SLICES} slices that is not a localizer, derived, reformatted or "
            "secondary-capture series. " + listing(stacks)
            + " Give a folder with the original axial CT series, or pick one with --series-uid.",
            ExitCode.NO_SUITABLE_SERIES,
        )
    number = lambda s: int(s.number) if s.number.lstrip("-").isdigit() else 1 << 30  # noqa: E731
    chosen = min(qualified, key=lambda s: (-len(s.slices), s.slice_thickness(), number(s)))
    log.info(
        "series chosen: %s (of %d series found, %d qualified as original axial CT; "
        "this one has the most slices)",
        chosen.describe(), len(stacks), len(qualified),
    )  # fmt: skip
    return chosen


def listing(stacks: list[Stack]) -> str:
    """The series found, one per clause, for error messages (no patient data)."""
    items = []
    for stack in stacks:
        problems = stack.problems()
        items.append(stack.describe() + (f" [{', '.join(problems)}]" if problems else ""))
    return "Found: " + "; ".join(items) + "."
