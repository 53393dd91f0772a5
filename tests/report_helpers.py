"""Render a report page in headless Chromium (Debian's `chromium`, installed by scripts/setup_env.sh as root)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def rendered_dom(page: Path, fragment: str = "") -> str:
    """The page's DOM after its scripts ran (figures decoded, sorting applied)."""
    if CHROMIUM is None:
        pytest.skip(
            "headless rendering needs Debian's chromium package (scripts/setup_env.sh installs it when run as root)"
        )
    command = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--virtual-time-budget=10000",
        "--dump-dom",
        page.resolve().as_uri() + fragment,
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def body_counts(dom: str) -> dict[str, int]:
    """The counts the page's load handler writes on <body>: figures expected, decoded, broken."""
    body = re.search(r"<body([^>]*)>", dom).group(1)
    return {key: int(value) for key, value in re.findall(r'data-figures-(\w+)="(\d+)"', body)}
