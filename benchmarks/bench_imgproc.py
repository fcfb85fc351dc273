"""Time imgproc's morphology and affine steps against scikit-image on a real X-ray.

Usage: python benchmarks/bench_imgproc.py [CHEST_XRAY_DIR_OR_PNG] [--repeat N]
                                          [--radii 1-25]
                                          [--only morphology|affine]

The image is a 1024x1024 NIH chest X-ray (default: $CNN_LAB_TEST_DATA/chest_xray
or ../shared/data/chest_xray). For every operation, footprint radius and image
kind (bool mask from a threshold at 128, and the uint8 X-ray), and for a grid of
affine settings on the uint8 X-ray, its float64 copy and its mask, it prints our
median time, scikit-image's median time, the speed-up and whether the outputs
are identical, then a summary. Affine runs of ours and of scikit-image alternate, so
that both medians see the same load on a shared machine.

Identical means: bool and integer morphology outputs are equal element for
element; float affine outputs are within 1e-9; integer affine outputs are equal
except at pixels where scikit-image's float value lies within 1e-9 of a
rounding tie (x.5), whose count is printed. The reference for affine is
skimage.transform.warp(image, tform.inverse, order=1, mode=fill,
preserve_range=True) with the transform composed from scikit-image's own
classes, rounded and clipped to the dtype for integer images. A mask is
warped with the nearest pixel, as scikit-image does for bool images: its
reference is skimage.transform.warp(mask, inverse, order=0, mode=fill) with the
inverse of imgproc's matrix, and identical means equal element for element.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image
from skimage import morphology, transform

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from references import skimage_affine as _skimage_affine

from imgproc import ops  # noqa: E402

OPERATIONS = (
    "erosion",
    "dilation",
    "opening",
    "closing",
    "white_tophat",
    "black_tophat",
)
TARGET_MS = 30.0


def _footprint(radius: int) -> np.ndarray:
    return morphology.disk(radius)


def _median_ms(function, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append((time.perf_counter() - start) * 1000.0)
    return statistics.median(times)


def _alternating_median_ms(ours, reference, repeat: int) -> tuple[float, float]:
    """Median times of two functions run in turn, so both see the same load."""
    ours_times, reference_times = [], []
    for _ in range(repeat):
        for function, times in ((ours, ours_times), (reference, reference_times)):
            start = time.perf_counter()
            function()
            times.append((time.perf_counter() - start) * 1000.0)
    return statistics.median(ours_times), statistics.median(reference_times)


def _find_xray(argument: str | None) -> Path:
    if argument:
        root = Path(argument)
    else:
        base = os.environ.get("CNN_LAB_TEST_DATA")
        root = Path(base) / "chest_xray" if base else None
        if root is None:
            root = Path(__file__).resolve().parent.parent.parent / "shared"
            root = root / "data" / "chest_xray"
    if root.is_file():
        return root
    for path in sorted(root.rglob("*.png")):
        with Image.open(path) as picture:
            if picture.size == (1024, 1024) and picture.mode == "L":
                return path
    raise SystemExit(f"No 1024x1024 grayscale PNG found under {root}.")


def _row(op, setting, ours, reference, identical, note=""):
    speed_up = reference / ours if ours > 0 else float("inf")
    print(
        f"{op:<13} {setting:<34} {ours:9.2f} {reference:10.2f} {speed_up:8.1f}x "
        f"{'yes' if identical else 'NO':>9} {note}"
    )
    return {
        "op": op,
        "setting": setting,
        "ours": ours,
        "ref": reference,
        "speed_up": speed_up,
        "identical": identical,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", nargs="?", help="chest X-ray PNG or folder")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs of ours")
    parser.add_argument(
        "--reference-repeat", type=int, default=1, help="timed runs of scikit-image"
    )
    parser.add_argument("--radii", default="1-25", help="e.g. 1-25 or 1,5,15,25")
    parser.add_argument(
        "--only",
        choices=("morphology", "affine"),
        help="time only the morphology or only the affine part",
    )
    arguments = parser.parse_args()

    if "-" in arguments.radii:
        first, last = (int(part) for part in arguments.radii.split("-"))
        radii = list(range(first, last + 1))
    else:
        radii = [int(part) for part in arguments.radii.split(",")]

    path = _find_xray(arguments.path)
    with Image.open(path) as picture:
        xray = np.asarray(picture).copy()
    images = {"mask": xray > 128, "gray": xray}
    print(f"Image: {path} {xray.shape} {xray.dtype}")
    print(__doc__.split("\n\n")[2].replace("\n", " "))
    print()
    header = f"{'op':<13} {'setting':<34} {'ours ms':>9} {'skimage ms':>10} "
    print(header + f"{'speed-up':>9} {'identical':>9}")

    rows = []
    if arguments.only == "affine":
        radii = []
    for radius in radii:
        element = _footprint(radius)
        for kind, image in images.items():
            for name in OPERATIONS:
                ours = getattr(ops, name)(image, radius, "disk")
                reference = getattr(morphology, name)(image, element)
                identical = ours.dtype == reference.dtype and np.array_equal(
                    ours, reference
                )
                ours_ms = _median_ms(
                    lambda n=name, i=image, r=radius: getattr(ops, n)(i, r, "disk"),
                    arguments.repeat,
                )
                reference_ms = _median_ms(
                    lambda n=name, i=image, e=element: getattr(morphology, n)(i, e),
                    arguments.reference_repeat,
                )
                rows.append(
                    _row(
                        name,
                        f"{kind} disk r={radius}",
                        ours_ms,
                        reference_ms,
                        identical,
                    )
                )

    cases = [
        (0.0, 1.0, 0.0, 0.0, 0.0),
        (30.0, 1.0, 0.0, 0.0, 0.0),
        (90.0, 1.0, 0.0, 0.0, 0.0),
        (-75.0, 0.6, -20.0, 33.0, -25.0),
        (30.0, 1.3, 12.5, -7.0, 10.0),
        (0.0, 4.0, 0.0, 0.0, 0.0),
        (0.0, 1.0, 40.5, -13.25, 0.0),
        (0.0, 1.0, 0.0, 0.0, 30.0),
        (17.0, 0.25, 0.0, 0.0, 0.0),
    ]
    if arguments.only == "morphology":
        cases = []
    ties_differing = 0
    for case in cases:
        for fill in ops.FILL_MODES:
            for kind, image in (
                ("uint8", xray),
                ("float64", xray / 255.0),
                ("mask", xray > 128),
            ):
                if kind == "mask":
                    inverse = np.linalg.inv(ops.affine_matrix(image.shape, *case))

                    def reference_call(i=image, m=inverse, f=fill):
                        warped = transform.warp(i, m, order=0, mode=f, cval=0)
                        return warped.astype(bool)

                else:
                    tform = _skimage_affine(image.shape, *case)

                    def reference_call(i=image, t=tform, f=fill):
                        return transform.warp(
                            i, t.inverse, order=1, mode=f, preserve_range=True
                        )

                ours = ops.affine(image, *case, fill=fill)
                warped = reference_call()
                note = ""
                if kind == "mask":
                    identical = bool(np.array_equal(ours, warped))
                elif kind == "uint8":
                    expected = np.clip(np.rint(warped), 0, 255).astype(np.uint8)
                    differs = ours != expected
                    ties = np.abs(warped - np.floor(warped) - 0.5) < 1e-9
                    identical = bool(not np.any(differs & ~ties))
                    note = f"ties differing: {int(np.count_nonzero(differs))}"
                    ties_differing += int(np.count_nonzero(differs))
                else:
                    identical = bool(np.allclose(ours, warped, rtol=0, atol=1e-9))
                ours_ms, reference_ms = _alternating_median_ms(
                    lambda i=image, c=case, f=fill: ops.affine(i, *c, fill=f),
                    reference_call,
                    arguments.repeat,
                )
                setting = "rot={:g} s={:g} t=({:g},{:g}) sh={:g} {}".format(*case, fill)
                rows.append(
                    _row(
                        "affine",
                        f"{kind} {setting}",
                        ours_ms,
                        reference_ms,
                        identical,
                        note,
                    )
                )

    worst = max(rows, key=lambda row: row["ours"])
    within = sum(row["ours"] <= TARGET_MS for row in rows)
    identical = sum(row["identical"] for row in rows)
    at_15 = [row["speed_up"] for row in rows if row["setting"].endswith("disk r=15")]
    print()
    for part in ("morphology", "affine"):
        chosen = [row for row in rows if (row["op"] == "affine") == (part == "affine")]
        if not chosen:
            continue
        slowest = max(chosen, key=lambda row: row["ours"])
        speed_ups = [row["speed_up"] for row in chosen]
        line = (
            f"SUMMARY {part}: {len(chosen)} cases; identical "
            f"{sum(row['identical'] for row in chosen)}/{len(chosen)}; within "
            f"{TARGET_MS:g} ms: {sum(row['ours'] <= TARGET_MS for row in chosen)}/"
            f"{len(chosen)}; worst median {slowest['ours']:.2f} ms "
            f"({slowest['setting']}); speed-up min {min(speed_ups):.1f}x, "
            f"median {statistics.median(speed_ups):.1f}x"
        )
        if part == "affine":
            line += f"; uint8 pixels differing at rounding ties: {ties_differing}"
        print(line)
    print(
        f"SUMMARY: {len(rows)} cases; identical {identical}/{len(rows)}; "
        f"within {TARGET_MS:g} ms: {within}/{len(rows)}; worst median "
        f"{worst['ours']:.2f} ms ({worst['op']} {worst['setting']})"
    )
    if at_15:
        print(
            f"SUMMARY: speed-up at disk radius 15: min {min(at_15):.1f}x, "
            f"median {statistics.median(at_15):.1f}x over {len(at_15)} cases"
        )
    return 0 if identical == len(rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
