"""The documentation site as a reader sees it: built with ``mkdocs build --strict``, served on
loopback, rendered by headless Chromium (Debian's ``chromium``, ``make chromium``).

Also the tool that makes the screenshots the docs show (``make docs-screenshots``)::

    .venv/bin/python -m tests.browser.docs_site
"""

from __future__ import annotations

import argparse
import os
import struct
import subprocess
import sys
import tempfile
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.browser import phone

ROOT = Path(__file__).resolve().parents[2]
# The committed screenshots: path -> (page of the site, width, height)
SHOTS = {
    "docs/images/site-runbook.png": ("runbooks/region-lost.html", 1280, 1500),
    "docs/images/site-report.png": ("operations/readiness-report.html", 1280, 1500),
}


def build(site: Path) -> None:
    """The site, as ``make docs`` builds it (``--strict``), into ``site``."""
    subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "--site-dir", str(site)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=300,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the stdlib's name)
        """No access log on stderr."""


@contextmanager
def serve(site: Path) -> Iterator[str]:
    """``site`` served on 127.0.0.1 (a free port) until the block ends; yields its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=str(site)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def screenshot(url: str, png: Path, width: int, height: int) -> None:
    with tempfile.TemporaryDirectory(prefix="lifeboat-docs-") as folder:
        phone.chromium(
            f"--screenshot={png.resolve()}",
            f"--window-size={width},{height}",
            url,
            cwd=Path(folder),
        )


def dom(url: str) -> str:
    with tempfile.TemporaryDirectory(prefix="lifeboat-docs-") as folder:
        return phone.chromium("--dump-dom", url, cwd=Path(folder)).stdout


def png_pixels(data: bytes) -> tuple[int, int, bytes]:
    """Width, height and the decompressed (filtered) scanlines of a PNG, with the stdlib."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    offset, idat, width, height = 8, b"", 0, 0
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind = data[offset + 4 : offset + 8]
        body = data[offset + 8 : offset + 8 + length]
        if kind == b"IHDR":
            width, height = struct.unpack(">II", body[:8])
        elif kind == b"IDAT":
            idat += body
        offset += 12 + length
    return width, height, zlib.decompress(idat)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Screenshot the docs site's pages the docs show.")
    parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="lifeboat-site-") as folder:
        site = Path(folder) / "site"
        build(site)
        with serve(site) as base:
            for target, (page, width, height) in SHOTS.items():
                path = ROOT / target
                path.parent.mkdir(parents=True, exist_ok=True)
                screenshot(f"{base}/{page}", path, width, height)
                print(f"wrote {target} ({page}, {width} x {height})")


if __name__ == "__main__":
    main()
