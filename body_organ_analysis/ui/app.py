"""The Streamlit script that ``boa ui`` runs (``streamlit run app.py``).

Configuration comes from the environment set by :mod:`body_organ_analysis.ui.cli`.
"""

from __future__ import annotations

import os

import streamlit as st

from body_organ_analysis.ui import gate, page_history, page_new, page_pacs, page_result
from body_organ_analysis.ui.cleanup import start_schedule
from body_organ_analysis.ui.config import UiConfig, config_from_env

PAGES = {"New analysis": page_new.show, "Result": page_result.show, "History": page_history.show}


@st.cache_resource
def shared_config() -> UiConfig:
    config = config_from_env(os.environ)
    config.runs_dir.mkdir(parents=True, exist_ok=True)
    config.work_dir.mkdir(parents=True, exist_ok=True)
    start_schedule(config)
    return config


def main() -> None:
    st.set_page_config(page_title="Body and organ analysis", layout="wide")
    config = shared_config()
    if not gate.passed(config):
        return
    pages = dict(PAGES)
    if config.pacs_configured:
        pages["PACS jobs"] = page_pacs.show
    if "next_page" in st.session_state:  # a page asked to switch (e.g. a run finished)
        st.session_state["page"] = st.session_state.pop("next_page")
    st.sidebar.title("Body and organ analysis")
    page = st.sidebar.radio("Page", list(pages), key="page")
    st.sidebar.caption("Research use only; not a medical device.")
    pages[page](config)


main()
