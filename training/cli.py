"""Train from a terminal with the same engine the app uses.

Example::

    python -m training --data data/flowers --epochs 5 --per-class 50 \\
        --image-size 64 --batch-size 16 --lr 1e-3 --out runs/flowers-1
"""

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path

from training.models import SUPPORTED_DEPTHS

__all__ = ["build_parser", "format_epoch", "main"]

_POLL_SECONDS = 0.2


class _OneLineParser(argparse.ArgumentParser):
    """An argument parser that reports a usage error as one line on stderr."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def _class_list(text: str) -> list[str]:
    """Split ``"a,b"`` into class names."""
    return [name.strip() for name in text.split(",") if name.strip()]


def build_parser() -> argparse.ArgumentParser:
    """The command-line options, one per :class:`~training.runner.RunConfig` field."""
    parser = _OneLineParser(
        prog="python -m training",
        description=(
            "Train a ResNet on a folder with one sub-folder per class and write "
            "config.json, metrics.jsonl and best.keras into the run folder."
        ),
    )
    parser.add_argument(
        "--data",
        required=True,
        metavar="DIR",
        help="data folder, one sub-folder per class",
    )
    parser.add_argument(
        "--classes",
        type=_class_list,
        metavar="A,B",
        help="comma-separated class folders to use (default: all)",
    )
    parser.add_argument("--epochs", type=int, default=5, help="passes over the data")
    parser.add_argument(
        "--per-class", type=int, metavar="K", help="at most K images per class"
    )
    parser.add_argument(
        "--image-size", type=int, default=64, metavar="S", help="resize to S x S pixels"
    )
    parser.add_argument(
        "--batch-size", type=int, default=16, metavar="B", help="images per step"
    )
    parser.add_argument(
        "--lr", type=float, default=1e-3, metavar="LR", help="learning rate"
    )
    parser.add_argument(
        "--optimizer",
        choices=("adam", "sgd"),
        default="adam",
        help="adam, or sgd with momentum 0.9",
    )
    parser.add_argument(
        "--val-fraction",
        type=float,
        default=0.2,
        metavar="F",
        help="share of each class held out for validation",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.add_argument(
        "--depth", type=int, default=18, choices=SUPPORTED_DEPTHS, help="ResNet depth"
    )
    parser.add_argument(
        "--out",
        metavar="RUN_DIR",
        help="run folder to create (default: a new folder under runs/)",
    )
    return parser


def _number(value, digits=3) -> str:
    """A metric for the progress line; ``n/a`` when undefined."""
    return "n/a" if value is None else f"{value:.{digits}f}"


def format_epoch(entry: dict, epochs: int) -> str:
    """One progress line for a finished epoch.

    Example:
        >>> format_epoch({"epoch": 2, "loss": 0.6123, "accuracy": 0.7,
        ...               "val_loss": 0.655, "val_accuracy": 0.65,
        ...               "val_auc": None, "seconds": 12.34}, 5)
        'epoch 2/5  loss 0.612  acc 0.700  val_loss 0.655  val_acc 0.650  val_auc n/a  12.3 s'
    """  # noqa: E501
    return (
        f"epoch {entry['epoch']}/{epochs}  loss {_number(entry['loss'])}  "
        f"acc {_number(entry['accuracy'])}  val_loss {_number(entry['val_loss'])}  "
        f"val_acc {_number(entry['val_accuracy'])}  "
        f"val_auc {_number(entry['val_auc'])}  {entry['seconds']:.1f} s"
    )


def _follow(run, epochs: int) -> None:
    """Print each newly finished epoch until the run ends.

    Unreadable image files are reported once, on stderr, as soon as the data
    have been loaded.
    """
    printed = 0
    reported_skips = False
    while True:
        ended = run.join(_POLL_SECONDS)
        snapshot = run.snapshot()
        if snapshot["skipped"] and not reported_skips:
            reported_skips = True
            names = ", ".join(
                Path(path).name for path, _ in snapshot["skipped_files"][:5]
            )
            more = "" if snapshot["skipped"] <= 5 else ", ..."
            print(
                f"skipped {snapshot['skipped']} unreadable file(s): {names}{more}",
                file=sys.stderr,
                flush=True,
            )
        for entry in snapshot["epochs"][printed:]:
            print(format_epoch(entry, epochs), flush=True)
            printed += 1
        if ended:
            return


def _stop_on_ctrl_c(run):
    """Make the first Ctrl-C stop the run after its batch, and a second one quit.

    Returns the previous SIGINT handler, or ``None`` outside the main thread,
    where handlers cannot be installed.
    """
    if threading.current_thread() is not threading.main_thread():
        return None

    def handle(signum, frame):
        if run.stop_requested:
            print("Interrupted again; exiting now.", file=sys.stderr, flush=True)
            os._exit(130)
        print("Stopping after the current batch ...", file=sys.stderr, flush=True)
        run.stop()

    return signal.signal(signal.SIGINT, handle)


def main(argv: list[str] | None = None) -> int:
    """Run one training job in the foreground; return the exit status.

    Returns:
        0 when training finished, 1 when it failed, 2 for bad options or
        data, 130 when stopped with Ctrl-C.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    args = build_parser().parse_args(argv)

    from training.data import DatasetError, scan_dataset
    from training.runner import ConfigError, RunConfig, TrainingRun

    try:
        config = RunConfig(
            data_dir=args.data,
            classes=args.classes,
            image_size=args.image_size,
            per_class=args.per_class,
            epochs=args.epochs,
            batch_size=args.batch_size,
            learning_rate=args.lr,
            optimizer=args.optimizer,
            val_fraction=args.val_fraction,
            seed=args.seed,
            depth=args.depth,
            run_dir=args.out,
        )
        scan_dataset(config.data_dir, config.classes)
        run = TrainingRun(config)
        run.start()
    except (ConfigError, DatasetError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2

    print(f"run {run.run_id} -> {run.run_dir}", flush=True)
    previous_handler = _stop_on_ctrl_c(run)
    try:
        _follow(run, config.epochs)
    finally:
        if previous_handler is not None:
            signal.signal(signal.SIGINT, previous_handler)

    state = run.snapshot()
    if state["status"] == "failed":
        print(f"error: {state['message']}", file=sys.stderr)
        return 1
    print(state["message"], flush=True)
    return 130 if state["status"] == "stopped" else 0
