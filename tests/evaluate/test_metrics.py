"""Dice and NSD against analytic values, an independent implementation and MONAI."""

from __future__ import annotations

import math

import numpy as np
import pytest

from body_organ_analysis.evaluate.metrics import boundary, score_label
from tests.evaluate.reference import ball, reference_dice, reference_nsd

ANISOTROPIC = (0.8, 1.0, 2.5)


def offset_cubes(a: int, d: int, shape=(40, 30, 30)) -> tuple[np.ndarray, np.ndarray]:
    pred, ref = np.zeros(shape, bool), np.zeros(shape, bool)
    pred[5 : 5 + a, 5 : 5 + a, 5 : 5 + a] = True
    ref[5 + d : 5 + a + d, 5 : 5 + a, 5 : 5 + a] = True
    return pred, ref


@pytest.mark.parametrize("a,d", [(10, 1), (12, 3), (8, 5)])
def test_offset_cubes_match_analytic_values(a: int, d: int) -> None:
    pred, ref = offset_cubes(a, d)
    spacing = (2.0, 1.0, 1.0)
    # Dice: overlap (a-d)a^2 over 2a^3
    tight = score_label(pred, ref, spacing, tolerance_mm=0.5)
    assert tight.dice == pytest.approx((a - d) / a)
    # below one voxel only coinciding surface voxels count: the side faces over the overlap, both ways
    shell = a**3 - (a - 2) ** 3
    assert tight.nsd == pytest.approx((a - d) * (a**2 - (a - 2) ** 2) / shell)
    # every surface voxel lies within d voxels (2 mm each) of the other cube's surface
    assert score_label(pred, ref, spacing, tolerance_mm=2.0 * d).nsd == pytest.approx(1.0)
    assert score_label(pred, ref, spacing, tolerance_mm=2.0 * d - 0.1).nsd < 1.0


def test_sphere_and_shifted_copy_match_the_geometry() -> None:
    shape, spacing, radius, shift = (64, 64, 64), (1.0, 1.0, 1.0), 20.0, 6
    ref = ball(shape, (32, 32, 32), radius, spacing)
    pred = ball(shape, (32 + shift, 32, 32), radius, spacing)
    score = score_label(pred, ref, spacing, tolerance_mm=3.0)
    lens = math.pi * (4 * radius + shift) * (2 * radius - shift) ** 2 / 12  # intersection of two balls
    assert score.dice == pytest.approx(lens / (4 / 3 * math.pi * radius**3), abs=0.01)
    # continuous spheres: a point at polar angle t lies |sqrt(r^2+s^2-2rs cos t) - r| from the other sphere
    def share_within(tolerance: float) -> float:
        low = (radius**2 + shift**2 - (radius + tolerance) ** 2) / (2 * radius * shift)
        high = (radius**2 + shift**2 - (radius - tolerance) ** 2) / (2 * radius * shift)
        return (min(high, 1) - max(low, -1)) / 2

    # voxel surfaces are shells up to one voxel thick: the share lies between tau and tau + 1 voxel
    assert share_within(3.0) <= score.nsd <= share_within(4.0)
    assert score_label(pred, ref, spacing, tolerance_mm=shift + 1.0).nsd == pytest.approx(1.0)


@pytest.mark.parametrize("tolerance", [0.5, 1.0, 2.0, 3.0, 5.0])
def test_equals_independent_implementation_on_anisotropic_spheres(tolerance: float) -> None:
    shape = (50, 44, 20)
    ref = ball(shape, (25, 22, 10), 14.0, ANISOTROPIC)
    pred = ball(shape, (27.3, 20.6, 10.6), 12.5, ANISOTROPIC) & ~ball(shape, (20, 22, 10), 3.0, ANISOTROPIC)
    score = score_label(pred, ref, ANISOTROPIC, tolerance)
    assert score.dice == pytest.approx(reference_dice(pred, ref))
    assert score.nsd == pytest.approx(reference_nsd(pred, ref, ANISOTROPIC, tolerance))
    assert 0 < score.nsd < 1 or tolerance == 5.0


def test_surfaces_touching_the_image_border_count() -> None:
    mask = np.zeros((6, 6, 6), bool)
    mask[:3] = True  # a slab on the border: the face on x = 0 is surface
    assert boundary(mask)[0].all()
    assert boundary(mask, np.ones_like(mask)).sum() == boundary(mask).sum()


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_equals_monai_compute_surface_dice() -> None:
    torch = pytest.importorskip("torch")
    metrics = pytest.importorskip("monai.metrics")
    shape = (40, 36, 18)
    rng = np.random.default_rng(3)
    for trial in range(4):
        centre = rng.uniform(12, 24, 3) * (1, 1, 0.5)
        ref = ball(shape, (20, 18, 9), 11.0, ANISOTROPIC)
        pred = ball(shape, tuple(centre), rng.uniform(7, 12), ANISOTROPIC)
        for tolerance in (1.0, 3.0):
            one_hot = lambda m: torch.from_numpy(np.stack([~m, m])[None].astype(np.float32))
            theirs = metrics.compute_surface_dice(
                one_hot(pred), one_hot(ref), [tolerance], spacing=list(ANISOTROPIC)
            ).item()
            ours = score_label(pred, ref, ANISOTROPIC, tolerance).nsd
            assert ours == pytest.approx(theirs, abs=1e-6), (trial, tolerance)  # MONAI returns float32


def test_absent_from_both_is_not_applicable_and_one_sided_is_zero() -> None:
    empty = np.zeros((12, 12, 12), bool)
    some = empty.copy()
    some[3:6, 3:6, 3:6] = True
    none = score_label(empty, empty, (1, 1, 1), 3.0)
    assert math.isnan(none.dice) and math.isnan(none.nsd)
    missed = score_label(empty, some, (1, 1, 1), 3.0)
    assert (missed.dice, missed.nsd) == (0.0, 0.0)


def test_ignored_slices_are_left_out_of_dice_and_nsd() -> None:
    """SAROS: every fifth axial slice annotated, the rest 255 (unknown)."""
    shape, spacing = (48, 48, 40), (1.0, 1.0, 1.5)
    ref_full = ball(shape, (24, 24, 20), 15.0, spacing)
    pred = ball(shape, (26, 23, 21), 14.0, spacing)
    known = np.zeros(shape, bool)
    known[:, :, ::5] = True
    score = score_label(pred, ref_full & known, spacing, 2.0, known)
    # independent: keep the annotated slices only, surfaces within each slice, 5x the slice distance
    annotated = (slice(None), slice(None), slice(None, None, 5))
    in_plane = np.zeros((3, 3, 3), bool)
    in_plane[:, :, 1] = [[0, 1, 0], [1, 1, 1], [0, 1, 0]]
    sparse_spacing = (1.0, 1.0, 7.5)
    p, r = pred[annotated], ref_full[annotated]
    assert score.dice == pytest.approx(reference_dice(p, r))
    assert score.nsd == pytest.approx(reference_nsd(p, r, sparse_spacing, 2.0, structure=in_plane))
    assert score.pred_voxels == p.sum() and score.ref_voxels == r.sum()
    # whatever the prediction says on ignored slices changes nothing
    noisy = pred.copy()
    noisy[:, :, 1::5] = ~noisy[:, :, 1::5]
    again = score_label(noisy, ref_full & known, spacing, 2.0, known)
    assert (again.dice, again.nsd) == (score.dice, score.nsd)
    # and it differs from scoring the full volumes, so the rule does something
    assert score_label(pred, ref_full, spacing, 2.0).nsd != pytest.approx(score.nsd)
