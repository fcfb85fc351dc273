"""Read and write the files of a run folder, so the app and the shell agree.

A run folder holds ``config.json`` (the settings), ``status.json`` (what the
run is doing now and which process runs it), ``metrics.jsonl`` (one line per
finished epoch), ``batches.jsonl`` (one ``[step, loss]`` line per batch),
``diagnosis.json`` (the flags raised), ``evaluation.json`` (confusion
matrix, ROC and per-class metrics of the best epoch), ``split.json`` (which
files trained and which validated), ``best.keras``, ``backup/`` (the state
that lets an interrupted run resume) and ``logs/`` (TensorBoard). Every
function here is plain file work: no TensorFlow, no Streamlit.
"""

import json
import logging
import math
import os
import time
import uuid
from pathlib import Path

__all__ = [
    "ACTIVE_STATUSES",
    "append_line",
    "is_process_alive",
    "list_runs",
    "read_batches",
    "read_config",
    "read_json",
    "read_metrics",
    "read_run",
    "read_status",
    "write_json",
]

logger = logging.getLogger(__name__)

ACTIVE_STATUSES = ("queued", "loading", "training")


def write_json(path: Path, data) -> None:
    """Write ``data`` as JSON through a temporary file and an atomic rename.

    A reader never sees half a file, even when the writer is killed midway.
    Non-finite floats are written as ``null``.
    """
    path = Path(path)
    temporary = path.with_name(f".{path.name}-{uuid.uuid4().hex[:8]}")
    try:
        with open(temporary, "w", encoding="utf-8") as stream:
            json.dump(_finite(data), stream, indent=2)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def read_json(path: Path, default=None):
    """The JSON content of ``path``, or ``default`` when missing or unreadable."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return default


def append_line(path: Path, data) -> None:
    """Append one JSON line (non-finite floats become ``null``)."""
    with open(path, "a", encoding="utf-8") as stream:
        stream.write(json.dumps(_finite(data)) + "\n")


def _finite(value):
    """A copy of ``value`` with NaN and infinities replaced by ``None``."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


def _read_lines(path: Path) -> list:
    """Every complete JSON line of a file; a torn last line is ignored."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError:
        return []
    entries = []
    for line in text.splitlines():
        try:
            entries.append(json.loads(line))
        except ValueError:
            continue
    return entries


def read_metrics(run_dir: Path) -> list[dict]:
    """The per-epoch metrics of a run, one dict per epoch, in epoch order.

    When an interrupted epoch was written twice (once before the process
    died, once after resuming), the later line wins.
    """
    by_epoch = {}
    for entry in _read_lines(Path(run_dir) / "metrics.jsonl"):
        if isinstance(entry, dict) and isinstance(entry.get("epoch"), int):
            by_epoch[entry["epoch"]] = entry
    return [by_epoch[epoch] for epoch in sorted(by_epoch)]


def read_batches(run_dir: Path) -> list[list]:
    """The ``[global_step, loss]`` pairs of a run (loss ``None`` if not finite)."""
    pairs = []
    for entry in _read_lines(Path(run_dir) / "batches.jsonl"):
        if isinstance(entry, list) and len(entry) == 2:
            pairs.append(entry)
    return pairs


def is_process_alive(pid) -> bool:
    """Whether a process with this id exists on this machine."""
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


def read_status(run_dir: Path) -> dict:
    """The run's ``status.json``, with interrupted runs recognised.

    A run whose file still says queued, loading or training but whose process
    is gone (the server or the shell was killed) is reported as
    ``"interrupted"``; :func:`training.runner.resume_run` can continue it.
    """
    status = read_json(Path(run_dir) / "status.json", default=None)
    if not isinstance(status, dict):
        status = {"status": "unknown", "message": "This run has no status file."}
    if not isinstance(status.get("status"), str) or not isinstance(
        status.get("message", ""), str
    ):
        status = {"status": "unknown", "message": "This run's status file is damaged."}
    if status.get("status") in ACTIVE_STATUSES and not is_process_alive(
        status.get("pid")
    ):
        status = dict(status)
        status["status"] = "interrupted"
        status["message"] = (
            "The process that trained this run ended before it finished; "
            "resume it to continue from the last finished epoch."
        )
    return status


def read_config(run_dir: Path) -> dict:
    """The run's ``config.json`` as a dict; ``{}`` when missing or not an object.

    A hand-edited file may hold a list or a number; readers get an empty
    dict, which names no data folder, instead of something without keys.
    """
    config = read_json(Path(run_dir) / "config.json", default={})
    return config if isinstance(config, dict) else {}


def read_run(run_dir: Path) -> dict:
    """Everything a page or a script shows about one run folder.

    Returns:
        A dict with ``run_id``, ``run_dir``, ``config``, ``status``,
        ``message``, ``epochs``, ``batch_losses``, ``diagnosis``,
        ``evaluation``, ``best_val_auc``, ``best_epoch`` and ``has_model``;
        the same keys as a live run's snapshot where they overlap.
    """
    from training.diagnosis import read_diagnosis

    run_dir = Path(run_dir)
    status = read_status(run_dir)
    epochs = read_metrics(run_dir)
    aucs = [(e["val_auc"], e["epoch"]) for e in epochs if e.get("val_auc") is not None]
    best_auc, best_epoch = max(aucs) if aucs else (None, None)
    return {
        "run_id": run_dir.name,
        "run_dir": str(run_dir),
        "config": read_config(run_dir),
        "status": status.get("status", "unknown"),
        "message": status.get("message", ""),
        "pid": status.get("pid"),
        "epochs": epochs,
        "batch_losses": read_batches(run_dir),
        "diagnosis": read_diagnosis(run_dir),
        "evaluation": read_json(run_dir / "evaluation.json", default=None),
        "best_val_auc": status.get("best_val_auc", best_auc),
        "best_epoch": status.get("best_epoch", best_epoch),
        "has_model": (run_dir / "best.keras").exists(),
    }


def list_runs(runs_root: Path) -> list[dict]:
    """Short summaries of every run folder under ``runs_root``, newest first.

    A folder counts as a run when it holds a ``config.json``. Each summary has
    ``run_id``, ``run_dir``, ``status``, ``epochs_done``, ``best_val_auc``,
    ``config`` and ``modified`` (seconds since the epoch).
    """
    root = Path(runs_root)
    if not root.is_dir():
        return []
    summaries = []
    for folder in root.iterdir():
        if not folder.is_dir() or not (folder / "config.json").is_file():
            continue
        status = read_status(folder)
        epochs = read_metrics(folder)
        aucs = [e["val_auc"] for e in epochs if e.get("val_auc") is not None]
        try:
            modified = max(
                path.stat().st_mtime for path in folder.iterdir() if path.is_file()
            )
        except (OSError, ValueError):
            modified = 0.0
        summaries.append(
            {
                "run_id": folder.name,
                "run_dir": str(folder),
                "status": status.get("status", "unknown"),
                "message": status.get("message", ""),
                "epochs_done": len(epochs),
                "best_val_auc": max(aucs) if aucs else None,
                "config": read_config(folder),
                "modified": modified,
            }
        )
    summaries.sort(key=lambda item: (item["modified"], item["run_id"]), reverse=True)
    return summaries


def now_text() -> str:
    """The local time as ``YYYY-MM-DD HH:MM:SS`` for status files."""
    return time.strftime("%Y-%m-%d %H:%M:%S")
