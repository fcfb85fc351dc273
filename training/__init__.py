"""Train convolutional networks on folder-per-class image sets.

``training.data`` finds, checks, picks, splits and decodes images;
``training.tfdata`` feeds them to Keras through ``tf.data``;
``training.models`` builds ResNets; ``training.runner`` trains in background
threads with a queue and a thread-safe progress snapshot;
``training.records`` reads the run folders; ``training.diagnosis`` explains
what goes wrong; ``training.evaluate`` scores a model and shows where it
looks; ``python -m training`` does the same from a terminal. Importing this
package loads neither TensorFlow nor Streamlit.
"""

from training.data import (
    BUILTIN_NAME,
    DatasetError,
    DatasetIndex,
    LoadedImages,
    builtin_dataset,
    default_data_root,
    detect_channels,
    find_datasets,
    find_duplicates,
    load_images,
    prepare_image,
    scan_dataset,
    select_files,
    stratified_split,
)
from training.diagnosis import RULES, diagnose, read_diagnosis
from training.evaluate import (
    evaluation_report,
    grad_cam,
    load_for_inference,
    overlay_heatmap,
    predict_image,
)
from training.models import (
    BLOCK_EXPLANATIONS,
    SUPPORTED_DEPTHS,
    block_diagram,
    build_resnet,
    describe_model,
    find_feature_layer,
)
from training.records import list_runs, read_run
from training.runner import (
    ConfigError,
    RunBusyError,
    RunConfig,
    TrainingRun,
    active_run,
    active_runs,
    default_runs_root,
    find_run,
    get_run,
    latest_run,
    max_concurrent_runs,
    queue_position,
    resume_run,
    start_run,
)

__all__ = [
    "BLOCK_EXPLANATIONS",
    "BUILTIN_NAME",
    "RULES",
    "SUPPORTED_DEPTHS",
    "ConfigError",
    "DatasetError",
    "DatasetIndex",
    "LoadedImages",
    "RunBusyError",
    "RunConfig",
    "TrainingRun",
    "active_run",
    "active_runs",
    "block_diagram",
    "build_resnet",
    "builtin_dataset",
    "default_data_root",
    "default_runs_root",
    "describe_model",
    "detect_channels",
    "diagnose",
    "evaluation_report",
    "find_datasets",
    "find_duplicates",
    "find_feature_layer",
    "find_run",
    "get_run",
    "grad_cam",
    "latest_run",
    "list_runs",
    "load_for_inference",
    "load_images",
    "max_concurrent_runs",
    "overlay_heatmap",
    "predict_image",
    "prepare_image",
    "queue_position",
    "read_diagnosis",
    "read_run",
    "resume_run",
    "scan_dataset",
    "select_files",
    "start_run",
    "stratified_split",
]
