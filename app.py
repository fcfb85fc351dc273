"""CNN Image Lab: look at images, preprocess and augment them, train a ResNet."""

import logging

import streamlit as st

from pages.ui.session import keep_widget_state, mark_entered, report_unexpected

st.set_page_config(page_title="CNN Image Lab", page_icon=":microscope:", layout="wide")
logging.basicConfig(level=logging.INFO)
keep_widget_state()
mark_entered()

navigation = st.navigation(
    [
        st.Page(
            "pages/preprocessing.py", title="Preprocessing", icon=":material/tune:"
        ),
        st.Page(
            "pages/augmentation.py", title="Augmentation", icon=":material/transform:"
        ),
        st.Page(
            "pages/training.py", title="Training", icon=":material/model_training:"
        ),
    ]
)
try:
    navigation.run()
except Exception as error:  # the last line of defence: a sentence, not a traceback
    report_unexpected(error, navigation.title)
