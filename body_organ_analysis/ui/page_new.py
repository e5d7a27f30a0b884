"""Page 'New analysis': choose the CT, models and options, run in the background, follow it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import streamlit as st

from body_organ_analysis.errors import BoaError
from body_organ_analysis.models.registry import MODELS
from body_organ_analysis.ui import jobs, uploads
from body_organ_analysis.ui.config import UiConfig, inside_data_root
from body_organ_analysis.ui.runs import Run, new_run, open_run

SOURCES = ("Upload", "Server path", "Demo phantom")


def model_label(name: str) -> str:
    spec = MODELS[name]
    note = "licence number needed" if spec.license_required else "open weights"
    return f"{name}: {spec.description} ({note})"


def show(config: UiConfig) -> None:
    st.header("New analysis")
    running = st.session_state.get("active_run")
    if running:
        follow(config, open_run(config, running))
        return
    show_last_error()
    sources = [s for s in SOURCES if s != "Server path" or config.data_root is not None]
    source = st.radio("Input", sources, horizontal=True, key="source")
    files: list[Any] = []
    server_path = ""
    if source == "Upload":
        files = st.file_uploader("CT: one NIfTI (.nii, .nii.gz), one zip of DICOM files, or the DICOM files",
                                 accept_multiple_files=True, key="ct_upload") or []  # fmt: skip
    elif source == "Server path":
        server_path = st.text_input(f"Path under the data root ({config.data_root})", key="server_path")
    if source == "Demo phantom":
        st.info("A synthetic CT phantom with its anatomy map; body composition by the weights-free engine. "
                "Needs no weights and no network.")  # fmt: skip
        models, supplied, options = ["bca"], {}, {"bca_engine": "threshold"}
    else:
        models = st.multiselect("Models", list(MODELS), default=["total"], format_func=model_label, key="models")
        supplied = {}
        with st.expander("Supply label maps (skip running those models)"):
            for name in [m for m in models if MODELS[m].produces_labelmap] + (["total"] if "bca" in models else []):
                upload = st.file_uploader(f"label map for {name}", type=["nii", "gz"], key=f"supplied_{name}")
                if upload is not None:
                    supplied[name] = upload
        options = option_widgets()
    if st.button("Run analysis", type="primary", key="run"):
        try:
            run = prepare(config, source, files, server_path, models, supplied, options)
        except BoaError as error:
            st.error(str(error))
            return
        st.session_state["active_run"] = run.run_id
        st.session_state.pop("last_error", None)
        st.rerun()


def option_widgets() -> dict[str, Any]:
    with st.expander("Options"):
        fast = st.checkbox("fast (the fast variant of models that have one)", key="opt_fast")
        engine = st.selectbox("body-composition engine", ["nnunet", "threshold"], key="opt_engine",
                              help="threshold: weights-free and approximate")  # fmt: skip
        device = st.selectbox("device", ["auto", "cpu", "gpu"], key="opt_device")
        skip_contrast = st.checkbox("skip the contrast-phase prediction", key="opt_skip_contrast")
        no_pdf = st.checkbox("no PDF report", key="opt_no_pdf")
        theme = st.selectbox("PDF theme", ["light", "dark"], key="opt_theme")
        height = st.number_input("height (cm), for SMI and BMI; overrides the DICOM value", min_value=0.0,
                                 max_value=250.0, value=0.0, step=1.0, key="opt_height")  # fmt: skip
        weight = st.number_input("weight (kg), for BMI; overrides the DICOM value", min_value=0.0, max_value=400.0,
                                 value=0.0, step=1.0, key="opt_weight")  # fmt: skip
    return {"fast_total": fast, "fast_bca": fast, "bca_engine": engine, "device": device,
            "skip_contrast_information": skip_contrast, "bca_no_pdf": no_pdf, "theme": theme,
            "height_cm": height or None, "weight_kg": weight or None}  # fmt: skip  (0: not given)


def prepare(config: UiConfig, source: str, files: list[Any], server_path: str, models: list[str],
            supplied: dict[str, Any], options: dict[str, Any]) -> Run:  # fmt: skip
    """Check what can be checked here, store the uploads, start the worker."""
    from body_organ_analysis.errors import UsageError

    chosen = None
    if not models:
        raise UsageError("Choose at least one model.")
    if source == "Server path":
        assert config.data_root is not None
        chosen = inside_data_root(config.data_root, server_path.strip())
        if chosen is None or not server_path.strip():
            raise UsageError("That path is not under the configured data root; pick a file or folder inside it.")
    elif source == "Upload" and not files:
        raise UsageError("No CT was uploaded. Upload a NIfTI file, a zip of DICOM files or the DICOM files themselves.")
    run = new_run(config)
    flags: dict[str, Any] = {**options, "models": models, "offline": True, "force_recompute": True}
    if source == "Demo phantom":
        from body_organ_analysis.demo.run import write_phantom

        _, ct_path, total_path = write_phantom(run.work / "demo-input")
        flags.update(input_image=ct_path, segmentations={"total": total_path})
    else:
        flags["input_image"] = chosen if source == "Server path" else uploads.save_ct(files, run.work)
        flags["segmentations"] = {m: uploads.save_label_map(u, run.work, m) for m, u in supplied.items()}
        if "total" in flags["segmentations"] and "total" not in models and "bca" in models:
            flags["models"] = ["total", *models]
    jobs.start(run, {k: (str(v) if isinstance(v, Path) else v) for k, v in flags.items()})
    return run


def follow(config: UiConfig, run: Run) -> None:
    @st.fragment(run_every=1.0)
    def progress() -> None:
        status = jobs.current_status(run)
        state = status.get("state")
        st.progress(float(status.get("fraction", 0.0)), text=f"{state}: {status.get('stage', '')}")
        done = status.get("done_stages") or []
        if done:
            st.caption("done: " + ", ".join(done))
        st.code(run.log_tail() or "(no log yet)", language=None)
        if state in ("queued", "running"):
            if st.button("Cancel", key="cancel"):
                jobs.cancel(run)
            return
        st.session_state.pop("active_run", None)
        if state == "done":
            st.session_state["result_run"] = run.run_id
            st.session_state["next_page"] = "Result"
            st.rerun(scope="app")
        st.session_state["last_error"] = status.get("message") or f"The run ended: {state}."
        st.rerun(scope="app")

    st.subheader("Running")
    progress()


def show_last_error() -> None:
    message = st.session_state.get("last_error")
    if message:
        st.error(message, icon=None)
