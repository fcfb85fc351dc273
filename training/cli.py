"""Train from a terminal with the same engine the app uses.

Every setting of the training page is a flag here, and the run folder holds
the same files, so a run started from the shell shows up in the app.

Example::

    python -m training --data data/flowers --epochs 5 --per-class 50 \\
        --image-size 64 --batch-size 16 --lr 1e-3 --out runs/flowers-1

    # a learning-rate sweep: one run per rate, one after another
    python -m training --data data/flowers --lr 1e-4,1e-3,1e-2 --epochs 3
"""

import argparse
import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path

from training.models import SUPPORTED_DEPTHS
from training.runner import (
    CLASS_WEIGHTS,
    LOSSES,
    OPTIMIZERS,
    SCHEDULES,
    STRATEGIES,
)

__all__ = ["build_parser", "config_from_args", "format_epoch", "main"]

_POLL_SECONDS = 0.2

# Flag -> RunConfig field, for the flags whose names differ from the field.
FLAG_FIELDS = {
    "--data": "data_dir",
    "--lr": "learning_rate",
    "--version": "preact",
    "--out": "run_dir",
}


class _OneLineParser(argparse.ArgumentParser):
    """An argument parser that reports a usage error as one line on stderr."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def _class_list(text: str) -> list[str]:
    """Split ``"a,b"`` into class names."""
    return [name.strip() for name in text.split(",") if name.strip()]


def _numbers(text: str, separator: str, example: str) -> list[float]:
    """Split ``text`` at ``separator`` into numbers, or say what was expected."""
    try:
        return [float(part) for part in text.split(separator) if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected numbers like {example}, not {text!r}"
        ) from None


def _rates(text: str) -> list[float]:
    """Split ``"1e-4,1e-3"`` into learning rates (at least one)."""
    rates = _numbers(text, ",", "1e-4,1e-3")
    if not rates:
        raise argparse.ArgumentTypeError("give at least one learning rate, like 1e-3")
    return rates


def _ratio(text: str) -> list[float]:
    """Split ``"1:9"`` into relative class sizes."""
    return _numbers(text, ":", "1:9")


def _matrix(text: str) -> list[list[float]]:
    """Parse ``"1,9;1,1"`` (rows separated by semicolons) into a matrix."""
    return [_numbers(row, ",", "1,9;1,1") for row in text.split(";")]


def _json_file(text: str):
    """The parsed content of a JSON file."""
    try:
        return json.loads(Path(text).read_text(encoding="utf-8"))
    except OSError as error:
        raise argparse.ArgumentTypeError(
            f"cannot read {text}: {error.strerror}"
        ) from None
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"{text} is not valid JSON: {error}") from None


def build_parser() -> argparse.ArgumentParser:
    """The command-line options, one per :class:`~training.runner.RunConfig` field."""
    parser = _OneLineParser(
        prog="python -m training",
        description=(
            "Train a ResNet on a folder with one sub-folder per class and write "
            "config.json, status.json, metrics.jsonl, diagnosis.json, "
            "evaluation.json and best.keras into the run folder."
        ),
    )
    data = parser.add_argument_group("data")
    data.add_argument(
        "--data", metavar="DIR", help="data folder, one sub-folder per class"
    )
    data.add_argument(
        "--classes",
        type=_class_list,
        metavar="A,B",
        help="comma-separated class folders to use (default: all)",
    )
    data.add_argument(
        "--image-size", type=int, default=64, metavar="S", help="resize to S x S pixels"
    )
    data.add_argument(
        "--channels",
        type=int,
        choices=(1, 3),
        help="1 for grayscale, 3 for colour (default: follow the images)",
    )
    data.add_argument(
        "--per-class", type=int, metavar="K", help="at most K images per class"
    )
    data.add_argument(
        "--percent",
        type=float,
        metavar="P",
        help="keep P percent of every class (ablation)",
    )
    data.add_argument(
        "--class-ratio",
        type=_ratio,
        metavar="A:B",
        help="relative class sizes for an imbalanced subset, e.g. 1:9",
    )
    data.add_argument(
        "--pipeline",
        type=_json_file,
        metavar="FILE",
        help="preprocessing pipeline JSON exported from the app (default: divide by "
        "the largest value of the image type)",
    )
    data.add_argument(
        "--augmentation",
        type=_json_file,
        metavar="FILE",
        help="augmentation ranges JSON for the training images (shifts as a "
        "fraction of the side)",
    )
    data.add_argument(
        "--val-fraction",
        type=float,
        default=0.2,
        metavar="F",
        help="share of each class held out for validation",
    )

    model = parser.add_argument_group("model")
    model.add_argument(
        "--depth", type=int, default=18, choices=SUPPORTED_DEPTHS, help="ResNet depth"
    )
    model.add_argument(
        "--version",
        choices=("v1", "v2"),
        default="v2",
        help="v2: pre-activation blocks; v1: the original blocks",
    )
    model.add_argument(
        "--weight-decay", type=float, default=1e-4, metavar="L2", help="L2 factor"
    )

    fit = parser.add_argument_group("training")
    fit.add_argument("--epochs", type=int, default=5, help="passes over the data")
    fit.add_argument(
        "--batch-size", type=int, default=16, metavar="B", help="images per step"
    )
    fit.add_argument(
        "--lr",
        "--learning-rate",
        type=_rates,
        default=[1e-3],
        metavar="LR[,LR...]",
        help="learning rate; several rates make a sweep, one run per rate",
    )
    fit.add_argument("--optimizer", choices=OPTIMIZERS, default="adam")
    fit.add_argument(
        "--momentum", type=float, default=0.9, metavar="M", help="SGD momentum"
    )
    fit.add_argument(
        "--schedule",
        choices=SCHEDULES,
        default="constant",
        help="halve: the rate halves after every epoch; cosine: it falls to 0",
    )
    fit.add_argument(
        "--class-weight",
        choices=CLASS_WEIGHTS,
        default="none",
        help="balanced: weigh each class inversely to its share",
    )
    fit.add_argument(
        "--loss",
        choices=LOSSES,
        default="crossentropy",
        help="cost_matrix: scale each image's loss by the cost of its mistake",
    )
    fit.add_argument(
        "--cost-matrix",
        type=_matrix,
        metavar="ROWS",
        help="costs, rows = true class, e.g. 1,9;1,1 (default: rarer class dearer)",
    )
    fit.add_argument("--seed", type=int, default=0, help="random seed")
    fit.add_argument(
        "--overfit-check",
        action="store_true",
        help="train on a tiny subset without augmentation; should reach 100%%",
    )
    fit.add_argument(
        "--strategy",
        choices=STRATEGIES,
        default="auto",
        help="multiworker: train across the machines named in TF_CONFIG",
    )

    runs = parser.add_argument_group("run folder")
    runs.add_argument("--name", help="a label shown in the app's run list")
    runs.add_argument("--group", help="runs with one group are overlaid together")
    runs.add_argument(
        "--out",
        metavar="RUN_DIR",
        help="run folder to create (default: a new folder under runs/)",
    )
    runs.add_argument(
        "--resume",
        metavar="RUN_DIR",
        help="continue an interrupted run from its last finished epoch",
    )
    return parser


def config_from_args(args, learning_rate: float):
    """The :class:`~training.runner.RunConfig` that the parsed flags describe.

    Raises:
        ConfigError: A setting is out of range.
    """
    from training.runner import ConfigError, RunConfig

    if not args.data:
        raise ConfigError("Name the data folder with --data (or use --resume).")
    return RunConfig(
        data_dir=args.data,
        classes=args.classes,
        image_size=args.image_size,
        channels=args.channels,
        per_class=args.per_class,
        percent=args.percent,
        class_ratio=args.class_ratio,
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=learning_rate,
        optimizer=args.optimizer,
        momentum=args.momentum,
        schedule=args.schedule,
        depth=args.depth,
        preact=args.version == "v2",
        weight_decay=args.weight_decay,
        class_weight=args.class_weight,
        loss=args.loss,
        cost_matrix=args.cost_matrix,
        pipeline=args.pipeline,
        augmentation=args.augmentation,
        val_fraction=args.val_fraction,
        seed=args.seed,
        overfit_check=args.overfit_check,
        strategy=args.strategy,
        name=args.name,
        group=args.group,
        run_dir=args.out,
    )


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
    """Print each newly finished epoch and diagnosis flag until the run ends.

    Unreadable image files are reported once, on stderr, as soon as the data
    have been loaded.
    """
    printed = 0
    flagged: set[str] = set()
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
        for flag in snapshot["diagnosis"]:
            if flag["rule"] not in flagged:
                flagged.add(flag["rule"])
                print(f"diagnosis: {flag['sentence']}", file=sys.stderr, flush=True)
        if ended:
            return


def _stop_on_ctrl_c(runs):
    """Make the first Ctrl-C stop the runs after their batch, and a second quit.

    Returns the previous SIGINT handler, or ``None`` outside the main thread,
    where handlers cannot be installed.
    """
    if threading.current_thread() is not threading.main_thread():
        return None

    def handle(signum, frame):
        if any(run.stop_requested for run in runs):
            print("Interrupted again; exiting now.", file=sys.stderr, flush=True)
            os._exit(130)
        print("Stopping after the current batch ...", file=sys.stderr, flush=True)
        for run in runs:
            run.stop()

    return signal.signal(signal.SIGINT, handle)


def _create_runs(args):
    """Build and queue the run(s) the flags ask for."""
    from training.data import scan_dataset
    from training.runner import ConfigError, resume_run, start_run

    if args.resume:
        return [resume_run(args.resume)]
    if len(args.lr) > 1 and args.out:
        raise ConfigError("A sweep writes one folder per rate; leave out --out.")
    configs = [config_from_args(args, rate) for rate in args.lr]
    index = scan_dataset(configs[0].data_dir, configs[0].classes)
    configs[0].check_classes(list(index.classes))
    if len(configs) > 1:
        group = args.group or f"sweep-{os.getpid()}"
        for config in configs:
            config.group = group
            config.name = config.name or f"lr {config.learning_rate:g}"
    return [start_run(config) for config in configs]


def main(argv: list[str] | None = None) -> int:
    """Run one training job (or a sweep) in the foreground; return the exit status.

    Returns:
        0 when training finished, 1 when it failed, 2 for bad options or
        data, 130 when stopped with Ctrl-C.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    args = build_parser().parse_args(argv)

    from training.data import DatasetError
    from training.runner import ConfigError

    try:
        runs = _create_runs(args)
    except (ConfigError, DatasetError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2

    previous_handler = _stop_on_ctrl_c(runs)
    statuses = []
    try:
        for run in runs:
            print(f"run {run.run_id} -> {run.run_dir}", flush=True)
            _follow(run, run.config.epochs)
            state = run.snapshot()
            statuses.append(state["status"])
            if state["status"] == "failed":
                print(f"error: {state['message']}", file=sys.stderr, flush=True)
            else:
                print(state["message"], flush=True)
    finally:
        if previous_handler is not None:
            signal.signal(signal.SIGINT, previous_handler)

    if "failed" in statuses:
        return 1
    return 130 if "stopped" in statuses else 0
