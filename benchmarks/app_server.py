"""Start the app with ``streamlit run`` on localhost, for benchmarks and tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

__all__ = [
    "CHROMIUM",
    "CHROMIUM_FLAGS",
    "REPO_ROOT",
    "free_port",
    "start_app",
    "wait_healthy",
]

REPO_ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
"""Headless Chromium flags for a machine without a sandbox or outside network."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_app(port: int, *, env: dict | None = None, log=None) -> subprocess.Popen:
    """Run ``streamlit run app.py`` on ``127.0.0.1:port`` in the repository root."""
    command = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        "app.py",
        "--server.port",
        str(port),
        "--server.address",
        "127.0.0.1",
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
    ]
    return subprocess.Popen(
        command,
        cwd=REPO_ROOT,
        env=dict(os.environ) if env is None else env,
        stdout=log if log is not None else subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )


def wait_healthy(
    url: str, process: subprocess.Popen, *, timeout: float = 90, interval=0.1
) -> None:
    """Wait until the server at ``url`` answers its health check.

    Raises:
        RuntimeError: if the process exits first or ``timeout`` seconds pass.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"streamlit exited with code {process.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2):
                return
        except OSError:
            time.sleep(interval)
    raise RuntimeError("streamlit did not answer its health check in time")
