"""Page 'PACS jobs': the task-statistics database, read only, job keys only."""

from __future__ import annotations

import streamlit as st

from body_organ_analysis.ui import pacs_jobs
from body_organ_analysis.ui.config import UiConfig


def show(config: UiConfig) -> None:
    st.header("PACS jobs")
    try:
        jobs = pacs_jobs.load_jobs(config)
    except pacs_jobs.StatsUnavailable as error:
        st.error(str(error))
        return
    if jobs.empty:
        st.info("No PACS jobs recorded yet.")
        return
    st.subheader("Jobs by state and day")
    st.dataframe(pacs_jobs.by_state_and_day(jobs), width="stretch")
    st.subheader("Durations per stage (s)")
    st.dataframe(pacs_jobs.stage_durations(jobs), width="stretch")
    st.subheader("Failures")
    failures = pacs_jobs.failures(jobs)
    st.dataframe(failures, width="stretch") if not failures.empty else st.caption("none")
    st.subheader("All jobs")
    st.dataframe(jobs.set_index("job_key"), width="stretch")
