"""Page 'History': earlier runs in the results folder; open any finished one."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from body_organ_analysis.ui.config import UiConfig
from body_organ_analysis.ui.runs import list_runs


def show(config: UiConfig) -> None:
    st.header("History")
    runs = list_runs(config)
    if not runs:
        st.info(f"No runs in {config.runs_dir} yet.")
        return
    rows = []
    for run in runs:
        status, flags = run.status(), run.request().get("flags", {})
        rows.append({"run": run.run_id, "state": status.get("state"), "models": "+".join(flags.get("models", [])),
                     "started (UTC)": status.get("started_utc"), "finished (UTC)": status.get("finished_utc"),
                     "message": status.get("message", "")})  # fmt: skip
    st.dataframe(pd.DataFrame(rows).set_index("run"), width="stretch")
    done = [r["run"] for r in rows if r["state"] == "done"]
    if done:
        chosen = st.selectbox("open a finished run", done, key="history_pick")
        if st.button("Open", key="history_open"):
            st.session_state["result_run"] = chosen
            st.session_state["next_page"] = "Result"
            st.rerun()
