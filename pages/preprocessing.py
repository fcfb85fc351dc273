"""Preprocessing: threshold, morphology, contrast and a pipeline, all live."""

import streamlit as st

from pages.ui.session import enter_through_app

enter_through_app()
st.title("Preprocessing")

# Imported after the title, so the title is on screen while the image
# libraries load on a cold start.
from pages.ui.preprocessing_view import render  # noqa: E402

render()
