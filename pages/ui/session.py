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
    "forget_state",
    "forget_unknown",
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

_KEPT_VALUES = "_kept_widget_values"
"""Widget keys with these prefixes keep their values when the user changes page."""


def keep_widget_state() -> None:
    """Keep widget values alive while their page is not shown.

    Streamlit forgets the value of a widget that is not drawn in a run, and a
    fragment's rerun can drop the values of widgets on other pages too, so
    moving to another page and back would reset every slider. At the start of
    each full run this copies every kept value into a session-wide store and
    writes the store back, which restores whatever Streamlit dropped. A value
    the app itself discards goes through :func:`forget_state`.
    """
    state = st.session_state
    kept = state.setdefault(_KEPT_VALUES, {})
    for key in list(state.keys()):
        if isinstance(key, str) and key.startswith(KEPT_PREFIXES):
            kept[key] = state[key]
    for key, value in kept.items():
        state[key] = value


def forget_state(key: str) -> None:
    """Discard a kept value for good: :func:`keep_widget_state` will not restore it."""
    st.session_state.pop(key, None)
    st.session_state.get(_KEPT_VALUES, {}).pop(key, None)


def forget_unknown(key: str, options) -> None:
    """Forget a remembered choice (from a link, another folder) that is gone."""
    if key in st.session_state and st.session_state[key] not in options:
        forget_state(key)


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
