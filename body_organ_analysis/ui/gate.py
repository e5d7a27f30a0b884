"""The password gate: shown when the app listens beyond loopback (or a hash is configured)."""

from __future__ import annotations

import streamlit as st

from body_organ_analysis.ui.config import UiConfig
from body_organ_analysis.ui.password import verify_password


def passed(config: UiConfig) -> bool:
    if not config.require_password and not config.password_hash:
        return True
    if config.password_hash is None:
        st.error("This app listens on a network address but no BOA_UI_PASSWORD_HASH is set; it will not open. "
                 "Make one with 'boa ui --hash-password' and restart.")  # fmt: skip
        return False
    if st.session_state.get("authenticated"):
        return True
    st.title("Body and organ analysis")
    with st.form("login"):
        password = st.text_input("Password", type="password")
        submitted = st.form_submit_button("Sign in")
    if submitted:
        if verify_password(password, config.password_hash):
            st.session_state["authenticated"] = True
            st.rerun()
        st.error("Wrong password.")
    return False
