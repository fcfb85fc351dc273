"""Train convolutional networks on folder-per-class image sets.

``training.data`` finds, checks, splits and loads images; ``training.models``
builds ResNets; ``training.runner`` trains in a background thread with a
thread-safe progress snapshot; ``python -m training`` does the same from a
terminal. Importing this package loads neither TensorFlow nor Streamlit.
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
    load_images,
    scan_dataset,
    select_files,
    stratified_split,
)
from training.models import SUPPORTED_DEPTHS, build_resnet
from training.runner import (
    ConfigError,
    RunBusyError,
    RunConfig,
    TrainingRun,
    active_run,
    default_runs_root,
    get_run,
    latest_run,
    start_run,
)

__all__ = [
    "BUILTIN_NAME",
    "SUPPORTED_DEPTHS",
    "ConfigError",
    "DatasetError",
    "DatasetIndex",
    "LoadedImages",
    "RunBusyError",
    "RunConfig",
    "TrainingRun",
    "active_run",
    "build_resnet",
    "builtin_dataset",
    "default_data_root",
    "default_runs_root",
    "detect_channels",
    "find_datasets",
    "get_run",
    "latest_run",
    "load_images",
    "scan_dataset",
    "select_files",
    "start_run",
    "stratified_split",
]
