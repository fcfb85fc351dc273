"""Start to the first streamed loss point, as the Training page sees it.

Each measurement runs in a fresh interpreter, the way a server handles its
first Start: it calls ``training.runner.start_run`` on the flower photos at
64 pixels and polls the run's snapshot, as the page does, until the first
batch loss appears. Decoding the images, building the ResNet-18 and tracing
the first step are inside the measured time. Three cases are timed: Start in
a process that has not loaded TensorFlow yet; Start after the Training page
has loaded it in the background (``training.runner.warm_up``, which the page
calls when it opens); and a second Start in the same process.

Usage: python benchmarks/bench_first_loss.py [--runs N] [--data DIR]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = REPO_ROOT.parent / "shared" / "data"
TARGET_SECONDS = 10.0

ONE_PROCESS = """
import sys, time
from training import runner

def first_loss(run_dir):
    started = time.perf_counter()
    run = runner.start_run(runner.RunConfig(
        data_dir=sys.argv[1], image_size=64, epochs=1, batch_size=16,
        run_dir=run_dir))
    while not run.snapshot()["batch_losses"]:
        if not run.is_active():
            raise SystemExit(run.snapshot()["message"])
        time.sleep(0.02)
    elapsed = time.perf_counter() - started
    images = run.snapshot()["n_train"]
    run.stop()
    run.join()
    return elapsed, images

if sys.argv[3] == "page":
    runner.warm_up()
    runner._warm_up_thread.join()
first, images = first_loss(sys.argv[2] + "/first")
second, _ = first_loss(sys.argv[2] + "/second")
print(f"{first:.3f} {second:.3f} {images}")
"""


def _measure(data: str, mode: str) -> tuple[float, float, str]:
    """Run one fresh interpreter; return its first and second Start times."""
    with tempfile.TemporaryDirectory() as runs:
        result = subprocess.run(
            [sys.executable, "-c", textwrap.dedent(ONE_PROCESS), data, runs, mode],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        )
    if result.returncode != 0:
        raise RuntimeError(result.stderr[-2000:])
    first, second, images = result.stdout.split()[-3:]
    return float(first), float(second), images


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--data",
        default=str(
            Path(os.environ.get("CNN_LAB_TEST_DATA", DEFAULT_DATA)) / "flowers"
        ),
    )
    args = parser.parse_args()

    times = {"fresh process": [], "after the page's warm-up": [], "second Start": []}
    for number in range(1, args.runs + 1):
        cold, _, images = _measure(args.data, "cold")
        warm, second, _ = _measure(args.data, "page")
        times["fresh process"].append(cold)
        times["after the page's warm-up"].append(warm)
        times["second Start"].append(second)
        print(
            f"run {number}: fresh process {cold:.2f} s, after warm-up {warm:.2f} s, "
            f"second Start {second:.2f} s ({images} training images)"
        )

    print()
    print(f"{'Start to first loss point':28}{'median':>10}{'target':>10}{'ratio':>8}")
    for label, values in times.items():
        value = statistics.median(values)
        print(
            f"{label:28}{value:>9.2f}s{TARGET_SECONDS:>9.1f}s"
            f"{value / TARGET_SECONDS:>8.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
