"""Slider release to updated preview, measured in headless Chromium.

Starts ``streamlit run app.py`` on a free localhost port, opens the
Preprocessing page on a 1024x1024 NIH chest X-ray from the dataset folder
(through a link, the way a user would share the view), then clicks the
threshold slider at new positions and times, inside the browser, from the
mouse release to the moment the new mask preview has loaded.

Usage: python benchmarks/bench_browser.py [DATA_FOLDER] [--moves N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

from app_server import (
    CHROMIUM,
    CHROMIUM_FLAGS,
    REPO_ROOT,
    free_port,
    start_app,
    wait_healthy,
)

MASK_CAPTION = "Mask: Luminance >"

WATCH_SCRIPT = """caption => {
    const bench = {up: null, loaded: null, src: null, caption: null, text: null};
    window.__bench = bench;
    const maskImage = () => Array.from(
        document.querySelectorAll('[data-testid="stImage"]')
    ).find(box => {
        const text = box.querySelector('[data-testid="stImageCaption"]');
        return text && text.innerText.trim().startsWith(caption);
    });
    bench.src = maskImage()?.querySelector('img')?.src ?? null;
    document.addEventListener('pointerup', () => {
        bench.up = performance.now();
        bench.loaded = null;
        bench.caption = null;
    }, true);
    new MutationObserver(() => {
        const text = maskImage()?.innerText;
        if (text && text !== bench.text) {
            bench.text = text;
            if (bench.up !== null && bench.caption === null) {
                bench.caption = performance.now();
            }
        }
    }).observe(document.body, {subtree: true, childList: true, characterData: true});
    document.addEventListener('load', event => {
        const box = maskImage();
        const img = box && box.querySelector('img');
        if (event.target === img && img.src !== bench.src) {
            bench.src = img.src;
            bench.loaded = performance.now();
        }
    }, true);
}"""


def _start_server(port: int, data: Path, log):
    env = dict(os.environ, CNN_LAB_DATA=str(data))
    env.setdefault("CNN_LAB_CACHE", tempfile.mkdtemp(prefix="cnn-lab-cache-"))
    env.setdefault("CNN_LAB_RUNS", tempfile.mkdtemp(prefix="cnn-lab-runs-"))
    return start_app(port, env=env, log=log)


def _xray_link(url: str, data: Path) -> tuple[str, str]:
    folder = data / "chest_xray" / "nofinding"
    name = sorted(path.name for path in folder.glob("*.png"))[0]
    query = urllib.parse.urlencode(
        {
            "src": "dataset",
            "root": str(data),
            "dataset": "chest_xray",
            "class": "nofinding",
            "file": name,
        }
    )
    return f"{url}/?{query}", name


def _measure(page, moves: int) -> list[float]:
    slider = page.locator('input[type="range"][aria-label="Threshold value"]')
    slider.scroll_into_view_if_needed()
    box = slider.bounding_box()
    page.evaluate(WATCH_SCRIPT, MASK_CAPTION)
    latencies = []
    for move in range(moves):
        fraction = 0.2 + 0.6 * ((move * 7) % moves) / moves
        x = box["x"] + box["width"] * fraction
        y = box["y"] + box["height"] / 2
        page.mouse.move(x, y)
        page.mouse.down()
        page.mouse.up()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            result = page.evaluate("() => window.__bench")
            if result["loaded"] is not None and result["up"] is not None:
                latencies.append(result["loaded"] - result["up"])
                if os.environ.get("BENCH_LOG") and result["caption"]:
                    print(f"caption {result['caption'] - result['up']:.0f} ms")
                break
            time.sleep(0.01)
        else:
            print(f"move {move + 1}: no updated preview within 15 s")
        time.sleep(0.4)
    return latencies


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "data", nargs="?", default=os.environ.get("CNN_LAB_DATA", "../shared/data")
    )
    parser.add_argument("--moves", type=int, default=15)
    args = parser.parse_args()
    data = (REPO_ROOT / args.data).resolve()

    from playwright.sync_api import sync_playwright

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryFile("w+") as log:
        server = _start_server(port, data, log)
        try:
            wait_healthy(url, server, interval=0.2)
            link, name = _xray_link(url, data)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True
                )
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.goto(link)
                page.get_by_text(f"{name}").first.wait_for(timeout=60_000)
                page.get_by_text(MASK_CAPTION).first.wait_for(timeout=60_000)
                time.sleep(1.0)
                previews = page.locator('[data-testid="stImage"] img').count()
                latencies = _measure(page, args.moves)
                browser.close()
        finally:
            server.terminate()
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()
            log.seek(0)
            lines = log.readlines()
            errors = [line for line in lines if "Traceback" in line]
            if os.environ.get("BENCH_LOG"):
                print("".join(lines[-40:]))
    if not latencies:
        print("no measurements")
        return 1
    latencies.sort()
    p90 = latencies[min(len(latencies) - 1, round(0.9 * (len(latencies) - 1)))]
    print(
        f"{previews} previews on the page, {len(latencies)} slider releases: "
        f"median {statistics.median(latencies):.0f} ms, p90 {p90:.0f} ms, "
        f"max {latencies[-1]:.0f} ms"
    )
    if errors:
        print(f"server log holds {len(errors)} traceback(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
