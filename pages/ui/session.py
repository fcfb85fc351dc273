"""Session-wide helpers that app.py needs before any page: light to import.

Nothing here imports the image or training libraries, so the first page's
title reaches the browser while those still load.
"""

from __future__ import annotations

import logging

import streamlit as st

__all__ = [
    "KEPT_PREFIXES",
    "UNEXPECTED",
    "enter_through_app",
    "keep_widget_state",
    "mark_entered",
    "report_unexpected",
]

logger = logging.getLogger(__name__)

UNEXPECTED = "Something unexpected went wrong"
"""Start of the sentence shown when a page fails in a way no check foresaw."""

ENTERED = "app_entered"
"""Session key set once the session has run ``app.py``."""

KEPT_PREFIXES = ("src_", "pp_", "aug_", "tr_")
"""Widget keys with these prefixes keep their values when the user changes page."""


def keep_widget_state() -> None:
    """Keep widget values alive while their page is not shown.

    Streamlit forgets the value of a widget that is not drawn in a run, so
    moving to another page and back would reset every slider. Writing each
    value back to session state at the start of a run keeps it.
    """
    for key in list(st.session_state.keys()):
        if isinstance(key, str) and key.startswith(KEPT_PREFIXES):
            st.session_state[key] = st.session_state[key]


def report_unexpected(error: Exception, where: str) -> None:
    """Log ``error`` with its traceback and show the user one sentence instead."""
    logger.exception("Unexpected error on %s", where)
    st.error(
        f"{UNEXPECTED} on the {where} page ({type(error).__name__}: {error}). "
        "Your settings are kept: change a setting or reload the page, and see the "
        "server log for details."
    )


def enter_through_app() -> None:
    """Send a page that Streamlit ran on its own back through ``app.py``.

    Until ``app.py`` has called ``st.navigation`` once in a server process,
    Streamlit treats the ``pages/`` folder the old way: the first visitor who
    opens a page's address directly (``/training``) would get that page
    without the app's layout, navigation and error guard. Each page calls
    this first; in that case (a session that has not been through ``app.py``
    yet) it switches Streamlit to the app's navigation and reruns, which
    lands on the same page through ``app.py``.
    """
    from streamlit.runtime.pages_manager import PagesManager

    if PagesManager.uses_pages_directory and not st.session_state.get(ENTERED):
        PagesManager.uses_pages_directory = False
        st.rerun()


def mark_entered() -> None:
    """Record that this session has run ``app.py`` (called by ``app.py``)."""
    st.session_state[ENTERED] = True
