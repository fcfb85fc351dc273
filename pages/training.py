"""Training: ResNets on a folder of images, in the background, streamed live."""

import streamlit as st

from pages.ui.run_settings import show_settings_notes
from pages.ui.session import enter_through_app
from pages.ui.training_evaluation import evaluation_section, prediction_section
from pages.ui.training_form import settings_form
from pages.ui.training_live import live_section
from pages.ui.training_runs import (
    action_buttons,
    resolve_shown_run,
    run_summaries,
    runs_section,
)
from training.runner import default_runs_root, warm_up

enter_through_app()
st.title("Training")
st.markdown(
    "Train a ResNet on a folder of images. Runs go on in the background while "
    "their curves stream in, so you can visit the other pages, reload the tab or "
    "open a second one without losing them; runs wait in a queue when the server "
    "is busy. The page watches each run for the usual problems and says what to "
    "do about them. The model with the best validation AUC is saved to disk, "
    "evaluated and ready to classify new pictures."
)

# Load TensorFlow in the background while the learner reads the settings, so
# the first loss point arrives seconds sooner after Start.
warm_up()
show_settings_notes()
form = settings_form()
runs_root = default_runs_root()
summaries = run_summaries(runs_root)
shown_id = resolve_shown_run([summary["run_id"] for summary in summaries])
action_buttons(form, shown_id)
shown_id = runs_section(summaries, runs_root)
view = live_section(shown_id, runs_root)
evaluation_section(view)
prediction_section(view)
