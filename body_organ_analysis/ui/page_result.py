"""Page 'Result': the viewer with the label maps over the CT, the tables, the PDF and the downloads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import streamlit as st

from body_organ_analysis.ui import files, plots, tables, volumes
from body_organ_analysis.ui.config import UiConfig
from body_organ_analysis.ui.runs import Run, list_runs, open_run, read_json
from body_organ_analysis.ui.viewer import SLICE_TYPES, viewer


@st.cache_data(max_entries=8, show_spinner=False)
def _b64(path: str, mtime: float) -> str:
    return volumes.file_b64(Path(path))


@st.cache_data(max_entries=16, show_spinner=False)
def _present_ids(path: str, mtime: float) -> list[int]:
    data, _ = volumes.load(Path(path))
    return [int(i) for i in np.unique(data) if i != 0]


@st.cache_data(max_entries=4, show_spinner=False)
def _zip(output: str, mtime: float) -> bytes:
    return files.zip_bytes(Path(output))


@st.cache_data(max_entries=4, show_spinner=False)
def _pdf_pages(pdf: str, mtime: float) -> list[bytes]:
    return files.pdf_pages_png(Path(pdf))


def choose_run(config: UiConfig) -> Run | None:
    done = [r for r in list_runs(config) if r.status().get("state") == "done"]
    if not done:
        return None
    ids = [r.run_id for r in done]
    current = st.session_state.get("result_run")
    index = ids.index(current) if current in ids else 0
    chosen = st.selectbox("Run", ids, index=index, key=f"result_select_{current}")
    st.session_state["result_run"] = chosen
    return open_run(config, chosen)


def show(config: UiConfig) -> None:
    st.header("Result")
    run = choose_run(config)
    if run is None:
        st.info("No finished run yet. Start one on 'New analysis'.")
        return
    output = run.output
    manifest = read_json(output / "manifest.json")
    bca = tables.bca_document(output)
    for banner in tables.provenance_banners(output):
        st.warning(banner)
    for warning in (manifest or {}).get("warnings", []):
        st.caption(f"note: {warning}")
    show_viewer(run, bca)
    show_numbers(output, bca)


def show_viewer(run: Run, bca: dict | None) -> None:
    ct = run.ct_path()
    maps = volumes.label_maps(run.output)
    if ct is None:
        st.info("The CT of this run is no longer kept, so it cannot be shown; the numbers below remain.")
        return
    controls, picture = st.columns([1, 3])
    with controls:
        preferred = sorted(maps, key=lambda name: (name not in ("total", "tissues"), name != "total", name))
        map_name = st.selectbox("Overlay", [*preferred, "none"], key="overlay")
        preset = st.radio("CT window", [*volumes.WINDOWS, "free"], horizontal=True, key="window")
        window = volumes.WINDOWS.get(preset) or st.slider("window (HU)", -1024.0, 3071.0, (-160.0, 240.0),
                                                           step=10.0, key="free_window")  # fmt: skip
        opacity = st.slider("overlay opacity", 0.0, 1.0, 0.5, 0.05, key="opacity")
        view = st.selectbox("view", list(SLICE_TYPES), key="view")
        label_map = maps.get(map_name)
        names = volumes.label_names(label_map) if label_map else {}
        present = _present_ids(str(label_map), label_map.stat().st_mtime) if label_map else []
        jump = jump_widget(maps, names, present, bca)
    colours = volumes.colours(list(names))
    with picture:
        clicked = viewer(
            ct_b64=_b64(str(ct), ct.stat().st_mtime), volume_id=f"{run.run_id}:{map_name}",
            label_b64=_b64(str(label_map), label_map.stat().st_mtime) if label_map else None,
            labels={i: names[i] for i in present if i in names}, colours=colours, window=window,
            opacity=opacity, slice_type=SLICE_TYPES[view], jump=jump,
        )  # fmt: skip
        voxel_readout(ct, label_map, clicked)
    with controls:
        legend(present, names, colours)


def jump_widget(maps: dict[str, Path], names: dict[int, str], present: list[int], bca: dict | None) -> dict | None:
    """'Jump to' a structure of the shown map or a vertebral level (L3 first)."""
    total = maps.get("total")
    levels = []
    if total is not None:
        total_names = volumes.label_names(total)
        levels = [n for n in ("vertebrae_L3", *sorted(v for v in total_names.values() if v.startswith("vertebrae_")))
                  if n in total_names.values()]  # fmt: skip
        levels = list(dict.fromkeys(levels))
    targets = ["(none)", *levels, *sorted(names[i] for i in present if i in names)]
    target = st.selectbox("jump to", targets, key="jump_to")
    if target == "(none)":
        return None
    source = total if target in levels else maps.get(st.session_state.get("overlay", ""))
    if source is None:
        return None
    ids = {v: k for k, v in volumes.label_names(source).items()}
    mm = volumes.interior_point_mm(source, ids[target])
    return None if mm is None else {"nonce": target, "mm": mm}


def voxel_readout(ct: Path, label_map: Path | None, clicked: dict | None) -> None:
    if not clicked:
        st.caption("Click a voxel to read its structure and HU (read from the files on the server).")
        return
    reading = volumes.read_voxel(ct, label_map, clicked["mm"])
    if reading is None:
        st.caption("That point is outside the CT.")
        return
    st.markdown(
        f'<div id="voxel-readout" data-structure="{reading.structure}" data-hu="{reading.hu:g}" '
        f'data-index="{",".join(map(str, reading.index))}"><b>{reading.structure}</b> · {reading.hu:g} HU · '
        f"voxel {reading.index}</div>",
        unsafe_allow_html=True,
    )


def legend(present: list[int], names: dict[int, str], colours: dict[int, tuple[int, int, int]]) -> None:
    if not present:
        return
    items = "".join(
        f'<div style="font-size:12px"><span style="display:inline-block;width:12px;height:12px;'
        f'background:rgb{colours[i]};margin-right:6px"></span>{names.get(i, i)}</div>'
        for i in present if i in colours
    )  # fmt: skip
    with st.expander(f"legend ({len(present)} structures)"):
        st.markdown(items, unsafe_allow_html=True)


def show_numbers(output: Path, bca: dict | None) -> None:
    tabs = st.tabs(["Organs", "Body composition", "Vertebral levels", "Contrast, CNR, bone", "Report", "Downloads"])
    with tabs[0]:
        organs = tables.organ_table(output)
        if organs is None:
            st.info("No organ measurements in this run.")
        else:
            needle = st.text_input("filter structures", key="organ_filter")
            shown = organs[organs.index.str.contains(needle, case=False)] if needle else organs
            with st.container(key="organ_table"):
                st.dataframe(shown, width="stretch", height=35 * (len(shown) + 1) + 3)  # every row shown
    with tabs[1]:
        table = tables.bca_table(bca) if bca else None
        if table is None:
            st.info("No body composition in this run (add the 'bca' model).")
        else:
            region = st.selectbox("region", list(bca.get("aggregated", {})), key="bca_region")
            with st.container(key="bca_table"):
                st.dataframe(tables.bca_table(bca, region), width="stretch")
            slices = plots.slice_table(output)
            if slices is not None:
                st.pyplot(plots.composition_figure(slices, bca.get("vertebral_levels") or {}))
    with tabs[2]:
        levels = tables.levels_table(bca) if bca else None
        if levels is None:
            st.info("No vertebral levels in this run (add the 'bca' model).")
        else:
            with st.container(key="levels_table"):
                st.dataframe(tables.highlight_l3(levels), width="stretch")
    with tabs[3]:
        contrast = tables.contrast_summary(output)
        if contrast:
            st.write(contrast)
        for name in ("cnr.json", "bone-density.json"):
            document = read_json(output / name)
            if document:
                st.caption(name)
                st.json(document, expanded=False)
    with tabs[4]:
        pdf = output / "report.pdf"
        if not pdf.is_file():
            st.info("No PDF report in this run (it comes with the 'bca' model).")
        else:
            for page in _pdf_pages(str(pdf), pdf.stat().st_mtime):
                st.image(page)
    with tabs[5]:
        downloads(output)


def downloads(output: Path) -> None:
    manifest = output / "manifest.json"
    st.download_button("Download all (zip)", _zip(str(output), manifest.stat().st_mtime), file_name="boa-results.zip",
                       mime="application/zip", key="download_zip")  # fmt: skip
    for path in files.output_files(output):
        st.download_button(path.name, path.read_bytes(), file_name=path.name, mime=files.mime_of(path),
                           key=f"download_{path.name}")  # fmt: skip
