"""Figures of the PDF report (matplotlib, Agg backend), returned as PNG bytes.

All images are shown in radiological convention (imaging/orientation.py):
axial slices with the patient's right on the viewer's left and anterior at the
top; coronal views with the head at the top and the patient's right on the
viewer's left; sagittal views with the head at the top and anterior on the
left. Every panel carries small letters naming its edges (R/L, A/P, H/F).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from body_organ_analysis.bca.slices import SliceTables
from body_organ_analysis.bca.tissues import ALL_TISSUES, TISSUE_LABELS
from body_organ_analysis.imaging.orientation import EDGE_LETTERS, View, display_plane, reorientation
from body_organ_analysis.imaging.slabs import nonzero_along_axes, slabs

TISSUE_COLOURS = {"muscle": "#d62728", "bone": "#f2e6c9", "sat": "#ffbf00", "vat": "#2ca02c",
                  "imat": "#9467bd", "pat": "#17becf", "eat": "#e377c2", "tat": "#8c564b"}  # fmt: skip
REGION_COLOURS = ["#e6a23c", "#d62728", "#2ca02c", "#1f77b4", "#f2e6c9", "#bcbd22", "#e377c2",
                  "#ff7f0e", "#17becf", "#9467bd", "#7f7f7f"]  # fmt: skip
MAX_DISPLAY_PX = 256


@dataclass
class Theme:
    name: str
    background: str
    foreground: str
    grid: str


THEMES = {
    "light": Theme("light", "#ffffff", "#1a1a1a", "#cccccc"),
    "dark": Theme("dark", "#14161a", "#e8e8e8", "#444a55"),
}


def _pyplot(theme: Theme):
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    plt.rcParams.update({
        "figure.facecolor": theme.background, "axes.facecolor": theme.background,
        "savefig.facecolor": theme.background, "text.color": theme.foreground,
        "axes.labelcolor": theme.foreground, "axes.edgecolor": theme.grid,
        "xtick.color": theme.foreground, "ytick.color": theme.foreground, "font.size": 8,
    })  # fmt: skip
    return plt


def _png(fig, dpi: int = 110) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return buffer.getvalue()


@dataclass
class RasVolumes:
    """CT and label maps in RAS order, with in-plane steps for display."""

    hu: np.ndarray
    tissues: np.ndarray
    regions: np.ndarray
    total: np.ndarray | None
    spacing: tuple[float, float, float]
    step: int  # in-plane subsampling for display

    @cached_property
    def body_extent(self) -> list[np.ndarray]:
        """For each RAS axis, which of its indices hold body (a body region), in one pass."""
        return nonzero_along_axes(self.regions)

    def coronal_projection(self, label: int) -> np.ndarray:
        """Voxels of ``label`` along the front-back axis, shape (x, 1, z), slab by slab."""
        projection = np.empty((self.tissues.shape[0], 1, self.tissues.shape[2]), dtype=np.intp)
        for slab in slabs(self.tissues, axis=2):
            projection[slab] = (self.tissues[slab] == label).sum(axis=1, keepdims=True)
        return projection


def ras_volumes(hu, affine, tissues, regions, total) -> RasVolumes:
    change = reorientation(affine, hu.shape)
    step = max(1, int(np.ceil(max(hu.shape) / MAX_DISPLAY_PX)))

    def view(a):
        return None if a is None else change.forward(a)

    return RasVolumes(view(hu), view(tissues), view(regions), view(total), change.spacing, step)


def panel(a: np.ndarray, view: View, index: int, step: int) -> np.ndarray:
    """The displayed plane of a RAS-ordered array (rows top to bottom, columns left to right),
    subsampled by ``step`` along its in-plane (not head-feet) axes."""
    plane = display_plane(a, view, index)
    return plane[::step, ::step] if view == "axial" else plane[:, ::step]


def _axial(a: np.ndarray, z: int, step: int) -> np.ndarray:
    return panel(a, "axial", z, step)


def _coronal(a: np.ndarray, y: int, step: int) -> np.ndarray:
    return panel(a, "coronal", y, step)


def _sagittal(a: np.ndarray, x: int, step: int) -> np.ndarray:
    return panel(a, "sagittal", x, step)


def edge_letters(ax, view: View, size: float = 6) -> None:
    """Small letters inside the panel naming its edges (e.g. R on the left of an axial slice)."""
    top, bottom, left, right = EDGE_LETTERS[view]
    style = {"fontsize": size, "color": "#ffd400", "fontweight": "bold", "transform": ax.transAxes}
    ax.text(0.5, 0.985, top, ha="center", va="top", **style)
    ax.text(0.5, 0.015, bottom, ha="center", va="bottom", **style)
    ax.text(0.015, 0.5, left, ha="left", va="center", **style)
    ax.text(0.985, 0.5, right, ha="right", va="center", **style)


def axial_picks(vol: RasVolumes, count: int = 5) -> np.ndarray:
    """RAS z indices of the equidistant axial slices shown (within the body's extent)."""
    body_slices = np.flatnonzero(vol.body_extent[2])
    if body_slices.size == 0:
        body_slices = np.arange(vol.hu.shape[2])
    return np.unique(np.linspace(body_slices[0], body_slices[-1], count + 2)[1:-1].round().astype(int))


def summary_cuts(vol: RasVolumes) -> tuple[int, int]:
    """(y, x) RAS indices of the coronal and sagittal cuts: through the body's centre."""
    along_x, along_y, along_z = vol.body_extent
    if not along_z.any():
        return vol.hu.shape[1] // 2, vol.hu.shape[0] // 2
    ys = np.flatnonzero(along_y)
    xs = np.flatnonzero(along_x)
    return int(np.round(ys.mean())), int((xs[0] + xs[-1]) // 2)


def _overlay(ax, labels: np.ndarray, colours: list[str], alpha: float = 0.45) -> None:
    from matplotlib.colors import ListedColormap

    cmap = ListedColormap(colours)
    masked = np.ma.masked_equal(labels, 0)
    ax.imshow(masked, cmap=cmap, vmin=0.5, vmax=len(colours) + 0.5, alpha=alpha, interpolation="nearest",
              aspect="auto")  # fmt: skip


def _ct(ax, image: np.ndarray) -> None:
    ax.imshow(image, cmap="gray", vmin=-200, vmax=300, interpolation="nearest", aspect="auto")
    ax.set_xticks([])
    ax.set_yticks([])


TISSUE_COLOUR_LIST = [TISSUE_COLOURS[TISSUE_LABELS[i]] for i in sorted(TISSUE_LABELS)]


def summary_figure(vol: RasVolumes, tables: SliceTables, theme: Theme, level_positions: dict[str, float]) -> bytes:
    """Coronal and sagittal CT with the tissue overlay, and tissue area per slice."""
    plt = _pyplot(theme)
    fig = plt.figure(figsize=(7.2, 4.2))
    grid = fig.add_gridspec(2, 2, width_ratios=[1.4, 1.0], wspace=0.3, hspace=0.25)
    centre_y, centre_x = summary_cuts(vol)
    sx, sy, sz = vol.spacing
    for index, (title, image, labels, aspect) in enumerate((
        ("coronal", _coronal(vol.hu, centre_y, vol.step), _coronal(vol.tissues, centre_y, vol.step), sx),
        ("sagittal", _sagittal(vol.hu, centre_x, vol.step), _sagittal(vol.tissues, centre_x, vol.step), sy),
    )):  # fmt: skip
        ax = fig.add_subplot(grid[index, 0])
        _ct(ax, image)
        _overlay(ax, labels, TISSUE_COLOUR_LIST)
        ax.set_aspect(sz / (aspect * vol.step))
        ax.set_title(title)
        edge_letters(ax, title)
    ax = fig.add_subplot(grid[:, 1])
    position = tables.position_mm
    bottom = np.zeros_like(position)
    for tissue in ("muscle", "imat", "sat", "vat", "pat", "eat"):
        area = tables.area_cm2(tissue)
        ax.fill_betweenx(position, bottom, bottom + area, color=TISSUE_COLOURS[tissue], label=tissue.upper(), lw=0)
        bottom = bottom + area
    for name, z_mm in level_positions.items():
        ax.axhline(z_mm, color=theme.grid, lw=0.6, ls="--")
        ax.text(1.01, z_mm, name, fontsize=6, va="center", transform=ax.get_yaxis_transform())
    ax.set_xlabel("cross-sectional area per slice (cm²)")
    ax.set_ylabel("slice position (mm)")
    ax.legend(fontsize=6, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=3, frameon=False)
    _tissue_legend(fig)
    return _png(fig)


def axial_figure(vol: RasVolumes, theme: Theme, count: int = 5) -> bytes:
    """Equidistant axial slices: CT, body regions, tissues and (if present) `total`."""
    plt = _pyplot(theme)
    picks = axial_picks(vol, count)
    rows = [("body regions", vol.regions, REGION_COLOURS), ("tissues", vol.tissues, TISSUE_COLOUR_LIST)]
    if vol.total is not None:
        rows.append(("total", vol.total, _total_colours(int(vol.total.max()))))
    fig, axes = plt.subplots(len(rows), len(picks), figsize=(7.2, 1.6 * len(rows) + 0.3), squeeze=False)
    ratio = vol.spacing[1] / vol.spacing[0]
    for column, z in enumerate(picks):
        for row, (title, labels, colours) in enumerate(rows):
            ax = axes[row, column]
            _ct(ax, _axial(vol.hu, z, vol.step))
            _overlay(ax, _axial(labels, z, vol.step), colours, 0.5)
            ax.set_aspect(ratio)
            edge_letters(ax, "axial", 5)
            if row == 0:
                ax.set_title(f"slice {z}", fontsize=7)
            if column == 0:
                ax.set_ylabel(title, fontsize=7)
    fig.subplots_adjust(wspace=0.03, hspace=0.05)
    _row_legends(axes, rows, picks)
    return _png(fig)


def _total_colours(count: int) -> list[str]:
    import matplotlib

    cmap = matplotlib.colormaps["tab20"]
    return [matplotlib.colors.to_hex(cmap(i % 20)) for i in range(max(count, 1))]


def heatmap_figure(vol: RasVolumes, tables: SliceTables, theme: Theme) -> bytes:
    """Coronal projections (share of each tissue along the front-back axis) and area per slice."""
    plt = _pyplot(theme)
    shown = ("muscle", "sat", "vat", "imat")
    fig, panels = plt.subplot_mosaic([list(shown), ["area"] * len(shown)], figsize=(7.2, 3.8),
                                     gridspec_kw={"height_ratios": [1.0, 1.1], "hspace": 0.3, "wspace": 0.08})
    axes = [panels[t] for t in shown] + [panels["area"]]
    sx, _, sz = vol.spacing
    for ax, tissue in zip(axes, shown):
        label = [k for k, v in TISSUE_LABELS.items() if v == tissue][0]
        projection = vol.coronal_projection(label)
        ax.imshow(panel(projection, "coronal", 0, vol.step), cmap="inferno", aspect=sz / (sx * vol.step),
                  interpolation="nearest")  # fmt: skip
        ax.set_title(tissue.upper())
        ax.set_xticks([])
        ax.set_yticks([])
        edge_letters(ax, "coronal", 5)
    ax = axes[-1]
    order = np.argsort(tables.position_mm)  # feet at the bottom, whatever the storage order
    matrix = np.vstack([tables.area_cm2(t)[order] for t in ALL_TISSUES])
    position = tables.position_mm[order]
    low, high = (float(position[0]), float(position[-1])) if position[-1] > position[0] else (-0.5, 0.5)
    image = ax.imshow(matrix.T, aspect="auto", cmap="viridis", interpolation="nearest", origin="lower",
                      extent=(-0.5, len(ALL_TISSUES) - 0.5, low, high))  # fmt: skip
    ax.set_xticks(range(len(ALL_TISSUES)), [t.upper() for t in ALL_TISSUES], rotation=90, fontsize=6)
    ax.set_ylabel("slice position (mm)")
    fig.colorbar(image, ax=ax, fraction=0.05, pad=0.02, label="cm² per slice")
    _projection_colourbar(fig, axes[: len(shown)])
    return _png(fig)


# ---------------------------------------------------------------- legends (no orientation logic below)


def _patches(names: list[str], colours: list[str]):
    from matplotlib.patches import Patch

    return [Patch(facecolor=c, edgecolor="none", label=n) for n, c in zip(names, colours)]


def _tissue_legend(fig) -> None:
    """Legend of the tissue overlay of the coronal and sagittal views."""
    names = [TISSUE_LABELS[i].upper() for i in sorted(TISSUE_LABELS)]
    fig.legend(handles=_patches(names, TISSUE_COLOUR_LIST), loc="lower left", bbox_to_anchor=(0.02, -0.06),
               ncol=len(names), fontsize=6, frameon=False, title="overlay", title_fontsize=6,
               handlelength=1.0, columnspacing=0.8)  # fmt: skip


def _row_legends(axes, rows, picks, most: int = 14) -> None:
    """A legend right of each row of axial panels: the labels of that row shown in its slices."""
    from body_organ_analysis.models.registry import BODY_REGIONS_LABELS

    for row, (title, labels, colours) in enumerate(rows):
        shown = np.unique(labels[..., picks]) if labels.ndim == 3 else np.unique(labels)
        shown = [int(v) for v in shown if v > 0]
        if title == "tissues":
            names = {i: n.upper() for i, n in TISSUE_LABELS.items()}
        elif title == "body regions":
            names = dict(BODY_REGIONS_LABELS)
        else:  # total: the largest structures of the shown slices
            from body_organ_analysis.models.registry import get_model

            names = get_model("total").labels()
            counts = np.bincount(labels[..., picks].ravel(), minlength=max(shown, default=0) + 1)
            shown = sorted(shown, key=lambda i: -counts[i])[:most]
        handles = _patches([str(names.get(i, f"label {i}")).replace("_", " ") for i in shown],
                           [colours[(i - 1) % len(colours)] for i in shown])  # fmt: skip
        if handles:
            axes[row, -1].legend(handles=handles, loc="center left", bbox_to_anchor=(1.03, 0.5), fontsize=5,
                                 frameon=False, ncol=1 if len(handles) <= 8 else 2, handlelength=1.0,
                                 columnspacing=0.6, labelspacing=0.2)  # fmt: skip


def _projection_colourbar(fig, axes) -> None:
    """One colour scale for the four projections, with its meaning."""
    images = [ax.images[0] for ax in axes if ax.images]
    if not images:
        return
    top = max(float(np.max(image.get_array())) for image in images)
    for image in images:
        image.set_clim(0, max(top, 1))
    bar = fig.colorbar(images[0], ax=list(axes), fraction=0.02, pad=0.01)
    bar.set_label("voxels along the front-back axis", fontsize=6)
    bar.ax.tick_params(labelsize=6)
